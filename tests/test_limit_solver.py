"""Tests of solve_limit and LimitSolution (THEORY.md §3, §4)."""

from __future__ import annotations

import numpy as np
import pytest

from limitsolver.chains import FiniteChain, GaussianAR1
from limitsolver.errors import ConfigError, DiscretisationError, DivergenceError
from limitsolver.histories import exact_histories
from limitsolver.limit.solver import solve_limit
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior
from limitsolver.problem import Problem
from limitsolver.targets import StateFunction

GRID = {"n_w": 12, "n_b": 4}
TIMES = np.linspace(0.0, 3.0, 31)


def _problem(gradient="rtrl", doubled=False, chain=None, beta=0.5):
    chain = chain or FiniteChain(np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]]),
                                 states=np.array([[-1.0], [0.2], [1.1]]))
    net = NetworkSpec(prior=Prior(b_max=0.1, doubled=doubled), memory_tol=1e-2,
                      gradient=gradient, beta=beta)
    return Problem(chain, StateFunction(lambda x: np.sin(2 * x[..., 0])), net, horizon=3.0)


@pytest.fixture(scope="module")
def rtrl_solution():
    return solve_limit(_problem(), grid=GRID, times=TIMES, seed=3)


def test_deterministic_given_grid_and_seed(rtrl_solution):
    again = solve_limit(_problem(), grid=GRID, times=TIMES, seed=3)
    assert np.array_equal(again.h, rtrl_solution.h)
    assert np.array_equal(again.loss, rtrl_solution.loss)
    zero = solve_limit(_problem(doubled=True), grid=GRID, times=TIMES, error_estimate=False)
    zero2 = solve_limit(_problem(doubled=True), grid=GRID, times=TIMES, error_estimate=False)
    assert zero.h0_kind == "zero" and np.array_equal(zero.h, zero2.h)


def test_solution_fields(rtrl_solution):
    s = rtrl_solution
    M = s.histories.M
    assert s.h.shape == (TIMES.size, M) and s.loss.shape == (TIMES.size,)
    assert s.h0_kind == "gp" and np.array_equal(s.h[0], s.h0)
    d = s.discretisation
    assert d["M"] == M and d["depth"] == _problem().depth and d["histories"] == "exact"
    assert d["grid_shape"] == (12, 4)
    # the quadrature estimate is the sup-L2(pi) distance to the solve on the refined rule
    # (twice the nodes per axis) from the same initial output; against a much finer rule,
    # the refined solve errs at most half as much, so the estimate is a fair error measure
    fine = solve_limit(_problem(), grid={"n_w": 24, "n_b": 8}, times=TIMES, h0=s.h0,
                       error_estimate=False)
    ref = solve_limit(_problem(), grid={"n_w": 96, "n_b": 32}, times=TIMES, h0=s.h0,
                      error_estimate=False)

    def dist(a, b):
        return np.max(np.sqrt((a.h - b.h) ** 2 @ s.weights))

    assert d["quadrature_error"] == pytest.approx(dist(s, fine), rel=1e-10)
    assert dist(fine, ref) < 0.5 * dist(s, ref)
    assert d["memory_truncation_bound"] <= 1e-2
    assert np.all(np.diff(s.loss) <= 0)
    assert np.all(s.spectrum >= 0) and s.spectrum.shape == (M,)
    np.testing.assert_allclose(s.loss_at(TIMES[::3]), s.loss[::3], rtol=1e-12)


@pytest.mark.parametrize("gradient", ["rtrl", "truncated"])
def test_routes_agree(gradient):
    pb = _problem(gradient)
    sols = {m: solve_limit(pb, grid=GRID, times=TIMES, seed=1, method=m, error_estimate=False)
            for m in ("spectral", "dense", "lowrank", "ivp")}
    ref = sols["dense"].h
    np.testing.assert_allclose(sols["spectral"].h, ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sols["lowrank"].h, ref, rtol=0, atol=1e-10)
    # solve_ivp at rtol 1e-10 / atol 1e-12 on O(1) outputs
    np.testing.assert_allclose(sols["ivp"].h, ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sols["ivp"].loss, sols["dense"].loss, rtol=0, atol=1e-8)


