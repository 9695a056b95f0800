"""The quick start and the tutorials run as written, and print what they say they print.

These are regression tests (marked ``regression``), not correctness tests: the printed
numbers come from the package itself, so a changed digit says that a number moved and must
be explained (a deliberate change of method, or a bug), never that the new one is right.
Regenerating a page's output to make this pass hides exactly what it exists to show;
correctness is proved by the tests against independent truths (closed forms, brute force,
statistical bands), e.g. ``tests/test_width_scaling.py``, ``tests/test_study_metrics.py``.

Every python code block of a page (the bodies of ``.. plot::`` directives and of
``.. code-block:: python`` directives) is executed in order in one fresh
namespace per page, as a reader pasting them into a session would. A
``.. code-block:: text`` directly after a python block is the output the page
claims for that block; the printed output must match it line by line: the same
text (``...`` standing for anything within a line, such as a wall time), and
every number within one unit of its last printed digit (a different BLAS or
summation order may move a value across a rounding boundary, nothing more).
The Sphinx build (``tests/test_docs.py``) runs the ``.. plot::`` bodies again
and checks that they run on their own, without the ``code-block`` bodies.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["quickstart.rst", "tutorials/limit.rst", "tutorials/convergence.rst",
         "tutorials/fluctuations.rst",
         "tutorials/poisson.rst", "tutorials/memory.rst"]

#: A page runs in about 20 s on an idle 2-core machine (its cost belongs to the
#: benchmarks, not to an assertion); a page still running after this many seconds hangs.
PAGE_SECONDS = 600.0

_DIRECTIVE = re.compile(r"^(\s*)\.\. (plot|code-block)::\s*(\S*)\s*$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Block:
    """One directive body: ``kind`` is ``"python"`` (plot or python code) or ``"text"``."""

    kind: str
    code: str
    line: int


def blocks(path: Path) -> list[Block]:
    """The python and text blocks of an rst page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, directive, lang = len(m.group(1)), m.group(2), m.group(3)
        kind = "python" if directive == "plot" or lang == "python" else (
            "text" if lang == "text" else None)
        start = i + 1
        j = start
        body: list[str] = []
        while j < len(lines):
            line = lines[j]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
            j += 1
        # directive options (``:context: reset``) come first, before a blank line
        while body and body[0].strip().startswith(":"):
            body.pop(0)
        if kind is not None:
            out.append(Block(kind, textwrap.dedent("\n".join(body)).strip("\n"), start + 1))
        i = j
    return out


def _ulp(token: str) -> float:
    """One unit in the last printed digit of a number token (0 for an integer)."""
    mantissa, _, exponent = token.lower().partition("e")
    scale = 10.0 ** int(exponent) if exponent else 1.0
    if "." not in mantissa:
        return scale if exponent else 0.0
    decimals = len(mantissa.split(".")[1])
    return 10.0 ** (-decimals) * scale


def _pattern(expected: str) -> tuple[re.Pattern, list[str]]:
    """A regex for one printed line like ``expected``: whitespace is free, numbers are
    captured, and ``...`` stands for anything (as in doctest)."""
    parts, numbers = [], []
    for tok in re.finditer(r"\.\.\.|" + _NUMBER.pattern + r"|\S", expected):
        text = tok.group(0)
        if text == "...":
            parts.append(r".*?")
        elif _NUMBER.fullmatch(text):
            parts.append("(" + _NUMBER.pattern + ")")
            numbers.append(text)
        else:
            parts.append(re.escape(text))
    return re.compile(r"\s*" + r"\s*".join(parts) + r"\s*"), numbers


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def same_output(expected: str, printed: str) -> bool:
    """Line by line: equal text (whitespace ignored, ``...`` matching anything within
    the line) and numbers within one unit in their last printed digit."""
    want_lines, got_lines = _lines(expected), _lines(printed)
    if len(want_lines) != len(got_lines):
        return False
    for want_line, got_line in zip(want_lines, got_lines, strict=True):
        pattern, want = _pattern(want_line)
        m = pattern.fullmatch(got_line)
        if m is None or not all(abs(float(w) - float(g)) <= 1.000001 * _ulp(w)
                                for w, g in zip(want, m.groups(), strict=True)):
            return False
    return True


