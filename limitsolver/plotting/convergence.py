"""Figures of convergence studies (finite networks against the kernel limit)."""

from __future__ import annotations

import numpy as np

from ._axes import finish, panel, panels

__all__ = ["plot_convergence", "plot_loss_curves"]

_LABELS = {
    "sup_l2": r"$\sup_t\, \|h^N_t - h_t\|_{L^2(\pi)}$",
    "tracking": r"RMS$_k\, |f^N_k - h_{k/N}(\xi_k)|$",
    "loss_gap": r"$\sup_t\, |L^N_t - L_t|$",
}


def plot_convergence(result, metrics=("sup_l2", "tracking", "loss_gap"), *, axes=None):
    r"""Log–log error against width with error bars, the fitted line and its band.

    Each panel shows the errors of every seed (grey dots), their mean over seeds
    with :math:`\pm 2` standard errors, the fit :math:`e \approx C N^{-p}` with the
    interval of :math:`p` in the legend, and the band of
    :meth:`~limitsolver.studies.fit.PowerLawFit.band`; the ``sup_l2`` panel also
    marks the limit's own discretisation error.

    Parameters
    ----------
    result : ConvergenceResult
        The study's errors per width and seed and their fits.
    metrics : sequence of str
        Metrics to draw, one panel each (those absent from ``result.errors``
        are skipped).
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per metric drawn; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One row of panels, one per metric drawn.
    """
    metrics = [m for m in metrics if m in result.errors]
    own = axes is None
    fig, axes = panels(axes, (1, len(metrics)), (4.6 * len(metrics), 4.0))
    n = result.n_units.astype(float)
    nn = np.geomspace(n.min() / 1.3, n.max() * 1.3, 100)
    for ax, m in zip(axes[0], metrics, strict=True):
        e = result.errors[m]
        fit = result.fits[m]
        for j in range(e.shape[1]):
            ax.plot(n, e[:, j], ".", color="0.7", ms=4, zorder=1)
        ax.errorbar(n, fit.mean_errors, yerr=2 * np.nan_to_num(fit.standard_errors), fmt="o",
                    color="C0", capsize=3, label="mean ± 2 s.e.", zorder=3)
        lo, hi = fit.band(nn)
        ax.fill_between(nn, lo, hi, color="C1", alpha=0.2, label=f"{round(100 * fit.level)}% band")
        ax.plot(nn, fit.predict(nn), "-", color="C1",
                label=f"fit $N^{{-{fit.rate:.2f}}}$ [{fit.ci[0]:.2f}, {fit.ci[1]:.2f}]")
        if m == "sup_l2" and result.limit_error > 0:
            ax.axhline(result.limit_error, color="C3", ls=":", label="limit discretisation error")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width $N$")
        ax.set_ylabel(_LABELS.get(m, m))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if own:
        fig.suptitle("finite networks against the kernel limit")
    finish(fig, own)
    return fig


def plot_loss_curves(result, n_seeds: int = 3, *, ax=None):
    r"""Loss curves :math:`L_t` of the limit and :math:`L^N_t` of finite networks.

    :math:`L_t = \tfrac12 \int (g - h_t)^2\, d\pi` against training time
    :math:`t = k/N`, dashed, over the finite networks' curves coloured by width.

    Parameters
    ----------
    result : ConvergenceResult
        A study's result with its time grid and loss curves.
    n_seeds : int, default 3
        Number of seeds drawn per width (the first ones).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        A single panel.
    """
    import matplotlib.pyplot as plt

    own = ax is None
    fig, ax = panel(ax, (6, 4))
    cmap = plt.get_cmap("viridis")
    nN = len(result.study.n_units)
    for i, n in enumerate(result.study.n_units):
        colour = cmap(i / max(nN - 1, 1))
        for j in range(min(n_seeds, result.finite_loss.shape[1])):
            ax.plot(result.times, result.finite_loss[i, j], color=colour, lw=0.8, alpha=0.7,
                    label=f"N = {n}" if j == 0 else None)
    ax.plot(result.times, result.limit_loss, "k--", lw=2, label="limit $L_t$")
    ax.set_xlabel("training time $t = k/N$")
    ax.set_ylabel(r"loss $\frac{1}{2}\|g - h_t\|^2_{L^2(\pi)}$")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, alpha=0.3)
    finish(fig, own)
    return fig
