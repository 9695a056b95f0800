"""Tests of the finite-network simulator against independent computations.

Truths used: plain-Python scalar loops written from THEORY.md §2 (no numpy,
no package code), central finite differences of the memory and of the loss,
a two-dimensional quadrature of Sigma(xi, xi) = E[c^2] E[phi^2], exact decimal
floor(N T), and bit-for-bit reproducibility.
"""

from __future__ import annotations

import math
import os
import signal
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from limitsolver.activations import activation
from limitsolver.chains import CircleWalk, GaussianAR1
from limitsolver.errors import (
    ConfigError,
    ContractionError,
    DimensionError,
    DivergenceError,
)
from limitsolver.memory import MemoryState, memory_step
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior, UnitParameters
from limitsolver.problem import Problem
from limitsolver.simulation import SimulationResult, network_output, simulate, windowed_loss
from limitsolver.simulation._kernels import compiled_kernel, scalar_activation_source
from limitsolver.simulation.simulate import numpy_chunk, seed_streams
from limitsolver.targets import StateFunction

# memory_tol 1e-4 keeps the warm-up short (depth 15 for b_max = 0.5) in pure-Python loops
NET = NetworkSpec(memory_tol=1e-4)


def ar1_problem(network=NET, horizon=1.0, target="sin(2*x)"):
    return Problem(GaussianAR1(0.5), StateFunction(target), network, horizon=horizon)


def circle_problem(network=NET, horizon=1.0):
    return Problem(CircleWalk(0.7), StateFunction(lambda x: x[..., 0] * x[..., 1]), network,
                   horizon=horizon)


# -- plain-Python reference, written from THEORY.md section 2 -------------------------------


def reference_run(problem, n_units, seed):
    """Scalar loops over steps and units; returns (f, e, c, w, b) as Python lists."""
    net = problem.network
    act = net.activation
    rng_params, rng_data = seed_streams(seed)
    p = net.prior.sample(n_units, problem.dim, rng_params)
    c = [float(v) for v in p.c]
    w = [[float(v) for v in row] for row in p.w]
    b = [float(v) for v in p.b]
    K = NetworkSpec.n_steps(n_units, problem.horizon)
    W = problem.depth
    path = problem.chain.sample(W + K, rng_data, n_paths=1)[0]
    Y = problem.target.along_path(path[None])[0]
    d = problem.dim
    s = [0.0] * n_units
    jw = [[0.0] * d for _ in range(n_units)]
    jb = [0.0] * n_units
    lr = net.alpha * n_units ** (2 * net.beta - 2)
    sc = n_units ** (-net.beta)
    rtrl = net.gradient == "rtrl"
    fs, es = [], []
    for k in range(W + K):
        x = [float(v) for v in path[k]]
        for i in range(n_units):
            u = sum(w[i][j] * x[j] for j in range(d)) + b[i] * s[i]
            sn = float(act.sigma(u))
            du = float(act.dsigma(u))
            if rtrl or k < W:
                jw[i] = [du * (x[j] + b[i] * jw[i][j]) for j in range(d)]
                jb[i] = du * (s[i] + b[i] * jb[i])
            else:
                jw[i] = [du * x[j] for j in range(d)]
                jb[i] = du * s[i]
            s[i] = sn
        if k < W:
            continue
        f = sc * sum(c[i] * s[i] for i in range(n_units))
        e = float(Y[k]) - f
        fs.append(f)
        es.append(e)
        for i in range(n_units):
            g = lr * e * sc
            c_old = c[i]
            c[i] = c_old + g * s[i]
            w[i] = [w[i][j] + g * c_old * jw[i][j] for j in range(d)]
            b[i] = b[i] + g * c_old * jb[i]
    return np.array(fs), np.array(es), np.array(c), np.array(w), np.array(b)


def memory_python(xs, w, b, act):
    """S after running s <- sigma(w.x + b s) over xs (oldest first) from 0."""
    s = 0.0
    for x in xs:
        s = float(act.sigma(float(np.dot(w, x)) + b * s))
    return s


