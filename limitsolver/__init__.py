"""limitsolver: kernel limits of recurrent networks trained online on ergodic data.

The package solves the limit equations of ``docs/theory.rst``, simulates the
finite networks they are limits of, and measures the distance and its rate.

The data walk, one module per object: chain (:mod:`~limitsolver.chains`) →
histories (:mod:`~limitsolver.histories`) → hidden layer on the parameter grid
→ kernel → ODE → solution (:mod:`~limitsolver.limit`) → study
(:mod:`~limitsolver.studies`), with the finite network
(:mod:`~limitsolver.simulation`) beside it; Poisson equations
(:mod:`~limitsolver.poisson`) and linear RNNs (:mod:`~limitsolver.linear_rnn`)
stand on their own.
"""

from ._lazy import lazy_exports
from ._version import __version__ as __version__
from .errors import (
    ActivationError,
    ConfigError,
    ContractionError,
    DimensionError,
    DiscretisationError,
    DivergenceError,
    LimitSolverError,
    NotErgodicError,
    NotStochasticError,
)

# Imported on first use (limitsolver._lazy): importing the package loads no numerical library.
_EXPORTS = {
    ".activations": ("Activation", "activation"),
    ".chains": (
        "ChainProtocol", "CircleWalk", "FiniteChain", "GaussianAR1", "MarkovChain", "as_chain",
        "check_chain",
    ),
    ".histories": ("Histories", "exact_histories", "path_windows", "sample_histories"),
    ".limit": (
        "FluctuationPrediction", "LimitSolution", "QuadratureRule", "parameter_grid",
        "predict_fluctuations", "solve_limit",
    ),
    ".network": ("NetworkSpec",),
    ".poisson": ("PoissonSolution", "asymptotic_variance", "batch_means_check", "solve_poisson"),
    ".prior": ("Prior", "UnitParameters"),
    ".problem": ("Problem",),
    ".simulation": ("SimulationResult", "simulate"),
    ".studies": ("PowerLawFit", "fit_power_law"),
    ".targets": (
        "LinearMemory", "StateFunction", "Target", "TeacherRNN", "WindowFunction", "make_target",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

__all__ = [
    "Activation", "activation",
    "ChainProtocol", "MarkovChain", "as_chain", "check_chain", "FiniteChain", "GaussianAR1", "CircleWalk",
    "Target", "StateFunction", "LinearMemory", "TeacherRNN", "WindowFunction", "make_target",
    "Prior", "UnitParameters", "NetworkSpec", "Problem",
    "Histories", "exact_histories", "sample_histories", "path_windows",
    "QuadratureRule", "parameter_grid", "LimitSolution", "solve_limit",
    "SimulationResult", "simulate",
    "FluctuationPrediction", "predict_fluctuations",
    "PowerLawFit", "fit_power_law",
    "PoissonSolution", "solve_poisson", "asymptotic_variance", "batch_means_check",
    "ActivationError", "ConfigError", "ContractionError", "DimensionError",
    "DiscretisationError", "DivergenceError", "LimitSolverError", "NotErgodicError",
    "NotStochasticError",
]
