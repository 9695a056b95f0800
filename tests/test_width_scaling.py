"""The width scalings of THEORY.md §2-§3 away from beta = 1/2, and the initial output's law.

At beta = 1/2 the learning rate alpha N^(2 beta - 2) and the output scale N^(-beta) reduce to
alpha / N and N^(-1/2), so tests run only there cannot tell the general formulas from their
beta = 1/2 forms. Every test here works at beta = 3/4 (or with E[c^2] != 1) against a truth
written from the specification, independently of the package:

* a plain-Python step loop (the update of §2 with alpha N^(2 beta - 2) and N^(-beta) written
  out here) fed with the simulation's own initial parameters and data path;
* central finite differences of the loss 1/2 e_0^2 for the first SGD step;
* a plain-Python evaluation of h^N_t(xi) = N^(-beta) sum_i c^i sigma(w^i x + b^i S);
* Var h^N_0(xi) = N^(1 - 2 beta) E[c^2] E_{w,b}[phi^2] and Var h_0(xi) = E[c^2] E_{w,b}[phi^2]
  for the limit's Gaussian-process draw, with E_{w,b}[phi^2] by adaptive two-dimensional
  quadrature, within 4 standard errors of the sample second moment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from limitsolver import (
    GaussianAR1,
    NetworkSpec,
    Prior,
    Problem,
    StateFunction,
    simulate,
    solve_limit,
)
from limitsolver.simulation import network_output

BETA = 0.75
# memory_tol 1e-3 with b_max = 0.5 (gamma = 0.5): a window of 11 states
NET = NetworkSpec(beta=BETA, alpha=2.0, memory_tol=1e-3)


def ar1_problem(network=NET, horizon=1.0):
    return Problem(GaussianAR1(0.6), StateFunction("sin(2*x) + x/3"), network, horizon=horizon)


def sigma(u):
    return math.tanh(u)


def dsigma(u):
    return 1.0 - math.tanh(u) ** 2


def memory(xs_oldest_first, w, b):
    """S after s <- tanh(w x + b s) over the inputs, from s = 0 (d = 1)."""
    s = 0.0
    for x in xs_oldest_first:
        s = sigma(w * x + b * s)
    return s


def hand_written_run(c, w, b, path, targets, warmup, n_units, alpha, beta):
    """THEORY.md §2 with rtrl sensitivities, d = 1, as scalar loops (no package code).

    Returns the online predictions and the final (c, w, b).
    """
    lr = alpha * n_units ** (2.0 * beta - 2.0)
    scale = n_units ** (-beta)
    c, w, b = list(c), list(w), list(b)
    s = [0.0] * n_units
    jw = [0.0] * n_units
    jb = [0.0] * n_units
    preds = []
    for k, x in enumerate(path):
        for i in range(n_units):
            u = w[i] * x + b[i] * s[i]
            du = dsigma(u)
            jw[i] = du * (x + b[i] * jw[i])
            jb[i] = du * (s[i] + b[i] * jb[i])
            s[i] = sigma(u)
        if k < warmup:
            continue
        f = scale * sum(c[i] * s[i] for i in range(n_units))
        e = targets[k - warmup] - f
        preds.append(f)
        for i in range(n_units):
            g = lr * e * scale
            c_old = c[i]
            c[i] += g * s[i]
            w[i] += g * c_old * jw[i]
            b[i] += g * c_old * jb[i]
    return np.array(preds), np.array(c), np.array(w), np.array(b)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_simulator_at_beta_three_quarters_follows_the_hand_written_update(backend):
    N = 6
    problem = ar1_problem(horizon=3.0)
    res = simulate(problem, N, 4, backend=backend)
    assert res.n_steps == 18 and res.status == "finished"
    p0 = res.parameters(0)
    path = res.paths[0, :, 0]
    preds, c, w, b = hand_written_run(p0.c[0], p0.w[0, :, 0], p0.b[0], path,
                                      res.targets[0], res.warmup, N, NET.alpha, BETA)
    # the two loops sum over units in different orders: rounding only (~1e-15 per step)
    np.testing.assert_allclose(res.predictions[0], preds, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(res.final.c[0], c, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(res.final.w[0, :, 0], w, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(res.final.b[0], b, rtol=1e-11, atol=1e-13)
    # and the online prediction is the frozen-parameter output on the path since X_0
    assert res.predictions[0, 0] == pytest.approx(
        N ** -BETA * sum(p0.c[0, i] * memory(path[:res.warmup + 1], p0.w[0, i, 0], p0.b[0, i])
                         for i in range(N)), rel=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_first_step_at_beta_three_quarters_is_minus_alpha_N_2beta_2_times_the_gradient(backend):
    # after the frozen warm-up the sensitivities are the exact parameter derivatives of the
    # memory, so the first update is -alpha N^(2 beta - 2) grad_theta (1/2 e_0^2), with
    # e_0 = Y_0 - N^(-beta) sum_i c^i S_i: both exponents enter, neither at its beta = 1/2 value
    N = 5
    problem = ar1_problem(horizon=1.0 / N)
    res = simulate(problem, N, 7, backend=backend)
    assert res.n_steps == 1
    W = res.warmup
    xs = res.paths[0, :W + 1, 0]
    y = float(res.targets[0, 0])
    p0 = res.parameters(0)
    theta = {"c": p0.c[0].copy(), "w": p0.w[0, :, 0].copy(), "b": p0.b[0].copy()}

    def loss(c, w, b):
        f = N ** -BETA * sum(c[i] * memory(xs, w[i], b[i]) for i in range(N))
        return 0.5 * (y - f) ** 2

    lr = NET.alpha * N ** (2 * BETA - 2)
    final = {"c": res.final.c[0], "w": res.final.w[0, :, 0], "b": res.final.b[0]}
    h = 1e-6  # central differences: truncation ~h^2, rounding ~1e-16/h: ~1e-10 absolute
    for name in ("c", "w", "b"):
        for i in range(N):
            up = {k: v.copy() for k, v in theta.items()}
            down = {k: v.copy() for k, v in theta.items()}
            up[name][i] += h
            down[name][i] -= h
            grad = (loss(**up) - loss(**down)) / (2 * h)
            step = final[name][i] - theta[name][i]
            assert step == pytest.approx(-lr * grad, rel=1e-6, abs=1e-11), (name, i)


def test_frozen_parameter_output_at_beta_three_quarters_is_N_to_minus_beta_times_the_sum():
    N = 7
    problem = ar1_problem(horizon=2.0)
    res = simulate(problem, N, 3, backend="numpy", snapshot_times=[0.0, 1.0, 2.0])
    hist = np.random.default_rng(5).standard_normal((4, problem.depth, 1))
    for t in (0.0, 1.0, 2.0):
        p = res.parameters(t)
        truth = [N ** -BETA * sum(p.c[0, i] * memory(hist[m, ::-1, 0], p.w[0, i, 0], p.b[0, i])
                                  for i in range(N)) for m in range(hist.shape[0])]
        np.testing.assert_allclose(res.output(hist, t)[0], truth, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(network_output(p, hist, "tanh", BETA)[0], truth,
                                   rtol=1e-12, atol=1e-14)


# -- the law of the initial output ----------------------------------------------------------

SIGMA_C = 1.7
GAUSS_PRIOR = Prior(sigma_w=1.3, b_max=0.5, c_law="gaussian", sigma_c=SIGMA_C)
XI = np.array([0.7, -1.2, 0.4, 1.5, -0.3, 0.9, 0.1, -0.8, 1.1, 0.2, -0.5])  # current first


def phi_second_moment(xi, prior):
    """E_{w,b}[phi(w, b; xi)^2], w ~ N(0, sigma_w^2), b ~ U(-b_max, b_max), by dblquad."""
    def integrand(b, w):
        s = memory(xi[:0:-1], w, b)
        dens = math.exp(-0.5 * (w / prior.sigma_w) ** 2) / (prior.sigma_w * math.sqrt(2 * math.pi))
        return sigma(w * xi[0] + b * s) ** 2 * dens / (2 * prior.b_max)

    half = 12 * prior.sigma_w
    val, err = integrate.dblquad(integrand, -half, half, -prior.b_max, prior.b_max,
                                 epsabs=1e-11, epsrel=1e-10)
    assert err < 1e-8
    return val


@pytest.fixture(scope="module")
def phi2():
    return phi_second_moment(XI, GAUSS_PRIOR)


def _check_second_moment(samples, truth):
    # E h_0 = 0 exactly (E c = 0), so mean(h_0^2) estimates the variance; its standard error
    # is the sample standard deviation of h_0^2 over sqrt(n)
    est = np.mean(samples**2)
    se = np.std(samples**2, ddof=1) / math.sqrt(samples.size)
    assert abs(est - truth) <= 4 * se, (est, truth, se)
    return est, se


@pytest.mark.parametrize("beta", [0.5, BETA])
def test_initial_output_variance_is_N_1_minus_2beta_Ec2_Sigma(phi2, beta):
    # Var h^N_0(xi) = N^(-2 beta) N E[c^2] E[phi^2] for iid units with E c = 0; E[c^2] = 2.89
    N, S = 8, 1000
    net = NET.replace(prior=GAUSS_PRIOR, beta=beta)
    res = simulate(ar1_problem(net, horizon=1.0 / N), N, list(range(S)), backend="numpy")
    h0 = res.output(XI[None, :, None], 0)[:, 0]
    truth = N ** (1 - 2 * beta) * SIGMA_C**2 * phi2
    est, se = _check_second_moment(h0, truth)
    # the band is tight enough to tell E[c^2] = 2.89 from 1 and N^(-1/2) from N^(-3/4)
    assert 4 * se < 0.25 * truth


def test_limit_gaussian_process_initial_output_has_variance_Ec2_Sigma(phi2):
    # h0="gp" draws h_0 with covariance Sigma = E[c^2] E_{w,b}[phi phi'] (THEORY.md §3)
    net = NetworkSpec(prior=GAUSS_PRIOR, memory_tol=1e-3)
    problem = ar1_problem(net)
    assert problem.depth <= XI.size
    hist = np.stack([XI, XI[::-1]])[:, :, None]   # two histories; the first is XI
    n = 300
    draws = np.array([solve_limit(problem, histories=hist, times=[0.0], h0="gp", seed=k,
                                  error_estimate=False).h0 for k in range(n)])
    _check_second_moment(draws[:, 0], SIGMA_C**2 * phi2)
    # the draws at different seeds are independent: lag-one correlation within 4/sqrt(n)
    x = draws[:, 0]
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 4 / math.sqrt(n)


def test_auto_initial_output_is_zero_above_one_half_or_with_doubling():
    hist = np.random.default_rng(0).standard_normal((5, 11, 1))
    cases = [(NET.replace(beta=0.75), "zero"), (NET.replace(beta=0.6), "zero"),
             (NET.replace(beta=0.5, prior=Prior(doubled=True)), "zero"),
             (NET.replace(beta=0.5), "gp")]
    for net, kind in cases:
        sol = solve_limit(ar1_problem(net), histories=hist, times=[0.0, 0.5], seed=1,
                          error_estimate=False)
        assert sol.h0_kind == kind
        if kind == "zero":
            assert np.all(sol.h0 == 0.0) and np.all(sol.h[0] == 0.0)
        else:
            assert np.all(sol.h0 != 0.0)
