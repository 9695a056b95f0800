"""Refinement studies show the expected orders of the limit's discretisation errors."""

import numpy as np
import pytest

from limitsolver.config import problem_from_config
from limitsolver.headline import headline_table as problem_defaults
from limitsolver.studies.refinement import (
    refine_depth,
    refine_histories,
    refine_nodes,
    refine_time_stepping,
)

SMALL_GRID = {"n_w": 16, "n_b": 4}


@pytest.fixture(scope="module")
def problem():
    cfg = problem_defaults()
    cfg["network"]["memory_tol"] = 0.05
    cfg["horizon"] = 0.5
    return problem_from_config(cfg)


def test_quadrature_refinement_is_faster_than_algebraic(problem):
    r = refine_nodes(problem, n_w=(16, 32, 64, 128))
    assert np.all(np.diff(r.errors) < 0)
    # spectral convergence: observed orders grow with the number of nodes
    assert r.orders[1] > r.orders[0] > 1.0


def test_depth_refinement_decays_geometrically_at_most_gamma(problem):
    r = refine_depth(problem, extra_levels=3, grid=SMALL_GRID)
    assert np.all(np.diff(r.levels) == 1)
    gamma = problem.network.gamma
    assert np.all(r.orders > 0) and np.all(r.orders <= gamma)


def test_time_stepping_error_follows_the_tolerance(problem):
    r = refine_time_stepping(problem, grid=SMALL_GRID)
    assert np.all((r.orders > 0.6) & (r.orders < 1.3))


@pytest.mark.slow
def test_monte_carlo_histories_converge_at_rate_one_half(problem):
    r = refine_histories(problem, M=(32, 64, 128, 256, 512), seeds=tuple(range(12)),
                         grid=SMALL_GRID)
    # rate 1/2 expected; the band is wide because 12 seeds give a noisy mean
    assert 0.3 < r.fit.rate < 0.75
    assert r.fit.contains(0.5)