# -- the step loop --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["rtrl", "truncated"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_matches_plain_python_reference(mode, backend):
    problem = circle_problem(NET.replace(gradient=mode, alpha=2.0), horizon=3.0)
    N = 5
    f_ref, e_ref, c_ref, w_ref, b_ref = reference_run(problem, N, seed=3)
    res = simulate(problem, N, 3, backend=backend)
    assert res.n_steps == 15 and res.status == "finished"
    # rounding only: the two loops sum in different orders (a few hundred ulps over 15 steps)
    np.testing.assert_allclose(res.predictions[0], f_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.errors[0], e_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.final.c[0], c_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.final.w[0], w_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.final.b[0], b_ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_rtrl_sensitivities_are_finite_difference_derivatives_of_the_memory(backend):
    act = activation("tanh")
    rng = np.random.default_rng(11)
    S, N, d, K = 2, 3, 2, 12
    X = rng.standard_normal((S, K, d))
    w = rng.standard_normal((S, N, d))
    b = rng.uniform(-0.5, 0.5, (S, N))
    c = rng.choice([-1.0, 1.0], (S, N))
    state = MemoryState(np.zeros((S, N)), np.zeros((S, N, d)), np.zeros((S, N)))
    net = NetworkSpec(gradient="rtrl")
    if backend == "numpy":
        state, _, _, _ = numpy_chunk(X, np.zeros((S, K)), state, UnitParameters(c, w, b), net,
                                     1.0, 1.0, train=False)
    else:
        kern = compiled_kernel(act.name, act.expression)
        kern(X, np.zeros((S, K)), c.copy(), w.copy(), b.copy(), state.s, state.jw, state.jb,
             1.0, 1.0, True, False, np.empty((S, K)), np.empty((S, K)),
             np.full(S, -1, dtype=np.int64))
    h = 1e-6  # central differences: truncation ~h^2, rounding ~1e-16/h -> ~1e-10
    for q in range(S):
        for i in range(N):
            s0 = memory_python(X[q], w[q, i], b[q, i], act)
            assert state.s[q, i] == pytest.approx(s0, abs=1e-14)
            db = (memory_python(X[q], w[q, i], b[q, i] + h, act)
                  - memory_python(X[q], w[q, i], b[q, i] - h, act)) / (2 * h)
            assert state.jb[q, i] == pytest.approx(db, abs=1e-8)
            for j in range(d):
                e = np.zeros(d)
                e[j] = h
                dw = (memory_python(X[q], w[q, i] + e, b[q, i], act)
                      - memory_python(X[q], w[q, i] - e, b[q, i], act)) / (2 * h)
                assert state.jw[q, i, j] == pytest.approx(dw, abs=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_first_sgd_step_is_minus_lr_times_finite_difference_gradient(backend):
    # After the frozen warm-up, J at step 0 is the exact parameter derivative of the memory,
    # so the first update must equal -lr * grad of 1/2 e_0^2 over (c, w, b).
    N = 4
    problem = ar1_problem(NET.replace(alpha=3.0), horizon=1.0 / N)
    res = simulate(problem, N, 5, backend=backend)
    assert res.n_steps == 1
    W = res.warmup
    _, rng_data = seed_streams(5)
    path = problem.chain.sample(W + 1, rng_data, n_paths=1)[0]
    y = float(res.targets[0, 0])
    act = problem.network.activation
    p0 = res.parameters(0)
    c0, w0, b0 = p0.c[0], p0.w[0], p0.b[0]

    def loss(c, w, b):
        f = sum(c[i] * memory_python(path[:W + 1], w[i], b[i], act) for i in range(N))
        return 0.5 * (y - f * N ** -0.5) ** 2

    lr = problem.network.learning_rate(N)
    h = 1e-6
    for name, arr in (("c", c0), ("w", w0), ("b", b0)):
        delta = getattr(res.final, name)[0] - arr
        for idx in np.ndindex(arr.shape):
            args = {"c": c0.copy(), "w": w0.copy(), "b": b0.copy()}
            args[name][idx] += h
            up = loss(**args)
            args[name][idx] -= 2 * h
            down = loss(**args)
            grad = (up - down) / (2 * h)
            # FD error ~1e-10 relative to a gradient of order one
            assert delta[idx] == pytest.approx(-lr * grad, rel=1e-6, abs=1e-12)


def test_numpy_and_numba_agree_for_tanh_and_a_custom_expression():
    for act, problem_of in (("tanh", ar1_problem), ("u/sqrt(1+u**2)", circle_problem)):
        problem = problem_of(NET.replace(activation=act, alpha=1.5), horizon=4.0)
        a = simulate(problem, 16, [0, 1], backend="numpy")
        b = simulate(problem, 16, [0, 1], backend="numba")
        assert b.backend == "numba"
        # different summation order only: ~1e-15 per step, amplified mildly over 64 steps
        np.testing.assert_allclose(b.predictions, a.predictions, rtol=1e-12, atol=1e-13)
        for x, y in zip(b.final, a.final, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13)


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(["tanh", "sigmoid", "erf", "softplus", "linear"]),
       u=st.floats(-30, 30, allow_nan=False))
def test_scalar_activation_sources_match_sympy(name, u):
    ns = {"math": math}
    exec(scalar_activation_source(name, ""), ns)
    s, ds = ns["_sigma_dsigma"](u)
    act = activation(name)
    import sympy as sp

    from limitsolver.activations import U
    # substituted at 30 digits: subs(U, u) would round 1 + exp(u) to double first
    s_true = float(act.sympy_expr.evalf(30, subs={U: sp.Float(u, 30)}))
    ds_true = float(sp.diff(act.sympy_expr, U).evalf(30, subs={U: sp.Float(u, 30)}))
    assert s == pytest.approx(s_true, rel=1e-14, abs=1e-300)
    # 1 - tanh^2 loses relative accuracy when tanh is close to 1: absolute 1e-15 then
    assert ds == pytest.approx(ds_true, rel=1e-12, abs=4e-16)


# -- bookkeeping ----------------------------------------------------------------------------


@pytest.mark.parametrize("N, T", [(10, "0.7"), (3, "0.1"), (49, "0.29"), (100, "0.07"),
                                  (7, "1.3")])
def test_number_of_steps_is_floor_NT(N, T):
    truth = int((Decimal(N) * Decimal(T)).to_integral_value(rounding="ROUND_FLOOR"))
    res = simulate(ar1_problem(horizon=float(T)), N, 0, backend="numpy")
    assert res.n_steps == truth and res.predictions.shape == (1, truth)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_same_seed_bit_identical_and_ensemble_equals_separate_runs(backend):
    problem = ar1_problem(NET.replace(alpha=2.0), horizon=3.0)
    both = simulate(problem, 12, [4, 9], backend=backend, snapshot_times=[0, 1.5, 3])
    again = simulate(problem, 12, [4, 9], backend=backend, snapshot_times=[0, 1.5, 3])
    for q, seed in enumerate((4, 9)):
        alone = simulate(problem, 12, seed, backend=backend, snapshot_times=[0, 1.5, 3])
        assert np.array_equal(alone.predictions[0], both.predictions[q])
        assert np.array_equal(alone.snapshots.w[0], both.snapshots.w[q])
    for name in ("predictions", "errors", "targets"):
        assert np.array_equal(getattr(both, name), getattr(again, name))
    for x, y in zip(both.snapshots, again.snapshots, strict=True):
        assert np.array_equal(x, y)


def test_snapshots_are_parameters_after_floor_Nt_updates():
    problem = ar1_problem(NET.replace(alpha=2.0), horizon=2.0)
    full = simulate(problem, 8, 1, backend="numpy", snapshot_times=[0.0, 0.55, 2.0])
    assert full.snapshot_steps.tolist() == [0, 4, 16]
    part = simulate(problem.replace(horizon=0.5), 8, 1, backend="numpy")
    assert np.array_equal(part.final.c, full.parameters(0.55).c)
    assert np.array_equal(part.final.w, full.parameters(1).w)
    assert np.array_equal(full.parameters(2.0).b, full.final.b)


def test_running_loss_matches_brute_force_window():
    e = np.random.default_rng(2).standard_normal((2, 23))
    for window in (1, 5, 23, 40):
        got = windowed_loss(e, window)
        for k in range(23):
            lo = max(0, k - window + 1)
            np.testing.assert_allclose(got[:, k], 0.5 * np.mean(e[:, lo:k + 1] ** 2, axis=1),
                                       rtol=1e-12)


# -- initial output --------------------------------------------------------------------------


def test_doubled_initialisation_gives_zero_initial_output():
    net = NET.replace(prior=Prior(doubled=True))
    for backend in ("numpy", "numba"):
        res = simulate(ar1_problem(net, horizon=0.5), 32, [0, 1, 2, 3], backend=backend)
        assert np.all(np.abs(res.predictions[:, 0]) <= 1e-12)
        hist = np.random.default_rng(0).standard_normal((6, 5, 1))
        assert np.all(np.abs(res.output(hist, 0)) <= 1e-12)


def test_initial_output_variance_matches_sigma_quadrature():
    # Var f_0(xi) = E[c^2] E_{w,b}[phi(w,b;xi)^2] exactly for every N (units are iid, E c = 0).
    N, S = 8, 3000
    prior = Prior(sigma_w=1.0, b_max=0.5)
    problem = ar1_problem(NET.replace(prior=prior), horizon=1.0 / N)
    res = simulate(problem, N, list(range(S)), backend="numpy")
    xi = np.array([0.7, -1.2, 0.4, 1.5])  # xi[0] current, then the past
    f0 = res.output(xi[None, :, None], 0)[:, 0]
    act = problem.network.activation

    def phi2(b, w):
        s = memory_python(xi[:0:-1, None], np.array([w]), b, act)
        return float(act.sigma(w * xi[0] + b * s)) ** 2 * math.exp(-w * w / 2) / math.sqrt(
            2 * math.pi) / (2 * prior.b_max)

    sigma, _ = integrate.dblquad(phi2, -12, 12, -prior.b_max, prior.b_max, epsabs=1e-10)
    sigma *= prior.c_second_moment
    est = np.mean(f0**2)  # E f0 = 0 exactly, so the second moment is the variance
    se = np.std(f0**2, ddof=1) / math.sqrt(S)
    assert abs(est - sigma) <= 3.5 * se, (est, sigma, se)


# -- output function -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_output_reproduces_online_predictions_with_frozen_parameters(backend):
    net = NET.replace(alpha=1e-300)  # updates of ~1e-300 leave every parameter unchanged
    problem = ar1_problem(net, horizon=1.0)
    N = 6
    res = simulate(problem, N, 2, backend=backend)
    for a, b in zip(res.final, res.parameters(0), strict=True):
        assert np.array_equal(a, b)
    W = res.warmup
    _, rng_data = seed_streams(2)
    path = problem.chain.sample(W + res.n_steps, rng_data, n_paths=1)[0]
    for k in (0, 3, res.n_steps - 1):
        # the whole path since X_0: same memory as online, rounding only
        full = path[W + k::-1][None]
        assert res.output(full)[0, 0] == pytest.approx(res.predictions[0, k], rel=1e-12,
                                                       abs=1e-14)
        # a window of `depth` states: memory error <= gamma^(L-1) sup|sigma|, so the output
        # error is <= N^-beta sum|c| sup|sigma'| b_max gamma^(L-1)
        L = problem.depth
        win = path[W + k:W + k - L:-1][None]
        bound = N**-0.5 * np.sum(np.abs(res.final.c)) * net.gamma ** L
        assert abs(res.output(win)[0, 0] - res.predictions[0, k]) <= bound


def test_network_output_is_independent_of_unit_chunking():
    rng = np.random.default_rng(4)
    p = UnitParameters(rng.standard_normal((2, 50)), rng.standard_normal((2, 50, 2)),
                       rng.uniform(-0.5, 0.5, (2, 50)))
    hist = rng.standard_normal((7, 4, 2))
    a = network_output(p, hist, "tanh", 0.5)
    b = network_output(p, hist, "tanh", 0.5, max_bytes=1.0)  # one unit at a time
    act = activation("tanh")
    brute = np.array([[sum(p.c[q, i] * float(act.sigma(
        p.w[q, i] @ hist[m, 0] + p.b[q, i] * memory_python(hist[m, :0:-1], p.w[q, i],
                                                            p.b[q, i], act)))
        for i in range(50)) / math.sqrt(50) for m in range(7)] for q in range(2)])
    np.testing.assert_allclose(a, brute, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b, brute, rtol=1e-12, atol=1e-14)


# -- long runs: callback, interruption, storage ---------------------------------------------


def test_callback_returning_false_stops_after_first_chunk():
    records = []

    def cb(rec):
        records.append(rec)
        return False

    res = simulate(ar1_problem(horizon=2.0), 10, [0, 1], backend="numpy", chunk_steps=3,
                   callback=cb)
    assert res.status == "stopped by callback" and not res.success
    assert res.predictions.shape == (2, 3) and res.n_steps == 20
    assert len(records) == 1 and records[0].step == 3
    assert res.times.tolist() == [0.0]


def test_sigint_interrupts_after_the_current_chunk():
    def cb(rec):
        if rec.step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    res = simulate(ar1_problem(horizon=2.0), 10, 0, backend="numpy", chunk_steps=4, callback=cb)
    assert res.status == "interrupted" and res.steps_done == 4


def test_save_and_load_round_trip(tmp_path):
    problem = circle_problem(NET.replace(activation="u/sqrt(1+u**2)"), horizon=1.0)
    res = simulate(problem, 6, [1, 2], backend="numpy", snapshot_times=[0, 0.5, 1])
    res.save(tmp_path / "run")
    back = SimulationResult.load(tmp_path / "run")
    for name in ("predictions", "errors", "targets", "times", "snapshot_steps"):
        assert np.array_equal(getattr(back, name), getattr(res, name))
    assert back.network == res.network and back.seeds == res.seeds
    hist = np.random.default_rng(0).standard_normal((3, 4, 2))
    assert np.array_equal(back.output(hist, 0.5), res.output(hist, 0.5))


# -- errors ---------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="even"):
        simulate(ar1_problem(NET.replace(prior=Prior(doubled=True))), 5, 0)
    with pytest.raises(ValueError, match="n_units"):
        simulate(ar1_problem(), 0, 0)
    with pytest.raises(ConfigError, match=r"snapshot_times.*\[0, 1\].*1\.5"):
        simulate(ar1_problem(), 4, 0, snapshot_times=[0.2, 1.5])
    with pytest.raises(ConfigError, match="seeds"):
        simulate(ar1_problem(), 4, [])
    with pytest.raises(ConfigError, match="backend"):
        simulate(ar1_problem(), 4, 0, backend="cuda")
    with pytest.raises(ContractionError, match="b_max"):
        NET.replace(prior=Prior(b_max=1.2))
    with pytest.raises(DimensionError, match="dimension"):
        Problem(GaussianAR1(0.5), StateFunction(lambda x: x[..., 0] * x[..., 1], dim=2))
    res = simulate(ar1_problem(horizon=0.5), 4, 0, backend="numpy")
    with pytest.raises(DimensionError, match="histories"):
        res.output(np.zeros((3, 4, 2)))
    with pytest.raises(ConfigError, match="snapshot"):
        res.output(np.zeros((3, 4, 1)), 0.3)


def test_divergence_is_reported_with_its_step():
    # linear units, target 1e3 and a huge learning rate: the error grows geometrically
    problem = ar1_problem(NET.replace(activation="linear", alpha=1e4), horizon=50.0,
                          target="1000 + 0*x")
    for backend in ("numpy", "numba"):
        alone = {}
        for seed in (3, 7):
            with pytest.raises(DivergenceError, match=rf"step \d+ .*seed {seed}") as info:
                simulate(problem, 4, seed, backend=backend)
            alone[seed] = info.value.step
            assert 0 < info.value.step < 200
        first = min(alone, key=alone.get)
        with pytest.raises(DivergenceError, match=rf"seed {first}") as info:
            simulate(problem, 4, [3, 7], backend=backend)
        assert info.value.step == alone[first]


def test_divergence_stops_at_the_first_error_outside_the_documented_bound():
    from limitsolver.simulation.simulate import DIVERGENCE_FACTOR

    # alpha = 1e4 at N = 256 used to "succeed" with predictions of 1e57
    problem = ar1_problem(NET.replace(activation="linear", alpha=1e4), horizon=50.0,
                          target="1000 + 0*x")
    with np.errstate(all="ignore"):
        f_ref, e_ref, *_ = reference_run(problem, 4, seed=3)
    _, rng_data = seed_streams(3)
    path = problem.chain.sample(problem.depth + 200, rng_data, n_paths=1)
    y_max = np.max(np.abs(problem.target.along_path(path)[0, problem.depth:]))
    bound = DIVERGENCE_FACTOR * (1 + y_max + abs(f_ref[0]))
    first = int(np.argmax(~(np.abs(e_ref) <= bound)))
    assert 0 < first and np.all(np.isfinite(e_ref[:first + 1]))  # caught before infinity
    for backend in ("numpy", "numba"):
        with pytest.raises(DivergenceError, match=r"left the bound .* at training step") as info:
            simulate(problem, 4, 3, backend=backend)
        assert info.value.step == first


def test_parameters_outside_their_bound_stop_the_run():
    # sigma_c = 1e149: the outputs stay finite while w grows without bound
    problem = ar1_problem(NET.replace(prior=Prior(sigma_c=1e149)), horizon=1.0)
    for backend in ("numpy", "numba"):
        with pytest.raises(DivergenceError, match=r"max\|w\| = .* left the bound .* by training "
                                                  r"step \d+ .* seed 0"):
            simulate(problem, 256, 0, backend=backend)


# -- the kernel's branch-free tanh ----------------------------------------------------------


def _ulp_distance(a, b):
    """|a - b| in units of the spacing of doubles at the true value b (finite b)."""
    return np.abs(a - b) / np.spacing(np.abs(b))


def test_vector_tanh_within_3_ulp_of_numpy_on_a_dense_grid():
    from limitsolver.simulation._kernels import vector_tanh

    tiny = np.geomspace(5e-324, 1.0, 20_001)
    u = np.concatenate([np.linspace(-25.0, 25.0, 1_000_001), tiny, -tiny,
                        np.geomspace(1.0, 1e308, 2_001), -np.geomspace(1.0, 1e308, 2_001),
                        [np.finfo(float).max, -np.finfo(float).max, 19.06, -19.06, 0.1733]])
    t = vector_tanh(u)
    # numpy's tanh is within 1 ulp of the truth; the expm1 polynomial and the
    # division add about 2 ulp (the module docstring's bound)
    assert _ulp_distance(t, np.tanh(u)).max() <= 3.0
    assert np.all(np.abs(t) <= 1.0)
    assert np.array_equal(np.signbit(t), np.signbit(u))


def test_vector_tanh_special_values():
    from limitsolver.simulation._kernels import vector_tanh

    t = vector_tanh(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324]))
    assert t[0] == 1.0 and t[1] == -1.0
    assert np.isnan(t[2])
    assert t[3] == 0.0 and not np.signbit(t[3])
    assert t[4] == 0.0 and np.signbit(t[4])
    assert t[5] == 5e-324  # tanh(u) = u below sqrt(eps)


