"""Standard errors and confidence intervals against independent statistical truths.

* The limit's Monte Carlo standard errors (``discretisation["monte_carlo_se"]`` and
  ``["monte_carlo_se_loss"]``, THEORY.md §4.2): recomputed from the raw solution as
  ``max_t std_M(.) / sqrt(M)``, and compared with the spread of the estimate over independent
  Monte Carlo repetitions (at t = 0 with h_0 = 0 the loss is the sample mean of g^2 / 2, so
  the standard error is exact). The band is four standard errors of a sample standard
  deviation of R repetitions, 4 / sqrt(2 (R - 1)) relative.
* The bootstrap interval of the power-law rate (THEORY.md §7) resamples seeds within each
  width: its half-width matches z_{(1+level)/2} times the delta-method standard error of the
  least-squares slope of the log-means, sum_i a_i^2 s_i^2 / (S m_i^2); and on synthetic
  studies with a known rate it covers that rate with the frequency its level states, within
  the binomial band.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, norm

from limitsolver import GaussianAR1, NetworkSpec, Problem, StateFunction, fit_power_law, solve_limit

GRID = {"n_w": 8, "n_b": 4}


def mc_problem():
    net = NetworkSpec(memory_tol=1e-2)
    return Problem(GaussianAR1(0.5), StateFunction("sin(2*x) + x/3 + 0.5"), net, horizon=2.0)


def test_monte_carlo_standard_errors_are_the_sample_standard_errors_of_the_solution():
    M = 200
    sol = solve_limit(mc_problem(), histories=M, times=np.linspace(0, 2, 9), h0="zero", seed=5,
                      grid=GRID, error_estimate=False)
    d = sol.discretisation
    assert d["histories"] == "sampled" and d["M"] == M
    r = sol.g[None, :] - sol.h                        # residual g - h_t, (n_times, M)
    se_mean = max(np.std(row) / math.sqrt(M) for row in r)
    se_loss = max(np.std(0.5 * row**2) / math.sqrt(M) for row in r)
    assert d["monte_carlo_se"] == pytest.approx(se_mean, rel=1e-12)
    assert d["monte_carlo_se_loss"] == pytest.approx(se_loss, rel=1e-12)
    # the loss is the sample mean of r^2 / 2 with the Monte Carlo weights 1/M
    np.testing.assert_allclose(sol.loss, [np.mean(0.5 * row**2) for row in r], rtol=1e-12)


@pytest.mark.slow
def test_monte_carlo_standard_errors_match_the_spread_over_independent_repetitions():
    M, R = 128, 40
    losses, means, se_loss, se_mean = [], [], [], []
    for k in range(R):
        sol = solve_limit(mc_problem(), histories=M, times=[0.0], h0="zero", seed=100 + k,
                          grid=GRID, error_estimate=False)
        losses.append(sol.loss[0])                   # = mean g^2 / 2 over the M histories
        means.append(np.sum(sol.weights * sol.g))    # = mean residual at t = 0
        se_loss.append(sol.discretisation["monte_carlo_se_loss"])
        se_mean.append(sol.discretisation["monte_carlo_se"])
    band = 4 / math.sqrt(2 * (R - 1))                # relative SE of a sample std, 4 times
    for values, reported in ((losses, se_loss), (means, se_mean)):
        spread = np.std(values, ddof=1)
        ratio = np.mean(reported) / spread
        assert abs(ratio - 1) < band, (ratio, band)


# -- bootstrap interval of the rate ----------------------------------------------------------

SIZES = np.array([64.0, 128.0, 256.0, 512.0, 1024.0])


def _study(gen, n_seeds, rate=0.5, noise=0.25, centred=False):
    """Errors C n^-rate exp(noise eps) per width (rows) and seed (columns), all positive."""
    factor = np.exp(noise * gen.standard_normal((SIZES.size, n_seeds)))
    if centred:  # the means then lie exactly on the line: only seed noise is left
        factor /= factor.mean(axis=1, keepdims=True)
    return 0.8 * SIZES[:, None] ** -rate * factor


def _delta_method_se(errors):
    """Standard error of the LS slope of log(mean) on log(n) under resampling of seeds."""
    logn = np.log(SIZES)
    a = (logn - logn.mean()) / np.sum((logn - logn.mean()) ** 2)
    m = errors.mean(axis=1)
    var_log_mean = errors.var(axis=1) / errors.shape[1] / m**2   # bootstrap: ddof = 0
    return math.sqrt(np.sum(a**2 * var_log_mean))


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_bootstrap_half_width_is_z_times_the_seed_standard_error(level):
    errors = _study(np.random.default_rng(11), n_seeds=400, centred=True)
    fit = fit_power_law(SIZES, errors, level=level, n_boot=6000, rng=3)
    assert fit.rate == pytest.approx(0.5, abs=1e-12)   # centred: the means are on the line
    se = _delta_method_se(errors)
    half = 0.5 * (fit.ci[1] - fit.ci[0])
    z = norm.ppf(0.5 + level / 2)
    # Monte Carlo error of the two quantiles of 6000 resamples: about 2% of the half-width
    # (quantile SE sqrt(p(1-p)/n)/phi(z)); the delta method is accurate to <1% at 400 seeds
    assert half / (z * se) == pytest.approx(1.0, abs=0.06), (half, z * se)
    # symmetric about the estimate (the slope is nearly linear in the resampled means)
    centre = 0.5 * (fit.ci[0] + fit.ci[1])
    assert abs(centre - fit.rate) < 0.1 * half


@pytest.mark.slow
def test_bootstrap_interval_covers_a_known_rate_at_its_level():
    gen = np.random.default_rng(2026)
    level, n_studies = 0.8, 150
    covered = 0
    for _ in range(n_studies):
        fit = fit_power_law(SIZES, _study(gen, n_seeds=40), level=level, n_boot=200, rng=gen)
        covered += fit.contains(0.5)
    # binomial(150, 0.8): outside [lo, hi] with probability < 1e-3; the percentile bootstrap
    # with ddof = 0 is slightly liberal (about 1% narrower at 40 seeds), well inside the band
    lo, hi = binom.ppf(5e-4, n_studies, level), binom.isf(5e-4, n_studies, level)
    assert lo <= covered <= hi, (covered, lo, hi)