def test_truncated_differs_from_rtrl(rtrl_solution):
    tr = solve_limit(_problem("truncated"), grid=GRID, times=TIMES, seed=3, error_estimate=False)
    assert np.max(np.abs(tr.h - rtrl_solution.h)) > 1e-4


def test_long_time_limit_is_the_target():
    # two states, no memory (b = 0): the 4 histories (x_k, x_{k-1}) give a full-rank A W,
    # so the kernel regression interpolates: h_t -> g as t -> inf
    pb = _problem(chain=FiniteChain.two_state(0.3, 0.4, states=(-1.0, 0.8)))
    pb = pb.replace(network=pb.network.replace(prior=Prior(b_max=0.0)))
    s = solve_limit(pb, grid=GRID, times=[0.0, 1.0], seed=0, error_estimate=False,
                    method="dense")
    assert s.M == 4
    lam_min = s.spectrum[-1]
    assert lam_min > 1e-8
    h_inf = s.evaluate(s.histories, times=[40.0 / lam_min])[0]  # e^-40 of the residual left
    np.testing.assert_allclose(h_inf, s.g, rtol=0, atol=1e-10)


def test_nystrom_reproduces_training_and_matches_a_zero_weight_history(rtrl_solution):
    s = rtrl_solution
    np.testing.assert_allclose(s.evaluate(s.histories), s.h, rtol=0, atol=1e-10)
    # evaluate through raw arrays and with another time grid
    t2 = np.array([0.25, 1.7])
    ev = s.evaluate(s.histories.values, times=t2, h0_new=s.h0)
    ref = s.propagate(s.h0)
    np.testing.assert_allclose(ev[1], ref.evaluate(s.histories, times=[1.7])[0], atol=1e-12)
    with pytest.raises(ConfigError, match="`h0_new` is required"):
        s.evaluate(s.histories.values[:2])


