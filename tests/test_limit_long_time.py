"""The long-time limit t = inf, the null space of the kernel, the propagator and the Duhamel
integral of the flows (THEORY.md §4.4, §8), each against an independent truth."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from limitsolver.chains import FiniteChain
from limitsolver.errors import DiscretisationError, DivergenceError
from limitsolver.limit import (
    ExponentialFlow,
    IVPFlow,
    SymmetricFlow,
    solve_limit,
)
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior
from limitsolver.problem import Problem
from limitsolver.targets import StateFunction


def _system(seed, M=9, r=4):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(M, r)) / np.sqrt(r)
    om = rng.dirichlet(np.ones(M))
    g = rng.normal(size=M)
    h0 = 0.3 * rng.normal(size=M)
    return F, om, g, h0


def _projection_truth(F, om, g, h0, f_new):
    """h_inf by dense least squares: W^1/2 r_inf is W^1/2 r_0 minus its orthogonal projection
    onto range(W^1/2 F) (numpy lstsq, independent of the flows' eigendecompositions)."""
    sw = np.sqrt(om)
    y = sw * (g - h0)
    coef, *_ = np.linalg.lstsq(sw[:, None] * F, y, rcond=None)
    # h_inf - h_0 = F coef on the training histories (W^-1/2 (P y)) and at new histories
    return h0 + F @ coef, f_new @ coef, 0.5 * np.sum((y - sw * (F @ coef)) ** 2)


@pytest.mark.parametrize("route", ["kernel", "factor", "ivp"])
def test_infinity_is_the_projection_off_the_kernel_range(route):
    F, om, g, h0 = _system(0, M=9, r=4)  # rank 4 < M = 9: a 5-dimensional null space
    f_new = np.random.default_rng(5).normal(size=(3, 4)) / 2
    h_true, h_new_true, loss_true = _projection_truth(F, om, g, h0, f_new)
    A = F @ F.T
    flow = {"kernel": SymmetricFlow.from_kernel(A, om, 0.7),
            "factor": SymmetricFlow.from_factor(F, om, 0.7),
            "ivp": IVPFlow(A, om, 0.7)}[route]
    h, loss = flow.solve(h0, g, [0.0, np.inf])
    np.testing.assert_allclose(h[0], h0, rtol=0, atol=0)
    np.testing.assert_allclose(h[1], h_true, rtol=0, atol=1e-12)
    assert loss[1] == pytest.approx(loss_true, rel=1e-10)
    # the loss agrees with the residual of h at infinity
    assert loss[1] == pytest.approx(0.5 * np.sum(om * (g - h[1]) ** 2), rel=1e-10)
    # Nystrom extension at new histories
    rows = (f_new if route == "factor" else (f_new @ F.T) * np.sqrt(om)[None, :])
    out = h_new_true * 0 + flow.extend(rows, flow.coefficients(g - h0, [np.inf]))[0]
    np.testing.assert_allclose(out, h_new_true, rtol=0, atol=1e-12)


def test_large_finite_time_converges_to_infinity():
    F, om, g, h0 = _system(1, M=8, r=3)
    flow = SymmetricFlow.from_factor(F, om, 1.0)
    lam_min = flow.eigenvalues[flow.eigenvalues > 0].min()
    ts = np.array([5.0, 20.0, 60.0]) / lam_min
    h, loss = flow.solve(h0, g, np.append(ts, np.inf))
    gaps = np.sqrt(((h[:-1] - h[-1]) ** 2) @ om)
    # ||W^1/2 (h_t - h_inf)|| = ||exp(-Lambda t) c_+|| <= exp(-lam_min t) ||W^1/2 r_0||,
    # plus rounding (the two times use different formulas)
    bound = np.exp(-np.array([5.0, 20.0, 60.0])) * np.sqrt(np.sum(om * (g - h0) ** 2))
    assert np.all(gaps <= bound + 1e-14)
    assert gaps[0] > 0.1 * bound[0]  # and the slow mode is really there at the first time
    np.testing.assert_allclose(loss[-2], loss[-1], rtol=1e-12)


def test_exponential_flow_at_infinity_matches_a_long_dense_expm():
    # non-symmetric kernel A = F R^T (truncated-like) with eigenvalues of A W of positive real part
    rng = np.random.default_rng(3)
    M, r = 7, 4
    F = rng.normal(size=(M, r)) / 2
    R = F + 0.2 * rng.normal(size=(M, r))
    om = rng.dirichlet(np.ones(M))
    g, h0 = rng.normal(size=M), np.zeros(M)
    A = F @ R.T
    mu = np.linalg.eigvals(A * om[None, :])
    nonzero = mu[np.abs(mu) > 1e-10]
    assert nonzero.size == r and np.all(nonzero.real > 0)
    T = 80.0 / nonzero.real.min()
    r_T = scipy.linalg.expm(-T * A * om[None, :]) @ (g - h0)  # residual at a long time
    for flow in (ExponentialFlow.from_kernel(A, om, 1.0),
                 ExponentialFlow.from_factors(F, R * om[:, None], om, 1.0)):
        h, loss = flow.solve(h0, g, [1.0, np.inf])
        np.testing.assert_allclose(g - h[1], r_T, rtol=0, atol=1e-10)
        assert loss[1] == pytest.approx(0.5 * np.sum(om * r_T**2), rel=1e-8)


def test_exponential_flow_refuses_a_growing_mode_at_infinity():
    A = np.array([[1.0, 0.0], [0.0, -0.5]])  # A W has a negative eigenvalue: r grows
    flow = ExponentialFlow.from_kernel(A, np.array([0.5, 0.5]), 1.0)
    with pytest.raises(DivergenceError, match="growing mode"):
        flow.coefficients(np.ones(2), [0.0, np.inf])


def _problem(alpha=1.0):
    chain = FiniteChain(np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]]),
                        states=np.array([[-1.0], [0.2], [1.1]]))
    net = NetworkSpec(prior=Prior(b_max=0.1, doubled=True), memory_tol=1e-2, alpha=alpha)
    return Problem(chain, StateFunction(lambda x: np.sin(2 * x[..., 0])), net, horizon=3.0)


