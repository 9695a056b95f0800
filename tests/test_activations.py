"""Tests of limitsolver.activations against sympy/mpmath and finite differences."""

from __future__ import annotations

import functools
import math
import pickle

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.activations import NAMED_ACTIVATIONS, Activation, activation
from limitsolver.errors import ActivationError

U = sp.Symbol("u", real=True)
NAMES = ["tanh", "sigmoid", "erf", "softplus", "linear"]
# sympy forms written here, independently of the package's table
SYMPY_FORMS = {
    "tanh": sp.tanh(U),
    "sigmoid": 1 / (1 + sp.exp(-U)),
    "erf": sp.erf(U),
    "softplus": sp.log(1 + sp.exp(U)),
    "linear": U,
}
CUSTOM = ["u/sqrt(1+u**2)", "sin(u)", "atan(u)"]
EPS = np.finfo(float).eps


@functools.cache
def mp_derivatives(key: str):
    """sigma, sigma', sigma'' as mpmath functions (sympy differentiation, 40 digits)."""
    expr = SYMPY_FORMS[key] if key in SYMPY_FORMS else sp.sympify(key, locals={"u": U})
    return tuple(sp.lambdify(U, sp.diff(expr, U, k), modules="mpmath") for k in range(3))


def reference(key: str, order: int, u: float) -> float:
    with mpmath.workdps(40):
        return float(mp_derivatives(key)[order](mpmath.mpf(u)))


@functools.cache
def custom_activation(expr: str) -> Activation:
    return activation(expr)


# -- values and derivatives ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(u=st.floats(-20.0, 20.0))
def test_named_derivatives_match_sympy_high_precision(name, u):
    act = activation(name)
    for order, f in enumerate((act.sigma, act.dsigma, act.d2sigma)):
        ref = reference(name, order, u)
        # closed forms like 1 - tanh^2 cancel against 1: errors of a few eps in absolute
        # terms, otherwise a few hundred eps relative (exp/log/erf of moderate arguments)
        assert abs(float(f(u)) - ref) <= 8 * EPS + 1e-13 * abs(ref), (order, u)


@pytest.mark.parametrize("expr", CUSTOM)
@settings(max_examples=20, deadline=None)
@given(u=st.floats(-20.0, 20.0))
def test_custom_derivatives_match_sympy_high_precision(expr, u):
    act = custom_activation(expr)
    for order in range(3):
        ref = reference(expr, order, u)
        assert abs(float(act.derivative(u, order)) - ref) <= 8 * EPS + 1e-13 * abs(ref)


@pytest.mark.parametrize("name", NAMES + CUSTOM)
def test_derivatives_match_central_differences(name):
    act = activation(name) if name in NAMES else custom_activation(name)
    u = np.linspace(-6.0, 6.0, 241)
    h = 1e-5
    # central difference error: h^2/6 sup|f'''| (sup|sigma'''|, sup|sigma''''| <= 6 for
    # all of these) ~ 1e-10, plus rounding ~ sup|f| eps / h ~ 1e-10 (sup|f| <= 7 on [-6, 6])
    tol = 1e-9
    d1 = (act.sigma(u + h) - act.sigma(u - h)) / (2 * h)
    d2 = (act.dsigma(u + h) - act.dsigma(u - h)) / (2 * h)
    np.testing.assert_allclose(act.dsigma(u), d1, rtol=0, atol=tol)
    np.testing.assert_allclose(act.d2sigma(u), d2, rtol=0, atol=tol)


def test_finite_difference_error_is_second_order():
    act = activation("erf")
    u = np.linspace(-2.0, 2.0, 41)
    hs = np.array([4e-2, 2e-2, 1e-2, 5e-3])
    errs = [np.max(np.abs((act.sigma(u + h) - act.sigma(u - h)) / (2 * h) - act.dsigma(u))) for h in hs]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert 1.9 < slope < 2.1


# -- constants -----------------------------------------------------------------------------


