"""Tests of limitsolver.targets against brute-force loops written from THEORY.md §1-§2."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.errors import ConfigError, ContractionError, DimensionError, DivergenceError
from limitsolver.prior import Prior
from limitsolver.targets import (
    LinearMemory,
    StateFunction,
    Target,
    TeacherRNN,
    WindowFunction,
    make_target,
)

FAST = settings(max_examples=25, deadline=None)


# -- independent references ----------------------------------------------------------------


def brute_windows(path: np.ndarray, L: int) -> np.ndarray:
    """History of every step by explicit loops: out[p, k, j] = X_{k-j} (zero before X_0)."""
    P, n, d = path.shape
    out = np.zeros((P, n, L, d))
    for p in range(P):
        for k in range(n):
            for j in range(L):
                if k - j >= 0:
                    out[p, k, j] = path[p, k - j]
    return out


def eval_on_windows(target, path: np.ndarray, L: int) -> np.ndarray:
    """Evaluate ``target.__call__`` on the brute-force histories of every step."""
    P, n, d = path.shape
    return target(brute_windows(path, L).reshape(P * n, L, d)).reshape(P, n)


def linear_memory_loop(rho: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Y_k = sum_{j<J, j<=k} sum_m rho[j, m] X_{k-j, m} with Python scalars."""
    P, n, d = path.shape
    y = np.zeros((P, n))
    for p in range(P):
        for k in range(n):
            acc = 0.0
            for j in range(rho.shape[0]):
                if k - j < 0:
                    break
                for m in range(d):
                    acc += float(rho[j, m]) * float(path[p, k - j, m])
            y[p, k] = acc
    return y


def teacher_loop(c, w, b, scale, path, sigma=math.tanh) -> np.ndarray:
    """THEORY.md §2 with frozen parameters: u = w.x + b s, s <- sigma(u), Y = scale sum c s."""
    P, n_steps, d = path.shape
    n = len(c)
    y = np.zeros((P, n_steps))
    for p in range(P):
        s = [0.0] * n
        for k in range(n_steps):
            x = [float(v) for v in path[p, k]]
            s = [
                sigma(sum(float(w[i][m]) * x[m] for m in range(d)) + float(b[i]) * s[i])
                for i in range(n)
            ]
            y[p, k] = scale * sum(float(c[i]) * s[i] for i in range(n))
    return y


def _sigmoid(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-u))


# -- protocol ------------------------------------------------------------------------------


def test_builtin_targets_satisfy_protocol():
    targets = [
        StateFunction("x"),
        LinearMemory([1.0, 0.5]),
        TeacherRNN([1.0], [[1.0]], [0.1]),
        WindowFunction(lambda h: h[:, 0, 0], 1),
    ]
    for t in targets:
        assert isinstance(t, Target)
        assert t.window >= 1


# -- along_path versus histories -----------------------------------------------------------


