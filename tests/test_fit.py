"""Power-law fits recover planted exponents; orders of known sequences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from limitsolver.studies.fit import fit_power_law, observed_orders, richardson_order


@given(p=st.floats(0.1, 2.0), c=st.floats(0.01, 100.0))
def test_exact_power_law_is_recovered_to_rounding(p, c):
    n = np.array([128, 256, 512, 1024, 4096], dtype=float)
    fit = fit_power_law(n, c * n ** (-p), n_boot=0)
    assert fit.rate == pytest.approx(p, abs=1e-10)
    assert fit.constant == pytest.approx(c, rel=1e-8)


def test_noisy_power_law_interval_covers_the_planted_rate():
    """Multiplicative lognormal noise: the 95% interval covers p in ~95% of repetitions."""
    gen = np.random.default_rng(1)
    n = 2.0 ** np.arange(7, 15)
    covered = 0
    reps = 60
    for _ in range(reps):
        errors = 0.7 * n[:, None] ** -0.5 * np.exp(0.3 * gen.standard_normal((n.size, 8)))
        fit = fit_power_law(n, errors, n_boot=300, rng=gen)
        covered += fit.contains(0.5)
    # binomial(60, 0.95): P(covered < 48) < 0.1%; the percentile bootstrap is slightly liberal
    assert covered >= 48


def test_fit_is_reproducible_and_band_contains_fit():
    gen = np.random.default_rng(3)
    n = np.array([100, 200, 400, 800])
    errors = n[:, None] ** -1.0 * (1 + 0.1 * gen.standard_normal((4, 5))) ** 2
    a = fit_power_law(n, errors, rng=7)
    b = fit_power_law(n, errors, rng=7)
    assert a.ci == b.ci and a.rate == b.rate
    lo, hi = a.band(n)
    assert np.all(lo <= a.predict(n) * (1 + 1e-12)) and np.all(a.predict(n) <= hi * (1 + 1e-12))


def test_missing_runs_are_ignored():
    n = np.array([10, 20, 40])
    e = np.array([[1.0, np.nan], [0.5, 0.5], [0.25, np.nan]])
    assert fit_power_law(n, e, n_boot=10).rate == pytest.approx(1.0)


@pytest.mark.parametrize(
    "sizes, errors, match",
    [([1, 1], [1, 2], "two distinct"), ([1, 2], [1, -1], "positive"),
     ([1, 2], [[np.nan], [1.0]], "no finite"), ([0, 2], [1, 1], "positive")],
)
def test_bad_input(sizes, errors, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(sizes, errors)


def test_observed_orders_and_richardson():
    h = 1.0 / 2 ** np.arange(1, 6)
    assert np.allclose(observed_orders(h, 3 * h**2), 2.0)
    q = [np.pi + 0.5 * hh**3 for hh in h[:3]]
    assert richardson_order(*q, ratio=2.0) == pytest.approx(3.0)


# --- one least-squares line for every fit of the package -------------------------------------
# The implementations each call site had before the fits became `fit_line`, kept verbatim
# as references: the single fit must reproduce their numbers bit for bit.
def _old_power_law_slope(logn, loge):
    A = np.stack([np.ones_like(logn), -logn], axis=1)
    (logc, p), *_ = np.linalg.lstsq(A, loge, rcond=None)
    return float(p), float(logc)


def _old_rate_ols(x, y):
    import math
    X = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    n = len(y)
    dof = max(n - 2, 1)
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    return coef, float(math.sqrt(max(cov[1, 1], 0.0))), float(math.sqrt(np.mean(resid**2)))


def _old_sgd_power(x, y):
    import math
    X = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    s2 = float(resid @ resid) / max(len(y) - 2, 1)
    se = math.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])
    return float(coef[0]), float(coef[1]), se, float(np.sqrt(np.mean(resid**2)))


def _old_growth(M, y):
    import math
    n = len(y)
    X = np.column_stack([np.ones(n), M])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    s2 = float(resid @ resid) / (n - 2)
    return float(coef[0]), float(coef[1]), math.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 30))
def test_fit_line_reproduces_every_former_fit_bit_for_bit(seed, n):
    from limitsolver.studies.fit import _slope, fit_line

    gen = np.random.default_rng(seed)
    x = np.sort(gen.uniform(0.1, 10.0, n))
    y = gen.standard_normal(n) - 0.7 * x
    assert _slope(x, y) == _old_power_law_slope(x, y)
    coef, se, rms = _old_rate_ols(x, y)
    f = fit_line(x, y)
    assert (f.intercept, f.slope, f.slope_stderr, f.rms_residual) == (coef[0], coef[1], se, rms)
    assert (f.intercept, f.slope, f.slope_stderr, f.rms_residual) == _old_sgd_power(x, y)
    assert (f.intercept, f.slope, f.slope_stderr) == _old_growth(x, y)


def test_fit_line_against_the_normal_equations_in_closed_form():
    from limitsolver.studies.fit import fit_line

    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([1.0, 3.0, 2.0, 5.0])
    f = fit_line(x, y)
    # slope = Sxy / Sxx = 5.5 / 5 = 1.1, intercept = 2.75 - 1.1 * 1.5 = 1.1
    assert f.slope == pytest.approx(1.1, abs=1e-14) and f.intercept == pytest.approx(1.1, abs=1e-14)
    resid = y - (1.1 + 1.1 * x)
    assert f.slope_stderr == pytest.approx(np.sqrt(resid @ resid / 2 / 5.0), rel=1e-13)
    assert f.n_points == 4


def test_band_is_the_pointwise_bootstrap_percentile_band():
    gen = np.random.default_rng(5)
    n = 2.0 ** np.arange(6, 12)
    errors = n[:, None] ** -0.5 * np.exp(0.2 * gen.standard_normal((n.size, 8)))
    fit = fit_power_law(n, errors, n_boot=400, rng=2)
    assert fit.boot_rates.shape == (400,) and fit.boot_constants.shape == (400,)
    # ci is the percentile interval of the same bootstrap rates
    assert fit.ci == (float(np.quantile(fit.boot_rates, 0.025)),
                      float(np.quantile(fit.boot_rates, 0.975)))
    nn = np.geomspace(n[0] / 2, n[-1] * 2, 25)
    lo, hi = fit.band(nn)
    lines = fit.boot_constants[None, :] * nn[:, None] ** -fit.boot_rates[None, :]
    inside = ((lines >= lo[:, None] * (1 - 1e-12)) & (lines <= hi[:, None] * (1 + 1e-12))).mean(1)
    # at every n, 95% of the 400 bootstrap lines (up to ties at the quantiles) lie in the band
    assert np.all(np.abs(inside - 0.95) <= 2.5 / 400), inside
    # away from the data's centre the band widens: it is not two lines through one point
    width = np.log(hi / lo)
    assert width[0] > 1.5 * width.min() and width[-1] > 1.5 * width.min()
