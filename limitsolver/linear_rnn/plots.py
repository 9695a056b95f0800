"""Figures of the curse-of-memory studies.

* :func:`plot_approximation`: ``E_m / ||rho||`` against ``m`` (log scale), one line per target,
  with the best fitted rate dashed.
* :func:`plot_loss_curves`: loss ``J(t)`` of each gradient-flow run (log-log), detected
  plateaus shaded.
* :func:`plot_plateau_fit`: plateau duration against the memory parameter (log scale) with
  the fit ``log D = a + b M``.

Each function returns a :class:`matplotlib.figure.Figure` (save it with
:func:`limitsolver.io.save_figure`).
"""

from __future__ import annotations

import numpy as np

from .approximation import RATE_MODELS

__all__ = ["plot_approximation", "plot_loss_curves", "plot_plateau_fit"]


def _figure(figsize=(6.0, 4.0)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def plot_approximation(result):
    """``E_m / ||rho||`` against ``m`` for an :class:`~.study.ApproximationStudyResult`.

    One line per target (log scale), with its best-fitting rate model dashed.

    Parameters
    ----------
    result : ApproximationStudyResult
        The study to plot.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg backend); save it with :func:`limitsolver.io.save_figure`.
    """
    fig, ax = _figure()
    for c in result.curves:
        pos = c.relative_errors > 0
        (line,) = ax.semilogy(c.m_values[pos], c.relative_errors[pos], "o-", label=c.target.label)
        f = c.best_fit
        if f is not None:
            m = np.linspace(c.m_values.min(), c.m_values.max(), 100)
            ax.semilogy(m, np.exp(f.intercept - f.slope * RATE_MODELS[f.model](m)), "--",
                        color=line.get_color(), lw=0.8)
    ax.set_xlabel("m (hidden units)")
    ax.set_ylabel(r"$E_m / \|\rho\|$")
    ax.set_title("best m-unit approximation (dashed: best-fitting rate)")
    ax.legend(fontsize=6)
    return fig


def plot_loss_curves(result, seed_index: int = 0):
    """Loss against time for each memory value of a :class:`~.study.PlateauStudyResult`.

    Log-log curves of ``J(t)``, with the detected plateaus shaded.

    Parameters
    ----------
    result : PlateauStudyResult
        The study to plot.
    seed_index : int, default 0
        Which initialisation's runs to show.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg backend); save it with :func:`limitsolver.io.save_figure`.
    """
    fig, ax = _figure()
    for k, M in enumerate(result.memory_values):
        fr = result.flows[seed_index][k]
        pos = fr.t > 0
        (line,) = ax.loglog(fr.t[pos], fr.loss[pos], label=f"memory {M:g}")
        for p in result.plateaus[seed_index][k]:
            ax.axvspan(max(p.start, fr.t[pos][0]), p.end, color=line.get_color(), alpha=0.12)
    ax.set_xlabel("gradient-flow time t")
    ax.set_ylabel("loss J(t)")
    ax.set_title("gradient flow (plateaus shaded)")
    ax.legend(fontsize=7)
    return fig


def plot_plateau_fit(result):
    """Plateau durations against memory with the exponential fit ``D = e^{a + b M}``.

    Runs with ``D = 0`` (no plateau detected) are not shown.

    Parameters
    ----------
    result : PlateauStudyResult
        The study to plot.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg backend); save it with :func:`limitsolver.io.save_figure`.
    """
    fig, ax = _figure()
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
    ax.legend(fontsize=7)
    return fig
