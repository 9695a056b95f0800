"""Tests of the limit ODE routes dh/dt = alpha A W (g - h) (THEORY.md §4.4)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.errors import DimensionError, DiscretisationError, DivergenceError
from limitsolver.limit.ode import (
    ExponentialFlow,
    IVPFlow,
    SymmetricFlow,
    check_times,
    lowrank_exponential,
    phi1,
)

TIMES = np.linspace(0.0, 4.0, 21)


def _system(seed, M=10, r=6, symmetric=True):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(M, r)) / np.sqrt(r)
    R = F if symmetric else F + 0.4 * rng.normal(size=(M, r)) / np.sqrt(r)
    om = rng.dirichlet(np.ones(M))
    g = rng.normal(size=M)
    h0 = 0.3 * rng.normal(size=M)
    return F, R, om, g, h0


def _h(flow, g, h0, times=TIMES):
    return h0[None, :] + flow.increments(flow.coefficients(g - h0, times))


def _reference(A, om, alpha, g, h0, times=TIMES):
    """r_t = expm(-alpha t A W) r_0 by scipy's dense expm at every 5th time (NaN elsewhere)."""
    out = np.full((times.size, A.shape[0]), np.nan)
    for k in range(0, times.size, 5):
        out[k] = g - scipy.linalg.expm(-alpha * times[k] * A * om[None, :]) @ (g - h0)
    return out


def _close(actual, ref, atol):
    """Compare at the times where the reference was computed."""
    rows = ~np.isnan(ref[:, 0])
    np.testing.assert_allclose(actual[rows], ref[rows], rtol=0, atol=atol)


def test_scalar_closed_form():
    # M = 1: h_t = g - (g - h_0) exp(-alpha a omega t) with omega = 1
    A = np.array([[0.7]])
    om = np.array([1.0])
    g, h0 = np.array([1.5]), np.array([-0.2])
    exact = 1.5 - 1.7 * np.exp(-2.0 * 0.7 * TIMES)
    for flow in (SymmetricFlow.from_kernel(A, om, 2.0), ExponentialFlow.from_kernel(A, om, 2.0),
                 SymmetricFlow.from_factor(np.sqrt(A), om, 2.0)):
        np.testing.assert_allclose(_h(flow, g, h0)[:, 0], exact, rtol=0, atol=4e-15)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([3, 10, 14]), st.sampled_from([0.5, 2.0]))
def test_symmetric_routes_agree_with_expm(seed, r, alpha):
    F, _, om, g, h0 = _system(seed, M=10, r=r)
    A = F @ F.T
    ref = _reference(A, om, alpha, g, h0)
    dense = SymmetricFlow.from_kernel(A, om, alpha)
    thin = SymmetricFlow.from_factor(F, om, alpha)
    low = ExponentialFlow.from_factors(F, F * om[:, None], om, alpha)
    for flow in (dense, thin, low):
        # eigen/expm roundoff on an O(1) problem
        _close(_h(flow, g, h0), ref, 1e-11)
    loss = dense.loss(g - h0, TIMES)
    _close(loss[:, None], (0.5 * ((g - ref) ** 2) @ om)[:, None], 1e-13)
    np.testing.assert_allclose(thin.loss(g - h0, TIMES), loss, rtol=1e-10, atol=1e-15)
    assert np.all(np.diff(loss) <= 0)
    assert np.all(np.diff(thin.loss(g - h0, np.linspace(0, 50, 400))) <= 0)
    # spectra: the same non-zero eigenvalues
    np.testing.assert_allclose(thin.spectrum, dense.spectrum, rtol=0, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([4, 12]))
def test_nonsymmetric_routes_agree_with_expm(seed, r):
    F, R, om, g, h0 = _system(seed, M=10, r=r, symmetric=False)
    A = F @ R.T
    ref = _reference(A, om, 1.3, g, h0)
    dense = ExponentialFlow.from_kernel(A, om, 1.3)
    low = ExponentialFlow.from_factors(F, R * om[:, None], om, 1.3)
    for flow in (dense, low):
        _close(_h(flow, g, h0), ref, 1e-11)
    # the spectrum of A W (the low-rank one padded with zeros)
    np.testing.assert_allclose(np.sort_complex(low.spectrum), np.sort_complex(
        np.linalg.eigvals(A * om[None, :])), atol=1e-10)


@pytest.mark.parametrize("symmetric", [True, False])
def test_ivp_agrees_with_exact_to_integrator_tolerance(symmetric):
    F, R, om, g, h0 = _system(4, M=12, r=5, symmetric=symmetric)
    A = F @ R.T
    exact = (SymmetricFlow.from_kernel(A, om, 1.0) if symmetric
             else ExponentialFlow.from_kernel(A, om, 1.0))
    ivp = IVPFlow(A, om, 1.0)
    # rtol 1e-10, atol 1e-12 on O(1) values: ~100x the tolerance for accumulated error
    np.testing.assert_allclose(_h(ivp, g, h0), _h(exact, g, h0), rtol=0, atol=1e-8)
    # the time integral itself (used by the Nystrom extension) agrees as well
    c_exact = exact.coefficients(g - h0, TIMES)
    if symmetric:
        c_exact = c_exact @ exact.basis.T  # eigenbasis -> alpha W^1/2 int r ds
    np.testing.assert_allclose(ivp.coefficients(g - h0, TIMES), c_exact, rtol=0, atol=1e-8)


