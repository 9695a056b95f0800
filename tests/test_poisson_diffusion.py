"""Diffusion generators by finite differences: closed forms and observed orders."""

import numpy as np
import pytest
import sympy

from limitsolver.errors import DimensionError, DiscretisationError
from limitsolver.poisson import (
    CircleBrownianMotion,
    OrnsteinUhlenbeck,
    solve_poisson,
    solve_poisson_circle_bm,
    solve_poisson_ou,
)

THETA = 1.5
x = sympy.symbols("x", real=True)


def _ou_rhs_for(V_expr, theta=THETA):
    """F = -L V with L V = θ V'' - θ x V' (sympy), after checking π(V) = 0 for π = N(0, 1)."""
    gauss = sympy.exp(-(x**2) / 2) / sympy.sqrt(2 * sympy.pi)
    # rewritten in exponentials: sympy < 1.14 fails on sin(x) exp(-x^2/2) over the real line
    assert sympy.integrate((V_expr * gauss).rewrite(sympy.exp), (x, -sympy.oo, sympy.oo)) == 0
    F = sympy.simplify(-(theta * sympy.diff(V_expr, x, 2) - theta * x * sympy.diff(V_expr, x)))
    assert sympy.simplify(sympy.integrate((F * gauss).rewrite(sympy.exp),
                                          (x, -sympy.oo, sympy.oo))) == 0
    return sympy.lambdify(x, F), sympy.lambdify(x, V_expr)


def _slope(h, err):
    return np.polyfit(np.log(h), np.log(err), 1)[0]


def test_ou_linear_closed_form():
    # F = x: V = x/θ exactly (stencils are exact on linear functions); σ² = 2π(x²/θ) = 2/θ.
    # Only the reflection at ±R errs, by O(exp((x² - R²)/2)) <= e^{-24} on |x| <= 4.
    sol = solve_poisson_ou(THETA, lambda t: t, n=129)
    inner = np.abs(sol.nodes) <= 4
    np.testing.assert_allclose(sol.values[inner], sol.nodes[inner] / THETA, atol=1e-9)
    assert sol.asymptotic_variance == pytest.approx(2 / THETA, abs=1e-10)
    assert sol.time == "continuous" and not sol.bounded
    np.testing.assert_allclose(sol(np.array([-2.3, 0.1, 3.7])), np.array([-2.3, 0.1, 3.7]) / THETA,
                               atol=1e-9)


@pytest.mark.parametrize("acc", [2, 4, 6])
def test_ou_order_of_convergence(acc):
    F, V = _ou_rhs_for(sympy.sin(x))
    ns = [65, 129, 257] if acc == 6 else [65, 129, 257, 513]
    h, err = [], []
    for n in ns:
        sol = solve_poisson_ou(THETA, F, n=n, acc=acc)
        inner = np.abs(sol.nodes) <= 4
        err.append(np.max(np.abs(sol.values[inner] - V(sol.nodes[inner]))))
        h.append(sol.discretisation["h"])
    assert abs(_slope(h, err) - acc) <= 0.3, (err, _slope(h, err))


@pytest.mark.parametrize("acc", [2, 4, 6])
def test_circle_bm_order_of_convergence(acc):
    # D V'' = -cos  =>  V = cos/D, σ² = 2 π(cos²/D) = 1/D
    D = 0.7
    ns = [16, 32, 64, 128]
    h, err, var_err = [], [], []
    for n in ns:
        sol = solve_poisson_circle_bm(D, np.cos, n=n, acc=acc)
        err.append(np.max(np.abs(sol.values - np.cos(sol.nodes) / D)))
        var_err.append(abs(sol.asymptotic_variance - 1 / D))
        h.append(sol.discretisation["h"])
    assert abs(_slope(h, err) - acc) <= 0.3, err
    assert abs(_slope(h, var_err) - acc) <= 0.3, var_err


def test_circle_bm_evaluation_off_grid():
    sol = solve_poisson(CircleBrownianMotion(2.0), lambda p: np.cos(p) + 1.0, n=128, acc=6)
    assert sol.pi_F == pytest.approx(1.0, abs=1e-14)
    t = np.array([0.05, 2.0, 4.4, 7.0])
    # FD error ~ (h⁶/560) |cos⁽⁸⁾| / D ~ 4e-12; quintic spline error ~ h⁶ |V⁽⁶⁾| / 1000 ~ 1e-10
    np.testing.assert_allclose(sol(t), np.cos(t) / 2.0, atol=1e-9)


def test_errors():
    with pytest.raises(DiscretisationError, match="Péclet"):
        solve_poisson_ou(1.0, lambda t: t, n=21)
    with pytest.raises(DiscretisationError, match="`acc`"):
        solve_poisson_circle_bm(1.0, np.cos, n=32, acc=3)
    with pytest.raises(DiscretisationError, match="too coarse"):
        solve_poisson_circle_bm(1.0, np.cos, n=6, acc=4)
    with pytest.raises(DimensionError, match="`theta`"):
        OrnsteinUhlenbeck(-1.0)
    with pytest.raises(DimensionError, match="callable"):
        solve_poisson_circle_bm(1.0, np.ones(32), n=32)
    sol = solve_poisson(OrnsteinUhlenbeck(1.0), lambda t: t)
    with pytest.raises(DiscretisationError, match="half_width"):
        sol(np.array([9.0]))