@settings(max_examples=60, deadline=None)
@given(u=st.one_of(st.floats(-20.0, 20.0), st.floats(-1e-8, 1e-8), st.floats(allow_nan=False,
                                                                              allow_infinity=False)))
def test_vector_tanh_against_mpmath(u):
    import mpmath

    from limitsolver.simulation._kernels import vector_tanh

    with mpmath.workdps(40):
        true = float(mpmath.tanh(mpmath.mpf(u)))
    got = float(vector_tanh(np.array([u]))[0])
    if true == 0.0:
        assert got == 0.0
    else:
        # the correctly rounded value is within 0.5 ulp; 3 ulp as above plus numpy's 1
        assert abs(got - true) <= 3.5 * np.spacing(abs(true))


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("mode", ["rtrl", "truncated"])
@pytest.mark.parametrize("problem_of", [ar1_problem, circle_problem])
def test_numpy_and_numba_agree_with_the_vector_activations(act, mode, problem_of):
    problem = problem_of(NET.replace(activation=act, gradient=mode, alpha=1.5), horizon=4.0)
    a = simulate(problem, 24, [0, 1], backend="numpy")
    b = simulate(problem, 24, [0, 1], backend="numba")
    assert b.backend == "numba"
    # summation order and a few ulp of tanh per step, amplified mildly over 96 steps
    np.testing.assert_allclose(b.predictions, a.predictions, rtol=1e-12, atol=1e-13)
    for x, y in zip(b.final, a.final, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13)