def test_nystrom_extension_matches_an_enlarged_system():
    # a history with zero weight does not act on the others: its output is the Nystrom value
    F, _, om, g, h0 = _system(9, M=9, r=4)
    rng = np.random.default_rng(1)
    f_new = rng.normal(size=(1, 4)) / 2
    Fa = np.vstack([F, f_new])
    oma = np.append(om, 0.0)
    ga, h0a = np.append(g, 0.3), np.append(h0, -0.1)
    ref = _reference(Fa @ Fa.T, oma, 1.0, ga, h0a)[::5, -1]
    for flow in (SymmetricFlow.from_kernel(F @ F.T, om, 1.0),
                 ExponentialFlow.from_kernel(F @ F.T, om, 1.0), IVPFlow(F @ F.T, om, 1.0)):
        rows = (f_new @ F.T) * np.sqrt(om)[None, :]
        out = -0.1 + flow.extend(rows, flow.coefficients(g - h0, TIMES))[::5, 0]
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-8)
    for flow in (SymmetricFlow.from_factor(F, om, 1.0),
                 ExponentialFlow.from_factors(F, F * om[:, None], om, 1.0)):
        out = -0.1 + flow.extend(f_new, flow.coefficients(g - h0, TIMES))[::5, 0]
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-11)


def test_full_rank_kernel_interpolates_the_target():
    F, _, om, g, h0 = _system(2, M=8, r=8)
    flow = SymmetricFlow.from_kernel(F @ F.T, om, 1.0)
    lam_min = flow.eigenvalues.min()
    t_inf = 40.0 / lam_min  # exp(-40) ~ 4e-18
    h = _h(flow, g, h0, np.array([t_inf]))[0]
    np.testing.assert_allclose(h, g, rtol=0, atol=1e-8)


def test_rank_deficient_kernel_converges_to_the_projection():
    # h_inf = h0 + projection (in L2(omega)) of g - h0 on the range of A
    F, _, om, g, h0 = _system(6, M=8, r=3)
    flow = SymmetricFlow.from_factor(F, om, 1.0)
    h = _h(flow, g, h0, np.array([40.0 / flow.eigenvalues[2]]))[0]
    sw = np.sqrt(om)
    coef = np.linalg.lstsq(sw[:, None] * F, sw * (g - h0), rcond=None)[0]
    np.testing.assert_allclose(h, h0 + F @ coef, rtol=0, atol=1e-8)


def test_lowrank_exponential_formula():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(7, 3))
    V = rng.normal(size=(7, 3))
    for t in (0.0, 0.4, 2.0):
        # entries reach ~20 (non-normal exponent): Pade/scaling-squaring relative accuracy
        np.testing.assert_allclose(lowrank_exponential(U, V, t, 0.8),
                                   scipy.linalg.expm(-0.8 * t * U @ V.T), rtol=1e-11, atol=1e-12)
    # singular Z = V^T U (a repeated column) is fine
    U[:, 2] = U[:, 1]
    np.testing.assert_allclose(lowrank_exponential(U, U, 1.0), scipy.linalg.expm(-U @ U.T),
                               rtol=0, atol=1e-12)


def test_phi1():
    x = np.array([0.0, 1e-300, 1e-12, 1e-3, 1.0, 30.0, 800.0])
    ref = np.array([1.0, 1.0, 1 - 5e-13, (1 - np.exp(-1e-3)) / 1e-3, 1 - np.exp(-1.0),
                    (1 - np.exp(-30.0)) / 30.0, 1 / 800.0])
    np.testing.assert_allclose(phi1(x), ref, rtol=1e-12)


def test_errors():
    A = np.eye(3)
    om = np.full(3, 1 / 3)
    with pytest.raises(ValueError, match="sorted in increasing order"):
        check_times([0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        check_times([-1.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        check_times([0.0, np.nan])
    with pytest.raises(DiscretisationError, match="positive semi-definite.*eigenvalue"):
        SymmetricFlow.from_kernel(np.diag([1.0, -0.5, 0.2]), om, 1.0)
    with pytest.raises(DimensionError, match="symmetric"):
        SymmetricFlow.from_kernel(np.array([[1.0, 0.5], [0.0, 1.0]]), om[:2] * 1.5, 1.0)
    with pytest.raises(DimensionError, match="`weights` must have shape"):
        ExponentialFlow.from_kernel(A, np.ones(2), 1.0)
    with pytest.raises(DivergenceError, match="NaN"):
        SymmetricFlow.from_kernel(np.full((3, 3), np.nan), om, 1.0)
    with pytest.raises(ValueError, match="`alpha`"):
        IVPFlow(A, om, 0.0)
    flow = SymmetricFlow.from_kernel(A, om, 1.0)
    with pytest.raises(DivergenceError, match="g - h0"):
        flow.coefficients(np.array([0.0, np.inf, 1.0]), TIMES)
    # tiny negative eigenvalues from rounding are clipped and reported
    B = np.diag([1.0, -1e-17, 0.5])
    f = SymmetricFlow.from_kernel(B, om, 1.0)
    assert f.diagnostics["n_clipped"] == 1 and f.eigenvalues.min() == 0.0
