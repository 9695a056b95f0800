"""Building specs from plain tables, saving them and fingerprinting them.

The command line, configuration files and saved results describe a problem as
nested tables (the tables of a TOML file); one format serves all three::

    [chain]                # kind = "finite" | "ar1" | "circle"
    kind = "finite"
    P = [[0.9, 0.1], [0.2, 0.8]]
    states = [-1.0, 1.0]

    [target]               # kind = "state" | "linear_memory" | "teacher"
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

The kinds live in one registry, :data:`SPEC_CLASSES` (``kind`` -> class); each
class reads its own table in its ``from_state`` with keys and types taken from
its constructor's signature and type hints, so a key is documented once, on
the class. Every builder refuses an unknown key, a key of the wrong type
(``doubled = "no"``, ``n_units = "ten"``) or a scalar where a table belongs
with a one-line :class:`~limitsolver.errors.ConfigError` that names the key and
lists the valid ones.

Every spec also writes its table: ``spec.to_state()`` is JSON-able and exact
(floats are written as the shortest repr that reads back to the same double;
a finite chain's ``P`` is kept in full), :func:`spec_from_state` rebuilds the
spec from it, and :func:`fingerprint` is a digest of it that tells apart any two
specs differing in one bit.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ._schema import check_table, lookup
from .chains import CHAIN_CLASSES, chain_from_config
from .errors import ConfigError
from .network import NetworkSpec
from .prior import Prior
from .problem import Problem
from .targets import TARGET_CLASSES

__all__ = [
    "CHAIN_CLASSES",
    "SPEC_CLASSES",
    "spec_class",
    "spec_from_state",
    "fingerprint",
    "canonical_json",
    "exclusive_keys",
    "chain_from_config",
    "network_from_config",
    "problem_from_config",
]

SPEC_CLASSES: Mapping[str, type] = MappingProxyType({
    **CHAIN_CLASSES,
    **TARGET_CLASSES,
    Prior.kind: Prior,
    NetworkSpec.kind: NetworkSpec,
    Problem.kind: Problem,
})
"""Every kind of saved state: ``kind`` -> class with ``to_state``/``from_state``."""


def spec_class(kind: Any, where: str = "kind", registry: Mapping[str, type] = SPEC_CLASSES) -> type:
    """The class registered under ``kind`` in ``registry`` (default :data:`SPEC_CLASSES`).

    Unknown kinds are refused with a :class:`ConfigError` that names ``where`` and
    lists the registered kinds (see :func:`limitsolver._schema.lookup`).

    Parameters
    ----------
    kind : str
        A registered kind.
    where : str
        The key holding ``kind``.
    registry : Mapping, optional
        The registry.

    Returns
    -------
    type
        The class.
    """
    return lookup(registry, kind, where)


def exclusive_keys(kind: Any) -> tuple[tuple[str, ...], ...]:
    """Groups of keys of a kind that exclude each other (``()`` for most kinds).

    A configuration that gives a key of one group drops the keys it inherits
    from the defaults that share no group with it: ``tol`` of a linear-memory
    target replaces a default ``n_terms``.

    Parameters
    ----------
    kind : str
        A kind of :data:`SPEC_CLASSES` (anything else: no groups).

    Returns
    -------
    tuple of tuple of str
        The groups.
    """
    cls = SPEC_CLASSES.get(kind) if isinstance(kind, str) else None
    return tuple(getattr(cls, "exclusive_keys", ()))


def spec_from_state(state: Mapping[str, Any], where: str = "state") -> Any:
    """Rebuild any spec from its ``to_state()``, dispatching on ``state["kind"]``.

    Parameters
    ----------
    state : Mapping
        A saved state (``FiniteChain``, ``GaussianAR1``, ``CircleWalk``,
        ``StateFunction``, ``LinearMemory``, ``TeacherRNN``, ``Prior``,
        ``NetworkSpec`` or ``Problem``).
    where : str
        Name of the state in error messages.

    Returns
    -------
    object
        The spec, equal to the one saved (arrays bit for bit).

    Raises
    ------
    ConfigError
        If the state is not a table, its ``kind`` is not registered (the message
        lists the kinds) or a key or value is invalid.
    """
    state = check_table(state, where, "a saved state (a table with a `kind`)")
    cls = spec_class(state.get("kind"), f"{where}.kind")
    return cls.from_state(state, where)


def _canonical(obj: Any) -> Any:
    if isinstance(obj, (bool, np.bool_)) or obj is None or isinstance(obj, str):
        return bool(obj) if isinstance(obj, np.bool_) else obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return {"float": float(obj).hex()}
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if callable(getattr(obj, "to_state", None)):
        return _canonical(obj.to_state())
    raise ConfigError(
        f"a state must hold tables, lists, strings, numbers and booleans only; got "
        f"{type(obj).__name__}."
    )


def canonical_json(state: Any) -> str:
    """The canonical JSON text of a state: sorted keys, no spaces, floats as exact hex.

    Every float becomes ``{"float": float.hex()}``, so ``0.7`` and the double
    next to it, or ``0.0`` and ``-0.0``, give different texts; integers stay
    integers.

    Parameters
    ----------
    state : Mapping or spec
        A state (or any object with ``to_state()``).

    Returns
    -------
    str
        The canonical text.

    Raises
    ------
    ConfigError
        If the state holds something other than tables, lists, strings,
        numbers, booleans and ``None``.
    """
    return json.dumps(_canonical(state), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)


def fingerprint(state: Any) -> str:
    """SHA-256 digest (hex) of :func:`canonical_json` of a state or a spec.

    Two specs have the same fingerprint exactly when their states agree to the
    last bit: ``P = [[0.69, 0.31], [0.4, 0.6]]`` and ``[[0.7, 0.3], [0.4, 0.6]]``
    differ, and so do two chains whose ``P`` differ by one ulp.

    Parameters
    ----------
    state : Mapping or spec
        A state, or a spec (its ``to_state()`` is used).

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> from limitsolver import FiniteChain
    >>> a = FiniteChain([[0.69, 0.31], [0.4, 0.6]])
    >>> b = FiniteChain([[0.7, 0.3], [0.4, 0.6]])
    >>> fingerprint(a) == fingerprint(b)
    False
    """
    return hashlib.sha256(canonical_json(state).encode("ascii")).hexdigest()


def network_from_config(table: Mapping[str, Any], where: str = "network") -> NetworkSpec:
    """Build a :class:`NetworkSpec` from a table with an optional ``prior`` sub-table.

    Parameters
    ----------
    table : Mapping
        Keys ``activation``, ``beta``, ``alpha``, ``gradient``, ``memory_tol``
        (fields of :class:`NetworkSpec`, defaults where absent) and ``prior``, a
        table of :class:`~limitsolver.prior.Prior` fields (``sigma_w``, ``b_max``,
        ``c_law``, ``sigma_c``, ``doubled``).
    where : str
        Name of the table in error messages.

    Returns
    -------
    NetworkSpec
        The validated network description.

    Raises
    ------
    ConfigError
        If a key is unknown or a value is refused by :class:`NetworkSpec` or
        :class:`~limitsolver.prior.Prior`.
    ContractionError
        If the prior does not make the memory contract.
    """
    return NetworkSpec.from_state(table, where)


def problem_from_config(table: Mapping[str, Any], where: str = "problem") -> Problem:
    """Build a :class:`Problem` from tables ``chain``, ``target``, ``network`` and ``horizon``.

    The same table is what :meth:`Problem.to_state` writes, so
    ``problem_from_config(problem.to_state())`` equals ``problem``; see
    :meth:`Problem.from_state` for the keys.

    Parameters
    ----------
    table : Mapping
        The problem's table.
    where : str
        Name of the table in error messages.

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
    return Problem.from_state(table, where)