def test_vector_tanh_polynomial_matches_its_defining_function():
    import mpmath

    from limitsolver.simulation import _simd as kern

    coef = [kern._P1, kern._P2, kern._P3, kern._P4, kern._P5]
    with mpmath.workdps(40):
        zmax = (mpmath.log(2) / 2) ** 2
        worst = 0
        for z in mpmath.linspace(zmax / 1000, zmax, 400):
            r = mpmath.sqrt(z)
            exact = (r * mpmath.coth(r / 2) - 2) / z
            worst = max(worst, abs(mpmath.polyval(coef[::-1], z) - exact))
    # interpolation error 5.1e-17 plus rounding of the coefficients to double,
    # sum_j |P_j| z^j eps/2 <= 0.17 * 1.1e-16 = 1.9e-17
    assert worst < 7.0e-17


def test_auto_backend_rule():
    from limitsolver.simulation.simulate import AUTO_NUMBA_MAX_WORK

    N = AUTO_NUMBA_MAX_WORK  # seeds x units at the threshold
    for act, expected in (("tanh", "numba"), ("sigmoid", "numba"), ("erf", "numpy")):
        res = simulate(ar1_problem(NET.replace(activation=act), horizon=2.0 / N), N, 0)
        assert res.backend == expected, act
    res = simulate(ar1_problem(NET.replace(activation="erf"), horizon=0.5), 8, 0)
    assert res.backend == "numba"


