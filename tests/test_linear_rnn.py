"""Tests of limitsolver.linear_rnn: targets, loss, approximation, flow, SGD (THEORY.md §6)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from limitsolver.errors import DimensionError, LimitSolverError
from limitsolver.linear_rnn import (
    AiryTarget,
    AR1Input,
    CallableTarget,
    DelayedBump,
    DiscreteLoss,
    ExponentialSum,
    FlowSpec,
    LinearRNN,
    PlateauConfig,
    PowerLaw,
    WhiteNoiseInput,
    approximation_curve,
    best_approximation,
    detect_plateaus,
    diagonal_kernel,
    fit_rate,
    gradient_flow,
    loss_and_gradient,
    memory_time,
    plateau_study,
    sgd_vs_flow,
    white_noise_loss,
)
from limitsolver.linear_rnn._special import scaled_expint


def quad_inf(f, **kw):
    return integrate.quad(f, 0.0, np.inf, limit=500, epsabs=1e-14, epsrel=1e-12, **kw)[0]


def scalar(target):
    return lambda t: float(target.rho(np.array([t]))[0])


# ----------------------------------------------------------------------------- special functions
@settings(max_examples=30, deadline=None)
@given(nu=st.floats(0.05, 6.0), x=st.floats(1e-3, 200.0))
def test_scaled_expint_matches_mpmath(nu, x):
    # mpmath's expint is an independent arbitrary-precision implementation
    ref = float(mpmath.exp(x) * mpmath.expint(nu, x))
    assert scaled_expint(nu, x) == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------------- targets
@pytest.mark.parametrize("omega", [0.2, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("lam", [0.01, 0.4, 3.0, 40.0])
def test_power_law_laplace_against_quad(omega, lam):
    T = PowerLaw(omega)
    L = quad_inf(lambda t: math.exp(-lam * t) * (1 + t) ** (-1 - omega))
    M = quad_inf(lambda t: t * math.exp(-lam * t) * (1 + t) ** (-1 - omega))
    # quad's own tolerance is ~1e-12 relative; allow 10x
    assert T.laplace([lam])[0] == pytest.approx(L, rel=1e-10)
    assert T.laplace_moment([lam])[0] == pytest.approx(M, rel=1e-10)


def test_power_law_laplace_sympy_closed_form():
    # sympy: int_0^oo e^{-lam t} (1+t)^{-3/2} dt in closed form (upper incomplete gamma)
    t, lam = sp.symbols("t lam", positive=True)
    expr = sp.integrate(sp.exp(-lam * t) * (1 + t) ** sp.Rational(-3, 2), (t, 0, sp.oo))
    for v in (0.1, 1.0, 7.5):
        ref = float(sp.N(expr.subs(lam, v), 30))
        assert PowerLaw(0.5).laplace([v])[0] == pytest.approx(ref, rel=1e-13)


@pytest.mark.parametrize("t0,s0", [(0.0, 1.0), (2.0, 1.0), (5.0, 0.7), (3.0, 2.0)])
def test_airy_laplace_and_norm_against_quad(t0, s0):
    T = AiryTarget(t0, s0)
    f = scalar(T)
    pts = [t0]
    for lam in (0.05, 0.8, 10.0):
        L = integrate.quad(lambda t, lam=lam: math.exp(-lam * t) * f(t), 0, T.support,
                           points=pts, limit=1000, epsabs=1e-14)[0]
        M = integrate.quad(lambda t, lam=lam: t * math.exp(-lam * t) * f(t), 0, T.support,
                           points=pts, limit=1000, epsabs=1e-14)[0]
        assert T.laplace([lam])[0] == pytest.approx(L, rel=1e-9, abs=1e-13)
        assert T.laplace_moment([lam])[0] == pytest.approx(M, rel=1e-9, abs=1e-13)
    n2 = integrate.quad(lambda t: f(t) ** 2, 0, T.support, points=pts, limit=1000)[0]
    assert T.norm2 == pytest.approx(n2, rel=1e-9)


@pytest.mark.parametrize("t0,w", [(0.0, 1.0), (3.0, 0.5), (6.0, 1.5)])
def test_delayed_bump_closed_forms_against_quad(t0, w):
    T = DelayedBump(t0, w, amplitude=1.3)
    f = scalar(T)
    for lam in (0.02, 1.0, 25.0):
        L = quad_inf(lambda t, lam=lam: math.exp(-lam * t) * f(t))
        M = quad_inf(lambda t, lam=lam: t * math.exp(-lam * t) * f(t))
        assert T.laplace([lam])[0] == pytest.approx(L, rel=1e-10, abs=1e-15)
        assert T.laplace_moment([lam])[0] == pytest.approx(M, rel=1e-10, abs=1e-15)
    assert T.norm2 == pytest.approx(quad_inf(lambda t: f(t) ** 2), rel=1e-11)


def test_callable_target_quadrature_rules():
    # rho = e^{-t} cos t: L(lam) = (lam + 1)/((lam + 1)^2 + 1)
    T = CallableTarget(lambda t: np.exp(-t) * np.cos(t))
    Tf = CallableTarget(lambda t: np.exp(-t) * np.cos(t), support_time=40.0)
    for lam in (0.1, 1.0, 20.0):
        exact = (lam + 1) / ((lam + 1) ** 2 + 1)
        assert T.laplace([lam])[0] == pytest.approx(exact, rel=1e-10)
        assert Tf.laplace([lam])[0] == pytest.approx(exact, rel=1e-10)
    # ||rho||^2 = int e^{-2t} cos^2 t = 3/8
    assert T.norm2 == pytest.approx(3 / 8, rel=1e-10)


def test_memory_time_closed_forms():
    # power law: (1 - f)^(-1/omega) - 1 ; single exponential: -log(1 - f)/mu
    assert memory_time(PowerLaw(0.5), 0.9) == pytest.approx(99.0, rel=1e-14)
    assert memory_time(ExponentialSum((2.0,), (0.5,)), 0.9) == pytest.approx(
        -math.log(0.1) / 0.5, rel=1e-8)
    # a later bump has a later memory time
    assert DelayedBump(4.0).memory_time() > DelayedBump(2.0).memory_time()


def test_bad_target_parameters():
    with pytest.raises(LimitSolverError, match="`omega`"):
        PowerLaw(0.0)
    with pytest.raises(LimitSolverError, match="`rates`"):
        ExponentialSum((1.0,), (-1.0,))
    with pytest.raises(LimitSolverError, match="equal length"):
        ExponentialSum((1.0, 2.0), (1.0,))
    with pytest.raises(LimitSolverError, match="`lam`"):
        PowerLaw(1.0).laplace([-1.0])


# ----------------------------------------------------------------------------- model
def test_general_rnn_kernel_matches_expm_and_diagonal_form():
    rng = np.random.default_rng(3)
    V = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    lam = np.array([0.4, 1.1, 2.5])
    W = V @ np.diag(-lam) @ np.linalg.inv(V)
    U = rng.standard_normal((3, 1))
    c = rng.standard_normal(3)
    net = LinearRNN(W, U, c)
    s = np.linspace(0, 5, 7)
    k_eig = net.kernel(s)[:, 0]
    k_expm = net.kernel(s, method="expm")[:, 0]
    np.testing.assert_allclose(k_eig, k_expm, rtol=1e-10, atol=1e-12)
    b, lam2 = net.to_diagonal()
    np.testing.assert_allclose(diagonal_kernel(b, lam2, s), k_expm, rtol=1e-10, atol=1e-12)


def test_rnn_rejects_bad_input():
    with pytest.raises(LimitSolverError, match="Hurwitz"):
        LinearRNN(np.eye(2), np.ones((2, 1)), np.ones(2))
    with pytest.raises(DimensionError, match="`W` must be"):
        LinearRNN(-np.eye(2), np.ones((3, 1)), np.ones(2))
    with pytest.raises(LimitSolverError, match="real spectrum"):
        LinearRNN(np.array([[-1.0, 2.0], [-2.0, -1.0]]), np.ones((2, 1)), np.ones(2)).to_diagonal()


# ----------------------------------------------------------------------------- loss
@settings(max_examples=25, deadline=None)
@given(b=st.lists(st.floats(-3, 3), min_size=1, max_size=3),
       a=st.lists(st.floats(-3, 3), min_size=1, max_size=3),
       r=st.lists(st.floats(0.05, 20), min_size=6, max_size=6))
def test_exponential_sum_loss_double_sum(b, a, r):
    lam, mu = np.array(r[:len(b)]), np.array(r[3:3 + len(a)])
    T = ExponentialSum(tuple(a), tuple(mu))
    # independent closed form: 1/2 sum over the signed combined exponential sum
    coef = np.concatenate([b, -np.array(a)])
    rates = np.concatenate([lam, mu])
    exact = 0.5 * sum(ci * cj / (ri + rj) for ci, ri in zip(coef, rates, strict=True)
                      for cj, rj in zip(coef, rates, strict=True))
    scale = 0.5 * sum(abs(ci * cj) / (ri + rj) for ci, ri in zip(coef, rates, strict=True)
                      for cj, rj in zip(coef, rates, strict=True))
    assert white_noise_loss(b, lam, T) == pytest.approx(exact, abs=1e-13 * scale + 1e-300)


def test_loss_equals_quadrature_of_squared_difference():
    T = ExponentialSum((1.0, -0.7), (0.3, 2.0))
    b, lam = np.array([0.5, 0.2, -0.4]), np.array([0.5, 1.0, 4.0])
    direct = 0.5 * quad_inf(lambda t: (diagonal_kernel(b, lam, t) - scalar(T)(t)) ** 2)
    assert white_noise_loss(b, lam, T) == pytest.approx(direct, rel=1e-10)
    for T2 in (PowerLaw(0.4), AiryTarget(3.0), DelayedBump(2.0, 0.6)):
        f = scalar(T2)
        direct = 0.5 * integrate.quad(lambda t, f=f: (diagonal_kernel(b, lam, t) - f(t)) ** 2,
                                      0, np.inf, limit=1000, epsabs=1e-13)[0]
        assert white_noise_loss(b, lam, T2) == pytest.approx(direct, rel=1e-8)


@pytest.mark.parametrize("target", [PowerLaw(0.3), AiryTarget(2.0), DelayedBump(3.0, 0.8),
                                    ExponentialSum((1.0, 2.0), (0.5, 3.0))],
                         ids=lambda t: t.family)
def test_gradient_by_central_differences(target):
    rng = np.random.default_rng(0)
    b = rng.standard_normal(3)
    lam = np.exp(rng.uniform(-1, 1, 3))
    _, g_b, g_lam = loss_and_gradient(b, lam, target)
    h = 1e-5
    num_b, num_l = np.empty(3), np.empty(3)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        J = white_noise_loss
        num_b[i] = (J(b + e, lam, target) - J(b - e, lam, target)) / (2 * h)
        num_l[i] = (J(b, lam + e, target) - J(b, lam - e, target)) / (2 * h)
    # central differences: O(h^2) ~ 1e-10 truncation plus ~1e-16/h rounding
    np.testing.assert_allclose(g_b, num_b, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g_lam, num_l, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- approximation
@pytest.mark.parametrize("a,mu", [(2.0, 0.7), (-1.5, 5.0), (0.3, 0.02)])
def test_single_exponential_learnt_by_one_unit(a, mu):
    res = best_approximation(ExponentialSum((a,), (mu,)), 1, seed=0, n_starts=2)
    # E_1 is resolved only to the Gram-metric floor ~3e-8 relative
    assert res.relative_error < 1e-6
    assert res.lam[0] == pytest.approx(mu, rel=1e-4)
    assert res.b[0] == pytest.approx(a, rel=1e-4)


def test_planted_exponential_sum_recovered():
    T = ExponentialSum((1.0, -2.0, 0.5), (0.2, 1.5, 8.0))
    curve = approximation_curve(T, [1, 2, 3, 4], seed=1, n_starts=0)
    assert curve.relative_errors[0] > 0.1 and curve.relative_errors[1] > 1e-3
    assert np.all(curve.relative_errors[2:] < 1e-6)
    np.testing.assert_allclose(curve.approximations[2].lam, [0.2, 1.5, 8.0], rtol=1e-3)


@pytest.mark.parametrize("target", [PowerLaw(0.5), AiryTarget(2.0), DelayedBump(2.0, 0.5)],
                         ids=lambda t: t.family)
def test_best_error_non_increasing_in_m(target):
    curve = approximation_curve(target, [1, 2, 3, 4], seed=0, n_starts=0)
    e = curve.relative_errors
    # an inf over nested sets; the computed values carry the ~1e-8 Gram floor
    assert np.all(np.diff(e) <= 1e-8)
    assert e[-1] < e[0]


def test_fit_rate_identifies_planted_rates():
    m = np.arange(1, 9)
    fits = fit_rate(m, 3.0 * m**-2.5)
    assert min(fits, key=lambda k: fits[k].rms_residual) == "algebraic"
    assert fits["algebraic"].slope == pytest.approx(2.5, abs=1e-10)
    fits = fit_rate(m, 0.5 * np.exp(-1.3 * np.sqrt(m)))
    assert min(fits, key=lambda k: fits[k].rms_residual) == "root-exponential"
    assert fits["root-exponential"].slope == pytest.approx(1.3, abs=1e-10)
    assert fit_rate([1, 2], [1.0, 0.5]) == {}


# ----------------------------------------------------------------------------- flow and plateaus
def test_flow_decreases_loss_and_matches_energy_identity():
    T = ExponentialSum((1.0,), (1.0,))
    fr = gradient_flow(T, FlowSpec(m=1, init_scale=0.3, t_max=500.0), seed=0)
    assert np.all(np.diff(fr.loss) <= 1e-12)
    # dJ/dt = -|grad J|^2 = -rate * J: integrate the right-hand side by the trapezoid rule
    lhs = fr.loss[-1] - fr.loss[0]
    rhs = -integrate.trapezoid(fr.rate * fr.loss, fr.t)
    assert lhs == pytest.approx(rhs, rel=1e-3)
    assert fr.loss[-1] < 1e-6 * fr.loss[0]


def test_detect_plateaus_on_synthetic_curve():
    t = np.linspace(0, 30, 3001)
    # loss = 1 on [0, 10], falls to 0.5 quickly, stalls on [12, 20], falls to 0.01
    loss = (0.5 + 0.5 / (1 + np.exp(5 * (t - 11)))) * (0.01 + 0.99 / (1 + np.exp(5 * (t - 21))))
    rate = -np.gradient(np.log(loss), t)
    pl = detect_plateaus(t, loss, rate, rate_threshold=0.01, loss_factor=1.5)
    assert len(pl) == 2  # the final stall at 0.01 is not above 1.5 x the final loss
    assert pl[0].start == 0.0 and 9.0 < pl[0].end < 11.0
    assert 11.0 < pl[1].start < 13.0 and 19.0 < pl[1].end < 21.0
    with pytest.raises(LimitSolverError, match="`rate_threshold`"):
        detect_plateaus(t, loss, rate, rate_threshold=2.0)


def test_plateau_duration_grows_with_delay():
    cfg = PlateauConfig(family="delayed_bump", memory_values=(1.0, 2.0, 3.0),
                        flow=FlowSpec(m=2, init_scale=1e-2, t_max=60.0), seed=0)
    res = plateau_study(cfg)
    d = res.durations[0]
    assert np.all(d > 0) and np.all(np.diff(d) > 0)
    assert res.fit.slope > 0


# ----------------------------------------------------------------------------- SGD vs flow
def test_discrete_loss_tends_to_white_noise_loss():
    T = ExponentialSum((1.0,), (1.0,))
    b, lam = np.array([0.5]), np.array([2.0])
    exact = white_noise_loss(b, lam, T)
    errs = [abs(DiscreteLoss(T, WhiteNoiseInput(dt), 30.0)(b, lam)[0] - exact)
            for dt in (0.04, 0.02, 0.01)]
    slopes = np.diff(np.log(errs)) / np.diff(np.log([0.04, 0.02, 0.01]))
    assert np.all((slopes > 0.9) & (slopes < 1.1))  # left Riemann sum: first order


def test_sgd_gap_shrinks_with_learning_rate():
    T = ExponentialSum((1.0,), (1.0,))
    spec = FlowSpec(m=1, init_scale=0.5, rate_range=(2.0, 3.0))
    for inputs in (WhiteNoiseInput(0.1), AR1Input(0.1, 0.5)):
        cmp = sgd_vs_flow(T, inputs, spec, [0.02, 0.01, 0.005, 0.0025], t_end=2.0, seed=0,
                          n_seeds=4, n_grid=10)
        # fluctuation theory predicts slope 1/2; require it positive at 3 standard errors
        assert cmp.loss_fit.slope - 3 * cmp.loss_fit.slope_stderr > 0
        assert cmp.param_fit.slope - 3 * cmp.param_fit.slope_stderr > 0
        assert 0.2 < cmp.param_fit.slope < 0.8


def test_sgd_mean_drift_is_the_gradient():
    # E[grad of 1/2 r^2] = grad J_dt: average over many independent input windows
    T = ExponentialSum((1.0,), (1.0,))
    inputs = WhiteNoiseInput(0.2)
    loss = DiscreteLoss(T, inputs, 4.0)
    b, lam = np.array([0.4]), np.array([1.7])
    _, g_b, _ = loss(b, lam)
    rng = np.random.default_rng(0)
    n = 20000
    X = rng.standard_normal((n, loss.L)) / math.sqrt(inputs.dt)
    E = np.exp(-lam[0] * loss.s)
    r = inputs.dt * (X @ (b[0] * E - loss.rho))
    samples = r * inputs.dt * (X @ E)
    se = samples.std(ddof=1) / math.sqrt(n)
    assert abs(samples.mean() - g_b[0]) < 4 * se


def test_ar1_input_is_the_scaled_gaussian_ar1_chain():
    """Same draws as the chain GaussianAR1(phi), scaled by sigma/sqrt(dt); the recursion by hand."""
    from limitsolver.chains import GaussianAR1

    inputs = AR1Input(dt=0.1, phi=0.5, sigma=2.0)
    x = inputs.sample(50, 7)
    chain_path = GaussianAR1(0.5).sample(50, np.random.default_rng(7))[0, :, 0]
    np.testing.assert_array_equal(x, inputs.scale * chain_path)
    xi = np.random.default_rng(7).standard_normal(50)
    s = 2.0 / np.sqrt(0.1)
    ref = np.empty(50)
    ref[0] = s * xi[0]
    for k in range(1, 50):
        ref[k] = 0.5 * ref[k - 1] + np.sqrt(0.75) * s * xi[k]
    np.testing.assert_allclose(x, ref, rtol=1e-13, atol=1e-13 * s)
    np.testing.assert_allclose(inputs.autocovariance(4), 4.0 * 0.5 ** np.arange(4) / 0.1, rtol=1e-15)
    from limitsolver.errors import ConfigError, NotErgodicError

    with pytest.raises(NotErgodicError, match="`a`"):
        AR1Input(phi=1.0)
    with pytest.raises(ConfigError, match="`dt`"):
        AR1Input(dt=0.0)


def test_memory_kernel_keeps_its_old_name_with_a_warning():
    import limitsolver.linear_rnn as lr

    assert issubclass(PowerLaw, lr.MemoryKernel)
    with pytest.warns(DeprecationWarning, match="MemoryKernel"):
        old = lr.Target
    assert old is lr.MemoryKernel


def test_errors_by_kind():
    from limitsolver.errors import ConfigError

    with pytest.raises(ConfigError, match="`m`"):
        FlowSpec(m=0)
    with pytest.raises(DimensionError, match="`p0`"):
        gradient_flow(PowerLaw(omega=1.0), FlowSpec(m=2), p0=np.ones(5))
    with pytest.raises(ConfigError, match="`omega`"):
        PowerLaw(omega=-1.0)


# --- the plateau theorem's setup --------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(t0=st.floats(0.0, 6.0), width=st.floats(0.3, 2.0), amp=st.floats(-2.0, 2.0),
       a=st.floats(-2.0, 2.0), mu=st.floats(0.2, 3.0))
def test_exponential_bump_transforms_against_quadrature(t0, width, amp, a, mu):
    from limitsolver.linear_rnn import ExponentialBump

    T = ExponentialBump(t0=t0, width=width, amplitude=amp, coefficient=a, rate=mu)

    def rho(s):
        return a * math.exp(-mu * s) + amp * math.exp(-((s - t0) ** 2) / (2 * width**2))

    lam = np.array([0.05, 0.7, 4.0, 30.0])
    for name, weight in (("laplace", lambda s, l: math.exp(-l * s)),
                         ("laplace_moment", lambda s, l: s * math.exp(-l * s))):
        got = getattr(T, name)(lam)
        for g, l in zip(got, lam, strict=True):
            # split at the bump so quad sees both scales
            want = sum(integrate.quad(lambda s, w=weight, l=l: w(s, l) * rho(s), lo, hi, limit=200,
                                      epsabs=1e-13, epsrel=1e-12)[0]
                       for lo, hi in ((0.0, t0 + 10 * width), (t0 + 10 * width, np.inf)))
            assert g == pytest.approx(want, rel=1e-9, abs=1e-12), (name, l)
    want = sum(integrate.quad(lambda s: rho(s) ** 2, lo, hi, limit=200, epsabs=1e-13,
                              epsrel=1e-12)[0]
               for lo, hi in ((0.0, t0 + 10 * width), (t0 + 10 * width, np.inf)))
    assert T.norm2 == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert T.memory == t0


def test_exponential_bump_is_a_plateau_family_and_round_trips():
    from limitsolver.linear_rnn import ExponentialBump, target_from_dict, target_with_memory

    T = target_with_memory("exponential_bump", 3.0, width=0.5, rate=2.0)
    assert T == ExponentialBump(t0=3.0, width=0.5, rate=2.0)
    assert target_from_dict(T.to_dict()) == T
    from limitsolver.errors import ConfigError

    with pytest.raises(ConfigError, match="`rate`"):
        ExponentialBump(t0=1.0, rate=0.0)


def test_first_exit_time_of_a_hand_computed_trajectory():
    from limitsolver.linear_rnn import first_exit_time

    t = [0.0, 1.0, 2.0, 4.0]
    theta = [[1.0, 1.0], [1.3, 1.4], [1.6, 1.8], [1.6, 3.0]]   # |theta - theta_0| = 0, .5, 1, 2.15
    assert first_exit_time(t, theta, 0.75) == pytest.approx(1.5, abs=1e-15)
    assert first_exit_time(t, theta, 0.25) == pytest.approx(0.5, abs=1e-15)
    # the distance to the start, not to the previous point: 1 -> 2.154 between t = 2 and 4
    d3 = math.hypot(0.6, 2.0)
    assert first_exit_time(t, theta, 1.5) == pytest.approx(2.0 + 2.0 * 0.5 / (d3 - 1.0), rel=1e-14)
    assert first_exit_time(t, theta, 3.0) == math.inf
    J = [2.0, 1.9, 1.0, 0.9]                                      # |J - J_0| = 0, .1, 1, 1.1
    assert first_exit_time(t, J, 0.55) == pytest.approx(1.5, abs=1e-15)
    from limitsolver.errors import ConfigError

    with pytest.raises(DimensionError, match="`values`"):
        first_exit_time(t, J[:3], 0.1)
    with pytest.raises(ConfigError, match="`delta`"):
        first_exit_time(t, J, 0.0)


def test_plateau_study_from_the_theorems_initial_point():
    from limitsolver.linear_rnn import LOSS_CONVENTION, ExponentialBump, first_exit_time

    spec = FlowSpec(m=1, t_max=30.0, factorised=False)
    a0, w0 = (0.01,), (1.0,)
    cfg = PlateauConfig(family="exponential_bump", memory_values=(2.0, 4.0),
                        target_params={"width": 0.5, "rate": 2.0}, flow=spec,
                        initial_point=(a0, w0), exit_delta=0.05)
    res = plateau_study(cfg)
    for k, M in enumerate(cfg.memory_values):
        fr = res.flows[0][k]
        np.testing.assert_array_equal(fr.params[0], [0.01, 1.0])
        target = ExponentialBump(t0=M, width=0.5, rate=2.0)
        assert res.initial_loss[0, k] == pytest.approx(
            white_noise_loss(np.array(a0), np.array(w0), target), rel=1e-12)
        assert res.exit_times[0, k] == first_exit_time(fr.t, fr.params, 0.05)
        assert res.loss_exit_times[0, k] == first_exit_time(fr.t, fr.loss, 0.05)
        assert 0 < res.exit_times[0, k] < 30.0
    assert LOSS_CONVENTION in res.table() and res.summary()["loss_convention"] == LOSS_CONVENTION
    assert all(r["loss_convention"] == LOSS_CONVENTION and "tau0" in r for r in res.rows())
    from limitsolver.errors import ConfigError

    with pytest.raises(ConfigError, match="factorised=False"):
        PlateauConfig(flow=FlowSpec(m=1), initial_point=(a0, w0))
    with pytest.raises(DimensionError, match="m = 2"):
        PlateauConfig(flow=FlowSpec(m=2, factorised=False), initial_point=(a0, w0))
    with pytest.raises(ConfigError, match="`n_seeds`"):
        PlateauConfig(flow=spec, initial_point=(a0, w0), n_seeds=2)
