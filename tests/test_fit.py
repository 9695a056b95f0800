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
