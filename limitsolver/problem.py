r"""A learning problem: data chain, target, network and horizon.

One :class:`Problem` is what the finite network is simulated on and what the
kernel limit is solved for, so a convergence study compares like with like:

* ``chain`` — the ergodic Markov chain :math:`X_k` (``THEORY.md`` §1);
* ``target`` — the causal functional :math:`Y_k = g(\xi_k)` of the history;
* ``network`` — :class:`~limitsolver.network.NetworkSpec` (activation, prior,
  :math:`\beta`, :math:`\alpha`, gradient mode, memory tolerance);
* ``horizon`` — the training time :math:`T` (``K = floor(N T)`` steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import DimensionError
from .network import NetworkSpec

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
    """

    chain: Any
    target: Any
    network: NetworkSpec = field(default_factory=NetworkSpec)
    horizon: float = 1.0

    def __post_init__(self):
        if not (math.isfinite(self.horizon) and self.horizon > 0):
            raise ValueError(f"`horizon` must be positive and finite, got {self.horizon}.")
        tdim = getattr(self.target, "dim", None)
        if tdim is not None and tdim != self.chain.dim:
            raise DimensionError(
                f"`target` reads states of dimension {tdim} but `chain` has dimension "
                f"{self.chain.dim}; build the target for d = {self.chain.dim}."
            )

    def replace(self, **changes) -> Problem:
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

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.chain.dim)

    @property
    def depth(self) -> int:
        """History window length: enough for the memory tolerance and for the target."""
        return max(self.network.depth, int(getattr(self.target, "window", 1)))
