"""Tests of the hidden layer on the parameter grid and of the features (THEORY.md §3, §4.1)."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
from scipy.integrate import dblquad
from scipy.stats import norm

from limitsolver.chains import FiniteChain, GaussianAR1
from limitsolver.errors import ContractionError, DimensionError, DiscretisationError
from limitsolver.histories import Histories, sample_histories
from limitsolver.limit.hidden_layer import features, hidden_layer
from limitsolver.limit.quadrature import parameter_grid
from limitsolver.prior import Prior

# ---------------------------------------------------------------------------------------------
# Independent scalar implementation of the recursion (plain Python, complex-capable).


def scalar_memory(w, b, past_oldest_first):
    """S = Phi_{x_{k-1}} o ... o Phi_{x_{k-L+1}}(0) with tanh, for scalar or complex w, b."""
    s = 0.0
    for x in past_oldest_first:
        s = cmath.tanh(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b * s)
    return s


def complex_step_gradient(w, b, past, h=1e-20):
    """(dS/dw_1, ..., dS/dw_d, dS/db) by the complex-step method (exact to rounding)."""
    grads = []
    for i in range(len(w)):
        wc = [complex(v) for v in w]
        wc[i] += 1j * h
        grads.append(scalar_memory(wc, b, past).imag / h)
    grads.append(scalar_memory([complex(v) for v in w], b + 1j * h, past).imag / h)
    return grads


def test_features_equal_theory_formulas_by_loop():
    rng = np.random.default_rng(4)
    M, L, d = 3, 4, 2
    values = rng.standard_normal((M, L, d))
    rule = parameter_grid(Prior(b_max=0.7, sigma_w=1.2), d, n_w=2, n_b=3, kind="hermite")
    feat = features(Histories.from_array(values), rule, "tanh")
    for m in range(M):
        past = [values[m, j] for j in range(L - 1, 0, -1)]  # oldest first
        x = values[m, 0]
        for g in range(rule.G):
            w, b = rule.w[g].tolist(), float(rule.b[g])
            S = scalar_memory(w, b, past).real
            grad = complex_step_gradient(w, b, past)
            dSw, dSb = np.array(grad[:d]), grad[d]
            u = float(np.dot(w, x)) + b * S
            ds = 1.0 - math.tanh(u) ** 2
            # THEORY §3: phi = sigma(u), psi_w = sigma'(u)(x + b dS/dw), psi_b = sigma'(u)(S +
            # b dS/db), chi_w = sigma'(u) x, chi_b = sigma'(u) S
            rtol, atol = 1e-13, 1e-15  # same arithmetic up to ordering: a few ulps
            np.testing.assert_allclose(feat.phi[m, g], math.tanh(u), rtol=rtol, atol=atol)
            np.testing.assert_allclose(feat.psi_w[m, g], ds * (x + b * dSw), rtol=rtol,
                                       atol=atol)
            np.testing.assert_allclose(feat.psi_b[m, g], ds * (S + b * dSb), rtol=rtol, atol=atol)
            np.testing.assert_allclose(feat.chi_w[m, g], ds * x, rtol=rtol, atol=atol)
            np.testing.assert_allclose(feat.chi_b[m, g], ds * S, rtol=rtol, atol=atol)
    assert (feat.M, feat.G) == (M, rule.G)


def test_exact_sensitivities_match_complex_step():
    rng = np.random.default_rng(5)
    values = rng.standard_normal((2, 5, 1))
    rule = parameter_grid(Prior(b_max=0.8), 1, n_w=3, n_b=3, kind="legendre")
    hl = hidden_layer(values, rule, "tanh")
    for m in range(2):
        past = [values[m, j] for j in range(4, 0, -1)]
        for g in range(rule.G):
            gw, gb = complex_step_gradient(rule.w[g].tolist(), float(rule.b[g]), past)
            assert abs(hl.dS_dw[m, g, 0] - gw) < 1e-13
            assert abs(hl.dS_db[m, g] - gb) < 1e-13
    # the features cached on the hidden layer are those of `features`
    np.testing.assert_array_equal(hl.features.psi_b, features(values, rule, "tanh").psi_b)


def _slope(h, err):
    return np.polyfit(np.log(h), np.log(err), 1)[0]


@pytest.mark.parametrize("acc", [2, 4])
def test_fd_derivative_along_b_converges_at_stencil_order(acc):
    hist = sample_histories(FiniteChain.random(3, 0), 6, 4, rng=1)
    prior = Prior(b_max=0.7)
    hs, errs = [], []
    for n_b in (11, 21, 41, 81):
        rule = parameter_grid(prior, 1, n_w=4, n_b=n_b, kind="uniform", truncation=3.0)
        hl = hidden_layer(hist, rule, "tanh")
        errs.append(np.abs(hl.fd_derivative("b", acc=acc) - hl.dS_db).max())
        hs.append(rule.axes[1][1] - rule.axes[1][0])
    assert abs(_slope(hs, errs) - acc) < 0.5


@pytest.mark.parametrize("acc", [2, 4])
def test_fd_derivative_along_w_converges_at_stencil_order(acc):
    hist = sample_histories(FiniteChain.random(3, 0), 6, 4, rng=1)
    prior = Prior(b_max=0.9)
    hs, errs = [], []
    for n_w in (65, 129, 257, 513):
        rule = parameter_grid(prior, 1, n_w=n_w, n_b=2, kind="uniform", truncation=3.0)
        hl = hidden_layer(hist, rule, "tanh")
        errs.append(np.abs(hl.fd_derivative("w", acc=acc) - hl.dS_dw[..., 0]).max())
        hs.append(rule.axes[0][1] - rule.axes[0][0])
    assert abs(_slope(hs, errs) - acc) < 0.5


def test_fd_derivative_in_two_dimensions_and_second_order():
    rng = np.random.default_rng(2)
    values = 0.5 * rng.standard_normal((3, 4, 2))
    rule = parameter_grid(Prior(b_max=0.5), 2, n_w=41, n_b=21, kind="uniform", truncation=3.0)
    hl = hidden_layer(values, rule, "tanh")
    for i, axis in enumerate(("w1", "w2")):
        # h = 0.15: acc-4 error ~ h^4 * sup|d^5 S| ~ 1e-3 at most
        assert np.abs(hl.fd_derivative(axis, acc=4) - hl.dS_dw[..., i]).max() < 2e-3
    # second derivative in b two ways: d^2 S / db^2 vs d/db of the exact dS/db
    d2 = hl.fd_derivative("b", order=2, acc=4)
    d1_exact = hl._fd(hl.dS_db, 2, 1, 4)
    assert np.abs(d2 - d1_exact).max() < 1e-3
    with pytest.raises(DimensionError, match="`axis` must be one of"):
        hl.fd_derivative("w")


def test_memory_truncation_bound_and_decay_rate():
    hist = sample_histories(GaussianAR1(0.5), 80, 50, rng=2)
    # small sigma_w: sigma'(u) ~ 1, so the worst node contracts at rate max|b_g| ~ gamma
    rule = parameter_grid(Prior(b_max=0.9, sigma_w=0.01), 1, n_w=4, n_b=32)
    gamma = 0.9
    deep = hidden_layer(hist, rule, "tanh").S
    Ls = np.arange(4, 44, 4)
    errs = []
    for L in Ls:
        hl = hidden_layer(hist.values[:, :L], rule, "tanh")
        err = np.abs(hl.S - deep).max()
        # the error w.r.t. depth 80 (itself within gamma^79 of the infinite past)
        assert err <= hl.truncation_bound + gamma**79
        assert hl.truncation_bound == pytest.approx(gamma ** (L - 1), rel=1e-12)
        errs.append(err)
    slope = np.polyfit(Ls, np.log(errs), 1)[0]
    assert math.log(gamma) - 0.06 < slope < math.log(gamma) + 0.02


@pytest.mark.slow
def test_sobolev_norms_against_adaptive_quadrature():
    """||S||_{H^m(mu_0)}^2 at one history by scipy dblquad of a scalar recursion."""
    hist = np.array([0.7, -1.2, 0.4, 1.5, -0.3, 0.9])  # X_k first
    past = [[x] for x in hist[1:][::-1]]
    b_max = 0.6

    def dens(w):
        return norm.pdf(w) / (2 * b_max)

    def S(w, b):
        return scalar_memory([w], b, past).real

    def grad_sq(w, b):
        gw, gb = complex_step_gradient([w], b, past)
        return gw**2 + gb**2

    def hess_sq(w, b, h=1e-4):
        # central differences of complex-step gradients: O(h^2) = 1e-8 error
        gp = complex_step_gradient([w + h], b, past)
        gm = complex_step_gradient([w - h], b, past)
        bp = complex_step_gradient([w], b + h, past)
        bm = complex_step_gradient([w], b - h, past)
        sww, swb = (gp[0] - gm[0]) / (2 * h), (gp[1] - gm[1]) / (2 * h)
        sbw, sbb = (bp[0] - bm[0]) / (2 * h), (bp[1] - bm[1]) / (2 * h)
        return sww**2 + 2 * (0.5 * (swb + sbw)) ** 2 + sbb**2

    opts = dict(epsabs=1e-12, epsrel=1e-10)
    i0 = dblquad(lambda b, w: S(w, b) ** 2 * dens(w), -8, 8, -b_max, b_max, **opts)[0]
    i1 = i0 + dblquad(lambda b, w: grad_sq(w, b) * dens(w), -8, 8, -b_max, b_max, **opts)[0]
    i2 = i1 + dblquad(lambda b, w: hess_sq(w, b) * dens(w), -8, 8, -b_max, b_max,
                      epsabs=1e-10, epsrel=1e-8)[0]
    errs2 = []
    for n_w, n_b in ((32, 8), (64, 16), (128, 32)):
        rule = parameter_grid(Prior(b_max=b_max), 1, n_w=n_w, n_b=n_b)
        hl = hidden_layer(hist[None, :, None], rule, "tanh")
        errs2.append(abs(hl.sobolev_norm(2)[0] ** 2 / i2 - 1))
    # at 128 x 32 Gauss nodes the H^0, H^1 integrands are resolved to ~1e-10 (spectral)
    assert abs(hl.sobolev_norm(0)[0] ** 2 / i0 - 1) < 1e-8
    assert abs(hl.sobolev_norm(1)[0] ** 2 / i1 - 1) < 1e-8
    # H^2 uses finite differences on the (non-uniform) Legendre axes: algebraic convergence
    assert errs2[0] > errs2[1] > errs2[2] and errs2[2] < 1e-2


def test_sobolev_norm_without_memory_ignores_b():
    values = np.random.default_rng(0).standard_normal((2, 3, 1))
    rule = parameter_grid(Prior(b_max=0.0), 1, n_w=64)
    hl = hidden_layer(values, rule, "tanh")
    # b = 0: S = tanh(w x_{k-1}), dS/dw = x_{k-1} (1 - S^2), H^1 over w only (dS/db omitted)
    x = values[:, 1, 0]
    S = np.tanh(np.outer(x, rule.w[:, 0]))
    expect = np.sqrt(rule.integrate(S**2 + (x[:, None] * (1 - S**2)) ** 2))
    np.testing.assert_allclose(hl.sobolev_norm(1), expect, rtol=1e-13)
    assert np.all(hl.sobolev_norm(2) >= hl.sobolev_norm(1))


@pytest.mark.parametrize("method,kind,sizes", [
    ("barycentric", "legendre", (16, 32, 64)),
    ("cubic", "uniform", (33, 65, 129)),
])
def test_interpolation_error_decreases_under_refinement(method, kind, sizes):
    hist = sample_histories(FiniteChain.random(3, 1), 5, 3, rng=0)
    prior = Prior(b_max=0.6)
    rng = np.random.default_rng(9)
    w_new = rng.uniform(-2.5, 2.5, size=(20, 1))
    b_new = rng.uniform(-0.55, 0.55, size=20)
    # truth: the recursion run directly at the new parameters
    truth = hidden_layer(hist, parameter_grid(prior, 1, n_w=2, n_b=2), "tanh")
    from limitsolver.memory import memory_on_histories

    direct = memory_on_histories(hist.values, w_new, b_new, truth.activation,
                                 sensitivities=False).s
    errs = []
    for n in sizes:
        rule = parameter_grid(prior, 1, n_w=n, n_b=n // 4 + 1, kind=kind, truncation=3.0)
        hl = hidden_layer(hist, rule, "tanh")
        errs.append(np.abs(hl.interpolate(w_new, b_new, method=method) - direct).max())
    assert errs[0] > errs[1] > errs[2]
    # barycentric on Gauss nodes: spectral; cubic splines: O(h^4) -> at least 8x per halving
    assert errs[2] < (1e-6 if method == "barycentric" else 1e-4)
    assert errs[1] / errs[2] > 8


def test_interpolation_reproduces_nodes_and_refuses_outside():
    values = np.random.default_rng(1).standard_normal((2, 3, 2))
    rule = parameter_grid(Prior(b_max=0.5), 2, n_w=6, n_b=4)
    hl = hidden_layer(values, rule, "tanh")
    np.testing.assert_allclose(hl.interpolate(rule.w, rule.b), hl.S, rtol=0, atol=1e-14)
    with pytest.raises(DiscretisationError, match="grid's box"):
        hl.interpolate(np.array([[100.0, 0.0]]), np.array([0.0]))


def test_errors():
    values = np.zeros((2, 3, 1))
    rule = parameter_grid(Prior(b_max=0.9), 1, n_w=8, n_b=4)
    # gamma^(L-1) = 0.81 > 1e-3: the message names the depth needed (log(1e-3)/log(0.9) -> 67)
    with pytest.raises(DiscretisationError, match="use depth >= 67"):
        hidden_layer(values, rule, "tanh", tol=1e-3)
    too_wide = parameter_grid(Prior(b_max=1.2), 1, n_w=8, n_b=4)
    with pytest.raises(ContractionError, match="does not contract"):
        hidden_layer(values, too_wide, "tanh")
    with pytest.raises(ContractionError, match="does not contract"):
        features(values, too_wide, "tanh")
    sob = parameter_grid(Prior(), 1, n_w=16, kind="sobol", rng=0)
    hl = hidden_layer(values, sob, "tanh")
    with pytest.raises(DiscretisationError, match="tensor grid"):
        hl.fd_derivative("b")
    with pytest.raises(DiscretisationError, match="tensor grid"):
        hl.interpolate(np.zeros((1, 1)), np.zeros(1))
    with pytest.raises(DimensionError, match="dimension 2"):
        features(np.zeros((2, 3, 2)), rule, "tanh")
    nomem = hidden_layer(values, parameter_grid(Prior(b_max=0.0), 1, n_w=8), "tanh")
    with pytest.raises(DiscretisationError, match="node"):
        nomem.fd_derivative("b")
