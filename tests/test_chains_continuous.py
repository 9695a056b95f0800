"""Tests of the Gaussian AR(1) chain and the circle walk (THEORY.md §1).

Truths used: Gaussian closed forms (moments, Hermite eigenfunctions), scipy.stats
densities, numerical quadrature (scipy.integrate.quad), the wrapped normal as a
brute-force sum over many images, and sample moments inside bands of five
standard errors at fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import hermite_e
from scipy import integrate, stats

from limitsolver.chains import ChainProtocol, CircleWalk, GaussianAR1
from limitsolver.errors import DimensionError, DivergenceError, NotErgodicError

# ----------------------------------------------------------------------------------------------
# Gaussian AR(1)


def test_ar1_errors():
    for a in (1.0, -1.0, 1.5, float("nan"), float("inf")):
        with pytest.raises(NotErgodicError, match=r"`a` must satisfy \|a\| < 1"):
            GaussianAR1(a)
    with pytest.raises(DimensionError, match="`dim` must be an integer >= 1"):
        GaussianAR1(0.5, dim=0)
    chain = GaussianAR1(0.5, dim=2)
    with pytest.raises(DimensionError, match=r"`start` must have shape \(2,\)"):
        chain.sample(3, 0, n_paths=4, start=np.zeros((3, 2)))
    with pytest.raises(DivergenceError, match="`start`"):
        chain.sample(3, 0, start=[np.nan, 0.0])
    with pytest.raises(DimensionError, match="last axis"):
        chain.transition_density(np.zeros(3), np.zeros(3))
    with pytest.raises(DimensionError, match="`lag`"):
        chain.autocovariance(0.5)


def test_ar1_shapes_seeds_and_start():
    chain = GaussianAR1(-0.3, dim=3)
    assert isinstance(chain, ChainProtocol) and chain.dim == 3
    x = chain.sample(6, seed=2, n_paths=5)
    assert x.shape == (5, 6, 3)
    np.testing.assert_array_equal(x, chain.sample(6, seed=2, n_paths=5))
    assert not np.array_equal(x, chain.sample(6, seed=3, n_paths=5))
    start = np.arange(15.0).reshape(5, 3)
    np.testing.assert_array_equal(chain.sample(2, 0, n_paths=5, start=start)[:, 0], start)
    np.testing.assert_array_equal(chain.sample(2, 0, n_paths=5, start=[1, 2, 3])[:, 0],
                                  np.tile([1.0, 2.0, 3.0], (5, 1)))
    assert chain.sample_stationary(7, seed=0).shape == (7, 3)
    scalar = GaussianAR1(0.5)
    np.testing.assert_array_equal(scalar.sample(2, 0, n_paths=3, start=[1.0, 2.0, 3.0])[:, 0, 0],
                                  [1.0, 2.0, 3.0])
    assert scalar.sample(2, 0, n_paths=3, start=4.0)[:, 0, 0].tolist() == [4.0] * 3


@pytest.mark.parametrize("a", [0.0, 0.6, -0.85])
def test_ar1_stationary_moments_and_lag_one_autocovariance(a):
    # M i.i.d. stationary paths; per coordinate, X ~ N(0, 1) gives SE(mean) = 1/sqrt(M),
    # SE(mean of X^2) = sqrt(2/M), and for the lag-one product E[X0 X1] = a,
    # Var(X0 X1) = E[X0^2 X1^2] - a^2 = (1 + 2 a^2) - a^2 = 1 + a^2.
    M = 40_000
    chain = GaussianAR1(a, dim=2)
    x = chain.sample(4, seed=31, n_paths=M)
    last = x[:, -1]
    assert np.all(np.abs(last.mean(axis=0)) < 5 / np.sqrt(M))
    assert np.all(np.abs((last**2).mean(axis=0) - 1.0) < 5 * np.sqrt(2 / M))
    lag1 = (x[:, 2] * x[:, 3]).mean(axis=0)
    assert np.all(np.abs(lag1 - a) < 5 * np.sqrt((1 + a**2) / M))
    assert chain.autocovariance(1) == a and chain.autocovariance(-3) == pytest.approx(a**3)
    lag3 = (x[:, 0] * x[:, 3]).mean(axis=0)
    assert np.all(np.abs(lag3 - a**3) < 5 * np.sqrt((1 + a**6) / M))
    # coordinates are independent: E[X^(1) X^(2)] = 0 with variance 1
    assert abs((last[:, 0] * last[:, 1]).mean()) < 5 / np.sqrt(M)


def test_ar1_from_a_fixed_start():
    # X_T | X_0 = x0 ~ N(a^T x0, 1 - a^{2T}).
    a, T, M, x0 = 0.8, 3, 40_000, 2.5
    x = GaussianAR1(a).sample(T + 1, seed=4, n_paths=M, start=x0)[:, T, 0]
    var = 1 - a ** (2 * T)
    assert abs(x.mean() - a**T * x0) < 5 * math.sqrt(var / M)
    assert abs(x.var() - var) < 5 * var * math.sqrt(2 / M)


@pytest.mark.parametrize("a", [0.0, 0.5, -0.9])
def test_ar1_transition_density_integrates_and_matches_samples(a):
    chain = GaussianAR1(a)
    x = 1.3
    s = math.sqrt(1 - a**2)
    quad = dict(points=[a * x], limit=200, epsabs=1e-12)
    lo, hi = a * x - 40 * s, a * x + 40 * s

    def moment(k):
        return integrate.quad(lambda y: y**k * chain.transition_density(x, y), lo, hi, **quad)[0]

    # quad with epsabs 1e-12 -> compare at 1e-10
    assert moment(0) == pytest.approx(1.0, abs=1e-10)
    m1, m2 = moment(1), moment(2)
    assert m1 == pytest.approx(a * x, abs=1e-10)
    assert m2 - m1**2 == pytest.approx(1 - a**2, abs=1e-10)
    # the sampler draws from this density: one step from x
    M = 40_000
    y = chain.sample(2, seed=9, n_paths=M, start=x)[:, 1, 0]
    assert abs(y.mean() - m1) < 5 * s / math.sqrt(M)
    assert abs(y.var() - (1 - a**2)) < 5 * (1 - a**2) * math.sqrt(2 / M)
    assert integrate.quad(chain.stationary_density, -40, 40, epsabs=1e-12)[0] == pytest.approx(
        1.0, abs=1e-10
    )


@settings(max_examples=30, deadline=None)
@given(
    st.floats(-0.99, 0.99),
    st.integers(1, 4),
    st.lists(st.floats(-3, 3), min_size=8, max_size=8),
)
def test_ar1_densities_match_scipy(a, d, coords):
    chain = GaussianAR1(a, dim=d)
    x = np.array(coords[:d])
    y = np.array(coords[4 : 4 + d])
    ref = stats.multivariate_normal(mean=a * x, cov=(1 - a**2) * np.eye(d)).pdf(y)
    # two different evaluations of the same exponential: relative agreement ~1e-12
    assert chain.transition_density(x, y) == pytest.approx(ref, rel=1e-10)
    assert chain.stationary_density(y) == pytest.approx(
        stats.multivariate_normal(mean=np.zeros(d), cov=np.eye(d)).pdf(y), rel=1e-10
    )
    # broadcasting: a batch of x against one y; for d = 1 the inputs are scalars, elementwise
    xs = np.stack([x, -x]) if d > 1 else np.array([x[0], -x[0]])
    batch = chain.transition_density(xs, y if d > 1 else y[0])
    assert batch.shape == (2,)
    assert batch[0] == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_ar1_hermite_polynomials_are_eigenfunctions(m):
    # (P He_m)(x) = a^m He_m(x): the spectrum is {a^m}, hence the gap 1 - |a|.
    a, x = -0.7, 0.9
    chain = GaussianAR1(a)
    s = math.sqrt(1 - a**2)
    coef = np.zeros(m + 1)
    coef[m] = 1.0
    val = integrate.quad(
        lambda y: hermite_e.hermeval(y, coef) * chain.transition_density(x, y),
        a * x - 40 * s, a * x + 40 * s, points=[a * x], limit=200, epsabs=1e-12,
    )[0]
    assert val == pytest.approx(a**m * hermite_e.hermeval(x, coef), abs=1e-9)
    assert chain.spectral_gap == pytest.approx(1 - abs(a), abs=1e-15)


# ----------------------------------------------------------------------------------------------
# Circle walk


def test_circle_errors():
    for kappa in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(NotErgodicError, match="`kappa` must be a finite number > 0"):
            CircleWalk(kappa)
    walk = CircleWalk(0.5)
    with pytest.raises(DimensionError, match="`start` must be an angle"):
        walk.sample(3, 0, n_paths=3, start=[0.0, 1.0])
    with pytest.raises(DivergenceError, match="`start`"):
        walk.sample(3, 0, start=np.inf)
    with pytest.raises(DimensionError, match="`n_images`"):
        walk.transition_density(0.0, 1.0, n_images=-1)


@settings(max_examples=30, deadline=None)
@given(
    st.floats(1e-3, 10.0),
    st.one_of(st.floats(-50, 50), st.just(2 * math.pi - 1e-17), st.just(-1e-300)),
    st.integers(0, 2**32 - 1),
)
def test_circle_angles_in_range_and_states_on_circle(kappa, start, seed):
    walk = CircleWalk(kappa)
    phi = walk.sample_angles(20, seed, n_paths=16, start=start)
    assert phi.shape == (16, 20)
    assert np.all((phi >= 0) & (phi < 2 * math.pi))
    # the start is honoured modulo 2 pi
    assert np.allclose(np.exp(1j * phi[:, 0]), np.exp(1j * start), atol=1e-12)
    x = walk.sample(5, seed, n_paths=3)
    assert x.shape == (3, 5, 2)
    # cos^2 + sin^2 = 1 up to a few ulps of rounding in cos, sin and the norm
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, rtol=4 * np.finfo(float).eps)


def test_circle_seeds_start_and_states():
    walk = CircleWalk(0.7)
    assert isinstance(walk, ChainProtocol) and walk.dim == 2
    a = walk.sample(6, seed=5, n_paths=4)
    np.testing.assert_array_equal(a, walk.sample(6, seed=5, n_paths=4))
    assert not np.array_equal(a, walk.sample(6, seed=6, n_paths=4))
    np.testing.assert_array_equal(a, walk.to_states(walk.sample_angles(6, 5, n_paths=4)))
    starts = np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(walk.sample_angles(2, 0, n_paths=3, start=starts)[:, 0], starts)
    np.testing.assert_allclose(walk.to_states(math.pi / 2), [0.0, 1.0], atol=1e-16)
    assert walk.sample_stationary(8, seed=0).shape == (8, 2)


@pytest.mark.parametrize("kappa", [0.3, 1.0, 2.5])
def test_circle_one_step_fourier_multiplier(kappa):
    # E[cos m(phi_1 - phi_0)] = E[cos(m kappa xi)] = exp(-kappa^2 m^2 / 2) and
    # Var(cos(m kappa xi)) = (1 + exp(-2 m^2 kappa^2)) / 2 - exp(-m^2 kappa^2).
    M = 40_000
    walk = CircleWalk(kappa)
    phi = walk.sample_angles(2, seed=12, n_paths=M)
    for m in (1, 2):
        c = np.cos(m * (phi[:, 1] - phi[:, 0]))
        var = (1 + math.exp(-2 * m**2 * kappa**2)) / 2 - math.exp(-(m**2) * kappa**2)
        assert abs(c.mean() - math.exp(-0.5 * kappa**2 * m**2)) < 5 * math.sqrt(var / M)
        assert walk.fourier_multiplier(m) == pytest.approx(math.exp(-0.5 * kappa**2 * m**2))


def test_circle_forgets_its_start_and_is_uniform():
    # E[cos phi_T | phi_0] = cos(phi_0) exp(-kappa^2 T / 2); Var(cos phi_T) <= 1.
    kappa, T, M, phi0 = 0.4, 5, 40_000, 0.3
    walk = CircleWalk(kappa)
    phi = walk.sample_angles(T + 1, seed=3, n_paths=M, start=phi0)[:, T]
    assert abs(np.cos(phi).mean() - math.cos(phi0) * math.exp(-0.5 * kappa**2 * T)) < 5 / M**0.5
    assert abs(np.sin(phi).mean() - math.sin(phi0) * math.exp(-0.5 * kappa**2 * T)) < 5 / M**0.5
    # uniform law: E cos = E sin = 0 with variance 1/2
    x = walk.sample_stationary(M, seed=4)
    assert np.all(np.abs(x.mean(axis=0)) < 5 * math.sqrt(0.5 / M))
    assert walk.spectral_gap == pytest.approx(1 - walk.fourier_multiplier(1), rel=1e-15)


def _wrapped_normal_brute(phi, psi, kappa, images=200):
    return sum(
        stats.norm.pdf(psi - phi + 2 * math.pi * m, scale=kappa) for m in range(-images, images + 1)
    )


@pytest.mark.parametrize("kappa", [0.05, 0.5, 1.9, 2.1, 6.0])
def test_circle_transition_density(kappa):
    walk = CircleWalk(kappa)
    phi = 1.0
    # integrates to one over a period (quad tolerance 1e-12 -> compare at 1e-10)
    total = integrate.quad(
        lambda psi: walk.transition_density(phi, psi), 0, 2 * math.pi,
        points=[phi], limit=200, epsabs=1e-12,
    )[0]
    assert total == pytest.approx(1.0, abs=1e-10)
    # first Fourier coefficient is the multiplier
    coef = integrate.quad(
        lambda psi: math.cos(psi - phi) * walk.transition_density(phi, psi), 0, 2 * math.pi,
        points=[phi], limit=200, epsabs=1e-12,
    )[0]
    assert coef == pytest.approx(walk.fourier_multiplier(1), abs=1e-10)
    # equals the brute-force sum over many images (both branches of the automatic truncation)
    psi = np.linspace(-7.0, 13.0, 41)
    ref = _wrapped_normal_brute(phi, psi, kappa)
    np.testing.assert_allclose(walk.transition_density(phi, psi), ref, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        walk.transition_density(phi, psi, n_images=200), ref, rtol=1e-12, atol=1e-300
    )
    assert walk.transition_density(np.zeros((3, 1)), np.zeros(4)).shape == (3, 4)
    np.testing.assert_allclose(walk.stationary_density(psi), 1 / (2 * math.pi))