def sympy_sup_abs(f: sp.Expr) -> sp.Expr:
    """sup |f| over R from the critical points of f and its limits at +-infinity."""
    crit = [r for r in sp.solve(sp.diff(f, U), U) if r.is_real]
    cands = [sp.limit(f, U, sp.oo), sp.limit(f, U, -sp.oo)] + [f.subs(U, r) for r in crit]
    vals = []
    for c in cands:
        if isinstance(c, sp.AccumBounds):
            vals.append(sp.Max(abs(c.min), abs(c.max)))
        else:
            vals.append(abs(c))
    return sp.Max(*vals)


@pytest.mark.parametrize("name", NAMES)
def test_named_constants_match_sympy(name):
    act = activation(name)
    expr = SYMPY_FORMS[name]
    sup_d = sympy_sup_abs(sp.diff(expr, U))
    sup_s = sympy_sup_abs(expr)
    # the table holds float renderings of the exact constants
    assert act.sup_dsigma == pytest.approx(float(sup_d), rel=2 * EPS)
    if sup_s == sp.oo:
        assert act.sup_sigma == math.inf
    else:
        assert act.sup_sigma == pytest.approx(float(sup_s), rel=2 * EPS)


@pytest.mark.parametrize(
    "expr, sup_d, sup_s",
    [("u/sqrt(1+u**2)", 1.0, 1.0), ("sin(u)", 1.0, 1.0), ("atan(u)", 1.0, math.pi / 2),
     ("tanh(u)", 1.0, 1.0), ("tanh(u)/4 + u/8", 3.0 / 8.0, math.inf)],
)
def test_custom_constants(expr, sup_d, sup_s):
    act = custom_activation(expr)
    assert act.name == "custom"
    # grid + bounded minimisation with xatol 1e-12 at a quadratic maximum: ~1e-15 relative
    assert act.sup_dsigma == pytest.approx(sup_d, rel=1e-10)
    if math.isinf(sup_s):
        assert act.sup_sigma == math.inf
    else:
        assert act.sup_sigma == pytest.approx(sup_s, rel=1e-10)


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, match",
    [
        ("u**2", r"'u\*\*2' has unbounded sigma'"),
        ("exp(u)", "unbounded sigma'"),
        ("Abs(u)", "not twice differentiable"),
        ("Max(0,u)", "not twice differentiable"),
        ("u+v", r"may only depend on `u`; it also uses \['v'\]"),
        ("u**(", r"'u\*\*\(' could not be parsed"),
        ("log(u)", r"'log\(u\)'.*not finite at u = 0"),
        ("sin(u**2)", r"'sin\(u\*\*2\)' has unbounded sigma'"),
        ("u*cos(u)", "unbounded sigma'"),
        ("Min(u, 1) + 0*u", "not twice differentiable: the expression contains Min"),
        ("tanh(u) + floor(u)/1000", "contains floor"),
        ("relu", "unknown activation 'relu'"),
    ],
)
def test_bad_expressions_raise(expr, match):
    with pytest.raises(ActivationError, match=match):
        activation(expr)


def test_piecewise_relu_is_refused():
    v = sp.Symbol("u")
    with pytest.raises(ActivationError, match="not twice differentiable.*Piecewise"):
        activation(sp.Piecewise((0, v < 0), (v, True)))


def test_growth_check_finds_unbounded_derivatives_sympy_cannot_decide():
    from limitsolver.activations import _far_sup

    # |2u cos(u^2)| reaches about 2|u|: a window [-60, 60] would report 120
    with pytest.raises(ActivationError, match=r"unbounded sigma'.*\[1e5, 1e6\]"):
        _far_sup(lambda u: 2 * u * np.cos(u**2), "sigma'", "sin(u**2)")
    # bounded oscillation and decay pass, and the far values enter the supremum
    assert _far_sup(np.cos, "sigma'", "sin(u)") == pytest.approx(1.0, abs=1e-6)
    assert _far_sup(lambda u: 1 / (1 + u**2), "sigma'", "atan(u)") < 1e-4


