"""Tests of the parameter quadrature rules (THEORY.md §4.1) against closed-form moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import norm

from limitsolver.errors import DimensionError, DiscretisationError
from limitsolver.limit.quadrature import QuadratureRule, parameter_grid
from limitsolver.prior import Prior


def double_factorial(n: int) -> int:
    return math.prod(range(n, 0, -2)) if n > 0 else 1


def gaussian_moment(k: int, sigma: float) -> float:
    """E[w^k] for w ~ N(0, sigma^2): sigma^k (k-1)!! for even k, 0 for odd k."""
    return 0.0 if k % 2 else sigma**k * double_factorial(k - 1)


def uniform_moment(k: int, b_max: float) -> float:
    """E[b^k] for b ~ U(-b_max, b_max)."""
    return 0.0 if k % 2 else b_max**k / (k + 1)


sigmas = st.sampled_from([1.0, 0.5, 2.0]) | st.floats(0.2, 3.0)
b_maxes = st.sampled_from([0.0, 0.5, 0.9]) | st.floats(0.05, 0.99)


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(["legendre", "hermite", "uniform", "sobol"]),
    dim=st.sampled_from([1, 2]),
    n_w=st.sampled_from([2, 4, 8, 16, 32]),
    n_b=st.integers(2, 12),
    sigma_w=sigmas,
    b_max=b_maxes,
)
def test_weights_positive_and_sum_to_one(kind, dim, n_w, n_b, sigma_w, b_max):
    rule = parameter_grid(Prior(sigma_w=sigma_w, b_max=b_max), dim, n_w=n_w, n_b=n_b, kind=kind,
                          rng=0)
    # Sum of at most 32*32*12 positive numbers: rounding error a few hundred ulps at most.
    assert abs(rule.weights.sum() - 1.0) < 1e-13
    assert np.all(rule.weights >= 0)
    assert rule.w.shape == (rule.G, dim) and rule.b.shape == (rule.G,)
    assert np.all(np.abs(rule.b) <= b_max)
    if kind == "sobol":
        assert rule.G == n_w and rule.shape is None
    else:
        n_b_eff = 1 if b_max == 0 else n_b
        assert rule.shape == (n_w,) * dim + (n_b_eff,)
        assert rule.G == n_w**dim * n_b_eff
        # nodes in C order over (w_1, ..., w_d, b): b varies fastest
        mesh = np.meshgrid(*rule.axes, indexing="ij")
        np.testing.assert_array_equal(rule.w, np.stack([m.ravel() for m in mesh[:dim]], 1))
        np.testing.assert_array_equal(rule.b, mesh[dim].ravel())


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 20), sigma_w=sigmas)
def test_hermite_exact_for_polynomials_up_to_degree_2n_minus_1(n, sigma_w):
    rule = parameter_grid(Prior(sigma_w=sigma_w, b_max=0.0), 1, n_w=n, kind="hermite")
    w = rule.w[:, 0]
    for k in range(0, min(2 * n - 1, 16) + 1):
        exact = gaussian_moment(k, sigma_w)
        scale = gaussian_moment(2 * ((k + 1) // 2), sigma_w)  # size of the terms summed
        # exact in exact arithmetic: rounding of node powers and weights, ~1e-13 relative
        assert abs(rule.integrate(w**k) - exact) <= 1e-12 * max(scale, 1.0)
    if n <= 8:
        # degree 2n is NOT integrated exactly (the rule is not exact beyond 2n - 1)
        assert abs(rule.integrate(w ** (2 * n)) - gaussian_moment(2 * n, sigma_w)) > 1e-8


@settings(max_examples=25, deadline=None)
@given(n_b=st.integers(1, 16), b_max=st.floats(0.05, 0.99))
def test_legendre_b_exact_for_polynomials(n_b, b_max):
    rule = parameter_grid(Prior(b_max=b_max), 1, n_w=2, n_b=n_b, kind="legendre")
    for k in range(0, 2 * n_b):
        assert abs(rule.integrate(rule.b**k) - uniform_moment(k, b_max)) < 1e-14


@pytest.mark.parametrize("sigma_w", [0.5, 1.0, 2.5])
def test_truncated_legendre_gaussian_moments_at_64_nodes(sigma_w):
    rule = parameter_grid(Prior(sigma_w=sigma_w, b_max=0.0), 1, n_w=64, kind="legendre")
    w = rule.w[:, 0]
    # truncation at 8 sigma: tail mass ~1e-15; 64 Legendre nodes resolve the entire integrands
    # exp(-w^2/2) w^{2,4} on [-8, 8] to about 1e-12 (the spectral error, not rounding)
    assert abs(rule.integrate(w**2) / sigma_w**2 - 1.0) < 1e-11
    assert abs(rule.integrate(w**4) / sigma_w**4 / 3.0 - 1.0) < 1e-11
    assert abs(rule.integrate(w**3)) < 1e-12 * sigma_w**3


def test_tensor_rule_in_two_dimensions_integrates_products():
    prior = Prior(sigma_w=1.3, b_max=0.6)
    exact = gaussian_moment(2, 1.3) * gaussian_moment(4, 1.3) * uniform_moment(2, 0.6)
    # Gauss-Hermite with 3 nodes per w axis is exact up to degree 5; Legendre in b up to 3:
    # rounding only. Truncated Legendre with 64 nodes: spectral error ~1e-12 (see above).
    for kind, n_w, tol in (("hermite", 3, 1e-14), ("legendre", 64, 1e-11)):
        rule = parameter_grid(prior, 2, n_w=n_w, n_b=2, kind=kind)
        w1, w2, b = rule.w[:, 0], rule.w[:, 1], rule.b
        assert abs(rule.integrate(w1**2 * w2**4 * b**2) / exact - 1.0) < tol
        assert abs(rule.integrate(w1 * w2**2 * b)) < 1e-14


def test_uniform_grid_converges_at_second_order():
    """The trapezoid rule in b: the error of E[b^2] is O(h^2) (order 2).

    (In w the trapezoid rule with the Gaussian density is spectrally accurate, so only b
    shows the algebraic order.)
    """
    prior = Prior(sigma_w=1.0, b_max=0.8)
    sizes = np.array([9, 17, 33, 65])
    err_b = []
    for n in sizes:
        rule = parameter_grid(prior, 1, n_w=n, n_b=n, kind="uniform", truncation=6.0)
        err_b.append(abs(rule.integrate(rule.b**2) - 0.8**2 / 3))
    h = 2 * 0.8 / (sizes - 1)
    slope = np.polyfit(np.log(h), np.log(err_b), 1)[0]
    assert 1.8 < slope < 2.2


def test_sobol_error_decays_close_to_inverse_G():
    """RMS error over 16 scrambles of E[exp(0.3 (w_1 + w_2)) cos b]: slope near -1."""
    prior = Prior(sigma_w=1.0, b_max=0.5)
    exact = math.exp(0.5 * 0.09 * 2) * math.sin(0.5) / 0.5
    sizes = [2**k for k in range(5, 13)]
    rms = []
    for n in sizes:
        errs = []
        for seed in range(16):
            rule = parameter_grid(prior, 2, n_w=n, kind="sobol", rng=seed)
            errs.append(rule.integrate(np.exp(0.3 * rule.w.sum(1)) * np.cos(rule.b)) - exact)
        rms.append(np.sqrt(np.mean(np.square(errs))))
    slope = np.polyfit(np.log(sizes), np.log(rms), 1)[0]
    # plain Monte Carlo would give -0.5; randomised QMC on a smooth integrand ~ -1 up to logs
    assert -1.4 < slope < -0.6


def test_sobol_reproducible_and_nested_under_refinement():
    prior = Prior()
    a = parameter_grid(prior, 3, n_w=64, kind="sobol", rng=7)
    b = parameter_grid(prior, 3, n_w=64, kind="sobol", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.b, b.b)
    c = parameter_grid(prior, 3, n_w=64, kind="sobol", rng=8)
    assert not np.array_equal(a.w, c.w)
    fine = a.refined()
    assert fine.G == 128 and fine.kind == "sobol"
    np.testing.assert_array_equal(fine.w[:64], a.w)
    np.testing.assert_array_equal(fine.b[:64], a.b)


@pytest.mark.parametrize("kind", ["legendre", "hermite", "uniform"])
def test_refined_doubles_nodes_per_axis(kind):
    rule = parameter_grid(Prior(), 2, n_w=8, n_b=4, kind=kind)
    fine = rule.refined()
    assert fine.kind == kind and fine.shape == (16, 16, 8)
    nomem = parameter_grid(Prior(b_max=0.0), 1, n_w=8, n_b=4, kind=kind).refined()
    assert nomem.shape == (16, 1)


def test_no_memory_gives_single_b_node():
    rule = parameter_grid(Prior(b_max=0.0), 1, n_w=10, n_b=16)
    assert rule.shape == (10, 1)
    np.testing.assert_array_equal(rule.b, 0.0)
    sob = parameter_grid(Prior(b_max=0.0), 2, n_w=16, kind="sobol", rng=0)
    np.testing.assert_array_equal(sob.b, 0.0)


def _gaussian_reference(f) -> float:
    """E[f(w)], w ~ N(0, 1), by adaptive quadrature on [-12, 12] split at 0."""
    g = lambda w: f(w) * norm.pdf(w)  # noqa: E731
    return sum(quad(g, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=400)[0]
               for lo, hi in ((-12.0, 0.0), (0.0, 12.0)))


def test_tanh_integrand_legendre_versus_hermite():
    """THEORY §4.1: truncated Legendre reaches 1e-5 at 64 nodes; Gauss-Hermite converges slower.

    tanh(w x + c)^2 has poles at distance pi/(2x) from the real axis: the truncated
    Legendre rule converges geometrically, Gauss--Hermite like exp(-c sqrt(n)), so at
    128 nodes the Legendre error is far below the Hermite one.
    """
    prior = Prior(sigma_w=1.0, b_max=0.0)

    def err(kind, n, x, c):
        rule = parameter_grid(prior, 1, n_w=n, kind=kind)
        f = lambda w: np.tanh(w * x + c) ** 2  # noqa: E731
        return abs(rule.integrate(f(rule.w[:, 0])) - _gaussian_reference(f))

    assert err("legendre", 64, 1.0, 0.3) < 1e-5
    for x, c in ((2.0, -0.5), (3.0, 0.2)):
        assert err("legendre", 128, x, c) < 0.1 * err("hermite", 128, x, c)


def test_integrate_contracts_last_axis():
    rule = parameter_grid(Prior(), 1, n_w=4, n_b=2)
    vals = np.arange(3 * rule.G, dtype=float).reshape(3, rule.G)
    expected = np.array([sum(q * v for q, v in zip(rule.weights, row, strict=True))
                         for row in vals])
    np.testing.assert_allclose(rule.integrate(vals), expected, rtol=1e-14)
    with pytest.raises(DimensionError, match="last axis"):
        rule.integrate(np.ones(rule.G + 1))


def test_bad_arguments():
    prior = Prior()
    with pytest.raises(DimensionError, match='kind="sobol"'):
        parameter_grid(prior, 3, kind="legendre")
    with pytest.raises(DiscretisationError, match="power of 2"):
        parameter_grid(prior, 1, n_w=100, kind="sobol", rng=0)
    with pytest.raises(DiscretisationError, match="`rng` is required"):
        parameter_grid(prior, 1, n_w=64, kind="sobol")
    with pytest.raises(DiscretisationError, match="`kind` must be one of"):
        parameter_grid(prior, 1, kind="simpson")
    with pytest.raises(DiscretisationError, match="`n_w` must be a positive integer"):
        parameter_grid(prior, 1, n_w=0)
    with pytest.raises(DimensionError, match="`dim`"):
        parameter_grid(prior, 0)
    with pytest.raises(DiscretisationError, match="sum to 1"):
        QuadratureRule(np.zeros((2, 1)), np.zeros(2), np.array([0.5, 0.6]), "legendre")
