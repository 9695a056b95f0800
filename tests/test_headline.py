"""The headline study is defined once (limitsolver.headline) and everything else agrees."""

import inspect
import re
from pathlib import Path

from limitsolver.cli import converge, poisson, simulate, solve
from limitsolver.config import fingerprint
from limitsolver.headline import (
    DEFAULT_GRID,
    HEADLINE_STUDY,
    headline_problem,
    headline_study,
    headline_table,
)
from limitsolver.limit import parameter_grid
from limitsolver.studies.convergence import ConvergenceStudy

README = Path(__file__).resolve().parents[1] / "README.md"


def test_cli_defaults_come_from_the_headline_module():
    for mod in (converge, solve, simulate):
        assert mod.DEFAULTS["problem"] == headline_table()
    assert poisson.DEFAULTS["chain"] == headline_table()["chain"]
    study = converge.DEFAULTS["study"]
    assert study["grid"] == dict(DEFAULT_GRID) == solve.DEFAULTS["solve"]["grid"]
    assert {k: study[k] for k in HEADLINE_STUDY} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in HEADLINE_STUDY.items()}


def test_the_cli_builds_exactly_the_headline_study():
    built = converge.study_from_config(converge.DEFAULTS, 5)
    ref = headline_study(5)
    assert fingerprint(built.problem) == fingerprint(ref.problem) == fingerprint(headline_problem())
    for name in ("n_units", "seeds", "n_times", "histories", "grid", "tracking_samples",
                 "limit_seed"):
        assert getattr(built, name) == getattr(ref, name)
    assert ref.seeds == tuple(range(5, 5 + HEADLINE_STUDY["n_seeds"]))


def test_default_grid_is_the_default_everywhere():
    sig = inspect.signature(parameter_grid).parameters
    assert {k: sig[k].default for k in DEFAULT_GRID} == dict(DEFAULT_GRID)
    assert ConvergenceStudy(headline_problem()).grid == dict(DEFAULT_GRID)


def test_readme_table_is_the_headline_study():
    text = README.read_text()
    table = re.search(r"metric: sup_l2\n.*?\n((?:\s+\d+\s.*\n)+)", text).group(1)
    rows = [ln.split() for ln in table.splitlines()]
    assert tuple(int(r[0]) for r in rows) == HEADLINE_STUDY["n_units"]
    assert {int(r[-2]) for r in rows} == {HEADLINE_STUDY["n_seeds"]}     # seeds, wall s/run
    assert f"{DEFAULT_GRID['n_w']} × {DEFAULT_GRID['n_b']}" in text
