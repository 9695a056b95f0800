r"""Figures of Poisson solutions: :math:`V` and :math:`F - \pi(F)` on the nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._axes import one_panel

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..poisson.solution import PoissonSolution

__all__ = ["plot_poisson"]

_FINITE_METHODS = ("fundamental matrix", "bordered sparse LU")


@one_panel((6, 4))
def plot_poisson(sol: PoissonSolution, *, ax: Axes | None = None):
    r"""The solution :math:`V` and the centred :math:`F - \pi(F)` against the state.

    A finite chain has finitely many states: its values are drawn as markers
    only (a line between two states would suggest values in between); the
    quadrature or grid nodes of a continuous state space are joined by lines.

    Parameters
    ----------
    sol : PoissonSolution
        A solution with one-dimensional nodes (states of a finite chain of
        dimension 1, state indices, or the nodes of a one-dimensional chain).
    """
    nodes = np.asarray(sol.nodes, dtype=float)
    xs = nodes[:, 0] if nodes.ndim == 2 else nodes
    order = np.argsort(xs)
    finite = sol.discretisation.get("method") in _FINITE_METHODS
    style_v, style_f = ("o", "s") if finite else ("-", "--")
    ax.plot(xs[order], np.asarray(sol.values)[order], style_v, ms=8, label="V")
    ax.plot(xs[order], np.asarray(sol.F_centred)[order], style_f, ms=6, mfc="none",
            label=r"$F - \pi(F)$")
    ax.axhline(0.0, color="0.6", lw=0.8)
    if finite and xs.size <= 12:
        ax.set_xticks(xs[order])
    ax.set(xlabel="state x" if finite else "x",
           title=rf"Poisson equation, $\sigma^2$ = {float(np.ravel(sol.asymptotic_variance)[0]):.4g}")
    ax.grid(True, alpha=0.3)
    ax.legend()
