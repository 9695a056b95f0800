r"""Size checks before large work: a memory budget and a work budget a user can raise.

Routines that allocate or compute in proportion to their inputs (histories, parameter
grids, features, simulations) estimate the cost first and refuse, with the estimate and
the fix, when it exceeds a budget:

* **memory**: bytes of the arrays about to be allocated, against
  :func:`memory_budget` (argument ``memory_budget=``, else the environment variable
  ``LIMITSOLVER_MEMORY_BUDGET``, else :data:`DEFAULT_MEMORY_BUDGET` = 4 GiB);
* **work**: elementary operations (array elements touched), against :func:`work_budget`
  (argument, else ``LIMITSOLVER_WORK_BUDGET``, else :data:`DEFAULT_WORK_BUDGET`
  = 1e9, about a minute of numpy work).

Budgets are given as numbers or strings with a unit: ``"8GiB"``, ``"512 MB"``,
``"2e10"``. The checks are cheap (arithmetic on shapes) and run before any allocation.
"""

from __future__ import annotations

import math
import os
import re

from .errors import ConfigError, DiscretisationError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_WORK_BUDGET",
    "MEMORY_BUDGET_ENV",
    "WORK_BUDGET_ENV",
    "memory_budget",
    "work_budget",
    "format_bytes",
    "check_memory",
    "check_work",
]

#: Default memory budget in bytes (4 GiB).
DEFAULT_MEMORY_BUDGET = 4 * 2**30
#: Default work budget in elementary operations.
DEFAULT_WORK_BUDGET = 10**9
#: Environment variable overriding the default memory budget.
MEMORY_BUDGET_ENV = "LIMITSOLVER_MEMORY_BUDGET"
#: Environment variable overriding the default work budget.
WORK_BUDGET_ENV = "LIMITSOLVER_WORK_BUDGET"

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}


def _parse(value, name: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"`{name}` must be a positive number or a size such as '8GiB', got "
                          f"{value!r}.")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _UNITS:
            raise ConfigError(f"`{name}` must be a positive number or a size such as '8GiB', "
                              f"got {value!r}.")
        out = float(m.group(1)) * _UNITS[unit]
    if not (math.isfinite(out) and out > 0):
        raise ConfigError(f"`{name}` must be positive and finite, got {value!r}.")
    return out


def _budget(budget, name: str, env_name: str, default: float) -> float:
    """``budget`` if given (argument ``name``), else the variable ``env_name``, else ``default``."""
    if budget is not None:
        return _parse(budget, name)
    env = os.environ.get(env_name)
    if env:
        return _parse(env, env_name)
    return float(default)


def memory_budget(budget: float | str | None = None) -> int:
    """The memory budget in bytes: ``budget`` if given, else ``$LIMITSOLVER_MEMORY_BUDGET``, else 4 GiB.

    Parameters
    ----------
    budget : int, float or str, optional
        Bytes, or a size with a unit (``"16GiB"``).

    Returns
    -------
    int
        The budget in bytes.

    Raises
    ------
    ConfigError
        If the budget (argument or environment variable) is not a positive size.
    """
    return int(_budget(budget, "memory_budget", MEMORY_BUDGET_ENV, DEFAULT_MEMORY_BUDGET))


def work_budget(budget: float | str | None = None) -> float:
    """The work budget in operations: ``budget``, else ``$LIMITSOLVER_WORK_BUDGET``, else 1e9.

    Parameters
    ----------
    budget : int, float or str, optional
        Number of elementary operations.

    Returns
    -------
    float
        The budget.

    Raises
    ------
    ConfigError
        If the budget is not a positive number.
    """
    return _budget(budget, "work_budget", WORK_BUDGET_ENV, DEFAULT_WORK_BUDGET)


def format_bytes(n: float) -> str:
    """A size in bytes as text with a binary unit (``"74.5 GiB"``).

    Parameters
    ----------
    n : float
        Bytes.

    Returns
    -------
    str
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def check_memory(nbytes: float, what: str, *, fix: str,
                 budget: float | str | None = None) -> None:
    """Refuse an allocation of about ``nbytes`` bytes above the memory budget.

    Parameters
    ----------
    nbytes : float
        Estimated bytes.
    what : str
        What would be allocated (starts the message).
    fix : str
        How to make it smaller.
    budget : int, float or str, optional
        The budget (see :func:`memory_budget`).

    Raises
    ------
    DiscretisationError
        If ``nbytes`` exceeds the budget; the message gives the estimate, the budget and both
        fixes (shrink the work, or raise the budget).
    """
    limit = memory_budget(budget)
    if nbytes > limit:
        raise DiscretisationError(
            f"{what} needs about {format_bytes(nbytes)}, more than the memory budget of "
            f"{format_bytes(limit)}; {fix}, or raise the budget (`memory_budget=` or the "
            f"environment variable {MEMORY_BUDGET_ENV}, e.g. {MEMORY_BUDGET_ENV}=16GiB)."
        )


def check_work(n_ops: float, what: str, *, fix: str,
               budget: float | str | None = None) -> None:
    """Refuse a computation of about ``n_ops`` elementary operations above the work budget.

    Parameters
    ----------
    n_ops : float
        Estimated operations.
    what : str
        What would be computed (starts the message).
    fix : str
        How to make it smaller.
    budget : int, float or str, optional
        The budget (see :func:`work_budget`).

    Raises
    ------
    DiscretisationError
        If ``n_ops`` exceeds the budget.
    """
    limit = work_budget(budget)
    if n_ops > limit:
        raise DiscretisationError(
            f"{what} takes about {n_ops:.3g} operations, more than the work budget of "
            f"{limit:.3g} (about a minute per 1e9); {fix}, or raise the budget "
            f"(`work_budget=` or the environment variable {WORK_BUDGET_ENV})."
        )
