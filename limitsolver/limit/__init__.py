r"""The kernel limit of :ref:`theory §3 <theory-limit>`, solved with the discretisation of §4.

The data walk, one module per object:

:mod:`~limitsolver.limit.quadrature`
    :class:`QuadratureRule`, :func:`parameter_grid`: the rule
    :math:`\{(w_g, b_g), q_g\}` replacing :math:`\mu_0` over :math:`(w, b)`.
:mod:`limitsolver.histories`
    :class:`Histories`, :func:`exact_histories`, :func:`sample_histories`,
    :func:`path_windows`: the weighted windows replacing the stationary law of histories.
:mod:`~limitsolver.limit.hidden_layer`
    :func:`features` (:math:`\varphi, \psi, \chi` at histories × nodes) and
    :class:`HiddenLayer` (:math:`\theta\mapsto S(\theta;\xi)` on the grid: exact
    sensitivities, finite differences, Sobolev norms, interpolation).
:mod:`~limitsolver.limit.kernels`
    :func:`tangent_kernel` :math:`A`, :func:`covariance_kernel` :math:`\Sigma` and
    the thin factors of the low-rank route.
:mod:`~limitsolver.limit.feature_map`
    :class:`FeatureMap`: one problem's map from histories to features, kernel factors
    and kernel rows (built once by the solver, kept on the solution).
:mod:`~limitsolver.limit.ode`
    :class:`LimitFlow` (the implementer contract, :math:`t = \infty` included) and its
    exact (spectral, matrix-exponential, low-rank) and time-stepped flows of
    :math:`dh/dt = \alpha A W (g - h)`.
:mod:`~limitsolver.limit.streaming`
    :class:`StreamedFlow` and :class:`FactorChunks`: the same flows from Gram matrices
    accumulated over chunks of histories, for more histories than fit in memory.
:mod:`~limitsolver.limit.solution`, :mod:`~limitsolver.limit.solver`
    :class:`LimitSolution` and :func:`solve_limit`.

Imports follow this order (histories, hidden layer, kernels, feature map, flows,
streamed flows, solution, solver); no module imports one after it.
"""

from ..histories import Histories, exact_histories, path_windows, sample_histories
from .feature_map import FeatureMap
from .fluctuations import FluctuationPrediction, predict_fluctuations
from .hidden_layer import Features, HiddenLayer, features, hidden_layer, truncation_bound
from .kernels import covariance_kernel, kernel_factor, kernel_factors, tangent_kernel
from .ode import (
    ExponentialFlow,
    FactorRows,
    FlowPath,
    IVPFlow,
    KernelRows,
    LimitFlow,
    SymmetricFlow,
    lowrank_exponential,
    phi1,
)
from .quadrature import QUADRATURE_KINDS, QuadratureRule, parameter_grid
from .solution import LimitSolution
from .solver import LIMIT_METHODS, MIN_ESTIMABLE_GRID, build_flow, solve_limit
from .streaming import FactorChunks, StreamedFlow, chunk_rows, in_memory_bytes

__all__ = [
    "StreamedFlow",
    "FactorChunks",
    "chunk_rows",
    "in_memory_bytes",
    "QUADRATURE_KINDS",
    "QuadratureRule",
    "parameter_grid",
    "Histories",
    "exact_histories",
    "sample_histories",
    "path_windows",
    "Features",
    "features",
    "HiddenLayer",
    "hidden_layer",
    "truncation_bound",
    "tangent_kernel",
    "covariance_kernel",
    "kernel_factor",
    "kernel_factors",
    "FeatureMap",
    "LimitFlow",
    "FlowPath",
    "KernelRows",
    "FactorRows",
    "SymmetricFlow",
    "ExponentialFlow",
    "IVPFlow",
    "lowrank_exponential",
    "phi1",
    "LimitSolution",
    "LIMIT_METHODS",
    "MIN_ESTIMABLE_GRID",
    "build_flow",
    "solve_limit",
    "FluctuationPrediction",
    "predict_fluctuations",
]
