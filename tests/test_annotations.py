"""Public parameters carry type hints; docstrings point into the documentation.

A parameter is public when its function is: a module-level function or a method of a
module-level class whose names do not start with ``_`` (``__init__`` and
``__call__`` included), in a module whose path has no part starting with ``_``.
``self`` and ``cls`` are not counted; ``*args`` and ``**kwargs`` are.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "limitsolver"

# Every public parameter is annotated (the failure lists any that is not).
MIN_ANNOTATED = 1.0


def _public_modules(root: Path = PACKAGE):
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).parts
        if not any(p.startswith("_") and p != "__init__.py" for p in parts):
            yield path


def public_parameters(source: str):
    """``(function qualname, parameter, annotated)`` for every public parameter of a module."""
    out = []

    def visit(body, owner):
        for node in body:
            if isinstance(node, ast.ClassDef) and owner is None and not node.name.startswith("_"):
                visit(node.body, node.name)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.startswith("_") and node.name not in ("__init__", "__call__"):
                    continue
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs,
                          *([a.vararg] if a.vararg else []), *([a.kwarg] if a.kwarg else [])]
                static = any(isinstance(d, ast.Name) and d.id == "staticmethod"
                             for d in node.decorator_list)
                if owner and not static and params and params[0].arg in ("self", "cls"):
                    params = params[1:]
                name = f"{owner}.{node.name}" if owner else node.name
                out.extend((name, p.arg, p.annotation is not None) for p in params)

    visit(ast.parse(source).body, None)
    return out


def test_counting_of_public_parameters():
    source = ("def f(a: int, b, *args, **kw: float): ...\n"
              "def _private(x): ...\n"
              "class C:\n"
              "    def __init__(self, n: int): ...\n"
              "    def m(self, y, /, *, z: str = ''): ...\n"
              "    @staticmethod\n"
              "    def s(self): ...\n"
              "    def __repr__(self, w): ...\n"
              "class _D:\n"
              "    def m(self, q): ...\n")
    assert public_parameters(source) == [
        ("f", "a", True), ("f", "b", False), ("f", "args", False), ("f", "kw", True),
        ("C.__init__", "n", True), ("C.m", "y", False), ("C.m", "z", True),
        ("C.s", "self", False)]


def test_public_parameters_are_annotated(record_property):
    missing, total = [], 0
    for path in _public_modules():
        params = public_parameters(path.read_text(encoding="utf-8"))
        total += len(params)
        rel = path.relative_to(PACKAGE.parent)
        missing += [f"{rel}: {f}({p})" for f, p, annotated in params if not annotated]
    fraction = 1 - len(missing) / total
    record_property("annotated_fraction", round(fraction, 4))
    assert fraction >= MIN_ANNOTATED, (
        f"{fraction:.1%} of {total} public parameters are annotated (at least "
        f"{MIN_ANNOTATED:.0%} required); missing:\n" + "\n".join(missing))


def test_docstrings_point_to_the_theory_page_not_to_a_file_outside_the_repository():
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}"
            for p in sorted(PACKAGE.rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if "THEORY.md" in line]
    assert hits == []


def test_theory_references_name_labels_of_the_theory_page():
    theory = (PACKAGE.parent / "docs" / "theory.rst").read_text(encoding="utf-8")
    labels = set(re.findall(r"^\.\. _([\w-]+):$", theory, flags=re.MULTILINE))
    assert {"theory-limit", "theory-kernels", "theory-poisson"} <= labels
    used = {m for p in PACKAGE.rglob("*.py")
            for m in re.findall(r":ref:`[^`<]*<(theory-[\w-]+)>`", p.read_text(encoding="utf-8"))}
    assert used - labels == set()