def run_page(path: Path) -> list[tuple[Block, str]]:
    """Execute the python blocks of a page in one namespace; return each block's output."""
    namespace: dict = {"__name__": "__tutorial__"}
    results = []
    try:
        for block in blocks(path):
            if block.kind != "python":
                continue
            buffer = io.StringIO()
            code = compile(block.code, f"{path.name}, line {block.line}", "exec")
            with contextlib.redirect_stdout(buffer):
                exec(code, namespace)  # noqa: S102 - the documentation's own examples
            results.append((block, buffer.getvalue()))
    finally:
        plt.close("all")
    return results


# ----------------------------------------------------------------------------- the harness


def test_blocks_are_extracted(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(textwrap.dedent("""\
        Title
        =====

        .. plot::
           :context: reset

           x = 1

           y = x + 1

        Text.

        .. code-block:: python

           print(y)

        .. code-block:: text

           2

        .. code-block:: bash

           limitsolver converge
        """), encoding="utf-8")
    got = blocks(page)
    assert [(b.kind, b.code) for b in got] == [
        ("python", "x = 1\n\ny = x + 1"), ("python", "print(y)"), ("text", "2")]
    assert [out for _, out in run_page(page)] == ["", "2\n"]


@pytest.mark.parametrize(("expected", "printed", "same"), [
    ("loss 0.357", "loss 0.357", True),
    ("loss 0.357", "loss   0.358", True),          # one unit in the last digit
    ("loss 0.357", "loss 0.359", False),
    ("loss 0.357", "gain 0.357", False),
    ("[0.027 0.024]", "[ 0.027  0.025]", True),
    ("1.25e-03", "1.26e-03", True),
    ("1.25e-03", "1.27e-03", False),
    ("M=64", "M=65", False),                        # integers are exact
    ("a 1 b", "a 1 b 2", False),
    ("N = 64 wall ...\nfit 0.50", "N = 64 wall 0.03 s\nfit 0.50", True),  # ellipsis
    ("N = 64 wall ...\nfit 0.50", "N = 64 wall 0.03 s\nfit 0.52", False),
    ("N = 64 wall ...", "N = 64 wall 0.03\nN = 128 wall 0.05", False),  # within a line
    ("64 8 ...\n128 9 ...", "64 8 0.01\n128 9 0.02", True),
    ("64 8 ...\n128 9 ...", "64 8 0.01\n128 8 0.02", False),   # no realignment
])
def test_output_comparison(expected, printed, same):
    assert same_output(expected, printed) is same


# ----------------------------------------------------------------------------- the pages


@pytest.mark.slow
@pytest.mark.regression
@pytest.mark.timeout(PAGE_SECONDS)
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page):
    """Regression test: each page's printed output, every number to its last digit."""
    path = DOCS / page
    assert path.exists(), f"{page} is missing"
    page_blocks = blocks(path)
    assert any(b.kind == "python" for b in page_blocks), f"{page} has no python block"
    results = run_page(path)
    outputs = {block.line: out for block, out in results}
    checked = 0
    for prev, block in zip(page_blocks, page_blocks[1:], strict=False):
        if block.kind == "text" and prev.kind == "python":
            printed = outputs[prev.line]
            assert same_output(block.code, printed), (
                f"{page}, line {block.line}: the page shows\n{block.code}\nbut the block at "
                f"line {prev.line} prints\n{printed}")
            checked += 1
    assert checked >= 1, f"{page} shows no output to check"


def test_every_tutorial_is_in_the_toctree_and_tested():
    on_disk = {f"tutorials/{p.name}" for p in (DOCS / "tutorials").glob("*.rst")}
    assert on_disk - {"tutorials/index.rst"} == {p for p in PAGES if p.startswith("tutorials/")}
    index = (DOCS / "tutorials" / "index.rst").read_text(encoding="utf-8")
    for p in PAGES[1:]:
        assert Path(p).stem in index, f"{p} is not in the tutorials' toctree"
    assert "quickstart" in (DOCS / "index.rst").read_text(encoding="utf-8")
