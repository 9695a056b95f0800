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


def test_lookup_finds_each_row_and_refuses_a_missing_one():
    from limitsolver.studies.refinement import _lookup

    rng = np.random.default_rng(5)
    table = np.array([[a, b, c] for a in range(3) for b in range(2) for c in range(2)])
    table = table[rng.permutation(len(table))]
    rows = table[rng.integers(0, len(table), 20)]
    idx = _lookup(rows, table)
    np.testing.assert_array_equal(table[idx], rows)
    assert _lookup(np.vstack([rows, [[0, 0, 2]]]), table) is None


def test_a_shallow_solution_read_by_index_on_deeper_histories_equals_its_nystrom_values(problem):
    from limitsolver.limit import solve_limit
    from limitsolver.studies.refinement import _on_deeper

    t = np.linspace(0.0, problem.horizon, 4)
    net = problem.network
    shallow = solve_limit(problem, times=t, grid=SMALL_GRID, h0="zero", error_estimate=False)
    deeper = problem.replace(network=net.replace(memory_tol=net.memory_tol * net.gamma**2))
    deep = solve_limit(deeper, times=t, grid=SMALL_GRID, h0="zero", error_estimate=False)
    L = shallow.histories.depth
    assert deep.histories.depth == L + 2 and deep.histories.M == 4 * shallow.histories.M
    by_index = _on_deeper(shallow, deep.histories, t)
    nystrom = shallow.evaluate(deep.histories.values[:, :L], times=t)
    assert np.abs(by_index).max() > 0.01
    np.testing.assert_allclose(by_index, nystrom, rtol=1e-10, atol=1e-13)
    # each column is a training value of the shallow solution
    assert np.isin(by_index[-1], shallow.h[-1]).all()
    # at times the solution was not solved at, the values are Nyström's
    t2 = np.array([0.0, 0.1, 0.3])
    np.testing.assert_array_equal(_on_deeper(shallow, deep.histories, t2),
                                  shallow.evaluate(deep.histories.values[:, :L], times=t2))


@pytest.mark.parametrize("gradient", ["rtrl", "truncated"])
def test_the_limit_on_exact_histories_by_the_exponential_equals_the_solver(problem, gradient):
    from limitsolver.limit import solve_limit
    from limitsolver.studies.refinement import _exact_outputs

    p = problem.replace(network=problem.network.replace(gradient=gradient))
    t = np.linspace(0.0, p.horizon, 5)
    sol = solve_limit(p, times=t, grid=SMALL_GRID, h0="zero", error_estimate=False)
    h, hist = _exact_outputs(p, sol.grid, t)
    np.testing.assert_array_equal(hist.values, sol.histories.values)
    np.testing.assert_array_equal(hist.weights, sol.histories.weights)
    assert np.abs(h[-1] - h[0]).max() > 0.05                 # the flow moves h
    np.testing.assert_allclose(h, sol.h, rtol=0, atol=1e-12)
    # times that are not equispaced are left to the solver
    assert _exact_outputs(p, sol.grid, np.array([0.0, 0.1, 0.5])) is None


@pytest.mark.parametrize("gradient", ["rtrl", "truncated"])
def test_the_depth_check_equals_the_deep_solve_read_by_nystrom(problem, gradient):
    from limitsolver.limit import solve_limit
    from limitsolver.studies import ConvergenceStudy, depth_error
    from limitsolver.studies.convergence import _solve
    from limitsolver.studies.refinement import _exact_outputs

    p = problem.replace(network=problem.network.replace(gradient=gradient))
    study = ConvergenceStudy(p, n_units=(32, 64), seeds=(0, 1), n_times=4, grid=SMALL_GRID)
    sol = _solve(study, False)
    net = p.network
    deep = solve_limit(p.replace(network=net.replace(memory_tol=net.memory_tol * net.gamma)),
                       times=study.times, grid=SMALL_GRID, h0="zero", error_estimate=False)
    L = sol.histories.depth
    assert deep.histories.depth == L + 1
    assert _exact_outputs(deep.problem, sol.grid, study.times) is not None   # the fast route
    shallow = sol.evaluate(deep.histories.values[:, :L], times=study.times)
    expected = float(np.sqrt(((deep.h - shallow) ** 2 @ deep.histories.weights).max()))
    assert expected > 1e-6
    assert depth_error(study, sol) == pytest.approx(expected, rel=1e-8)


def test_the_exponential_is_left_to_the_solver_where_a_solve_is_cheaper(problem):
    from limitsolver.limit import parameter_grid
    from limitsolver.studies.refinement import _exact_outputs

    t = np.linspace(0.0, 0.5, 3)
    rule = parameter_grid(problem.network.prior, 1, n_w=16, n_b=4)
    assert _exact_outputs(problem, rule, t) is not None
    # more histories than factor columns: the solver's thin route
    few = parameter_grid(problem.network.prior, 1, n_w=2, n_b=2)
    assert 3 * few.G < 2 ** problem.depth and _exact_outputs(problem, few, t) is None
    # a long horizon needs many products: a solve diagonalises once
    assert _exact_outputs(problem, rule, np.linspace(0.0, 500.0, 3)) is None