# -- the compiled step loop: one unit step, compiled once per machine ------------------------


def _explicit_units(mode, sd):
    """The step loops as they were written before the unit step was shared: one per mode and d."""
    import numba

    jit = numba.njit(fastmath={"reassoc", "nsz", "contract"}, error_model="numpy")
    if mode == "rtrl":
        @jit
        def d1(c, w, b, s, jw, jb, g, x):
            acc = 0.0
            for i in range(c.size):
                co = c[i]
                si = s[i]
                gc = g * co
                cn = co + g * si
                jbi = jb[i]
                jwi = jw[i]
                bi = b[i] + gc * jbi
                wi = w[i] + gc * jwi
                t, du = sd(bi * si + wi * x)
                jw[i] = du * (x + bi * jwi)
                jb[i] = du * (si + bi * jbi)
                c[i] = cn
                b[i] = bi
                w[i] = wi
                s[i] = t
                acc += cn * t
            return acc
    else:
        @jit
        def d1(c, w, b, s, jw, jb, g, x):
            acc = 0.0
            for i in range(c.size):
                co = c[i]
                si = s[i]
                gc = g * co
                cn = co + g * si
                bi = b[i] + gc * jb[i]
                wi = w[i] + gc * jw[i]
                t, du = sd(bi * si + wi * x)
                jw[i] = du * x
                jb[i] = du * si
                c[i] = cn
                b[i] = bi
                w[i] = wi
                s[i] = t
                acc += cn * t
            return acc

    rtrl = mode == "rtrl"

    @jit
    def dn(c, w, b, s, jw, jb, g, x, ubuf, tbuf, dbuf):
        N, d = w.shape
        for i in range(N):
            co = c[i]
            gc = g * co
            c[i] = co + g * s[i]
            bi = b[i] + gc * jb[i]
            b[i] = bi
            u = bi * s[i]
            for j in range(d):
                wij = w[i, j] + gc * jw[i, j]
                w[i, j] = wij
                u += wij * x[j]
            ubuf[i] = u
        for i in range(N):
            tbuf[i], dbuf[i] = sd(ubuf[i])
        acc = 0.0
        for i in range(N):
            du = dbuf[i]
            bi = b[i]
            si = s[i]
            if rtrl:
                for j in range(d):
                    jw[i, j] = du * (x[j] + bi * jw[i, j])
                jb[i] = du * (si + bi * jb[i])
            else:
                for j in range(d):
                    jw[i, j] = du * x[j]
                jb[i] = du * si
            t = tbuf[i]
            s[i] = t
            acc += c[i] * t
        return acc

    return d1, dn


