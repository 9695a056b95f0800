"""Nearly reducible chains, bad π, F outside L²(π), and the power of the batch-means check.

Independent truths: the asymptotic variance as the sum of autocovariances
``Σ_j Cov_π(F(X_0), F(X_j))`` by matrix powers (doubling), the χ² power formula
against Gaussian batch means drawn directly, and binomial bands over seeds.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from limitsolver.chains import FiniteChain
from limitsolver.errors import ConfigError, DimensionError, NotErgodicError
from limitsolver.poisson import (
    batch_means_check,
    batch_means_power,
    solve_poisson,
    solve_poisson_ar1,
    solve_poisson_finite,
)


def _two_blocks(n1, n2, eps, seed):
    """Two random irreducible blocks, each state leaking ``eps`` into the other block."""
    rng = np.random.default_rng(seed)
    n = n1 + n2
    P = np.zeros((n, n))
    for lo, hi, other in ((0, n1, (n1, n)), (n1, n, (0, n1))):
        block = rng.uniform(0.1, 1.0, (hi - lo, hi - lo))
        P[lo:hi, lo:hi] = block / block.sum(axis=1, keepdims=True) * (1.0 - eps)
        P[lo:hi, other[0]] = eps  # every state of the block leaks to the other block's first
    return P


def _autocovariance_sum(P, pi, F, gap):
    """σ² = 2 Σ_{j≥0} π(F_c P^j F_c) - π(F_c²), summed to N = 2^k ≥ 60 / gap by doubling."""
    Fc = F - pi @ F
    k = int(np.ceil(np.log2(60.0 / gap)))
    S, Pj = np.eye(P.shape[0]), P.copy()  # S = Σ_{j<2^i} P^j, Pj = P^{2^i}
    for _ in range(k):
        S = S + Pj @ S
        Pj = Pj @ Pj
    g = pi @ (Fc * (S @ Fc))
    return 2.0 * g - pi @ Fc**2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n1=st.integers(1, 3), n2=st.integers(1, 3), log_eps=st.floats(-15.0, -2.0),
       seed=st.integers(0, 2**32 - 1))
def test_nearly_reducible_chains_give_a_right_answer_or_the_documented_error(
        n1, n2, log_eps, seed):
    eps = 10.0**log_eps
    P = _two_blocks(n1, n2, eps, seed)
    F = np.random.default_rng(seed + 1).normal(size=n1 + n2)
    chain = FiniteChain(P)
    try:
        pi = np.asarray(chain.stationary)
    except NotErgodicError as exc:
        assert "`P`" in str(exc) and "condition number" in str(exc)
        pi = None
    if pi is not None:
        assert np.all(pi >= 0) and abs(pi.sum() - 1) < 1e-12
        assert np.max(np.abs(pi @ P - pi)) < 1e-12
    try:
        sol = solve_poisson_finite(P, F)
    except NotErgodicError as exc:
        assert "`P`" in str(exc)
        assert "condition number" in str(exc) or "residual" in str(exc)
        return
    sigma2 = sol.asymptotic_variance
    assert np.isfinite(sigma2) and np.all(np.isfinite(sol.values))
    assert sigma2 >= -1e-9 * np.abs(sol.weights @ (sol.F_centred * sol.values))
    assert sol.residual <= 1e-6 * np.abs(sol.F_centred).max()
    gap = chain.spectral_gap
    if gap >= 1e-4:  # the brute-force sum needs ~60/gap powers
        brute = _autocovariance_sum(P, sol.weights, F, gap)
        assert sigma2 == pytest.approx(brute, rel=1e-6, abs=1e-9 * np.abs(F).max() ** 2)


def test_nearly_reducible_chain_is_refused_with_gap_and_fix():
    P = _two_blocks(2, 2, 1e-14, 3)
    with pytest.raises(NotErgodicError, match=r"condition number .* exceeds 1e\+12") as info:
        solve_poisson(FiniteChain(P), np.array([1.0, 2.0, -1.0, -3.0]))
    assert "spectral gap" in str(info.value) and "separate chains" in str(info.value)


def test_well_conditioned_numbers_are_those_of_a_plain_solve():
    """The checked solve is the same LU as scipy.linalg.solve: identical bits."""
    import scipy.linalg

    P = _two_blocks(3, 2, 0.05, 7)
    F = np.arange(5.0)
    sol = solve_poisson_finite(P, F)
    pi = sol.weights
    Z = np.eye(5) - P + np.outer(np.ones(5), pi)
    np.testing.assert_array_equal(sol.values, scipy.linalg.solve(Z, F - pi @ F))


@pytest.mark.parametrize("pi, what", [
    ([0.5, 0.5], "not invariant"),
    ([1.5, -0.5], "probability vector"),
    ([np.nan, 1.0], "probability vector"),
    ([0.3, 0.3], "probability vector"),
])
def test_a_user_pi_is_checked_against_P(pi, what):
    with pytest.raises(ConfigError, match=what) as info:
        solve_poisson_finite([[0.7, 0.3], [0.4, 0.6]], [0.0, 1.0], pi=np.array(pi))
    assert "`pi`" in str(info.value)


def test_the_right_pi_is_accepted():
    pi = np.array([4.0, 3.0]) / 7.0
    sol = solve_poisson_finite([[0.7, 0.3], [0.4, 0.6]], [0.0, 1.0], pi=pi)
    assert sol.asymptotic_variance == pytest.approx(12 / 49 * 1.3 / 0.7, rel=1e-12)


@pytest.mark.parametrize("F", [lambda x: np.exp(x**2), lambda x: np.exp(x**2 / 4),
                               lambda x: np.exp(x**2 / 3)])
def test_F_outside_L2_is_refused(F):
    # F² e^{-x²/2} is not integrable for F = exp(c x²) with c ≥ 1/4
    with pytest.raises(ConfigError, match="square-integrable") as info:
        solve_poisson_ar1(0.5, F)
    assert "`F`" in str(info.value)


@pytest.mark.parametrize("c", [0.0, 0.1, 0.2])
def test_F_inside_L2_is_accepted(c):
    # π(F²) = E exp(2c X²) = (1 - 4c)^{-1/2} for c < 1/4
    sol = solve_poisson_ar1(0.5, lambda x: np.exp(c * x**2), n=64)
    F = np.exp(c * sol.nodes**2)
    assert sol.weights @ F**2 == pytest.approx((1 - 4 * c) ** -0.5, rel=1e-3)
    assert sol.asymptotic_variance >= 0


def test_stationary_never_raises_a_raw_linalg_error():
    for eps in (1e-300, 1e-16):
        with pytest.raises(NotErgodicError, match="`P`"):
            _ = FiniteChain([[1.0 - eps, eps], [eps, 1.0 - eps]]).stationary


# -- power of the batch-means check ----------------------------------------------------------

def test_power_formula_against_gaussian_batch_means():
    """Rejection rate of the χ² interval on directly drawn i.i.d. N(0, 1) batch means."""
    rng = np.random.default_rng(20261201)
    B, alpha, trials = 100, 0.05, 4000
    means = rng.normal(size=(trials, B))
    s2 = means.var(axis=1, ddof=1)              # estimates the true variance 1
    lo, hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], B - 1) / (B - 1)
    for ratio in (1.0, 0.8, 1.25):
        rejected = np.mean((s2 / ratio < lo) | (s2 / ratio > hi))
        p = batch_means_power(ratio, B, alpha)
        se = np.sqrt(p * (1 - p) / trials)
        assert abs(rejected - p) < 4 * se + 1e-3, (ratio, rejected, p)
    assert batch_means_power(1.0, B, alpha) == pytest.approx(alpha, rel=1e-10)


def test_default_power_numbers():
    assert batch_means_power(1.3) > 0.99 and batch_means_power(1 / 1.3) > 0.99
    assert batch_means_power(1.0) == pytest.approx(1e-3)
    res = batch_means_check(FiniteChain.two_state(0.2, 0.3), np.array([0.0, 1.0]), 20_000, 100,
                            0)
    assert res.power(1.0) == pytest.approx(res.alpha)
    assert res.power(0.5) == pytest.approx(batch_means_power(0.5, 100))


THREE = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
F3 = np.array([1.0, -2.0, 5.0])


@pytest.mark.slow
def test_batch_means_rejects_the_iid_variance_over_40_seeds():
    """Default length (200 000 steps, 1000 batches): Var_π(F) = 0.78 σ² is rejected.

    The power at ratio 0.78 is 0.989; P(≤ 36 of 40 | p = 0.95) = 0.14, P(≤ 36 | 0.989) = 8e-4,
    so ≥ 37 rejections is the one-sided band. The true σ² is rejected with probability
    α = 1e-3 per seed: more than 2 of 40 has probability 1e-5.
    """
    chain = FiniteChain(THREE)
    sol = solve_poisson(chain, F3)
    pi = chain.stationary
    var_pi = pi @ F3**2 - (pi @ F3) ** 2
    ratio = var_pi / sol.asymptotic_variance
    reject_iid = reject_true = 0
    for seed in range(40):
        res = batch_means_check(chain, F3, 200_000, 1000, seed, solution=sol)
        lo, hi = res.interval
        reject_iid += not lo <= res.empirical_variance / var_pi <= hi
        reject_true += not res.passed
    assert res.power(ratio) > 0.98
    assert reject_iid >= 37 and stats.binom.cdf(36, 40, res.power(ratio)) < 1e-2
    assert reject_true <= 2


def test_bad_alpha_and_ratio():
    with pytest.raises(ConfigError, match="`alpha`"):
        batch_means_check(FiniteChain(THREE), F3, 1000, 10, 0, alpha=0.0)
    with pytest.raises(ConfigError, match="`ratio`"):
        batch_means_power(-1.0)
    with pytest.raises(DimensionError, match="`n_batches`"):
        batch_means_power(1.0, 1)
