"""Packaging: tested lower bounds, one version, licence, links, install advice that works."""

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

import limitsolver

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPO = "https://github.com/limitsolver/limitsolver"


def _min_requirements():
    spec = importlib.util.spec_from_file_location("min_requirements",
                                                  ROOT / "tools" / "min_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_constraints_file_pins_every_lower_bound_of_pyproject():
    text = (ROOT / "constraints-min.txt").read_text()
    tool = _min_requirements()
    assert text == tool.render(tool.lower_bounds(PYPROJECT))
    pins = dict(line.split("==") for line in text.splitlines() if line and line[0] != "#")
    # written independently of the tool: every requirement string, runtime and extras
    reqs = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        reqs.extend(extra)
    for req in reqs:
        name, bound = re.fullmatch(r"([\w.-]+)(?:\[[\w,]+\])?>=([\w.]+)", req).groups()
        assert pins[name.lower()] == bound, req
    for name in ("numpy", "scipy", "findiff", "sympy", "matplotlib", "tqdm", "numba"):
        assert name in pins


def test_known_incompatible_versions_are_excluded():
    pins = dict(line.split("==") for line in (ROOT / "constraints-min.txt").read_text()
                .splitlines() if line and line[0] != "#")

    def version(name):
        return tuple(int(p) for p in pins[name].split("."))
    assert version("numpy") >= (1, 25, 2)    # Generator.spawn; no spurious matmul FPEs
    assert version("findiff") >= (0, 12)     # Diff(..., periodic=True)


def test_min_requirements_rejects_a_requirement_without_lower_bound():
    tool = _min_requirements()
    with pytest.raises(ValueError, match="no lower bound"):
        tool.lower_bounds({"project": {"dependencies": ["numpy"]}})
    with pytest.raises(ValueError, match="two lower bounds"):
        tool.lower_bounds({"project": {"dependencies": ["numpy>=1.25"],
                                       "optional-dependencies": {"x": ["numpy>=2"]}}})
    assert tool.lower_bounds({"project": {"dependencies": ["Dask[distributed] >= 2023.1"]}}) \
        == {"dask": "2023.1"}


def test_version_is_written_once():
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "limitsolver._version.__version__"}
    from limitsolver._version import __version__
    assert limitsolver.__version__ == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    hits = [p for p in [*ROOT.glob("limitsolver/**/*.py"), ROOT / "docs" / "conf.py"]
            if p.name != "_version.py" and __version__ in p.read_text()]
    assert hits == []


def test_license_and_project_urls():
    text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in text and "limitsolver developers" in text
    assert PYPROJECT["project"]["license"] == {"text": "BSD-3-Clause"}
    urls = PYPROJECT["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(u.startswith(REPO) for u in urls.values())


def test_readme_images_are_absolute_and_exist_in_docs_images():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert images
    raw = "https://raw.githubusercontent.com/limitsolver/limitsolver/main/"
    for url in images:
        assert url.startswith(raw + "docs/images/"), url
        assert (ROOT / url.removeprefix(raw)).is_file(), url


def test_no_install_advice_for_a_package_that_is_not_on_an_index():
    files = [*ROOT.glob("limitsolver/**/*.py"), *ROOT.glob("docs/**/*.rst"), ROOT / "README.md"]
    assert [p for p in files if "limitsolver[" in p.read_text()] == []
