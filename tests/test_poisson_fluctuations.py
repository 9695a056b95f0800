"""Fluctuations: martingale decomposition, deviation bounds, batch means."""

import numpy as np
import pytest

from limitsolver.chains import CircleWalk, FiniteChain, GaussianAR1
from limitsolver.errors import ConfigError, DimensionError
from limitsolver.poisson import (
    CircleBrownianMotion,
    asymptotic_variance,
    batch_means_check,
    deviation_bound,
    martingale_decomposition,
    sample_path,
    solve_poisson,
)

SEED = 20261121


def _three_state():
    P = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    return FiniteChain(P, states=[-1.0, 0.0, 2.0])


def test_martingale_identity_finite_chain():
    chain = _three_state()
    F = np.array([1.0, -2.0, 5.0])
    sol = solve_poisson(chain, F)
    path = sample_path(chain, 2001, SEED, n_paths=3)
    dec = martingale_decomposition(sol, path)
    direct = F[path[:, :-1]].sum(axis=1) - 2000 * (chain.stationary @ F)
    np.testing.assert_allclose(dec.centred_sum, direct, rtol=1e-13, atol=1e-10)
    # identity: S_n = V(X_0) - V(X_n) + Σ_k [V(X_{k+1}) - (P V)(X_k)], with P V = P @ V
    V = sol.values
    incr = V[path[:, 1:]] - (chain.P @ V)[path[:, :-1]]
    np.testing.assert_allclose(dec.increments, incr, atol=1e-14)
    assert np.max(np.abs(direct - (V[path[:, 0]] - V[path[:, -1]]) - incr.sum(axis=1))) < 1e-10
    assert dec.defect < 1e-10


def test_martingale_increments_are_centred():
    """E[D_k] = 0: the mean of 10⁵ increments lies within 4 standard errors of 0."""
    chain = _three_state()
    sol = solve_poisson(chain, np.array([1.0, -2.0, 5.0]))
    dec = martingale_decomposition(sol, sample_path(chain, 1001, SEED, n_paths=100))
    d = dec.increments.ravel()
    assert abs(d.mean()) < 4 * d.std(ddof=1) / np.sqrt(d.size)
    # (martingale differences are uncorrelated, so std/sqrt(N) is their mean's standard error)
    # E[D_k²] = π(P V² - (P V)²) (conditional variance); SE from the 100 independent paths
    V, PV = sol.values, chain.P @ sol.values
    expected = chain.stationary @ (chain.P @ V**2 - PV**2)
    per_path = (dec.increments**2).mean(axis=1)
    se = per_path.std(ddof=1) / np.sqrt(per_path.size)
    assert abs(per_path.mean() - expected) < 4 * se


def test_martingale_identity_ar1_nystrom():
    chain = GaussianAR1(0.7)
    sol = solve_poisson(chain, np.tanh, n=64)
    dec = martingale_decomposition(sol, sample_path(chain, 501, SEED))
    assert dec.defect < 1e-10


def test_deviation_bound_formula_and_coverage():
    chain = FiniteChain.two_state(0.2, 0.3)
    sol = solve_poisson(chain, np.array([0.0, 1.0]))
    # Two-state chain, F = 1{state 1}: V = (F - π(F)) / (p + q), so osc V = 1 / (p + q) = 2
    assert sol.oscillation_V == pytest.approx(2.0, abs=1e-14)
    n, delta = 400, 0.1
    bound = deviation_bound(sol, n, delta)
    assert bound == pytest.approx(2.0 / n + 2.0 * np.sqrt(np.log(2 / delta) / (2 * n)), rel=1e-14)
    exp_bound = deviation_bound(sol, n)
    assert exp_bound == pytest.approx(2.0 / n + 1.0 / np.sqrt(n), rel=1e-14)
    paths = sample_path(chain, n, SEED, n_paths=400)
    dev = np.abs(paths.mean(axis=1) - sol.pi_F)
    assert np.mean(dev > bound) <= delta
    assert dev.mean() <= exp_bound


def test_batch_means_two_state():
    chain = FiniteChain.two_state(0.2, 0.3)
    res = batch_means_check(chain, np.array([0.0, 1.0]), 100_000, 50, SEED)
    assert res.poisson_variance == pytest.approx(0.2 * 0.3 * 1.5 / 0.5**3, rel=1e-12)
    assert res.batch_length == 2000 and res.n_batches == 50
    assert res.standard_error == pytest.approx(res.empirical_variance * np.sqrt(2 / 49))
    assert res.passed and abs(res.z_score) <= 4
    assert abs(res.mean_z_score) <= 4


def test_batch_means_ar1_and_circle():
    res = batch_means_check(GaussianAR1(0.6), lambda x: x, 100_000, 50, SEED, n=32)
    assert res.poisson_variance == pytest.approx(1.6 / 0.4, rel=1e-12)
    assert res.passed, res
    res = batch_means_check(CircleWalk(0.8), lambda p: np.exp(np.cos(p)), 60_000, 30, SEED)
    assert res.passed, res


def test_batch_means_detects_a_wrong_variance():
    """The check fails for the variance of another chain (a = 0 instead of 0.8)."""
    wrong = solve_poisson(GaussianAR1(0.0), lambda x: x, n=16)  # σ² = 1 instead of 9
    res = batch_means_check(GaussianAR1(0.8), None, 40_000, 40, SEED, solution=wrong)
    assert not res.passed and res.z_score > 4


def test_errors():
    sol = solve_poisson(GaussianAR1(0.5), lambda x: x, n=16)
    with pytest.raises(ConfigError, match="bounded V"):
        deviation_bound(sol, 10, 0.1)
    fin = solve_poisson(FiniteChain.two_state(0.2, 0.3), np.array([0.0, 1.0]))
    with pytest.raises(DimensionError, match="`delta`"):
        deviation_bound(fin, 10, 1.5)
    bm = solve_poisson(CircleBrownianMotion(1.0), np.cos, n=32)
    assert asymptotic_variance(bm) == pytest.approx(1.0, abs=1e-4)  # 2 π(cos²) = 1, FD error h⁴
    with pytest.raises(ConfigError, match="discrete-time"):
        martingale_decomposition(bm, np.zeros(5))
    with pytest.raises(DimensionError, match="`path`"):
        martingale_decomposition(fin, np.array([0]))
    with pytest.raises(DimensionError, match="`n_batches`"):
        batch_means_check(FiniteChain.two_state(0.2, 0.3), np.array([0.0, 1.0]), 100, 1, SEED)
    with pytest.raises(ConfigError, match="cannot be simulated"):
        batch_means_check(CircleBrownianMotion(1.0), np.cos, 100, 10, SEED, solution=fin)
