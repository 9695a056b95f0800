r"""A learning problem: data chain, target, network and horizon.

One :class:`Problem` is what the finite network is simulated on and what the
kernel limit is solved for, so a convergence study compares like with like:

* ``chain`` — the ergodic Markov chain :math:`X_k` (:ref:`theory §1 <theory-data>`);
* ``target`` — the causal functional :math:`Y_k = g(\xi_k)` of the history;
* ``network`` — :class:`~limitsolver.network.NetworkSpec` (activation, prior,
  :math:`\beta`, :math:`\alpha`, gradient mode, memory tolerance);
* ``horizon`` — the training time :math:`T` (``K = floor(N T)`` steps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ._schema import check_keys, check_table, check_value
from .chains import as_chain, chain_from_config
from .errors import ConfigError, DimensionError, NotErgodicError
from .network import NetworkSpec
from .targets import make_target

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """Chain, target, network and horizon of one learning problem.

    Parameters
    ----------
    chain : MarkovChain
        Data source; must expose ``dim``, ``sample`` and ``sample_stationary``.
    target : Target
        Target functional with a ``window`` and a ``dim`` compatible with the chain.
    network : NetworkSpec
        Network description (defaults to tanh, Rademacher ``c``, beta = 1/2, rtrl).
    horizon : float
        Training time :math:`T > 0`.

    Raises
    ------
    ConfigError
        If ``network`` is not a :class:`NetworkSpec` (e.g. the activation's name was
        passed in its place) or ``horizon`` is not a positive finite number.
    NotErgodicError
        If ``chain`` is a finite chain that is reducible or periodic.
    DimensionError
        If ``target`` reads states of another dimension than ``chain``.
    """

    chain: Any
    target: Any
    network: NetworkSpec = field(default_factory=NetworkSpec)
    horizon: float = 1.0

    kind: ClassVar[str] = "problem"

    def __post_init__(self):
        object.__setattr__(self, "chain", as_chain(self.chain, "chain"))
        if not isinstance(self.network, NetworkSpec):
            hint = (f"; for the activation write `network=NetworkSpec(activation={self.network!r})`"
                    if isinstance(self.network, str) else "")
            raise ConfigError(
                f"`network` must be a limitsolver.NetworkSpec, got "
                f"{type(self.network).__name__}{hint}."
            )
        horizon = check_value(self.horizon, float, "horizon")
        if not (math.isfinite(horizon) and horizon > 0):
            raise ConfigError(f"`horizon` must be positive and finite, got {self.horizon}.")
        object.__setattr__(self, "horizon", horizon)
        check_ergodic = getattr(self.chain, "check_ergodic", None)
        if callable(check_ergodic):
            try:
                check_ergodic()
            except NotErgodicError as exc:
                raise NotErgodicError(f"`chain`: {exc}") from None
        tdim = getattr(self.target, "dim", None)
        if tdim is not None and tdim != self.chain.dim:
            raise DimensionError(
                f"`target` reads states of dimension {tdim} but `chain` has dimension "
                f"{self.chain.dim}; build the target for d = {self.chain.dim}."
            )

    def replace(self, **changes: Any) -> Problem:
        """Return a copy with the given fields changed.

        Parameters
        ----------
        **changes
            New values of fields (``chain``, ``target``, ``network``, ``horizon``),
            validated as in the constructor.

        Returns
        -------
        Problem
            The modified copy.
        """
        return replace(self, **changes)

    def to_state(self) -> dict[str, Any]:
        """The problem as a JSON-able table: chain, target, network and horizon, exact.

        Returns
        -------
        dict
            ``{"kind": "problem", "chain": ..., "target": ..., "network": ...,
            "horizon": ...}`` with the states of the parts (a finite chain's ``P``
            in full); :meth:`from_state` rebuilds an equal problem.

        Raises
        ------
        ConfigError
            If the chain or the target cannot be saved (a user's own class without
            ``to_state``, or a target wrapping a Python callable).
        """
        parts = {}
        for name in ("chain", "target"):
            obj = getattr(self, name)
            if not callable(getattr(obj, "to_state", None)):
                raise ConfigError(
                    f"`{name}` of type {type(obj).__name__} cannot be saved: it has no "
                    "`to_state()`; use a built-in one or give it `to_state`/`from_state`."
                )
            parts[name] = obj.to_state()
        return {"kind": self.kind, **parts, "network": self.network.to_state(),
                "horizon": self.horizon}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], where: str = "problem") -> Problem:
        """Build a problem from :meth:`to_state` or a configuration table.

        Parameters
        ----------
        state : Mapping
            ``chain`` (see :func:`~limitsolver.chains.chain_from_config`) and
            ``target`` (see :func:`~limitsolver.targets.make_target`) are required;
            ``network`` (a table of :class:`NetworkSpec` fields) and ``horizon``
            (default 1.0) are optional; ``kind = "problem"`` is allowed.
        where : str
            Name of the table in error messages.

        Returns
        -------
        Problem
            The problem; ``Problem.from_state(p.to_state())`` equals ``p``.

        Raises
        ------
        ConfigError
            If a key is unknown, ``chain`` or ``target`` is missing, or a value is
            refused by the object it builds.
        """
        state = check_table(state, where)
        if state.get("kind", cls.kind) != cls.kind:
            raise ConfigError(f"`{where}.kind` must be 'problem', got {state['kind']!r}.")
        keys = ("chain", "target", "network", "horizon")
        check_keys({k: v for k, v in state.items() if k != "kind"}, keys, where)
        for key in ("chain", "target"):
            if key not in state:
                raise ConfigError(f"`{where}.{key}` table is required to define a problem.")
        chain = chain_from_config(state["chain"], f"{where}.chain")
        target = make_target(state["target"], chain.dim, f"{where}.target")
        network = NetworkSpec.from_state(state.get("network", {}), f"{where}.network")
        horizon = check_value(state.get("horizon", 1.0), float, f"{where}.horizon")
        if not (math.isfinite(horizon) and horizon > 0):
            raise ConfigError(f"`{where}.horizon` must be positive and finite, got {horizon}.")
        return cls(chain, target, network, horizon)

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.chain.dim)

    @property
    def depth(self) -> int:
        """History window length: enough for the memory tolerance and for the target."""
        return max(self.network.depth, int(getattr(self.target, "window", 1)))
