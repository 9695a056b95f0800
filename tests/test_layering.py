"""Layering of the package, read from its source with ``ast``.

Core modules (everything but :mod:`limitsolver.plotting` and :mod:`limitsolver.cli`)
never import the figures or the command line; plotting never imports the command
line; and no module imports, directly or through others, a module that imports it
back. Every import counts: at module level and inside functions (a deferred import
still ties the two modules together), except those under ``if TYPE_CHECKING:``,
which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "limitsolver"

# Edges that other work in progress removes; each is expected to fail until then.
PENDING: dict[tuple[str, str], str] = {}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """Dotted name of the module at ``path`` inside the package rooted at ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> set[tuple[str, int]]:
    """``{(imported module, line)}`` of one module's source, restricted to ``modules``.

    ``from . import x`` names the submodule ``x`` when there is one, else the package;
    ``from .a import b`` names ``a`` (whose ``__init__`` runs), or ``a.b`` when ``b``
    is itself a module.
    """
    package = name if is_package else name.rpartition(".")[0]
    found: set[tuple[str, int]] = set()
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{alias.name}" for alias in node.names]
            targets = [s for s in subs if s in modules] or [target]
            if len(targets) < len(subs) and target not in targets:
                targets.append(target)  # some names are attributes of `target`
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a non-module c
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add((target, node.lineno))
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """``{module: {imported module: first line}}`` over the package at ``root``."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in paths.items():
        edges: dict[str, int] = {}
        for target, line in sorted(imports_of(path.read_text(encoding="utf-8"), name,
                                              path.name == "__init__.py", set(paths))):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int] | set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _layer(name: str) -> str:
    for layer in ("cli", "plotting"):
        if name == f"limitsolver.{layer}" or name.startswith(f"limitsolver.{layer}."):
            return layer
    return "cli" if name == "limitsolver.__main__" else "core"


_ALLOWED = {"core": {"core"}, "plotting": {"core", "plotting"}, "cli": {"core", "plotting", "cli"}}


def _graph_without_pending() -> dict[str, dict[str, int]]:
    graph = import_graph()
    return {v: {w: line for w, line in edges.items() if (v, w) not in PENDING}
            for v, edges in graph.items()}


# ---------------------------------------------------------------- the machinery can fail

def test_relative_imports_resolve_to_modules():
    modules = {"p", "p.a", "p.a.x", "p.b", "p.c", "p.d"}
    source = ("from .x import thing\n"
              "from .. import b, attr\n"
              "import p.c\n"
              "def f():\n"
              "    from ..b import other\n"
              "if TYPE_CHECKING:\n"
              "    from ..d import T\n")
    assert imports_of(source, "p.a.y", False, modules) == {
        ("p.a.x", 1), ("p.b", 2), ("p", 2), ("p.c", 3), ("p.b", 5)}
    package = "from . import x\nfrom .x import thing\nfrom ..d import T\nimport numpy\n"
    assert imports_of(package, "p.a", True, modules) == {("p.a.x", 1), ("p.a.x", 2), ("p.d", 3)}


def test_cycle_finder_finds_cycles_through_several_modules():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]


# ---------------------------------------------------------------- the package

def test_graph_sees_function_level_imports():
    graph = import_graph()
    assert len(graph) > 30 and "limitsolver.limit.solver" in graph
    assert any(graph.values())


def test_core_never_imports_plotting_or_the_cli():
    bad = [f"{v} imports {w} (line {line})"
           for v, edges in _graph_without_pending().items()
           for w, line in edges.items() if _layer(w) not in _ALLOWED[_layer(v)]]
    assert bad == []


def test_no_import_cycles():
    graph = _graph_without_pending()
    report = []
    for component in cycles(graph):
        members = set(component)
        report.append(" <-> ".join(component) + ": " + "; ".join(
            f"{v} -> {w} (line {line})" for v in component
            for w, line in graph[v].items() if w in members))
    assert report == []


if PENDING:
    @pytest.mark.parametrize("edge", [pytest.param(edge, id=f"{edge[0]}->{edge[1]}",
                                                   marks=pytest.mark.xfail(reason=reason))
                                      for edge, reason in PENDING.items()])
    def test_pending_edge_is_gone(edge):
        source, target = edge
        assert target not in import_graph().get(source, {})