def test_bad_argument_types():
    with pytest.raises(ActivationError, match="must be a name, a string or a sympy expression"):
        activation(3.0)
    with pytest.raises(ValueError, match="`order` must be 0, 1 or 2"):
        activation("tanh").derivative(0.0, 3)


# -- objects -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["tanh", "sigmoid", "erf", "softplus", "linear", "atan(u)"])
def test_pickle_round_trip(spec):
    act = activation(spec) if spec in NAMES else custom_activation(spec)
    u = np.linspace(-3, 3, 7)
    act.dsigma(u)  # fill the caches before pickling
    back = pickle.loads(pickle.dumps(act))
    assert back == act and hash(back) == hash(act)
    for order in range(3):
        np.testing.assert_array_equal(back.derivative(u, order), act.derivative(u, order))
    assert back.sup_dsigma == act.sup_dsigma


def test_sympy_expression_and_names_are_accepted():
    v = sp.Symbol("u")  # no assumptions: mapped to the package's real symbol
    act = activation(sp.atan(v))
    assert act == custom_activation("atan(u)")
    assert activation(" Tanh ") == activation("tanh")
    assert activation(act) is act
    assert set(NAMES) == set(NAMED_ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "u", [0.3, 1, np.float64(-0.7), np.array(0.2), [0.1, -2.0], np.ones((2, 3, 4)), np.zeros((0, 2))]
)
def test_named_accept_any_shape(name, u):
    act = activation(name)
    for order in range(3):
        out = act.derivative(u, order)
        assert np.shape(out) == np.shape(u)
        ref = [reference(name, order, float(x)) for x in np.ravel(u)]
        np.testing.assert_allclose(np.ravel(out), ref, rtol=1e-13, atol=8 * EPS)


def test_custom_accepts_any_shape_and_constant_derivative():
    act = custom_activation("tanh(u)/4 + u/8")  # sigma'' has no constant part; sigma' does
    for u in (0.5, np.ones((3, 2)), [1.0, 2.0]):
        assert np.shape(act.d2sigma(u)) == np.shape(u)
        assert np.shape(act.dsigma(u)) == np.shape(u)
    lin = custom_activation("u/2")  # derivatives are constants: must still broadcast
    np.testing.assert_array_equal(lin.dsigma(np.zeros((2, 2))), np.full((2, 2), 0.5))
    np.testing.assert_array_equal(lin.d2sigma(np.zeros(3)), np.zeros(3))


# -- the registry ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_is_consistent_with_its_sympy_form(name):
    from limitsolver.activations import ACTIVATIONS, activation_spec

    spec = activation_spec(f" {name.upper()} ")
    assert spec is ACTIVATIONS[name] and spec.name == name
    # the registered formula is the independent sympy form of this file
    assert sp.simplify(activation(name).sympy_expr - SYMPY_FORMS[name]) == 0
    u = np.concatenate([np.linspace(-40.0, 40.0, 2001), [0.0, -0.0, 1e-300, 700.0, -700.0]])
    s, ds = activation(name).sigma_dsigma(u)
    # the fused form is bit for bit the separate forms
    assert np.array_equal(s, activation(name).sigma(u))
    assert np.array_equal(ds, activation(name).dsigma(u))


def test_custom_fused_form_matches_separate_forms():
    act = custom_activation("u/sqrt(1+u**2)")
    u = np.linspace(-5, 5, 11)
    s, ds = act.sigma_dsigma(u)
    assert np.array_equal(s, act.sigma(u)) and np.array_equal(ds, act.dsigma(u))
    assert act.spec is None and act.simd is None and not act.auto_numba
    assert "math.sqrt" in act.kernel_source


def test_unknown_name_lists_the_registered_ones():
    from limitsolver.activations import ACTIVATIONS

    with pytest.raises(ActivationError, match=r"unknown activation 'relu'; registered: tanh, "
                                              r"sigmoid, erf, softplus, linear"):
        activation("relu")
    with pytest.raises(TypeError):
        ACTIVATIONS["relu"] = ACTIVATIONS["tanh"]  # the registry is read-only
    assert activation("u").name == "custom"  # the variable itself is a formula
