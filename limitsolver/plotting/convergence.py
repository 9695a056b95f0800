r"""Figures of convergence studies: finite networks of width :math:`N` against the kernel limit.

From a :class:`~limitsolver.studies.ConvergenceResult`:

* :func:`plot_trajectories` -- :math:`h^N_t(\xi)` against :math:`h_t(\xi)` over time for
  several widths on a few histories;
* :func:`plot_error_in_time` -- :math:`\|h^N_t - h_t\|_{L^2(\pi)}` against :math:`t` for
  each width;
* :func:`plot_rescaled_errors` -- :math:`\sqrt N\,\|h^N_t - h_t\|_{L^2(\pi)}`, which at the
  rate :math:`N^{-1/2}` collapses onto one curve (both: :func:`plot_error_curves`);
* :func:`plot_rate` -- error against width with the fitted :math:`C N^{-p}`, its bootstrap
  confidence band, an :math:`N^{-1/2}` reference slope and the observed local orders;
  :func:`plot_convergence` draws it for several metrics;
* :func:`plot_loss_curves` -- loss curves :math:`L^N_t` against the limit's :math:`L_t`,
  and their gap.

Every panel shows the limit's discretisation floor (:func:`discretisation_floor`):
differences below it are not resolved by the limit solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..studies.fit import observed_orders
from ._axes import finish, one_panel, panel_grid, panels

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ...studies.convergence import ConvergenceResult

__all__ = [
    "discretisation_floor", "plot_trajectories", "plot_error_in_time", "plot_rescaled_errors",
    "plot_error_curves", "plot_rate", "plot_convergence", "plot_loss_curves",
]

_LABELS = {
    "sup_l2": r"$\sup_t\, \|h^N_t - h_t\|_{L^2(\pi)}$",
    "tracking": r"RMS$_k\, |f^N_k - h_{k/N}(\xi_k)|$",
    "loss_gap": r"$\sup_t\, |L^N_t - L_t|$",
}
_FLOOR_STYLE = {"color": "C3", "ls": ":", "lw": 1.2}


def discretisation_floor(result: ConvergenceResult, metric: str = "sup_l2") -> float:
    r"""The limit's own discretisation error, in the units of ``metric``.

    With :math:`\varepsilon` = ``result.limit_error`` (quadrature, depth and Monte
    Carlo estimates of :math:`\sup_t\|h_t^{\rm computed} - h_t\|_{L^2(\pi)}`): for
    ``sup_l2`` and ``tracking`` the floor is :math:`\varepsilon`; for ``loss_gap``, since
    :math:`|L(h + \delta) - L(h)| \le \|g - h\|\,\|\delta\| + \tfrac12\|\delta\|^2`, it is
    :math:`\varepsilon \sup_t \sqrt{2 L_t} + \varepsilon^2/2`.

    Parameters
    ----------
    result : ConvergenceResult
        A study's result.
    metric : {"sup_l2", "tracking", "loss_gap"}, default "sup_l2"
        The metric.

    Returns
    -------
    float
        The floor (0 when the limit's error was not estimated).
    """
    eps = float(result.limit_error)
    if metric == "loss_gap":
        return eps * float(np.sqrt(2.0 * np.max(result.limit_loss))) + 0.5 * eps**2
    return eps


def _colours(n: int):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    return [cmap(0.9 * i / max(n - 1, 1)) for i in range(n)]


def _need_runs(result) -> None:
    if result.finite_h is None or result.error_curves is None:
        from ..errors import ConfigError

        raise ConfigError("`result` holds no outputs per run over time (`finite_h`, "
                          "`error_curves`); rerun the study with this version of limitsolver.")


def _mean_se(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = np.sum(np.isfinite(x), axis=axis)
    mean = np.nanmean(x, axis=axis)
    se = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if x.shape[axis] > 1 \
        else np.zeros_like(mean)
    return mean, se


def _default_widths(n_units, k: int = 4) -> list[int]:
    idx = np.unique(np.round(np.linspace(0, len(n_units) - 1, min(k, len(n_units)))).astype(int))
    return [int(n_units[i]) for i in idx]


def plot_trajectories(result: ConvergenceResult, n_histories: int = 3,
                      widths: Sequence[int] | None = None, seed_index: int = 0, *,
                      axes: Sequence[Axes] | None = None):
    r""":math:`h^N_t(\xi)` of finite networks against the limit :math:`h_t(\xi)` over time.

    One panel per history (the ``n_histories`` of largest weight :math:`\omega`): the
    limit as a black line with a grey band :math:`h_t \pm \varepsilon` of the
    discretisation floor, and one seed's :math:`h^N_t` for each width in ``widths``
    (lighter colours for wider networks, which lie closer to the limit).

    Parameters
    ----------
    result : ConvergenceResult
        A study's result with its outputs per run (``finite_h``, ``limit_h``).
    n_histories : int, default 3
        Number of histories (panels).
    widths : sequence of int, optional
        Widths to draw (default: up to four, from the smallest to the largest).
    seed_index : int, default 0
        Which seed's runs to draw.
    axes : sequence of matplotlib.axes.Axes, optional
        ``n_histories`` axes; default a new figure, one row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of the panels.

    Raises
    ------
    ConfigError
        If ``widths`` holds a width the study did not run, or ``result`` has no outputs
        per run.
    """
    _need_runs(result)
    n_units = list(result.study.n_units)
    widths = _default_widths(n_units) if widths is None else [int(n) for n in widths]
    missing = sorted(set(widths) - set(n_units))
    if missing:
        from ..errors import ConfigError

        raise ConfigError(f"`widths` {missing} were not run; the study has {n_units}.")
    omega = result.history_weights
    top = np.argsort(omega)[::-1][:n_histories]
    own = axes is None
    fig, ax = panels(axes, (1, len(top)), (4.2 * len(top), 3.6))
    limit = np.broadcast_to(result.limit_h, result.finite_h.shape)
    eps = discretisation_floor(result)
    colours = _colours(len(widths))
    for a, m in zip(ax[0], top, strict=True):
        i0 = n_units.index(widths[-1])
        h = limit[i0, seed_index, :, m]
        if eps > 0:
            a.fill_between(result.times, h - eps, h + eps, color="0.85", lw=0,
                           label=r"$h_t \pm$ discretisation floor")
        a.plot(result.times, h, "k-", lw=2, label=r"limit $h_t(\xi)$", zorder=3)
        for c, n in zip(colours, widths, strict=True):
            i = n_units.index(n)
            a.plot(result.times, result.finite_h[i, seed_index, :, m], "o-", color=c, ms=3.5,
                   lw=1.2, label=f"$h^N_t(\\xi)$, N = {n}", zorder=4)
        a.set(xlabel="training time $t$", ylabel=r"output on history $\xi$",
              title=rf"$\xi_{{{m}}}$, $\omega$ = {omega[m]:.3g}")
        a.grid(True, alpha=0.3)
    ax[0, 0].legend(fontsize="small")
    if own:
        fig.suptitle(f"finite networks (seed {result.study.seeds[seed_index]}) and the limit "
                     "on the likeliest histories")
    finish(fig, own)
    return fig


@one_panel((5.5, 4))
def plot_error_in_time(result: ConvergenceResult, *, ax: Axes | None = None):
    r""":math:`\|h^N_t - h_t\|_{L^2(\pi)}` against :math:`t`, one line per width.

    Means over seeds with a band of :math:`\pm 2` standard errors (log scale; times
    at which the error vanishes to rounding, e.g. :math:`t = 0` with doubled
    initialisation, are not drawn), and the discretisation floor.

    Parameters
    ----------
    result : ConvergenceResult
        A study's result with its ``error_curves``.
    """
    _need_runs(result)
    t = result.times
    for c, n, curves in zip(_colours(len(result.n_units)), result.n_units, result.error_curves,
                            strict=True):
        mean, se = _mean_se(curves)
        pos = mean > 1e-10 * np.nanmax(mean)  # zero up to rounding (e.g. at t = 0) is not drawn
        ax.fill_between(t[pos], np.maximum(mean - 2 * se, mean / 10)[pos], (mean + 2 * se)[pos],
                        color=c, alpha=0.15, lw=0)
        ax.plot(t[pos], mean[pos], "o-", color=c, ms=3, label=f"N = {n}")
    eps = discretisation_floor(result)
    if eps > 0:
        ax.axhline(eps, **_FLOOR_STYLE, label="discretisation floor")
    ax.set(xlabel="training time $t$", ylabel=r"$\|h^N_t - h_t\|_{L^2(\pi)}$", yscale="log",
           title="error over time (mean over seeds, ±2 s.e.)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)


@one_panel((5.5, 4))
def plot_rescaled_errors(result: ConvergenceResult, *, ax: Axes | None = None):
    r""":math:`\sqrt N\,\|h^N_t - h_t\|_{L^2(\pi)}` against :math:`t`: one curve at rate 1/2.

    If the error is :math:`N^{-1/2}` times a function of :math:`t`, the rescaled means
    over seeds of every width fall on one curve. The floor :math:`\sqrt N\varepsilon`
    of each width is dotted in its colour: a width whose curve meets its floor is
    limited by the limit solver, not by :math:`N`.

    Parameters
    ----------
    result : ConvergenceResult
        A study's result with its ``error_curves``.
    """
    _need_runs(result)
    t = result.times
    eps = discretisation_floor(result)
    for c, n, curves in zip(_colours(len(result.n_units)), result.n_units, result.error_curves,
                            strict=True):
        mean, se = _mean_se(np.sqrt(n) * curves)
        ax.fill_between(t, mean - 2 * se, mean + 2 * se, color=c, alpha=0.07, lw=0)
        ax.plot(t, mean, "o-", color=c, ms=3, label=f"N = {n}")
        if eps > 0:
            ax.axhline(np.sqrt(n) * eps, color=c, ls=":", lw=1)
    if eps > 0:
        ax.plot([], [], color="0.4", ls=":", label=r"floor $\sqrt{N}\varepsilon$")
    ax.set(xlabel="training time $t$", ylabel=r"$\sqrt{N}\,\|h^N_t - h_t\|_{L^2(\pi)}$",
           title=r"rescaled errors (collapse at rate $N^{-1/2}$)")
    top = np.nanmax([np.nanmean(np.sqrt(n) * e, axis=0).max()
                     for n, e in zip(result.n_units, result.error_curves, strict=True)])
    ax.set_ylim(0, 1.6 * top)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", ncol=2)


@panel_grid((1, 2), (11, 4), "The figure of the two panels.")
def plot_error_curves(result: ConvergenceResult, *, axes: Sequence[Axes] | None = None):
    r""":func:`plot_error_in_time` and :func:`plot_rescaled_errors` side by side.

    Parameters
    ----------
    result : ConvergenceResult
        A study's result with its ``error_curves``.
    """
    plot_error_in_time(result, ax=axes[0, 0])
    plot_rescaled_errors(result, ax=axes[0, 1])


@panel_grid((2, 1), (5.0, 6.2), "The figure of the two panels.", "Top and bottom panels")
def plot_rate(result: ConvergenceResult, metric: str = "sup_l2", *,
              axes: Sequence[Axes] | None = None):
    r"""Error against width with the fitted rate, its confidence band and the local orders.

    Top: the errors of every seed (grey dots), their means over seeds with
    :math:`\pm 2` standard errors, the fit :math:`e \approx C N^{-p}` with the interval
    of :math:`p` in the legend, the pointwise bootstrap confidence band of the fitted
    line (:meth:`~limitsolver.studies.fit.PowerLawFit.band`: the resampled fits
    :math:`C_b N^{-p_b}`), a reference slope :math:`N^{-1/2}` through the fit at the
    data's centre and the discretisation floor. Bottom: the observed local orders
    :math:`-\log(\bar e_{i+1}/\bar e_i)/\log(N_{i+1}/N_i)` of successive widths, with
    the fitted rate and its interval, the reference 1/2 and the width at which the fit
    reaches the floor.

    Parameters
    ----------
    result : ConvergenceResult
        The study's errors and fits.
    metric : {"sup_l2", "tracking", "loss_gap"}, default "sup_l2"
        The metric to draw.
    """
    top, bottom = axes[0, 0], axes[1, 0]
    e = result.errors[metric]
    fit = result.fits[metric]
    n = result.n_units.astype(float)
    nn = np.geomspace(n.min() / 1.3, n.max() * 1.3, 100)
    for j in range(e.shape[1]):
        top.plot(n, e[:, j], ".", color="0.7", ms=4, zorder=1)
    top.errorbar(n, fit.mean_errors, yerr=2 * np.nan_to_num(fit.standard_errors), fmt="o",
                 color="C0", capsize=3, label="mean ± 2 s.e.", zorder=3)
    lo, hi = fit.band(nn)
    top.fill_between(nn, lo, hi, color="C1", alpha=0.25, lw=0,
                     label=f"{round(100 * fit.level)}% bootstrap band of the fit")
    top.plot(nn, fit.predict(nn), "-", color="C1",
             label=f"fit $N^{{-{fit.rate:.2f}}}$, $p \\in$ [{fit.ci[0]:.2f}, {fit.ci[1]:.2f}]")
    centre = float(np.exp(np.mean(np.log(n))))
    top.plot(nn, fit.predict(centre) * (nn / centre) ** -0.5, "--", color="0.35", lw=1,
             label=r"reference $N^{-1/2}$")
    floor = discretisation_floor(result, metric)
    n_floor = (fit.constant / floor) ** (1.0 / fit.rate) if floor > 0 and fit.rate > 0 else None
    if floor > 0:
        where = f" (the fit meets it at N ≈ {n_floor:.2g})" if n_floor else ""
        top.axhline(floor, **_FLOOR_STYLE, label="discretisation floor" + where)
    top.set(xscale="log", yscale="log", ylabel=_LABELS.get(metric, metric))
    top.set_xscale("log", base=2)
    top.grid(True, which="major", alpha=0.3)
    top.legend(fontsize="small")
    # local orders between successive widths
    mid = np.sqrt(n[:-1] * n[1:])
    bottom.axhspan(fit.ci[0], fit.ci[1], color="C1", alpha=0.25, lw=0,
                   label=f"fitted rate {fit.rate:.2f} and its interval")
    bottom.axhline(fit.rate, color="C1")
    bottom.axhline(0.5, color="0.35", ls="--", lw=1, label="1/2")
    bottom.plot(mid, -observed_orders(n, fit.mean_errors), "o-", color="C0",
                label="local order of successive widths")
    if n_floor is not None:
        if nn[0] <= n_floor <= nn[-1]:
            for a in (top, bottom):
                a.axvline(n_floor, **_FLOOR_STYLE)
            bottom.plot([], [], **_FLOOR_STYLE, label="width where the fit meets the floor")
        else:  # beyond the widths drawn: say where
            bottom.plot([], [], **_FLOOR_STYLE,
                        label=f"the fit meets the floor at N ≈ {n_floor:.2g}")
    bottom.set_xscale("log", base=2)
    bottom.set_xlim(top.get_xlim())
    bottom.set(xlabel="width $N$", ylabel="observed order $p$")
    bottom.grid(True, which="major", alpha=0.3)
    bottom.legend(fontsize="small")


def plot_convergence(result: ConvergenceResult,
                     metrics: Sequence[str] = ("sup_l2", "tracking", "loss_gap"), *,
                     axes: np.ndarray | None = None):
    r""":func:`plot_rate` for several metrics, side by side.

    Parameters
    ----------
    result : ConvergenceResult
        The study's errors per width and seed and their fits.
    metrics : sequence of str
        Metrics to draw, one column each (those absent from ``result.errors``
        are skipped).
    axes : array of matplotlib.axes.Axes, shape (2, n_metrics), optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows (errors, local orders), one column per metric drawn.
    """
    metrics = [m for m in metrics if m in result.errors]
    own = axes is None
    fig, ax = panels(axes, (2, len(metrics)), (5.0 * len(metrics), 6.6))
    for k, m in enumerate(metrics):
        plot_rate(result, m, axes=ax[:, k])
    if own:
        fig.suptitle("finite networks against the kernel limit")
    finish(fig, own)
    return fig


@panel_grid((1, 2), (11, 4), "The figure of the two panels.")
def plot_loss_curves(result: ConvergenceResult, n_seeds: int = 3, *,
                     axes: Sequence[Axes] | None = None):
    r"""Loss curves :math:`L^N_t` of finite networks against the limit's :math:`L_t`, and the gap.

    Left: :math:`L^N_t = \tfrac12\sum_m \omega_m (g(\xi_m) - h^N_t(\xi_m))^2` of the first
    ``n_seeds`` seeds of every width, coloured by width, and the limit's
    :math:`L_t = \tfrac12\sum_m \omega_m (g(\xi_m) - h_t(\xi_m))^2` as a thin dashed
    line drawn over them (the widest networks lie on it). Right: the gap
    :math:`L^N_t - L_t`, mean over seeds with :math:`\pm 2` standard errors per width,
    within the discretisation floor of the loss (shaded in both panels).

    Parameters
    ----------
    result : ConvergenceResult
        A study's result with its time grid and loss curves.
    n_seeds : int, default 3
        Number of seeds drawn per width in the left panel (the first ones).
    """
    left, right = axes[0]
    colours = _colours(len(result.study.n_units))
    gap = result.finite_loss - result.limit_loss[None, None, :]
    for i, (c, n) in enumerate(zip(colours, result.study.n_units, strict=True)):
        for j in range(min(n_seeds, result.finite_loss.shape[1])):
            left.plot(result.times, result.finite_loss[i, j], color=c, lw=1.2, alpha=0.8,
                      label=f"$L^N_t$, N = {n}" if j == 0 else None)
        mean, se = _mean_se(gap[i])
        right.fill_between(result.times, mean - 2 * se, mean + 2 * se, color=c, alpha=0.07, lw=0)
        right.plot(result.times, mean, "o-", color=c, ms=3, label=f"N = {n}")
    left.plot(result.times, result.limit_loss, "k--", lw=1, label="limit $L_t$", zorder=5)
    floor = discretisation_floor(result, "loss_gap")
    if floor > 0:
        left.fill_between(result.times, result.limit_loss - floor, result.limit_loss + floor,
                          color="C3", alpha=0.25, lw=0, zorder=4,
                          label=r"$L_t \pm$ discretisation floor")
    left.set(xlabel="training time $t = k/N$",
             ylabel=r"loss $\frac{1}{2}\|g - h\|^2_{L^2(\pi)}$",
             title=r"finite networks $L^N_t$ and the limit $L_t$")
    if floor > 0:
        right.axhspan(-floor, floor, color="C3", alpha=0.12, lw=0, label="discretisation floor")
    right.axhline(0.0, color="k", lw=0.8)
    right.set(xlabel="training time $t = k/N$", ylabel=r"$L^N_t - L_t$",
              title="gap to the limit (mean over seeds, ±2 s.e.)")
    for a in (left, right):
        a.grid(True, alpha=0.3)
        a.legend(fontsize="small", ncol=2)
