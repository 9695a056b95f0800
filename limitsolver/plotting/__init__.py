"""Figures of limitsolver's results, one module per kind of result.

=================================  ==================================================
module                             figures
=================================  ==================================================
:mod:`~.plotting.convergence`      :func:`plot_trajectories`, :func:`plot_error_in_time`,
                                   :func:`plot_rescaled_errors`, :func:`plot_error_curves`,
                                   :func:`plot_rate`,
                                   :func:`plot_convergence`, :func:`plot_loss_curves`
:mod:`~.plotting.limit`            :func:`plot_limit`
:mod:`~.plotting.fluctuations`     :func:`plot_fluctuations`, :func:`plot_predicted_errors`
:mod:`~.plotting.simulation`       :func:`plot_running_loss`
:mod:`~.plotting.poisson`          :func:`plot_poisson`
:mod:`~.plotting.memory`           :func:`plot_approximation`, :func:`plot_flow_losses`,
                                   :func:`plot_plateau_fit`
=================================  ==================================================

Plotting imports the core, never the reverse. Every function takes a result
object and the axes to draw on (``ax=`` for one panel, ``axes=`` for several;
by default a new figure) and returns the :class:`matplotlib.figure.Figure`, for
the caller to show or save (:func:`limitsolver.io.save_figure`). matplotlib is
imported on the first call, not when this package is imported.
"""

from .convergence import (
    discretisation_floor,
    plot_convergence,
    plot_error_curves,
    plot_error_in_time,
    plot_loss_curves,
    plot_rate,
    plot_rescaled_errors,
    plot_trajectories,
)
from .fluctuations import plot_fluctuations, plot_predicted_errors
from .limit import plot_limit, positive_spectrum
from .memory import plot_approximation, plot_flow_losses, plot_plateau_fit
from .poisson import plot_poisson
from .simulation import plot_running_loss

__all__ = [
    "plot_fluctuations", "plot_predicted_errors",
    "discretisation_floor", "plot_trajectories", "plot_error_in_time", "plot_rescaled_errors",
    "plot_error_curves", "plot_rate", "plot_convergence", "plot_loss_curves",
    "plot_limit", "positive_spectrum",
    "plot_running_loss",
    "plot_poisson",
    "plot_approximation", "plot_flow_losses", "plot_plateau_fit",
]
