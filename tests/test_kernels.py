"""Tests of the tangent kernel A and the covariance Sigma (THEORY.md §3, §4.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import erf

from limitsolver.activations import activation
from limitsolver.errors import DimensionError
from limitsolver.limit.hidden_layer import Features, features
from limitsolver.limit.kernels import (
    covariance_kernel,
    kernel_factor,
    kernel_factors,
    tangent_kernel,
)
from limitsolver.limit.quadrature import parameter_grid
from limitsolver.memory import memory_on_histories, memory_step
from limitsolver.prior import Prior

# ---------------------------------------------------------------------------------------------
# Closed forms for erf, no memory (b = 0), w ~ N(0, s^2), u = w x.


def arcsine_kernel(x, y, s):
    """E_w[erf(w x) erf(w y)] (Williams 1997)."""
    return (2 / np.pi) * np.arcsin(
        2 * s**2 * x * y / np.sqrt((1 + 2 * s**2 * x**2) * (1 + 2 * s**2 * y**2))
    )


def derivative_kernel(x, y, s):
    """E_w[erf'(w x) erf'(w y)] x y = (4/pi) x y / sqrt(1 + 2 s^2 (x^2 + y^2))."""
    return (4 / np.pi) * x * y / np.sqrt(
        (1 + 2 * s**2 * x**2) * (1 + 2 * s**2 * y**2) - 4 * s**4 * x**2 * y**2
    )


def gaussian_expectation(f, s):
    dens = lambda w: np.exp(-(w**2) / (2 * s**2)) / np.sqrt(2 * np.pi * s**2)  # noqa: E731
    return quad(lambda w: f(w) * dens(w), -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)[0]


@pytest.mark.parametrize(("x", "y", "s"), [(0.7, -1.3, 1.0), (2.0, 0.5, 0.8), (-1.5, -1.5, 1.3)])
def test_closed_forms_against_adaptive_quadrature(x, y, s):
    # The formulas used as truth below are checked here by an independent integration.
    dE = lambda u: 2 / np.sqrt(np.pi) * np.exp(-(u**2))  # noqa: E731
    ref_c = gaussian_expectation(lambda w: erf(w * x) * erf(w * y), s)
    ref_w = gaussian_expectation(lambda w: dE(w * x) * dE(w * y), s) * x * y
    assert arcsine_kernel(x, y, s) == pytest.approx(ref_c, abs=1e-11)
    assert derivative_kernel(x, y, s) == pytest.approx(ref_w, abs=1e-11)


def _no_memory_parts(s, xs, n_w=128):
    prior = Prior(sigma_w=s, b_max=0.0, sigma_c=1.3)
    rule = parameter_grid(prior, 1, n_w=n_w, kind="legendre")
    # windows (x_k, x_{k-1}); the past state only enters the b-part, which is excluded here
    hist = np.stack([xs, np.roll(xs, 1)], axis=1)[:, :, None]
    feat = features(hist, rule, "erf")
    c2 = prior.c_second_moment
    sigma = covariance_kernel(feat, feat, rule, c2)
    zero = np.zeros_like(feat.psi_b)
    w_only = Features(np.zeros_like(feat.phi), feat.psi_w, zero, feat.chi_w, zero)
    A_w = tangent_kernel(w_only, w_only, rule, c2) / c2
    A = tangent_kernel(feat, feat, rule, c2)
    return sigma, A_w, A, feat, rule, c2


def test_erf_no_memory_matches_arcsine_kernels():
    s = 1.0
    xs = np.array([-2.0, -1.1, -0.3, 0.0, 0.45, 1.0, 1.7])
    sigma, A_w, A, feat, rule, c2 = _no_memory_parts(s, xs)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    # 128 Gauss-Legendre nodes on +-8 sd: the integrands are entire, the truncation loses
    # ~1e-15, so agreement is limited by rounding (a few 1e-15) -> 1e-10 leaves a wide margin.
    np.testing.assert_allclose(sigma / c2, arcsine_kernel(X, Y, s), atol=1e-10, rtol=0)
    np.testing.assert_allclose(A_w, derivative_kernel(X, Y, s), atol=1e-10, rtol=0)
    # b-part: c2 E[erf'(wx) erf'(wy) S S'] with S = erf(w x_prev): total = c + w + b parts
    A_b = A - sigma / c2 - c2 * A_w
    S = np.roll(xs, 1)
    ref_b = np.array([[gaussian_expectation(
        lambda w, a=a, b=b, sa=sa, sb=sb: 4 / np.pi * np.exp(-(w * a) ** 2 - (w * b) ** 2)
        * erf(w * sa) * erf(w * sb), s) for b, sb in zip(xs, S, strict=True)]
        for a, sa in zip(xs, S, strict=True)])
    # the b-part integrand erf'(2w)^2 erf(1.7w)^2 is sharper (width ~0.25 on a 16-wide range):
    # 128 nodes resolve it to ~1e-9 (a 400-node rule agrees with quad to 1e-15)
    np.testing.assert_allclose(A_b, c2 * ref_b, atol=1e-8, rtol=0)


def test_erf_no_memory_converges_with_nodes():
    # spectral convergence in the number of nodes: each step of 16 nodes gains more than a
    # factor 20 (observed: 44, 1e2, 1e5) until rounding
    xs = np.array([-1.8, 0.6, 1.4])
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    errs = []
    for n in (32, 48, 64, 96):
        sigma, _, _, _, _, c2 = _no_memory_parts(1.0, xs, n_w=n)
        errs.append(np.max(np.abs(sigma / c2 - arcsine_kernel(X, Y, 1.0))))
    assert all(b < a / 20 for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[-1] < 1e-10


# ---------------------------------------------------------------------------------------------
# Structure: symmetry, PSD, truncated formula.


@st.composite
def problems(draw):
    d = draw(st.sampled_from([1, 2]))
    M = draw(st.integers(2, 9))
    L = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    b_max = draw(st.sampled_from([0.0, 0.3, 0.85]))
    act = draw(st.sampled_from(["tanh", "sigmoid", "erf"]))
    rng = np.random.default_rng(seed)
    hist = rng.normal(size=(M, L, d)) * draw(st.sampled_from([0.1, 1.0, 3.0]))
    prior = Prior(sigma_w=draw(st.sampled_from([0.5, 1.0, 2.0])), b_max=b_max,
                  sigma_c=draw(st.sampled_from([0.5, 1.0])))
    rule = parameter_grid(prior, d, n_w=6, n_b=3, kind="legendre")
    return hist, rule, prior, act


@settings(max_examples=25, deadline=None)
@given(problems())
def test_rtrl_kernel_symmetric_psd_and_sigma_psd(data):
    hist, rule, prior, act = data
    feat = features(hist, rule, act)
    c2 = prior.c_second_moment
    A = tangent_kernel(feat, feat, rule, c2, mode="rtrl")
    assert np.array_equal(A, A.T)
    scale = max(np.abs(A).max(), 1e-300)
    assert np.linalg.eigvalsh(A).min() >= -50 * A.shape[0] * np.finfo(float).eps * scale
    S = covariance_kernel(feat, feat, rule, c2)
    assert np.array_equal(S, S.T)
    assert np.linalg.eigvalsh(S).min() >= -50 * S.shape[0] * np.finfo(float).eps * max(
        np.abs(S).max(), 1e-300)
    # the kernel computed through two different Features objects (no symmetric shortcut)
    feat2 = features(hist, rule, act)
    np.testing.assert_allclose(tangent_kernel(feat, feat2, rule, c2), A, rtol=1e-13,
                               atol=1e-14 * scale)


def _explicit(feat, feat2, q, c2, second):
    """A by explicit sums over nodes, written independently of the factor layout."""
    gw = feat2.psi_w if second == "psi" else feat2.chi_w
    gb = feat2.psi_b if second == "psi" else feat2.chi_b
    return (np.einsum("ig,jg,g->ij", feat.phi, feat2.phi, q)
            + c2 * np.einsum("igd,jgd,g->ij", feat.psi_w, gw, q)
            + c2 * np.einsum("ig,jg,g->ij", feat.psi_b, gb, q))


@settings(max_examples=25, deadline=None)
@given(problems())
def test_truncated_kernel_is_the_explicit_formula_with_chi_in_second_slot(data):
    hist, rule, prior, act = data
    M = hist.shape[0]
    ev = features(hist[: M // 2 + 1], rule, act)
    tr = features(hist, rule, act)
    c2 = prior.c_second_moment
    A = tangent_kernel(ev, tr, rule, c2, mode="truncated")
    ref = _explicit(ev, tr, rule.weights, c2, "chi")
    scale = max(np.abs(ref).max(), 1e-300)
    np.testing.assert_allclose(A, ref, rtol=0, atol=1e-13 * scale)
    A_r = tangent_kernel(ev, tr, rule, c2, mode="rtrl")
    np.testing.assert_allclose(A_r, _explicit(ev, tr, rule.weights, c2, "psi"), rtol=0,
                               atol=1e-13 * scale)


def test_truncated_kernel_is_not_symmetric_with_memory():
    rng = np.random.default_rng(3)
    hist = rng.normal(size=(6, 4, 1))
    prior = Prior(b_max=0.8)
    rule = parameter_grid(prior, 1, n_w=12, n_b=4)
    feat = features(hist, rule, "tanh")
    A = tangent_kernel(feat, feat, rule, 1.0, mode="truncated")
    assert np.max(np.abs(A - A.T)) > 1e-3 * np.max(np.abs(A))
    # chi in both slots is a different (wrong) object
    wrong = Features(feat.phi, feat.chi_w, feat.chi_b, feat.chi_w, feat.chi_b)
    assert np.max(np.abs(tangent_kernel(wrong, feat, rule, 1.0, mode="truncated") - A)) > 1e-3


def test_factors_reproduce_the_weighted_kernel():
    rng = np.random.default_rng(5)
    hist = rng.normal(size=(7, 3, 2))
    prior = Prior(b_max=0.5, sigma_c=0.7)
    rule = parameter_grid(prior, 2, n_w=4, n_b=3)
    feat = features(hist, rule, "tanh")
    om = rng.dirichlet(np.ones(7))
    for mode in ("rtrl", "truncated"):
        U, V = kernel_factors(feat, feat, rule, 0.49, mode=mode, weights=om)
        assert U.shape == V.shape == (7, 4 * rule.G)
        A = _explicit(feat, feat, rule.weights, 0.49, "psi" if mode == "rtrl" else "chi")
        np.testing.assert_allclose(U @ V.T, A * om[None, :], rtol=0, atol=1e-14)


def test_bad_inputs():
    rng = np.random.default_rng(0)
    hist = rng.normal(size=(3, 3, 1))
    rule = parameter_grid(Prior(), 1, n_w=4, n_b=2)
    feat = features(hist, rule, "tanh")
    other = parameter_grid(Prior(), 1, n_w=5, n_b=2)
    with pytest.raises(DimensionError, match="nodes of `rule`"):
        tangent_kernel(feat, feat, other, 1.0)
    with pytest.raises(ValueError, match="`c2`"):
        covariance_kernel(feat, feat, rule, -1.0)
    with pytest.raises(ValueError, match="`gradient` must be one of"):
        tangent_kernel(feat, feat, rule, 1.0, mode="bptt")
    with pytest.raises(DimensionError, match="`weights` must have shape"):
        kernel_factors(feat, feat, rule, 1.0, weights=np.ones(2))
    with pytest.raises(ValueError, match="`slot`"):
        kernel_factor(feat, rule, 1.0, slot="left")


# ---------------------------------------------------------------------------------------------
# The mean empirical tangent kernel of finite networks approaches A like N^{-1/2}.


def _empirical_kernel(hist, prior, act, N, rng):
    par = prior.sample(N, hist.shape[2], rng)
    mem = memory_on_histories(hist, par.w, par.b, act)
    st1 = memory_step(mem, hist[:, 0], par.w, par.b, act, "rtrl")
    c2 = par.c**2
    return (st1.s @ st1.s.T + np.einsum("igd,jgd,g->ij", st1.jw, st1.jw, c2)
            + (st1.jb * c2) @ st1.jb.T) / N


def test_empirical_tangent_kernel_converges_at_rate_one_half():
    act = activation("tanh")
    prior = Prior(b_max=0.5, c_law="gaussian")
    rng = np.random.default_rng(11)
    hist = rng.choice([-1.0, 1.0], size=(6, 8, 1))
    rule = parameter_grid(prior, 1, n_w=64, n_b=16)
    feat = features(hist, rule, act)
    A = tangent_kernel(feat, feat, rule, prior.c_second_moment)
    Ns = np.array([64, 256, 1024, 4096])
    n_seeds = 12
    err = []
    for N in Ns:
        gens = np.random.default_rng(np.random.SeedSequence([7, int(N)])).spawn(n_seeds)
        e = [np.linalg.norm(_empirical_kernel(hist, prior, act, int(N), g) - A) for g in gens]
        err.append(np.sqrt(np.mean(np.square(e))))
    slope = np.polyfit(np.log(Ns), np.log(err), 1)[0]
    # the RMS error of a mean of N i.i.d. unit kernels is exactly C N^{-1/2} in expectation;
    # with 12 seeds per N the fitted slope has a standard deviation of about 0.05
    assert -0.7 <= slope <= -0.3, (slope, err)
    # and the limit is A, not another matrix: the error at N = 4096 is ~ 1/64 of that at N = 1
    assert err[-1] < 0.05 * np.linalg.norm(A)
