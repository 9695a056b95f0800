"""Exceptions raised by limitsolver.

Every error names the offending argument and, where one is likely, the fix.
All derive from :class:`LimitSolverError`, itself a :class:`ValueError`, so
``except ValueError`` keeps working for callers that do not care which.
"""

from __future__ import annotations

__all__ = [
    "LimitSolverError",
    "NotStochasticError",
    "NotErgodicError",
    "ContractionError",
    "ActivationError",
    "DimensionError",
    "DiscretisationError",
    "DivergenceError",
    "ConfigError",
    "StudyError",
]


class LimitSolverError(ValueError):
    """Base class of all errors raised by limitsolver."""


class NotStochasticError(LimitSolverError):
    """A transition matrix is not row-stochastic (negative, NaN, rows not summing to one)."""


class NotErgodicError(LimitSolverError):
    """A Markov chain is reducible or periodic where ergodicity is required."""


class ContractionError(LimitSolverError):
    """The memory recursion ``s -> sigma(w.x + b s)`` is not a contraction: ``b_max sup|sigma'| >= 1``."""


class ActivationError(LimitSolverError):
    """An activation expression cannot be parsed or differentiated."""


class DimensionError(LimitSolverError):
    """Arrays or objects with incompatible dimensions were combined."""


class DiscretisationError(LimitSolverError):
    """A discretisation (grid, depth, number of histories) is too coarse for the requested tolerance."""


class DivergenceError(LimitSolverError, ArithmeticError):
    """A computation produced NaN or infinite values.

    Parameters
    ----------
    message : str
        What diverged, naming the argument to change.
    step : int, optional
        The first step (or time index) at which the values stopped being
        finite, when the computation has steps; stored as ``step``.
    """

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


class StudyError(LimitSolverError):
    """Runs of a study failed; the message names each one (e.g. by width and seed)."""


class ConfigError(LimitSolverError):
    """A configuration file or option is invalid."""
