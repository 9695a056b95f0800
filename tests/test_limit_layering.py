"""The limit solver's modules import one way: histories -> quadrature -> hidden layer ->
kernels -> feature map -> ODE flows -> solution -> solver (no cycles, no deferred imports
of later modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import limitsolver.limit as limit_pkg

ORDER = ["quadrature", "hidden_layer", "kernels", "feature_map", "ode", "solution", "solver"]
ROOT = Path(limit_pkg.__file__).parent


def _limit_imports(name: str) -> set[str]:
    """Modules of limitsolver.limit imported anywhere in ``name`` (function bodies included)."""
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1:  # from .x import ... / from . import x
                out.update([mod.split(".")[0]] if mod else [a.name for a in node.names])
            elif node.level == 0 and mod.startswith("limitsolver.limit."):
                out.add(mod.split(".")[2])
            elif node.level == 2 and mod == "limit":
                out.add("__init__")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("limitsolver.limit."):
                    out.add(a.name.split(".")[2])
    return out


def test_solution_does_not_import_the_solver():
    assert "solver" not in _limit_imports("solution")
    assert "__init__" not in _limit_imports("solution")


def test_limit_modules_import_only_earlier_ones():
    for k, name in enumerate(ORDER):
        later = set(ORDER[k:]) | {"__init__"}
        bad = _limit_imports(name) & later
        assert not bad, f"limit/{name}.py imports {sorted(bad)}, which come after it"
