"""The documentation builds without warnings and documents modules that import."""

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _automodules() -> list[str]:
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    return re.findall(r"^\.\. automodule:: (\S+)", text, flags=re.MULTILINE)


def test_api_page_lists_importable_modules():
    modules = _automodules()
    assert "limitsolver.activations" in modules
    assert len(modules) == len(set(modules)), "a module is documented twice"
    for name in modules:
        importlib.import_module(name)


def _resolves(target: str) -> bool:
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except AttributeError:
            return False
        return True
    return False


def test_architecture_page_names_real_modules_and_every_room():
    text = (DOCS / "architecture.rst").read_text(encoding="utf-8")
    targets = re.findall(r":(?:mod|class|func|meth|data):`~?([\w.]+)`", text)
    assert len(targets) > 40
    assert [t for t in targets if not _resolves(t)] == []
    assert not _resolves("limitsolver.no_such_module")
    package = DOCS.parent / "limitsolver"
    rooms = {f"limitsolver.{p.stem if p.is_file() else p.name}" for p in package.iterdir()
             if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert sorted(rooms - set(targets)) == []


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    from sphinx.cmd.build import build_main

    out = tmp_path / "html"
    status = build_main(["-W", "--keep-going", "-b", "html", "-q", str(DOCS), str(out),
                         "-d", str(tmp_path / "doctrees")])
    assert status == 0
    theory = (out / "theory.html").read_text(encoding="utf-8")
    for arxiv in ("2308.14555", "2009.07799"):
        assert arxiv in theory
    # equations render offline: MathJax comes from the build's own _static, no page
    # loads a script from elsewhere
    assert 'src="_static/mathjax/tex-svg-full.js' in theory
    assert (out / "_static" / "mathjax" / "tex-svg-full.js").stat().st_size > 10**6
    for page in out.rglob("*.html"):
        remote = re.findall(r'<script[^>]*\bsrc="(?:https?:)?//', page.read_text(encoding="utf-8"))
        assert remote == [], f"{page.name} loads a script from the network"
    api = (out / "api.html").read_text(encoding="utf-8")
    for name in _automodules():
        assert f'id="module-{name}"' in api, f"{name} is missing from the API page"