@pytest.mark.slow
@pytest.mark.parametrize("act", ["tanh", "erf"])
@pytest.mark.parametrize("mode", ["rtrl", "truncated"])
def test_shared_unit_step_is_bit_for_bit_the_explicit_loops(act, mode):
    # the loops generated from memory.sensitivity against the four hand-written loops they
    # replaced, compiled with the same flags: identical bits, d = 1 and d = 3, 40 steps
    import numba

    from limitsolver.simulation._kernels import kernel_module

    module = kernel_module(activation(act), mode)
    sd = module.sigma_dsigma if act == "tanh" else numba.njit(inline="always", fastmath={
        "contract"})(lambda u: (math.erf(u), 1.1283791670955126 * math.exp(-u * u)))
    d1, dn = _explicit_units(mode, sd)
    rng = np.random.default_rng(7)
    for d in (1, 3):
        N = 37
        arrays = [rng.choice([-1.0, 1.0], N), rng.standard_normal(N * d),
                  rng.uniform(-0.6, 0.6, N), np.zeros(N), np.zeros(N * d), np.zeros(N)]
        ours, theirs = [a.copy() for a in arrays], [a.copy() for a in arrays]
        if d > 1:
            ours[1], ours[4] = ours[1].reshape(N, d), ours[4].reshape(N, d)
            theirs[1], theirs[4] = theirs[1].reshape(N, d), theirs[4].reshape(N, d)
        bufs = [np.empty(N) for _ in range(3)]
        for k in range(40):
            x = rng.standard_normal(d)
            g = 0.0 if k == 0 else 0.01 * rng.standard_normal()
            if d == 1:
                a = module.units_d1(*ours, g, x[0])
                b = d1(*theirs, g, x[0])
            else:
                a = module.units_dn(*ours, g, x, *bufs)
                b = dn(*theirs, g, x, *[np.empty(N) for _ in range(3)])
            assert a == b or (math.isnan(a) and math.isnan(b))
        for p, q in zip(ours, theirs, strict=True):
            assert np.array_equal(p.view(np.uint64), q.view(np.uint64))


