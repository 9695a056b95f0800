"""Building problems from plain dictionaries (the tables of a TOML file).

The command line and users who keep their settings in files describe a problem
as nested tables::

    [chain]                # kind = "finite" | "ar1" | "circle"
    kind = "finite"
    P = [[0.9, 0.1], [0.2, 0.8]]
    states = [-1.0, 1.0]

    [target]               # see limitsolver.targets.make_target
    kind = "state"
    expression = "sin(2*x)"

    [network]
    activation = "tanh"
    beta = 0.5
    alpha = 1.0
    gradient = "rtrl"
    memory_tol = 1e-6

    [network.prior]
    sigma_w = 1.0
    b_max = 0.5
    c_law = "rademacher"
    doubled = true

    horizon = 1.0          # top level of the problem table

Every builder refuses unknown keys with a :class:`~limitsolver.errors.ConfigError`
that names the key and lists the valid ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError
from .network import NetworkSpec
from .prior import Prior
from .problem import Problem

__all__ = ["chain_from_config", "network_from_config", "problem_from_config"]

_CHAIN_KEYS = {
    "finite": {"kind", "P", "states"},
    "ar1": {"kind", "a", "dim"},
    "circle": {"kind", "kappa"},
}


def _check_keys(table: dict, allowed: set, where: str) -> None:
    extra = set(table) - allowed
    if extra:
        raise ConfigError(
            f"unknown key(s) {sorted(extra)} in `{where}`; valid keys: {sorted(allowed)}."
        )


def chain_from_config(table: dict[str, Any]):
    """Build a chain from ``{"kind": "finite" | "ar1" | "circle", ...}``.

    Parameters
    ----------
    table : dict
        ``kind = "finite"`` with ``P`` (required) and ``states``;
        ``kind = "ar1"`` with ``a`` (default 0.5) and ``dim`` (default 1);
        ``kind = "circle"`` with ``kappa`` (default 0.5).

    Returns
    -------
    FiniteChain, GaussianAR1 or CircleWalk
        The chain (a finite chain is checked to be irreducible and aperiodic).

    Raises
    ------
    ConfigError
        If ``kind`` is missing or unknown, a key is unknown or missing, or the
        chain's own validation fails (its message is kept).
    """
    from .chains import CircleWalk, FiniteChain, GaussianAR1

    if not isinstance(table, dict) or "kind" not in table:
        raise ConfigError("`chain` must be a table with a `kind` (finite, ar1 or circle).")
    kind = table["kind"]
    if kind not in _CHAIN_KEYS:
        raise ConfigError(f"`chain.kind` must be one of {sorted(_CHAIN_KEYS)}, got {kind!r}.")
    _check_keys(table, _CHAIN_KEYS[kind], "chain")
    try:
        if kind == "finite":
            if "P" not in table:
                raise ConfigError("`chain.P` (the transition matrix) is required for a finite chain.")
            chain = FiniteChain(np.asarray(table["P"], dtype=float), table.get("states"))
            chain.check_ergodic()
            return chain
        if kind == "ar1":
            return GaussianAR1(float(table.get("a", 0.5)), int(table.get("dim", 1)))
        return CircleWalk(float(table.get("kappa", 0.5)))
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"`chain`: {exc}") from exc


def network_from_config(table: dict[str, Any]) -> NetworkSpec:
    """Build a :class:`NetworkSpec` from a table with an optional ``prior`` sub-table.

    Parameters
    ----------
    table : dict
        Keys ``activation``, ``beta``, ``alpha``, ``gradient``, ``memory_tol``
        (fields of :class:`NetworkSpec`, defaults where absent) and ``prior``, a
        table of :class:`~limitsolver.prior.Prior` fields (``sigma_w``, ``b_max``,
        ``c_law``, ``sigma_c``, ``doubled``).

    Returns
    -------
    NetworkSpec
        The validated network description.

    Raises
    ------
    ConfigError
        If a key is unknown or a value is refused by :class:`NetworkSpec` or
        :class:`~limitsolver.prior.Prior` (e.g. a prior that does not contract).
    """
    allowed = {"activation", "beta", "alpha", "gradient", "memory_tol", "prior"}
    _check_keys(table, allowed, "network")
    prior_table = dict(table.get("prior", {}))
    _check_keys(prior_table, {"sigma_w", "b_max", "c_law", "sigma_c", "doubled"}, "network.prior")
    try:
        prior = Prior(**prior_table)
        kwargs = {k: v for k, v in table.items() if k != "prior"}
        return NetworkSpec(prior=prior, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"`network`: {exc}") from exc


def problem_from_config(table: dict[str, Any]) -> Problem:
    """Build a :class:`Problem` from tables ``chain``, ``target``, ``network`` and ``horizon``.

    Parameters
    ----------
    table : dict
        ``chain`` (see :func:`chain_from_config`) and ``target`` (see
        :func:`~limitsolver.targets.make_target`) are required; ``network`` (see
        :func:`network_from_config`) and ``horizon`` (training time :math:`T`,
        default 1.0) are optional.

    Returns
    -------
    Problem
        The validated problem.

    Raises
    ------
    ConfigError
        If a key is unknown, ``chain`` or ``target`` is missing, or a table's
        values are refused by the object it builds.
    """
    from .targets import make_target

    _check_keys(table, {"chain", "target", "network", "horizon"}, "problem")
    for key in ("chain", "target"):
        if key not in table:
            raise ConfigError(f"`{key}` table is required to define a problem.")
    chain = chain_from_config(table["chain"])
    target = make_target(table["target"], chain.dim)
    network = network_from_config(table.get("network", {}))
    try:
        return Problem(chain, target, network, float(table.get("horizon", 1.0)))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"`problem`: {exc}") from exc
