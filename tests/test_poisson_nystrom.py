"""Nyström solvers: AR(1) (Gauss–Hermite) and the circle walk (periodic trapezoid)."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.chains import CircleWalk, GaussianAR1
from limitsolver.errors import DimensionError, DiscretisationError, DivergenceError
from limitsolver.poisson import (
    mehler_kernel,
    solve_poisson,
    solve_poisson_ar1,
    solve_poisson_circle_walk,
    wrapped_normal_kernel,
)

x, z, a = sympy.symbols("x z a", real=True)
GAUSS = sympy.exp(-(z**2) / 2) / sympy.sqrt(2 * sympy.pi)


def _gauss_mean(expr):
    """E[expr(Z)] for Z ~ N(0, 1), by sympy integration of a polynomial times the density."""
    return sympy.integrate(sympy.expand(expr) * GAUSS, (z, -sympy.oo, sympy.oo))


def _ar1_closed_form(F_expr, V_expr, a_val):
    """Check symbolically that V - P V = F and π(V) = π(F) = 0 at a rational ``a``; return σ².

    P V(x) = E[V(a x + sqrt(1 - a²) Z)], Z ~ N(0, 1); π = N(0, 1).
    """
    a_rat = sympy.nsimplify(a_val)
    F_expr, V_expr = F_expr.subs(a, a_rat), V_expr.subs(a, a_rat)
    PV = _gauss_mean(V_expr.subs(x, a_rat * x + sympy.sqrt(1 - a_rat**2) * z))
    assert sympy.simplify(V_expr - PV - F_expr) == 0
    assert _gauss_mean(F_expr.subs(x, z)) == 0 and _gauss_mean(V_expr.subs(x, z)) == 0
    return _gauss_mean((2 * F_expr * V_expr - F_expr**2).subs(x, z))


@pytest.mark.parametrize("a_val, n", [(0.5, 64), (-0.6, 64), (0.9, 160)])
def test_ar1_polynomial_closed_forms(a_val, n):
    # F = x: V = x/(1-a), σ² = (1+a)/(1-a); F = He₂ = x² - 1: V = He₂/(1-a²), σ² = 2(1+a²)/(1-a²)
    cases = [(x, x / (1 - a)), (x**2 - 1, (x**2 - 1) / (1 - a**2))]
    expected = [(1 + a) / (1 - a), 2 * (1 + a**2) / (1 - a**2)]
    for (F_expr, V_expr), sig_expected in zip(cases, expected, strict=True):
        sigma2 = _ar1_closed_form(F_expr, V_expr, a_val)
        assert sympy.simplify(sigma2 - sig_expected.subs(a, sympy.nsimplify(a_val))) == 0
        F_fun = sympy.lambdify(x, F_expr)
        V_fun = sympy.lambdify((x, a), V_expr)
        sol = solve_poisson_ar1(a_val, F_fun, n=n)
        scale = 1 / (1 - abs(a_val))  # |V| and σ² scale like the inverse spectral gap
        inner = np.abs(sol.nodes) <= 5
        np.testing.assert_allclose(sol.values[inner], V_fun(sol.nodes[inner], a_val),
                                   atol=1e-11 * scale)
        assert sol.asymptotic_variance == pytest.approx(float(sigma2), abs=1e-11 * scale)
        pts = np.linspace(-4, 4, 17)  # off-node: Nyström extension
        np.testing.assert_allclose(sol(pts), V_fun(pts, a_val), atol=1e-11 * scale)
        assert abs(sol.pi_F) < 1e-13


def test_ar1_nonzero_mean_is_subtracted():
    # F = x² has π(F) = 1 and the same V as x² - 1
    sol = solve_poisson_ar1(0.3, lambda t: t**2, n=48)
    assert sol.pi_F == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(sol.values, (sol.nodes**2 - 1) / (1 - 0.09), atol=1e-12)


def test_ar1_spectral_refinement():
    """tanh is not polynomial: errors fall faster than any power of n."""
    pts = np.linspace(-3, 3, 13)
    ref = solve_poisson_ar1(0.8, np.tanh, n=256)(pts)
    err = {n: np.max(np.abs(solve_poisson_ar1(0.8, np.tanh, n=n)(pts) - ref))
           for n in (24, 32, 48, 64, 96)}
    ratios = [err[2 * n] / err[n] for n in (24, 32, 48)]
    assert all(r < 1e-2 for r in ratios), ratios
    assert ratios[2] < ratios[1] < ratios[0], ratios  # algebraic order p would give 2^-p each


def test_circle_walk_cos_closed_form():
    # E cos(φ + κZ) = e^{-κ²/2} cos φ, so F = cos gives V = cos/(1 - r), σ² = (1 + r)/(2(1 - r))
    phi, k = sympy.symbols("phi kappa", positive=True)
    Pcos = sympy.integrate(sympy.cos(phi + k * z) * GAUSS, (z, -sympy.oo, sympy.oo))
    r_sym = sympy.simplify(Pcos / sympy.cos(phi))
    assert sympy.simplify(r_sym - sympy.exp(-(k**2) / 2)) == 0
    for kappa in (0.3, 1.0, 2.5):
        r = float(r_sym.subs(k, kappa))
        sol = solve_poisson_circle_walk(kappa, np.cos, n=64)
        np.testing.assert_allclose(sol.values, np.cos(sol.nodes) / (1 - r), atol=1e-12 / (1 - r))
        assert sol.asymptotic_variance == pytest.approx((1 + r) / (2 * (1 - r)), rel=1e-12)
        t = np.array([0.1, 1.7, 3.3, 6.0, -2.0])
        np.testing.assert_allclose(sol(t), np.cos(t) / (1 - r), atol=1e-12 / (1 - r))


def test_circle_walk_spectral_refinement():
    F = lambda p: np.exp(np.cos(p))  # noqa: E731
    pts = np.linspace(0, 6.2, 13)
    ref = solve_poisson_circle_walk(0.15, F, n=512)(pts)
    err = [np.max(np.abs(solve_poisson_circle_walk(0.15, F, n=n)(pts) - ref)) for n in (40, 48, 56)]
    assert err[1] < 1e-2 * err[0], err
    assert err[2] / err[1] < err[1] / err[0], err  # accelerating: faster than algebraic


@settings(max_examples=15, deadline=None)
@given(a_val=st.floats(-0.8, 0.8), xs=st.lists(st.floats(-4, 4), min_size=1, max_size=5))
def test_mehler_kernel_is_density_ratio(a_val, xs):
    """k(x, y) φ(y) is the N(a x, 1 - a²) density, checked pointwise and via GaussianAR1."""
    xs = np.array(xs)
    ys = np.linspace(-3, 3, 7)
    s2 = 1 - a_val**2
    dens = np.exp(-((ys[None, :] - a_val * xs[:, None]) ** 2) / (2 * s2)) / np.sqrt(2 * np.pi * s2)
    phi = np.exp(-ys**2 / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(mehler_kernel(a_val, xs[:, None], ys[None, :]) * phi, dens,
                               rtol=1e-12, atol=1e-300)
    chain_dens = GaussianAR1(a_val).transition_density(xs[:, None, None], ys[None, :, None])
    np.testing.assert_allclose(np.reshape(chain_dens, dens.shape), dens, rtol=1e-12, atol=1e-300)


@settings(max_examples=15, deadline=None)
@given(kappa=st.floats(0.1, 4.0), d=st.floats(-10, 10))
def test_wrapped_normal_kernel_against_fourier_series(kappa, d):
    # 2π p_κ(θ) = 1 + 2 Σ_{m≥1} e^{-m²κ²/2} cos(mθ), summed to m = 400 (terms < e^{-800 κ²})
    m = np.arange(1, 401)
    series = 1 + 2 * np.sum(np.exp(-(m**2) * kappa**2 / 2) * np.cos(m * d))
    assert wrapped_normal_kernel(kappa, 0.0, d) == pytest.approx(series, rel=1e-12, abs=1e-12)
    assert wrapped_normal_kernel(kappa, 0.0, d) == pytest.approx(
        2 * np.pi * float(CircleWalk(kappa).transition_density(0.0, d)), rel=1e-10)


def test_dispatch_and_errors():
    sol = solve_poisson(GaussianAR1(0.4), lambda t: t, n=32)
    np.testing.assert_allclose(sol.values, sol.nodes / 0.6, atol=1e-12)
    sol = solve_poisson(CircleWalk(1.0), np.cos, n=32)
    assert sol.bounded and sol.discretisation["chain"] == "CircleWalk"
    with pytest.raises(DimensionError, match="`dim` = 1"):
        solve_poisson(GaussianAR1(0.4, dim=2), lambda t: t)
    with pytest.raises(DimensionError, match=r"\|a\| < 1"):
        solve_poisson_ar1(1.0, lambda t: t)
    with pytest.raises(DimensionError, match="callable"):
        solve_poisson_ar1(0.5, np.ones(32), n=32)
    with pytest.raises(DivergenceError, match="`F` must be finite"):
        solve_poisson_ar1(0.5, lambda t: np.where(t > 0, np.nan, t), n=32)
    with pytest.raises(DiscretisationError, match="increase `n`"):
        solve_poisson_circle_walk(0.2, np.cos, n=8)
    with pytest.raises(DiscretisationError, match="increase `n`"):
        solve_poisson_ar1(0.97, lambda t: t, n=32)
    with pytest.raises(DimensionError, match="`kappa`"):
        solve_poisson_circle_walk(0.0, np.cos)