def test_truncated_step_leaves_the_carried_term_out_rather_than_multiplying_by_zero():
    from limitsolver.memory import sensitivity

    # kappa = 0 must drop b J: an infinite or NaN J may not turn the truncated J into NaN
    j = np.array([np.inf, -np.inf, np.nan, 1.0])
    out = sensitivity(0.5, 2.0, 0.3, j, False)
    np.testing.assert_array_equal(out, [1.0, 1.0, 1.0, 1.0])
    assert np.isnan(sensitivity(0.5, 2.0, 0.3, j, True)[:3]).sum() == 1  # inf stays inf in rtrl
    # and memory_step, which uses it
    state = MemoryState(np.zeros((1, 4)), np.full((1, 4, 2), np.inf), np.full((1, 4), np.nan))
    x = np.array([[0.5, -1.0]])
    w = np.ones((1, 4, 2))
    b = np.full((1, 4), 0.5)
    out = memory_step(state, x, w, b, activation("tanh"), "truncated")
    du = 1 - math.tanh(-0.5) ** 2
    np.testing.assert_allclose(out.jw, np.broadcast_to(du * x[:, None, :], (1, 4, 2)), rtol=1e-15)
    np.testing.assert_array_equal(out.jb, np.zeros((1, 4)))


def test_kernel_modules_are_generated_from_the_parsed_formula_not_the_users_text():
    from limitsolver.simulation._kernels import kernel_module, kernel_module_source

    a = activation("u/sqrt(1+u**2)")
    b = activation("u /  sqrt( 1 + u ** 2 )")
    assert a == b
    text = kernel_module_source(b, "truncated")
    assert "u /  sqrt" not in text and "math.sqrt(u**2 + 1)" in text
    assert "CARRY = False" in text and "CARRY = True" in kernel_module_source(a, "rtrl")
    # the module is imported from a file in the cache directory, whose name hashes its text
    mod = kernel_module(a, "truncated")
    assert open(mod.__file__).read() == text


