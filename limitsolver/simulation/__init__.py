r"""The finite network of :ref:`theory §2 <theory-network>` and its frozen-parameter output :math:`h^N_t` (§3).

Functions and classes
---------------------
:func:`simulate`
    Online SGD of :math:`N` diagonal-recurrence units, output :math:`N^{-\beta}\sum_i
    c^i s^i_{k+1}`, learning rate :math:`\alpha N^{2\beta-2}`, :math:`K=\lfloor NT\rfloor`
    steps, rtrl or truncated sensitivities, for an ensemble of seeds.
:class:`SimulationResult`
    Predictions, errors, loss curves, parameter snapshots, and
    :meth:`SimulationResult.output` evaluating :math:`h^N_t` on histories.
:func:`network_output`
    :math:`h(\xi) = N^{-\beta}\sum_i c^i\sigma(w^i\cdot x + b^i S(\theta^i;\xi_{-1}))`.
:class:`SimulationProgress`
    The record passed to a simulation callback.
"""

from .output import network_output
from .result import SimulationResult, windowed_loss
from .simulate import BACKENDS, SimulationProgress, SimulationWarning, simulate

__all__ = ["simulate", "SimulationResult", "SimulationProgress", "SimulationWarning",
           "network_output", "windowed_loss", "BACKENDS"]