@pytest.mark.parametrize("method", ["spectral", "dense"])
def test_h_agrees_with_loss_at_huge_alpha_t(method):
    # M = 27 exact histories; the 12 x 4 grid gives a kernel of numerical rank < M, so the
    # null space is large: h must stay put along it while the loss keeps its share
    pb = _problem()
    t = np.array([0.0, 1.0, 1e6, 1e12, 1e24, np.inf])
    s = solve_limit(pb, grid={"n_w": 12, "n_b": 4}, times=t, method=method,
                    error_estimate=False)
    assert s.flow.diagnostics["n_clipped"] > 0
    res_loss = 0.5 * ((s.g[None, :] - s.h) ** 2) @ s.weights
    np.testing.assert_allclose(s.loss, res_loss, rtol=1e-8, atol=1e-14)
    assert np.max(np.abs(s.h)) < 2 * np.max(np.abs(s.g)) + 1
    np.testing.assert_allclose(s.h[-2], s.h[-1], rtol=0, atol=1e-9)
    # evaluate at t = inf reproduces the training values
    np.testing.assert_allclose(s.evaluate(s.histories, times=[np.inf])[0], s.h[-1], atol=1e-9)


def test_quadrature_estimate_finite_at_huge_alpha():
    s = solve_limit(_problem(alpha=1e300), grid={"n_w": 8, "n_b": 2}, times=[0.0, 1.0, 3.0])
    qe = s.discretisation["quadrature_error"]
    assert np.isfinite(qe) and qe < 1.0
    np.testing.assert_allclose(s.loss, 0.5 * ((s.g[None, :] - s.h) ** 2) @ s.weights,
                               rtol=1e-8, atol=1e-14)


def _small_flow(seed=2, M=6, r=3):
    F, om, g, h0 = _system(seed, M=M, r=r)
    return SymmetricFlow.from_factor(F, om, 1.4), F @ F.T, om


def test_propagator_against_scipy_expm():
    rng = np.random.default_rng(4)
    for flow, A, om in (_small_flow(), (lambda f: (SymmetricFlow.from_kernel(f[1], f[2], 1.4),
                                                   f[1], f[2]))(_small_flow())):
        x = rng.normal(size=(6, 2))
        t = np.array([0.0, 0.3, 2.0, 50.0])
        out = flow.propagator(x, t)
        assert out.shape == (4, 6, 2)
        for k, tk in enumerate(t):
            ref = scipy.linalg.expm(-1.4 * tk * A * om[None, :]) @ x
            np.testing.assert_allclose(out[k], ref, rtol=0, atol=1e-12)
        # t = inf: the W-orthogonal projection off range(A W), a fixed point of the propagator
        inf = flow.propagator(x[:, 0], [np.inf])[0]
        np.testing.assert_allclose(flow.propagator(inf, [7.0])[0], inf, atol=1e-12)
        np.testing.assert_allclose(A @ (om * inf), 0.0, atol=1e-12)


def test_duhamel_against_gauss_quadrature_of_scipy_expm():
    flow, A, om = _small_flow(seed=6)
    rng = np.random.default_rng(7)
    u = rng.normal(size=(6, 3))
    rates = np.array([0.0, 0.8, 1.4 * flow.eigenvalues[0]])  # the last resonates with a mode
    AW = A * om[None, :]
    x, wq = np.polynomial.legendre.leggauss(40)  # the integrand is entire: spectral accuracy
    for t in (0.5, 3.0):
        s_nodes = 0.5 * t * (x + 1.0)
        ref = sum(0.5 * t * wk * scipy.linalg.expm(-1.4 * (t - sk) * AW) @ (u @ np.exp(-rates * sk))
                  for sk, wk in zip(s_nodes, wq, strict=True))
        np.testing.assert_allclose(flow.duhamel(u, rates, [t])[0], ref, rtol=0, atol=1e-11)
    # t = inf: finite when no constant forcing meets a null direction
    lim = flow.duhamel(u[:, 1:], rates[1:], [np.inf])[0]
    far = flow.duhamel(u[:, 1:], rates[1:], [200.0])[0]
    np.testing.assert_allclose(lim, far, atol=1e-10)


def test_propagator_needs_positive_weights():
    F, om, _, _ = _system(0, M=5, r=2)
    om = np.append(om[:-1], 0.0)
    om = om / om.sum()
    flow = SymmetricFlow.from_factor(F, om, 1.0)
    with pytest.raises(DiscretisationError, match="positive `weights`"):
        flow.propagator(np.ones(5), [1.0])


def test_all_routes_share_the_long_time_limit_in_rtrl_mode():
    pb = _problem()
    t = [0.0, 1.0, np.inf]
    sols = {m: solve_limit(pb, grid={"n_w": 12, "n_b": 4}, times=t, method=m,
                           error_estimate=False) for m in ("spectral", "lowrank", "ivp")}
    ref = sols["spectral"]
    # lowrank: a symmetric r x r eigendecomposition; ivp: a non-symmetric one of A W, whose
    # smallest non-zero eigenvalues (~1e-10) are resolved to about 1e-6 relative
    np.testing.assert_allclose(sols["lowrank"].h[-1], ref.h[-1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(sols["ivp"].h[-1], ref.h[-1], rtol=0, atol=1e-5)
    assert sols["lowrank"].loss[-1] == pytest.approx(ref.loss[-1], rel=1e-4, abs=1e-13)
