r"""Exceptions raised by limitsolver, one class per kind of mistake.

Every error names the offending argument in backticks and, where one is
likely, the fix. All derive from :class:`LimitSolverError`, itself a
:class:`ValueError`, so ``except ValueError`` keeps working for callers that do
not care which. The command line turns each into exit status 2 and one line.

Which class for which mistake (every raise in the package follows this table):

==========================================================  ==========================
Kind of mistake                                             Class
==========================================================  ==========================
An argument, option or configuration value of the wrong     :class:`ConfigError`
type (``doubled="no"``, ``sigma_w="1"``, a scalar for a
table) or out of its range (``beta = 1.5``, a zero
``memory_tol``, a negative seed); an unknown key, kind,
name or method; a missing key; a file that cannot be
read; an object that is not what the argument needs (a
string where a ``NetworkSpec`` belongs, an object that is
not a chain); an output directory that cannot be written
A transition matrix with negative, NaN or infinite          :class:`NotStochasticError`
entries or rows not summing to one
A chain that is reducible, periodic or does not mix         :class:`NotErgodicError`
(``|a| >= 1``, ``kappa <= 0``) where ergodicity is needed
A prior whose memory does not contract,                     :class:`ContractionError`
:math:`b_{\max}\sup|\sigma'| \ge 1`
An activation that cannot be parsed, is not smooth or has   :class:`ActivationError`
an unbounded derivative
Arrays or objects of incompatible shapes or dimensions      :class:`DimensionError`
(a target for ``d = 2`` on a chain of ``d = 1``, a size
argument that is not a positive integer)
A discretisation too coarse for what is asked (grid,        :class:`DiscretisationError`
depth, number of histories)
A computation that left its bounds: NaN, infinity or a      :class:`DivergenceError`
documented divergence bound (names the step)
Runs of a study that failed (named by width and seed)       :class:`StudyError`
==========================================================  ==========================
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