@FAST
@given(
    decay=st.floats(-0.95, 0.95),
    n_terms=st.integers(1, 9),
    n_steps=st.integers(1, 25),
    dim=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_linear_memory_along_path_matches_double_loop_and_windows(decay, n_terms, n_steps, dim, seed):
    rng = np.random.default_rng(seed)
    path = rng.standard_normal((2, n_steps, dim))
    t = LinearMemory.geometric(decay, n_terms, dim=dim, scale=1.7)
    ref = linear_memory_loop(t.rho, path)
    # exact sums of at most 27 products of O(1) numbers: a few hundred ulps at most
    np.testing.assert_allclose(t.along_path(path), ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(eval_on_windows(t, path, n_terms + 2), ref, rtol=0, atol=1e-13)


def test_linear_memory_geometric_coefficients_and_1d_rho():
    t = LinearMemory.geometric(-0.5, 4, dim=2, scale=3.0)
    np.testing.assert_array_equal(t.rho, [[3.0, 3.0], [-1.5, -1.5], [0.75, 0.75], [-0.375, -0.375]])
    t1 = LinearMemory([2.0, -1.0, 0.5])
    assert (t1.dim, t1.window) == (1, 3)
    path = np.array([[[1.0], [2.0], [3.0], [4.0]]])
    # hand computed: Y_0 = 2, Y_1 = 4 - 1, Y_2 = 6 - 2 + 0.5, Y_3 = 8 - 3 + 1
    np.testing.assert_array_equal(t1.along_path(path), [[2.0, 3.0, 4.5, 6.0]])


@FAST
@given(
    decay=st.floats(0.05, 0.9),
    tol=st.sampled_from([1e-2, 1e-5, 1e-9, 1e-13]),
    dim=st.integers(1, 3),
    scale=st.floats(0.1, 10.0),
)
def test_from_tolerance_tail_bound_is_minimal(decay, tol, dim, scale):
    t = LinearMemory.from_tolerance(decay, tol, dim=dim, scale=scale)
    J = t.window

    def tail(J0):  # sum_{j >= J0} ||rho_j||_1 by explicit summation until terms vanish
        return sum(dim * scale * decay**j for j in range(J0, J0 + 5000))

    assert tail(J) <= tol * (1 + 1e-9)
    if J > 1:
        assert tail(J - 1) > tol * (1 - 1e-9)


def test_from_tolerance_truncation_error_is_below_tol_on_bounded_paths():
    decay, tol = 0.7, 1e-6
    rng = np.random.default_rng(1)
    path = rng.uniform(-1.0, 1.0, size=(3, 200, 2))
    short = LinearMemory.from_tolerance(decay, tol, dim=2)
    long = LinearMemory.geometric(decay, 150, dim=2)  # tail 0.7^150 ~ 1e-23
    err = np.max(np.abs(short.along_path(path) - long.along_path(path))[:, 150:])
    assert err <= tol
    # and the bound is not wildly loose: the error is at least 1% of it for generic data
    assert err > 1e-3 * tol


def test_state_function_expression_matches_numpy():
    rng = np.random.default_rng(2)
    path = rng.standard_normal((3, 17, 1))
    t = StateFunction("sin(2*x) + exp(-x**2)/3")
    np.testing.assert_allclose(
        t.along_path(path), np.sin(2 * path[..., 0]) + np.exp(-path[..., 0] ** 2) / 3, rtol=1e-15, atol=1e-15
    )
    np.testing.assert_allclose(eval_on_windows(t, path, 3), t.along_path(path), rtol=0, atol=0)
    t2 = StateFunction("x1*x2 - cos(x3)", dim=3)
    p3 = rng.standard_normal((2, 5, 3))
    np.testing.assert_allclose(
        t2.along_path(p3), p3[..., 0] * p3[..., 1] - np.cos(p3[..., 2]), rtol=1e-15, atol=1e-15
    )
    const = StateFunction("2", dim=1)
    np.testing.assert_array_equal(const.along_path(p3[..., :1]), np.full((2, 5), 2.0))


def test_state_function_callable_and_pickle():
    t = StateFunction(lambda x: np.sum(x**2, axis=-1))
    assert t.dim is None
    rng = np.random.default_rng(3)
    for d in (1, 4):
        path = rng.standard_normal((2, 6, d))
        np.testing.assert_array_equal(t.along_path(path), np.sum(path**2, axis=-1))
    s = StateFunction("tanh(x)")
    path = rng.standard_normal((1, 4, 1))
    y = s.along_path(path)
    s2 = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(s2.along_path(path), y)


@FAST
@given(window=st.integers(1, 6), n_steps=st.integers(1, 20), dim=st.integers(1, 2), seed=st.integers(0, 999))
def test_window_function_zero_padding_matches_brute_windows(window, n_steps, dim, seed):
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((window, dim))

    def f(h):  # nonlinear and order-sensitive in the window
        return np.tanh(np.einsum("mjd,jd->m", h, weights)) + h[:, -1, 0] ** 2

    t = WindowFunction(f, window, dim=dim)
    path = rng.standard_normal((2, n_steps, dim))
    ref = np.array(
        [[f(brute_windows(path, window)[p, k][None])[0] for k in range(n_steps)] for p in range(2)]
    )
    np.testing.assert_array_equal(t.along_path(path), ref)
    np.testing.assert_array_equal(eval_on_windows(t, path, window + 1), ref)


def test_window_function_chunks_agree(monkeypatch):
    import limitsolver.targets as targets

    rng = np.random.default_rng(4)
    path = rng.standard_normal((3, 50, 2))
    t = WindowFunction(lambda h: h[:, 0, 0] - 2 * h[:, 2, 1], 3, dim=2)
    full = t.along_path(path)
    monkeypatch.setattr(targets, "_CHUNK_FLOATS", 7)  # one history per chunk
    np.testing.assert_array_equal(t.along_path(path), full)


# -- teacher network -----------------------------------------------------------------------


@FAST
@given(
    n_units=st.integers(1, 5),
    dim=st.integers(1, 2),
    b_max=st.floats(0.0, 0.9),
    n_steps=st.integers(1, 12),
    seed=st.integers(0, 999),
)
def test_teacher_along_path_matches_scalar_loop(n_units, dim, b_max, n_steps, seed):
    rng = np.random.default_rng(seed)
    prior = Prior(b_max=b_max, c_law="gaussian")
    t = TeacherRNN.from_prior(n_units, prior, "tanh", dim, rng)
    path = rng.standard_normal((2, n_steps, dim))
    ref = teacher_loop(t.c, t.w, t.b, t.scale, path)
    # same operations in a different order: agreement to ~1e-15 relative, 1e-13 absolute
    np.testing.assert_allclose(t.along_path(path), ref, rtol=0, atol=1e-13)


def test_teacher_sigmoid_along_path_matches_scalar_loop():
    rng = np.random.default_rng(5)
    t = TeacherRNN.from_prior(4, Prior(b_max=2.0), "sigmoid", 2, rng)  # gamma = 0.5
    path = rng.standard_normal((2, 15, 2))
    ref = teacher_loop(t.c, t.w, t.b, t.scale, path, sigma=_sigmoid)
    np.testing.assert_allclose(t.along_path(path), ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("memory_tol", [1e-3, 1e-6, 1e-10])
def test_teacher_window_truncation_error_below_bound(memory_tol):
    rng = np.random.default_rng(6)
    t = TeacherRNN.from_prior(6, Prior(b_max=0.8), "tanh", 1, rng, memory_tol=memory_tol)
    L = t.window
    gamma = t.gamma
    # window definition: gamma^(L-1) sup|sigma| <= tol < gamma^(L-2) sup|sigma| (sup|tanh| = 1)
    assert gamma ** (L - 1) <= memory_tol < gamma ** (L - 2)
    path = rng.standard_normal((4, L + 60, 1))
    exact = teacher_loop(t.c, t.w, t.b, t.scale, path)
    on_windows = eval_on_windows(t, path, L + 3)  # reads only the first L states
    err = np.abs(on_windows - exact)
    bound = t.scale * np.sum(np.abs(t.c)) * gamma * memory_tol
    assert np.max(err[:, L:]) <= bound
    # tanh(0) = 0: with zero padding the early windows reproduce s_0 = 0 exactly
    np.testing.assert_allclose(on_windows[:, : L - 1], exact[:, : L - 1], rtol=0, atol=1e-13)
    # the bound is attained to within the typical size of |S - S_L| (not vacuous)
    if memory_tol == 1e-3:
        assert np.max(err) > 1e-4 * bound


def test_teacher_window_reads_only_first_window_states():
    rng = np.random.default_rng(7)
    t = TeacherRNN.from_prior(3, Prior(), "tanh", 1, rng, memory_tol=1e-4)
    h = rng.standard_normal((5, t.window + 4, 1))
    h2 = h.copy()
    h2[:, t.window :] = 100.0
    np.testing.assert_array_equal(t(h), t(h2))


def test_teacher_zero_recurrence_has_window_one():
    t = TeacherRNN([2.0, -1.0], [[1.0], [0.5]], [0.0, 0.0], scale=0.5)
    assert t.window == 1
    h = np.array([[[0.3]], [[-1.2]]])
    np.testing.assert_allclose(
        t(h), 0.5 * (2 * np.tanh(h[:, 0, 0]) - np.tanh(0.5 * h[:, 0, 0])), rtol=1e-15, atol=0
    )


def test_teacher_from_prior_is_reproducible_and_scaled():
    a = TeacherRNN.from_prior(16, Prior(), "tanh", 2, 11)
    b = TeacherRNN.from_prior(16, Prior(), "tanh", 2, np.random.default_rng(11))
    for x, y in ((a.c, b.c), (a.w, b.w), (a.b, b.b)):
        np.testing.assert_array_equal(x, y)
    assert a.scale == 0.25
    c = make_target({"kind": "teacher", "n_units": 16, "seed": 11}, 2)
    np.testing.assert_array_equal(c.w, a.w)
    path = np.random.default_rng(0).standard_normal((1, 10, 2))
    np.testing.assert_array_equal(c.along_path(path), a.along_path(path))


# -- configuration factory -----------------------------------------------------------------


def test_make_target_kinds():
    t = make_target({"kind": "state", "expression": "sin(2*x)"}, 1)
    assert isinstance(t, StateFunction)
    np.testing.assert_allclose(t(np.full((1, 1, 1), 0.25)), [math.sin(0.5)], rtol=1e-15)
    lm = make_target({"kind": "linear_memory", "decay": 0.5, "n_terms": 10}, 2)
    np.testing.assert_array_equal(lm.rho, LinearMemory.geometric(0.5, 10, dim=2).rho)
    lm_tol = make_target({"kind": "linear_memory", "decay": 0.5, "tol": 1e-4}, 1)
    assert lm_tol.window == LinearMemory.from_tolerance(0.5, 1e-4).window
    lm_rho = make_target({"kind": "linear_memory", "rho": [[1, 2], [3, 4]]}, 2)
    np.testing.assert_array_equal(lm_rho.rho, [[1, 2], [3, 4]])
    assert isinstance(make_target("teacher", 3), TeacherRNN)
    assert isinstance(make_target("x1 + x2", 2), StateFunction)
    assert make_target(lm, 2) is lm


def test_make_target_errors():
    with pytest.raises(ConfigError, match=r"'ridge'.*valid kinds are \['linear_memory', 'state', 'teacher'\]"):
        make_target({"kind": "ridge"}, 1)
    with pytest.raises(ConfigError, match=r"unknown key `target.decai`; valid keys of `target`: "
                                          r"decay, n_terms, rho, scale, tol"):
        make_target({"kind": "linear_memory", "decai": 0.5}, 1)
    with pytest.raises(ConfigError, match="one of 'n_terms', 'tol' or 'rho'"):
        make_target({"kind": "linear_memory", "n_terms": 3, "tol": 1e-3}, 1)
    with pytest.raises(ConfigError, match="`target.n_units` must be a positive integer"):
        make_target({"kind": "teacher", "n_units": 0}, 1)
    with pytest.raises(ConfigError, match="`target.sigma_w` must be positive"):
        make_target({"kind": "teacher", "sigma_w": -1.0}, 1)
    with pytest.raises(ContractionError, match="does not contract"):
        make_target({"kind": "teacher", "b_max": 1.5}, 1)
    with pytest.raises(DimensionError, match="dimension 2 but `dim` = 1"):
        make_target(LinearMemory(np.ones((2, 2))), 1)
    with pytest.raises(ConfigError, match="`target.expression` is required for a 'state' target"):
        make_target({"kind": "state"}, 1)
    with pytest.raises(ConfigError, match="`target.seed` must be an integer, got 1.5"):
        make_target({"kind": "teacher", "seed": 1.5}, 1)
    with pytest.raises(ConfigError, match="`target.decay` must be a number, got 'half'"):
        make_target({"kind": "linear_memory", "decay": "half", "n_terms": 3}, 1)


# -- errors --------------------------------------------------------------------------------


def test_shape_errors_name_both_shapes():
    t = LinearMemory(np.ones((3, 2)))
    with pytest.raises(DimensionError, match=r"shape \(4, 2, 2\).*window of 3"):
        t(np.zeros((4, 2, 2)))
    with pytest.raises(DimensionError, match=r"shape \(4, 3, 1\).*dimension 1 but LinearMemory reads states of dimension 2"):
        t(np.zeros((4, 3, 1)))
    with pytest.raises(DimensionError, match=r"\(n_paths, n_steps, d\).*\(5, 2\)"):
        t.along_path(np.zeros((5, 2)))
    with pytest.raises(DimensionError, match="dimension 3 but TeacherRNN"):
        TeacherRNN([1.0], [[1.0, 0.0]], [0.1]).along_path(np.zeros((1, 4, 3)))
    with pytest.raises(DimensionError, match=r"shapes \(n,\), \(n, d\), \(n,\)"):
        TeacherRNN([1.0, 2.0], [[1.0]], [0.1])
    with pytest.raises(DimensionError, match=r"returned values of shape \(3, 2\); expected shape \(3,\)"):
        WindowFunction(lambda h: h[:, 0, :], 1)(np.zeros((3, 1, 2)))


def test_expression_errors():
    with pytest.raises(ConfigError, match=r"'sin\(x'.*could not be parsed"):
        StateFunction("sin(x")
    with pytest.raises(ConfigError, match=r"also uses \['y'\]"):
        StateFunction("x + y")
    with pytest.raises(DimensionError, match="pass `dim`"):
        StateFunction("x1 * x2")
    with pytest.raises(DimensionError, match="uses x3 but `dim` = 2"):
        StateFunction("x3", dim=2)
    with pytest.raises(DimensionError, match="scalar `x` but `dim` = 2"):
        StateFunction("x", dim=2)
    with pytest.raises(ConfigError, match="must be a callable"):
        StateFunction(3.0)


def test_nonfinite_values_raise_divergence():
    with pytest.raises(DivergenceError, match="StateFunction returned non-finite values"):
        StateFunction("log(x)").along_path(-np.ones((1, 3, 1)))
    with pytest.raises(DivergenceError, match="WindowFunction"):
        WindowFunction(lambda h: 1.0 / h[:, 0, 0], 1)(np.zeros((2, 1, 1)))


def test_parameter_errors():
    with pytest.raises(ContractionError, match=r"max\|`b`\| \* sup\|sigma'\| = 1.2"):
        TeacherRNN([1.0], [[1.0]], [1.2])
    with pytest.raises(ConfigError, match=r"\|decay\| < 1"):
        LinearMemory.from_tolerance(1.0, 1e-3)
    with pytest.raises(ConfigError, match="`tol` must be positive"):
        LinearMemory.from_tolerance(0.5, 0.0)
    with pytest.raises(ConfigError, match="`n_terms` must be a positive integer"):
        LinearMemory.geometric(0.5, 0)
    with pytest.raises(DimensionError, match=r"`rho` must have shape \(J, d\)"):
        LinearMemory(np.ones((2, 2, 2)))
    with pytest.raises(ConfigError, match="`window` must be a positive integer"):
        WindowFunction(lambda h: h[:, 0, 0], 0)
    with pytest.raises(ConfigError, match="`memory_tol` must lie in"):
        TeacherRNN([1.0], [[1.0]], [0.1], memory_tol=0.0)
