"""Public names of a package imported on first use (PEP 562).

A package's ``__init__`` lists, for each of its modules, the names it re-exports;
:func:`lazy_exports` returns the module-level ``__getattr__`` and ``__dir__`` that
import a module the first time one of its names (or the module itself) is asked for.
``import limitsolver`` therefore loads no numerical library: sympy, scipy, numba,
matplotlib and findiff load with the first object that needs them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` of ``package`` for its lazy ``exports``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()``; an imported name is stored there, so that the
        next access does not go through ``__getattr__``.
    exports : mapping of str to tuple of str
        ``{".module": ("name", ...)}``: the names each (relative) module provides.

    Returns
    -------
    getattr, dir : callable
        The functions to bind as the package's ``__getattr__`` and ``__dir__``.
        ``getattr`` also imports a submodule asked for by its name (``package.limit``)
        and raises :class:`AttributeError` for anything else.
    """
    origin = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = origin.get(name)
        if module is None:
            try:
                return importlib.import_module(f".{name}", package)
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *origin})

    return __getattr__, __dir__
