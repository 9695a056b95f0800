r"""Figures of the fluctuation prediction (theory §8): its two sources, and measured against predicted.

:func:`plot_fluctuations` draws :math:`K_t`, :math:`D_t` and their sum over time and, per
history, where the variance of :math:`G_t = \sqrt N(h^N_t - h_t)` sits at the horizon;
:func:`plot_predicted_errors` draws :math:`\sqrt N\,\bar e_N` of a study against :math:`N`
with the predicted constant it should converge to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._axes import finish, panel, panels

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ...limit.fluctuations import FluctuationPrediction
    from ...studies.prediction import PredictedErrors

__all__ = ["plot_fluctuations", "plot_predicted_errors"]


def plot_fluctuations(prediction: FluctuationPrediction, axes: Sequence[Axes] | None = None,
                      n_histories: int = 40):
    r"""The decomposition :math:`N\,\mathbb E\|h^N_t - h_t\|^2 \to K_t + D_t` and its spread over histories.

    Parameters
    ----------
    prediction : FluctuationPrediction
        The prediction.
    axes : sequence of two matplotlib Axes, optional
        Where to draw (default: a new figure with two panels).
    n_histories : int
        Histories shown in the right panel (the most probable ones).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = panels(axes, (1, 2), figsize=(11.0, 4.0))
    own = axes is None
    a, b = ax[0, 0], ax[0, 1]
    t = prediction.times
    a.plot(t, prediction.kernel, "C0-o", ms=3, label=r"$K_t$ kernel randomness")
    a.plot(t, prediction.data, "C1-s", ms=3, label=r"$D_t$ data noise")
    a.plot(t, prediction.total, "k-", lw=2, label=r"$K_t + D_t$")
    a.set(xlabel="training time t", ylabel=r"$N\,\mathbb{E}\|h^N_t - h_t\|^2_{L^2(\pi)}$",
          title="the two sources of the finite-width error")
    a.legend(fontsize=9)
    a.grid(True, alpha=0.3)
    w = prediction.weights
    top = np.argsort(w)[::-1][:n_histories]
    var = prediction.per_history[-1, top]
    b.bar(np.arange(top.size), var, color="C2")
    b.set(xlabel="history (by stationary probability, most likely first)",
          ylabel=r"Var $G_T(\xi)$", title=f"where the error sits at t = {t[-1]:g}")
    b.grid(True, axis="y", alpha=0.3)
    finish(fig, own)
    return fig


def plot_predicted_errors(comparison: PredictedErrors, ax: Axes | None = None):
    r""":math:`\sqrt N\,\bar e_N` with error bars against :math:`N`, and the predicted constant.

    Parameters
    ----------
    comparison : PredictedErrors
        From :func:`~limitsolver.studies.prediction.compare_with_prediction`.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax_ = panel(ax)
    c = comparison
    n = np.asarray(c.n_units, dtype=float)
    ax_.errorbar(n, c.scaled, yerr=2 * c.scaled_se, fmt="o", color="C0", capsize=3,
                 label=r"measured $\sqrt{N}\,\bar e_N$ (± 2 s.e.)")
    ax_.axhline(c.constant, color="k", lw=1.5, label=f"predicted C = {c.constant:.3f}")
    ax_.axhspan(c.constant - 2 * c.constant_se, c.constant + 2 * c.constant_se, color="k",
                alpha=0.12, lw=0)
    ax_.set_xscale("log", base=2)
    ax_.set(xlabel="width N", ylabel=rf"$\sqrt{{N}}\times$ {c.metric}",
            title=f"{c.metric}: measured against the fluctuation prediction")
    ax_.set_ylim(bottom=0)
    ax_.legend(fontsize=9)
    ax_.grid(True, alpha=0.3)
    finish(fig, ax is None)
    return fig
