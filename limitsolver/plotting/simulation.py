"""Figures of finite-network simulations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._axes import one_panel

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..simulation.result import SimulationResult

__all__ = ["plot_running_loss"]


@one_panel((6, 4), returns="A single panel, log scale, one line per seed.")
def plot_running_loss(result: SimulationResult, *, ax: Axes | None = None):
    r"""Running loss of every seed against training time :math:`t = k/N`.

    The running loss at step :math:`k` is the mean of :math:`\tfrac12 e_j^2` over the
    last :math:`N` steps (:attr:`SimulationResult.running_loss`).

    Parameters
    ----------
    result : SimulationResult
        An ensemble of seeds at one width.
    """
    t = result.step_times
    for j, seed in enumerate(result.seeds):
        ax.plot(t, result.running_loss[j], lw=0.8, label=f"seed {seed}")
    ax.set(xlabel="training time t = k/N", ylabel=r"running loss (mean of $\frac{1}{2} e^2$)",
           yscale="log", title=f"N = {result.n_units}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
