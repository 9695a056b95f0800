"""Curse of memory: linear RNNs learning linear functionals (:ref:`theory §6 <theory-memory>`).

Modules, following the data walk *target -> loss -> approximation / flow / SGD -> study*:

* :mod:`.model` -- :class:`LinearRNN` ``(W, U, c)``, kernel ``rho_hat(s)^T = c^T e^{W s} U``.
* :mod:`.targets` -- memory kernels of the targets (:class:`MemoryKernel`:
  :class:`ExponentialSum`, :class:`PowerLaw`, :class:`DelayedBump`, :class:`ExponentialBump`,
  :class:`AiryTarget`,
  :class:`CallableTarget`), Laplace transforms, :func:`memory_time`.
* :mod:`.loss` -- white-noise loss ``1/2 ||rho_hat - rho||^2`` and gradient (diagonal ``W``).
* :mod:`.approximation` -- best ``m``-unit error ``E_m`` by variable projection, rate fits.
* :mod:`.gradient_flow` -- stiff gradient flow from small initialisation, plateau detection.
* :mod:`.sgd` -- online SGD on white-noise / AR(1) inputs against the gradient flow.
* :mod:`.study` -- :func:`approximation_study`, :func:`plateau_study` (their figures are in
  :mod:`limitsolver.plotting.memory`, their files written by ``limitsolver memory``).
"""

from .approximation import (
    ApproximationCurve,
    BestApproximation,
    RateFit,
    approximation_curve,
    best_approximation,
    fit_rate,
)
from .gradient_flow import (
    FlowResult,
    FlowSpec,
    Plateau,
    detect_plateaus,
    first_exit_time,
    gradient_flow,
)
from .loss import (
    ERROR_CONVENTION,
    LOSS_CONVENTION,
    gram,
    loss_and_gradient,
    optimal_coefficients,
    white_noise_loss,
)
from .model import LinearRNN, diagonal_kernel
from .sgd import AR1Input, DiscreteLoss, SGDComparison, WhiteNoiseInput, online_sgd, sgd_vs_flow
from .study import (
    ApproximationConfig,
    ApproximationStudyResult,
    PlateauConfig,
    PlateauFit,
    PlateauStudyResult,
    approximation_study,
    plateau_study,
    target_with_memory,
)
from .targets import (
    AiryTarget,
    CallableTarget,
    DelayedBump,
    ExponentialBump,
    ExponentialSum,
    MemoryKernel,
    PowerLaw,
    memory_time,
    target_from_dict,
)

__all__ = [
    "ERROR_CONVENTION", "LOSS_CONVENTION", "first_exit_time", "AR1Input", "AiryTarget", "ApproximationConfig", "ApproximationCurve",
    "ApproximationStudyResult", "BestApproximation", "CallableTarget", "DelayedBump",
    "DiscreteLoss", "ExponentialBump", "ExponentialSum", "FlowResult", "FlowSpec", "LinearRNN", "Plateau",
    "PlateauConfig", "PlateauFit", "PlateauStudyResult", "PowerLaw", "RateFit", "SGDComparison",
    "MemoryKernel", "WhiteNoiseInput", "approximation_curve", "approximation_study",
    "best_approximation", "detect_plateaus", "diagonal_kernel", "fit_rate", "gradient_flow",
    "gram", "loss_and_gradient", "memory_time", "online_sgd", "optimal_coefficients",
    "plateau_study", "sgd_vs_flow", "target_from_dict", "target_with_memory", "white_noise_loss",
]


def __getattr__(name: str):
    if name == "Target":
        from . import targets

        return targets.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