_CACHE_PROBE = """
import json, sys
from limitsolver.chains import GaussianAR1
from limitsolver.network import NetworkSpec
from limitsolver.problem import Problem
from limitsolver.simulation import simulate
from limitsolver.simulation._kernels import kernel_module
from limitsolver.targets import StateFunction
net = NetworkSpec(memory_tol=1e-4, activation="atan(u)/2")
p = Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), net, horizon=1.0)
r = simulate(p, 8, [0], backend="numba")
m = kernel_module(net.activation, "rtrl")
st = m.seeds_serial.stats
print(json.dumps({"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                  "compile": r.compile_time, "f": r.predictions.tolist()}))
"""


@pytest.mark.slow
def test_kernels_compile_once_per_machine(tmp_path):
    import json
    import subprocess
    import sys

    env = dict(os.environ, LIMITSOLVER_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", _CACHE_PROBE], env=env, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(2)]
    # the first process compiles (a miss), the second loads the machine code (a hit)
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0
    assert runs[1]["misses"] == 0 and runs[1]["hits"] == 1
    assert runs[1]["f"] == runs[0]["f"]
    assert list(tmp_path.glob("kernels/limitsolver_kernel_custom_rtrl_*.py"))


# -- h^N_t on histories: the suffix tree and the compiled route ------------------------------


def _shared_suffix_histories(rng, M, L, d):
    """Windows many of which share their oldest states (as exact histories do)."""
    hist = rng.standard_normal((M, L, d))
    hist[M // 3:, L // 2:] = hist[0, L // 2:]
    hist[2 * M // 3:, 1:] = hist[1, 1:]
    return hist


def test_suffix_tree_reproduces_every_windows_memory():
    from limitsolver.memory import suffix_tree

    rng = np.random.default_rng(5)
    hist = _shared_suffix_histories(rng, 12, 6, 2)
    tree = suffix_tree(hist)
    # fewer nodes than levels x windows: the shared suffixes are stored once
    assert tree.x.shape[0] < 1 + 12 * 5 and np.all(tree.up[1:] < np.arange(1, tree.x.shape[0]))
    act = activation("tanh")
    w, b = np.array([0.7, -0.4]), 0.3
    S = np.zeros(tree.x.shape[0])
    for k in range(1, S.size):
        S[k] = math.tanh(float(w @ tree.x[k]) + b * S[tree.up[k]])
    for m in range(12):
        assert S[tree.leaf[m]] == pytest.approx(memory_python(hist[m, :0:-1], w, b, act),
                                                abs=1e-15)


@pytest.mark.parametrize("act", ["tanh", "erf", "u/sqrt(1+u**2)"])
@pytest.mark.parametrize("d", [1, 2])
def test_compiled_output_agrees_with_the_numpy_route(act, d):
    rng = np.random.default_rng(6)
    N = 150  # two blocks of 128 units, the second partial
    p = UnitParameters(rng.standard_normal((3, N)), rng.standard_normal((3, N, d)),
                       rng.uniform(-0.5, 0.5, (3, N)))
    hist = _shared_suffix_histories(rng, 20, 7, d)
    a = network_output(p, hist, act, 0.5, backend="numpy")
    b = network_output(p, hist, act, 0.5, backend="numba")
    # sums of 150 terms of size ~1 in different orders, a few ulp of sigma each
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-14)
    assert np.abs(a).max() > 0.1


def test_mirrored_networks_are_exactly_zero_and_not_evaluated():
    rng = np.random.default_rng(8)
    c, w, b = rng.standard_normal(8), rng.standard_normal((8, 1)), rng.uniform(-0.5, 0.5, 8)
    mirrored = UnitParameters(np.concatenate([c, -c])[None], np.concatenate([w, w])[None],
                              np.concatenate([b, b])[None])
    hist = rng.standard_normal((5, 4, 1))
    for backend in ("numpy", "numba"):
        assert np.array_equal(network_output(mirrored, hist, "tanh", 0.5, backend=backend),
                              np.zeros((1, 5)))
    # one unit moved by one ulp: no longer a mirror, evaluated, of the size of that ulp
    moved = UnitParameters(mirrored.c.copy(), mirrored.w.copy(), mirrored.b.copy())
    moved.b[0, -1] = np.nextafter(moved.b[0, -1], 1.0)
    out = network_output(moved, hist, "tanh", 0.5, backend="numpy")
    assert np.all(np.abs(out) < 1e-14) and np.any(out != 0)


def test_outputs_at_several_times_equal_output_at_each():
    problem = ar1_problem(NET.replace(alpha=2.0, prior=Prior(doubled=True)), horizon=2.0)
    res = simulate(problem, 10, [0, 1], backend="numpy", snapshot_times=[0, 1, 2])
    hist = _shared_suffix_histories(np.random.default_rng(9), 9, 5, 1)
    both = res.outputs(hist)
    assert both.shape == (2, 3, 9)
    for j, t in enumerate(res.times):
        np.testing.assert_array_equal(both[:, j], res.output(hist, t))
    assert np.array_equal(both[:, 0], np.zeros((2, 9)))  # doubled start: exactly zero