def test_propagate_equals_fresh_solve(rtrl_solution):
    rng = np.random.default_rng(0)
    h0 = 0.2 * rng.normal(size=rtrl_solution.M)
    fresh = solve_limit(_problem(), grid=GRID, times=TIMES, h0=h0, error_estimate=False)
    prop = rtrl_solution.propagate(h0)
    np.testing.assert_allclose(prop.h, fresh.h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(prop.loss, fresh.loss, rtol=0, atol=1e-13)
    # callable initial outputs
    fn = lambda v: 0.1 * v[:, 0, 0]  # noqa: E731
    s_fn = solve_limit(_problem(), grid=GRID, times=TIMES, h0=fn, error_estimate=False)
    np.testing.assert_allclose(s_fn.h, rtrl_solution.propagate(fn).h, rtol=0, atol=1e-12)


def test_gp_initial_output_has_covariance_sigma(rtrl_solution):
    # the GP draw is sqrt(c2) Phi Q^1/2 z: over many seeds its sample covariance -> Sigma
    from limitsolver.limit.kernels import covariance_kernel

    s0 = rtrl_solution
    pb = s0.problem
    feat = s0.training_features
    n = 2000
    draws = np.array([s0.feature_map.sample_initial_output(feat, np.random.default_rng(k))
                      for k in range(n)])
    # Sigma assembled independently of the feature map's own factor
    Sig = covariance_kernel(feat, feat, s0.grid, pb.network.prior.c_second_moment)
    emp = draws.T @ draws / n
    # entrywise standard error of a Gaussian second moment: sqrt((S_ii S_jj + S_ij^2) / n)
    se = np.sqrt((np.outer(np.diag(Sig), np.diag(Sig)) + Sig**2) / n)
    assert np.max(np.abs(emp - Sig) / se) < 5.0


def test_sampled_histories_report_monte_carlo_error():
    pb = _problem(chain=GaussianAR1(0.5))
    s = solve_limit(pb, histories=64, grid=GRID, times=TIMES, seed=2, error_estimate=False)
    d = s.discretisation
    assert d["histories"] == "sampled" and d["M"] == 64
    res = s.g[None, :] - s.h
    assert d["monte_carlo_se"] == pytest.approx(np.max(res.std(axis=1) / 8.0), rel=1e-12)
    assert d["monte_carlo_se_loss"] == pytest.approx(np.max(np.std(0.5 * res**2, axis=1) / 8.0),
                                                     rel=1e-12)


def test_errors():
    pb = _problem()
    short = exact_histories(pb.chain, pb.depth - 1)
    with pytest.raises(DiscretisationError, match=f"depth >= {pb.depth}"):
        solve_limit(pb, histories=short, grid=GRID)
    with pytest.raises(ValueError, match="sorted in increasing order"):
        solve_limit(pb, grid=GRID, times=[0.0, 2.0, 1.0], h0="zero")
    with pytest.raises(ValueError, match="non-negative"):
        solve_limit(pb, grid=GRID, times=[-1.0, 1.0], h0="zero")
    with pytest.raises(ConfigError, match="`seed` is required"):
        solve_limit(pb, grid=GRID)
    with pytest.raises(ConfigError, match="`method` must be one of"):
        solve_limit(pb, grid=GRID, method="euler")
    with pytest.raises(ConfigError, match="`seed` is required to sample"):
        solve_limit(pb, histories=10, grid=GRID, h0="zero")
    bad = pb.replace(target=StateFunction(lambda x: np.log(x[..., 0])))
    with pytest.raises(DivergenceError, match="finite value"):
        with np.errstate(invalid="ignore"):
            solve_limit(bad, grid=GRID, h0="zero")
    s = solve_limit(pb, grid=GRID, h0="zero", times=[0.0, 1.0], error_estimate=False)
    with pytest.raises(DivergenceError, match="NaN"):
        s.propagate(np.full(s.M, np.nan))


def test_quadrature_estimate_is_refused_on_grids_too_coarse_to_trust():
    pb = _problem()
    for grid in ({"n_w": 1, "n_b": 1}, {"n_w": 2, "n_b": 4}, {"n_w": 8, "n_b": 1}):
        with pytest.raises(DiscretisationError, match="error_estimate=False"):
            solve_limit(pb, grid=grid, times=TIMES, seed=0)
    with pytest.raises(DiscretisationError, match="Sobol points"):
        solve_limit(pb, grid={"n_w": 8, "kind": "sobol"}, times=TIMES, seed=0)
    # without the estimate a coarse grid is the user's choice
    s = solve_limit(pb, grid={"n_w": 1, "n_b": 1}, times=TIMES, seed=0, error_estimate=False)
    assert s.discretisation["quadrature_error"] is None


@pytest.mark.slow
def test_quadrature_estimate_is_honest_on_the_smallest_accepted_grids():
    # the default problem (two states, tanh, b_max = 0.5): the estimate against the error
    # measured with a fine reference grid must not be optimistic by more than a factor 2
    from limitsolver.config import problem_from_config
    from limitsolver.headline import headline_table as problem_defaults

    pb = problem_from_config(problem_defaults())
    t = np.linspace(0.0, pb.horizon, 6)
    ref = solve_limit(pb, times=t, grid={"n_w": 96, "n_b": 24}, error_estimate=False)
    for n_w, n_b in ((4, 2), (8, 2), (12, 4)):
        s = solve_limit(pb, times=t, grid={"n_w": n_w, "n_b": n_b})
        true = np.max(np.sqrt(((s.h - ref.h) ** 2) @ ref.weights))
        assert true < 2.0 * s.discretisation["quadrature_error"], (n_w, n_b)


def test_feature_map_is_kept_and_computes_chi_only_in_truncated_mode(rtrl_solution):
    from limitsolver.limit import features

    s = rtrl_solution
    assert s.feature_map.gradient == "rtrl" and s.feature_map.rule is s.grid
    assert s.training_features.chi_w is None and s.training_features.chi_b is None
    tr = solve_limit(_problem("truncated"), grid=GRID, times=TIMES, seed=3, error_estimate=False)
    full = features(tr.histories, tr.grid, tr.problem.network.activation)  # all five, directly
    for name in ("phi", "psi_w", "psi_b", "chi_w", "chi_b"):
        assert np.array_equal(getattr(tr.training_features, name), getattr(full, name)), name
    # the map's kernel rows reproduce the training kernel built from the public functions
    from limitsolver.limit import tangent_kernel

    A = tangent_kernel(full, full, tr.grid, tr.problem.network.prior.c_second_moment,
                       mode="truncated")
    np.testing.assert_array_equal(tr.feature_map.kernel(tr.histories, tr.training_features), A)
