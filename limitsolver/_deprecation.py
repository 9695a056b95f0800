"""Renamed arguments keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["renamed_argument"]


def renamed_argument(old: str, new: str) -> Callable:
    """Decorate a function whose keyword ``old`` is now called ``new``.

    A call with ``old=...`` is passed on as ``new=...`` with a
    :class:`DeprecationWarning`; giving both is a :class:`TypeError`, as for any
    argument given twice.

    Parameters
    ----------
    old : str
        The former name.
    new : str
        The current name.

    Returns
    -------
    callable
        The decorator.
    """
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{func.__qualname__}() got both `{old}` and `{new}`; "
                                    f"`{old}` is the former name of `{new}`.")
                warnings.warn(f"`{old}` of {func.__qualname__}() is deprecated; call it `{new}`.",
                              DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate
