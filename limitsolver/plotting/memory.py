r"""Figures of the curse-of-memory studies (linear RNNs, :ref:`theory §6 <theory-memory>`).

* :func:`plot_approximation`: :math:`E_m/\|\rho\|` against :math:`m` (log scale), one
  line per target, with the best fitted rate dashed.
* :func:`plot_flow_losses`: the loss :math:`J(t)` of each gradient-flow run (log-log),
  detected plateaus shaded.
* :func:`plot_plateau_fit`: plateau duration against the memory parameter (log scale)
  with the fit :math:`\log D = a + b M`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._axes import one_panel

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..linear_rnn.study import ApproximationStudyResult, PlateauStudyResult

__all__ = ["plot_approximation", "plot_flow_losses", "plot_plateau_fit"]


@one_panel()
def plot_approximation(result: ApproximationStudyResult, *, ax: Axes | None = None):
    r""":math:`E_m/\|\rho\|` against :math:`m` for an :class:`~limitsolver.linear_rnn.ApproximationStudyResult`.

    One line per target (log scale), with its best-fitting rate model dashed.

    Parameters
    ----------
    result : ApproximationStudyResult
        The study to plot.
    """
    from ..linear_rnn.approximation import RATE_MODELS

    for c in result.curves:
        pos = c.relative_errors > 0
        (line,) = ax.semilogy(c.m_values[pos], c.relative_errors[pos], "o-", label=c.target.label)
        f = c.best_fit
        if f is not None:
            m = np.linspace(c.m_values.min(), c.m_values.max(), 100)
            ax.semilogy(m, np.exp(f.intercept - f.slope * RATE_MODELS[f.model](m)), "--",
                        color=line.get_color(), lw=0.8)
    ax.set_xlabel("m (hidden units)")
    ax.set_ylabel(r"$E_m / \|\rho\|$,  $E_m = \inf\|\hat\rho - \rho\|_{L^2(0,\infty)}$")
    ax.set_title("best m-unit approximation (dashed: best-fitting rate)")
    ax.legend(fontsize="x-small")


@one_panel()
def plot_flow_losses(result: PlateauStudyResult, seed_index: int = 0, *, ax: Axes | None = None):
    r"""Loss against time for each memory value of a :class:`~limitsolver.linear_rnn.PlateauStudyResult`.

    Log-log curves of :math:`J(t) = \tfrac12\|\hat\rho_t - \rho\|^2_{L^2(0,\infty)}`, the
    detected plateaus shaded.

    Parameters
    ----------
    result : PlateauStudyResult
        The study to plot.
    seed_index : int, default 0
        Which initialisation's runs to show.
    """
    for k, M in enumerate(result.memory_values):
        fr = result.flows[seed_index][k]
        pos = fr.t > 0
        (line,) = ax.loglog(fr.t[pos], fr.loss[pos], label=f"memory {M:g}")
        for p in result.plateaus[seed_index][k]:
            ax.axvspan(max(p.start, fr.t[pos][0]), p.end, color=line.get_color(), alpha=0.12)
    ax.set_xlabel("gradient-flow time t")
    ax.set_ylabel(r"loss $J(t) = \frac{1}{2}\|\hat\rho_t - \rho\|^2_{L^2(0,\infty)}$")
    ax.set_title("gradient flow (plateaus shaded)")
    ax.legend(fontsize="small")


@one_panel()
def plot_plateau_fit(result: PlateauStudyResult, *, ax: Axes | None = None):
    r"""Plateau durations against memory with the exponential fit :math:`D = e^{a + b M}`.

    Runs with :math:`D = 0` (no plateau detected) are not shown.

    Parameters
    ----------
    result : PlateauStudyResult
        The study to plot.
    """
    M = np.broadcast_to(result.memory_values, result.durations.shape)
    ok = result.durations > 0
    ax.semilogy(M[ok], result.durations[ok], "o", label="runs")
    f = result.fit
    if np.isfinite(f.slope):
        m = np.linspace(result.memory_values.min(), result.memory_values.max(), 100)
        ax.semilogy(m, np.exp(f.intercept + f.slope * m), "-",
                    label=f"log D = {f.intercept:.2f} + ({f.slope:.2f} ± {f.slope_stderr:.2f}) M")
    ax.set_xlabel("memory parameter M")
    ax.set_ylabel("plateau duration D")
    ax.legend(fontsize="small")
