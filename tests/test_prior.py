"""Tests of limitsolver.prior: shapes, doubling, moments, reproducibility, contraction, depth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from limitsolver.activations import activation
from limitsolver.errors import ConfigError, ContractionError, DimensionError
from limitsolver.prior import Prior

FAST = settings(max_examples=40, deadline=None)


@pytest.mark.parametrize("doubled", [False, True])
@pytest.mark.parametrize("c_law", ["rademacher", "gaussian"])
@pytest.mark.parametrize("n_networks", [None, 3])
def test_sample_shapes(doubled, c_law, n_networks):
    prior = Prior(c_law=c_law, doubled=doubled)
    p = prior.sample(6, 4, 0, n_networks=n_networks)
    lead = () if n_networks is None else (n_networks,)
    assert p.c.shape == lead + (6,)
    assert p.w.shape == lead + (6, 4)
    assert p.b.shape == lead + (6,)
    assert np.all(np.abs(p.b) <= prior.b_max)


@pytest.mark.parametrize("c_law", ["rademacher", "gaussian"])
@pytest.mark.parametrize("n_networks", [None, 2])
def test_doubled_pairs_mirror_exactly(c_law, n_networks):
    p = Prior(c_law=c_law, doubled=True).sample(10, 3, 5, n_networks=n_networks)
    h = 5
    np.testing.assert_array_equal(p.c[..., h:], -p.c[..., :h])
    np.testing.assert_array_equal(p.w[..., h:, :], p.w[..., :h, :])
    np.testing.assert_array_equal(p.b[..., h:], p.b[..., :h])
    # hence the initial output N^-beta sum_i c_i s_i vanishes for any memory s(w, b)
    s = np.tanh(p.w[..., 0] + p.b)
    np.testing.assert_array_equal(np.sum((p.c * s)[..., :h] + (p.c * s)[..., h:], axis=-1), 0.0)


def test_odd_units_with_doubling_raise():
    with pytest.raises(ConfigError, match="`n_units` must be even with doubled"):
        Prior(doubled=True).sample(7, 1, 0)


@pytest.mark.parametrize("c_law", ["rademacher", "gaussian"])
def test_moments_within_standard_error_bands(c_law):
    sigma_w, b_max, sigma_c = 1.7, 0.6, 2.5
    prior = Prior(sigma_w=sigma_w, b_max=b_max, c_law=c_law, sigma_c=sigma_c)
    n, d = 40_000, 2
    p = prior.sample(n, d, 12345)
    z = 5.0  # band half-width in standard errors; the seed is fixed, 5 SE is a generous margin

    def check(sample, mean, var, fourth):
        # sample mean: SE sqrt(var/n); sample second moment about 0: SE sqrt((m4 - m2^2)/n)
        sample = np.ravel(sample)
        m = sample.size
        assert abs(sample.mean() - mean) <= z * math.sqrt(var / m)
        m2 = var + mean**2
        assert abs(np.mean(sample**2) - m2) <= z * math.sqrt((fourth - m2**2) / m)

    # w ~ N(0, sigma_w^2): E w^4 = 3 sigma_w^4
    check(p.w, 0.0, sigma_w**2, 3 * sigma_w**4)
    # b ~ U(-b_max, b_max): E b^2 = b_max^2/3, E b^4 = b_max^4/5
    check(p.b, 0.0, b_max**2 / 3, b_max**4 / 5)
    if c_law == "rademacher":
        assert set(np.unique(p.c)) == {-sigma_c, sigma_c}
        check(p.c, 0.0, sigma_c**2, sigma_c**4)
    else:
        check(p.c, 0.0, sigma_c**2, 3 * sigma_c**4)
    assert prior.c_second_moment == sigma_c**2
    # laws, not only moments: Kolmogorov-Smirnov at a fixed seed
    assert stats.kstest(np.ravel(p.w) / sigma_w, "norm").pvalue > 1e-3
    assert stats.kstest(p.b, "uniform", args=(-b_max, 2 * b_max)).pvalue > 1e-3
    # coordinates of w are uncorrelated: |corr| within 5 SE = 5/sqrt(n)
    assert abs(np.corrcoef(p.w[:, 0], p.w[:, 1])[0, 1]) <= z / math.sqrt(n)


def test_same_seed_is_bit_identical_and_seeds_differ():
    prior = Prior(c_law="gaussian")
    a = prior.sample(8, 3, 42, n_networks=2)
    b = prior.sample(8, 3, np.random.default_rng(42), n_networks=2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = prior.sample(8, 3, 43, n_networks=2)
    assert not np.array_equal(a.w, c.w)
    with pytest.raises(ConfigError, match="`seed` must be an integer seed"):
        prior.sample(8, 3, None)


def test_contraction_factor_and_error_message():
    assert Prior(b_max=0.5).contraction_factor("sigmoid") == 0.125
    assert Prior(b_max=0.5).check_contraction("erf") == pytest.approx(1 / math.sqrt(math.pi), rel=1e-15)
    with pytest.raises(
        ContractionError, match=r"`b_max` \* sup\|sigma'\| = 1.2 \* 1 = 1.2 >= 1; choose `b_max` < 1\."
    ):
        Prior(b_max=1.2).check_contraction("tanh")
    with pytest.raises(ContractionError, match="choose `b_max` < 4"):
        Prior(b_max=4.0).check_contraction("sigmoid")


@FAST
@given(
    b_max=st.floats(0.01, 0.99),
    log10_tol=st.floats(-14.0, -0.5),
    name=st.sampled_from(["tanh", "sigmoid", "erf", "softplus"]),
)
def test_memory_depth_is_smallest_window(b_max, log10_tol, name):
    act = activation(name)
    prior = Prior(b_max=b_max)
    if prior.contraction_factor(act) >= 1:
        return
    tol = 10.0**log10_tol
    L = prior.memory_depth(act, tol)
    gamma = prior.contraction_factor(act)
    scale = act.sup_sigma if math.isfinite(act.sup_sigma) else 1.0
    assert L >= 2
    assert gamma ** (L - 1) * scale <= tol < gamma ** (L - 2) * scale


@pytest.mark.parametrize("b_max, tol", [(0.5, 0.25), (0.5, 2.0**-30), (0.1, 1e-10), (0.01, 1e-8)])
def test_memory_depth_at_exact_powers(b_max, tol):
    # tol is (up to rounding) a power of gamma: the smallest window is read off directly
    L = Prior(b_max=b_max).memory_depth("tanh", tol)
    assert b_max ** (L - 1) <= tol < b_max ** (L - 2)


def test_prior_validation():
    with pytest.raises(ConfigError, match="`sigma_w` must be positive"):
        Prior(sigma_w=0.0)
    with pytest.raises(ConfigError, match="`b_max` must be non-negative"):
        Prior(b_max=-0.1)
    with pytest.raises(ConfigError, match="`c_law` must be 'rademacher' or 'gaussian'"):
        Prior(c_law="uniform")
    with pytest.raises(ConfigError, match="`sigma_c` must be positive"):
        Prior(sigma_c=float("nan"))
    with pytest.raises(ConfigError, match="`n_units` must be a positive integer"):
        Prior().sample(0, 1, 0)
    with pytest.raises(DimensionError, match="`dim` must be a positive integer"):
        Prior().sample(3, 0, 0)
    with pytest.raises(ConfigError, match=r"`tol` must lie in \(0, 1\)"):
        Prior().memory_depth("tanh", 1.5)
    assert Prior(b_max=0.0).memory_depth("tanh", 1e-6) == 2
    assert Prior().replace(b_max=0.3).b_max == 0.3
