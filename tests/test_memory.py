"""Tests of the memory recursion (THEORY.md §2-§3) against loops, differences and bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.activations import activation
from limitsolver.errors import ConfigError, DimensionError
from limitsolver.memory import MemoryState, memory_on_histories, memory_step

TANH = activation("tanh")


def scalar_memory(hist_m: np.ndarray, w_g: np.ndarray, b_g: float, sigma=math.tanh) -> float:
    """S = Phi_{X_{k-1}} o ... o Phi_{X_{k-L+1}}(0), Phi_x(s) = sigma(w.x + b s), by a plain loop."""
    s = 0.0
    for j in range(hist_m.shape[0] - 1, 0, -1):
        s = sigma(sum(float(w_g[m]) * float(hist_m[j, m]) for m in range(len(w_g))) + b_g * s)
    return s


def problem(seed: int, M: int = 4, L: int = 12, G: int = 3, d: int = 2, b_max: float = 0.8):
    rng = np.random.default_rng(seed)
    hist = rng.standard_normal((M, L, d))
    w = rng.standard_normal((G, d))
    b = rng.uniform(-b_max, b_max, G)
    return hist, w, b


def S_of(hist, w, b, act=TANH):
    return memory_on_histories(hist, w, b, act, sensitivities=False).s


# -- the memory itself ---------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), L=st.integers(1, 15), d=st.integers(1, 3))
def test_memory_matches_scalar_composition(seed, L, d):
    hist, w, b = problem(seed, L=L, d=d)
    S = S_of(hist, w, b)
    ref = np.array([[scalar_memory(hist[m], w[g], float(b[g])) for g in range(len(b))]
                    for m in range(hist.shape[0])])
    # same arithmetic up to the order of the d-term dot product: a few ulps per step
    np.testing.assert_allclose(S, ref, rtol=0, atol=1e-14)


def test_memory_of_length_one_window_is_zero():
    hist, w, b = problem(0, L=1)
    st_ = memory_on_histories(hist, w, b, TANH)
    assert np.all(st_.s == 0) and np.all(st_.jw == 0) and np.all(st_.jb == 0)
    st2 = memory_on_histories(hist, w, b, TANH, sensitivities=False)
    assert st2.jw is None and st2.jb is None


# -- sensitivities -------------------------------------------------------------------------


def central_differences(hist, w, b, act, h):
    """dS/dw_m and dS/db by central differences of the memory; shapes (M, G, d), (M, G)."""
    M, G, d = hist.shape[0], w.shape[0], w.shape[1]
    jw = np.empty((M, G, d))
    for m in range(d):
        e = np.zeros_like(w)
        e[:, m] = h  # each node's coordinate m moves; nodes do not interact
        jw[:, :, m] = (S_of(hist, w + e, b, act) - S_of(hist, w - e, b, act)) / (2 * h)
    jb = (S_of(hist, w, b + h, act) - S_of(hist, w, b - h, act)) / (2 * h)
    return jw, jb


@pytest.mark.parametrize("name, b_max", [("tanh", 0.9), ("sigmoid", 3.0), ("erf", 0.8)])
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 3))
def test_rtrl_sensitivities_equal_central_differences(name, b_max, seed, d):
    act = activation(name)
    hist, w, b = problem(seed, L=15, d=d, b_max=b_max)
    st_ = memory_on_histories(hist, w, b, act)
    jw, jb = central_differences(hist, w, b, act, 1e-5)
    # truncation h^2/6 |d^3 S| (<= ~1e2 for gamma <= 0.9) ~ 2e-9, rounding eps/h ~ 2e-11
    np.testing.assert_allclose(st_.jw, jw, rtol=0, atol=1e-7)
    np.testing.assert_allclose(st_.jb, jb, rtol=0, atol=1e-7)


def test_central_difference_error_is_second_order():
    hist, w, b = problem(3, L=15)
    st_ = memory_on_histories(hist, w, b, TANH)
    hs = np.array([2e-2, 1e-2, 5e-3, 2.5e-3])
    err_w, err_b = [], []
    for h in hs:
        jw, jb = central_differences(hist, w, b, TANH, h)
        err_w.append(np.max(np.abs(jw - st_.jw)))
        err_b.append(np.max(np.abs(jb - st_.jb)))
    for errs in (err_w, err_b):
        slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
        assert 1.8 < slope < 2.2, slope


# -- one-step features (THEORY.md §3) -------------------------------------------------------


def test_one_step_features_equal_theory_formulas():
    hist, w, b = problem(7, M=5, L=10, G=4, d=3)
    mem = memory_on_histories(hist, w, b, TANH)
    x = hist[:, 0, :]
    rtrl = memory_step(mem, x, w, b, TANH, "rtrl")
    trunc = memory_step(mem, x, w, b, TANH, "truncated")

    S, dSw, dSb = mem.s, mem.jw, mem.jb  # (M, G), (M, G, d), (M, G)
    u = np.einsum("gd,md->mg", w, x) + b * S
    ds = 1.0 / np.cosh(u) ** 2  # tanh' written differently from the package
    phi = np.tanh(u)
    psi_w = ds[..., None] * (x[:, None, :] + b[None, :, None] * dSw)
    psi_b = ds * (S + b * dSb)
    chi_w = ds[..., None] * x[:, None, :]
    chi_b = ds * S
    tol = 1e-15  # a few ulps of O(1) numbers
    for got, want in ((rtrl.s, phi), (trunc.s, phi), (rtrl.jw, psi_w), (rtrl.jb, psi_b),
                      (trunc.jw, chi_w), (trunc.jb, chi_b)):
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    assert np.max(np.abs(rtrl.jb - trunc.jb)) > 1e-3  # the two modes really differ

    # psi is the true gradient of phi(theta; xi) = sigma(w.X_k + b S(theta; xi_{k-1}))
    h = 1e-5

    def phi_of(w_, b_):
        s_ = S_of(hist, w_, b_)
        return np.tanh(np.einsum("gd,md->mg", w_, x) + b_ * s_)

    for m in range(3):
        e = np.zeros_like(w)
        e[:, m] = h
        fd = (phi_of(w + e, b) - phi_of(w - e, b)) / (2 * h)
        np.testing.assert_allclose(rtrl.jw[:, :, m], fd, rtol=0, atol=1e-8)
    fd_b = (phi_of(w, b + h) - phi_of(w, b - h)) / (2 * h)
    np.testing.assert_allclose(rtrl.jb, fd_b, rtol=0, atol=1e-8)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 3), P=st.integers(1, 3))
def test_truncated_step_ignores_past_sensitivities(seed, d, P):
    rng = np.random.default_rng(seed)
    G = 4
    state = MemoryState(rng.uniform(-1, 1, (P, G)), rng.standard_normal((P, G, d)),
                        rng.standard_normal((P, G)))
    x = rng.standard_normal((P, d))
    w = rng.standard_normal((P, G, d))
    b = rng.uniform(-0.9, 0.9, (P, G))
    out = memory_step(state, x, w, b, TANH, "truncated")
    u = np.array([[w[p, g] @ x[p] + b[p, g] * state.s[p, g] for g in range(G)] for p in range(P)])
    ds = 1.0 - np.tanh(u) ** 2
    np.testing.assert_allclose(out.s, np.tanh(u), rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.jw, ds[..., None] * x[:, None, :], rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.jb, ds * state.s, rtol=0, atol=1e-15)
    # rtrl from the same state: J^w_{k+1} = sigma'(u)(x + b J^w_k), J^b = sigma'(u)(s + b J^b_k)
    r = memory_step(state, x, w, b, TANH, "rtrl")
    np.testing.assert_allclose(r.jw, ds[..., None] * (x[:, None, :] + b[..., None] * state.jw),
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(r.jb, ds * (state.s + b * state.jb), rtol=0, atol=1e-15)


# -- truncation of the past ----------------------------------------------------------------


def test_truncation_error_bound_and_geometric_rate():
    rng = np.random.default_rng(11)
    M, d, L_ref = 60, 2, 150
    hist = rng.standard_normal((M, L_ref, d))
    # node 0: small w keeps u near 0, so sigma' ~ 1 and the rate is |b| itself
    w = np.array([[0.05, -0.03], [1.0, 0.5], [-0.7, 1.2]])
    b = np.array([0.6, -0.8, 0.7])
    gamma = np.abs(b) * TANH.sup_dsigma
    S_inf = S_of(hist, w, b)  # error of the reference <= 0.8^149 ~ 1e-15
    Ls = np.arange(4, 40, 3)
    errs = np.array([np.max(np.abs(S_of(hist[:, :L], w, b) - S_inf), axis=0) for L in Ls])
    # |S_L - S_inf| <= gamma^(L-1) sup|sigma| for every node (and so for gamma = max)
    assert np.all(errs <= gamma[None, :] ** (Ls[:, None] - 1) * TANH.sup_sigma + 1e-15)
    slopes = []
    for g in range(3):
        ok = errs[:, g] > 1e-13  # fit above rounding level
        assert ok.sum() >= 5
        slopes.append(np.polyfit(Ls[ok], np.log(errs[ok, g]), 1)[0])
    # the decay is geometric at least as fast as gamma per step ...
    assert all(s <= math.log(gamma[g]) + 0.05 for g, s in enumerate(slopes)), slopes
    # ... and for the nearly linear node, at the rate |b| (band: +-0.1 in log-rate)
    assert abs(slopes[0] - math.log(abs(b[0]))) < 0.1, slopes


# -- errors --------------------------------------------------------------------------------


def test_shape_errors():
    hist, w, b = problem(0)
    with pytest.raises(DimensionError, match=r"`histories` must have shape \(M, L, d\), got \(4, 12\)"):
        memory_on_histories(hist[..., 0], w, b, TANH)
    with pytest.raises(DimensionError, match=r"`w` must have shape \(G, 3\).*got w \(3, 2\), b \(3,\)"):
        memory_on_histories(np.zeros((4, 12, 3)), w, b, TANH)
    with pytest.raises(DimensionError, match=r"got w \(3, 2\), b \(2,\)"):
        memory_on_histories(hist, w, b[:2], TANH)
    state = MemoryState(np.zeros((4, 3)), None, None)
    with pytest.raises(DimensionError, match=r"`x` of shape \(4, 3\) and `w` of shape \(3, 2\)"):
        memory_step(state, np.zeros((4, 3)), w, b, TANH)
    full = MemoryState(np.zeros((4, 3)), np.zeros((4, 3, 2)), np.zeros((4, 3)))
    with pytest.raises(ConfigError, match=r"`mode` must be one of \('rtrl', 'truncated'\), got 'rtlr'"):
        memory_step(full, np.zeros((4, 2)), w, b, TANH, "rtlr")


def _levels_by_whole_suffix(histories):
    """The suffix levels keyed by the whole suffix rows, (L - j) d columns each (reference)."""
    M = histories.shape[0]
    parent = np.zeros(M, dtype=np.intp)
    for j in range(histories.shape[1] - 1, 0, -1):
        keys = np.ascontiguousarray(histories[:, j:, :].reshape(M, -1))
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        up = parent[first]
        parent = inverse.reshape(M)
        yield j, first, up, parent


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), M=st.integers(1, 60), L=st.integers(1, 7),
       d=st.integers(1, 3), n_values=st.sampled_from([2, 3, 0]))
def test_suffix_levels_keyed_by_state_and_rank_equal_whole_suffix_keys(seed, M, L, d,
                                                                        n_values):
    """Keying a level by (state, rank of the older suffix) gives the same tree, index for index.

    Discrete windows (many shared suffixes, signed zeros among the states) and
    continuous ones (n_values = 0, all distinct).
    """
    from limitsolver.memory import _suffix_levels

    rng = np.random.default_rng(seed)
    if n_values:
        values = np.array([-0.0, 0.0, 1.5, -2.0])[:n_values + 1]
        X = rng.choice(values, size=(M, L, d))
    else:
        X = rng.standard_normal((M, L, d))
    got = list(_suffix_levels(X))
    ref = list(_levels_by_whole_suffix(X))
    assert len(got) == len(ref) == L - 1
    for a, b in zip(got, ref, strict=True):
        assert a[0] == b[0]
        for x, y in zip(a[1:], b[1:], strict=True):
            assert np.array_equal(x, y)
