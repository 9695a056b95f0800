"""limitsolver: kernel limits of recurrent networks trained online on ergodic data.

The package solves the limit equations of ``THEORY.md`` (docs/theory), simulates
the finite networks they are limits of, and measures the distance and its rate.
"""

from .activations import Activation, activation
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

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "activation",
    "ActivationError",
    "ConfigError",
    "ContractionError",
    "DimensionError",
    "DiscretisationError",
    "DivergenceError",
    "LimitSolverError",
    "NotErgodicError",
    "NotStochasticError",
]
