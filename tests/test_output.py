"""The frozen-parameter output h^N_t on histories: compiled route against independent truths.

Truths used: a plain-Python sum over units of the memory recursion written from
THEORY.md §3 (math.tanh / math.erf, no package code), the numpy route of
``network_output``, and bit-for-bit identities: a window's number does not
depend on the other windows evaluated with it, and with an odd activation the
output at the negated window is the negated output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from limitsolver.activations import activation
from limitsolver.chains import FiniteChain
from limitsolver.histories import exact_histories
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior, UnitParameters
from limitsolver.problem import Problem
from limitsolver.simulation import network_output, simulate
from limitsolver.simulation import output as out_mod
from limitsolver.simulation._kernels import vector_tanh
from limitsolver.targets import StateFunction

EPS = np.finfo(float).eps
SCALAR = {"tanh": math.tanh, "erf": math.erf, "linear": lambda u: u,
          "sigmoid": lambda u: 1.0 / (1.0 + math.exp(-u))}


def brute_force(p: UnitParameters, hist: np.ndarray, sigma, beta: float) -> np.ndarray:
    """N^-beta sum_i c_i sigma(w_i.x + b_i S_i), S_i run from 0 over the past, oldest first."""
    S, N = p.c.shape
    M, L, d = hist.shape
    out = np.zeros((S, M))
    for q in range(S):
        for m in range(M):
            total = 0.0
            for i in range(N):
                w = [float(v) for v in p.w[q, i]]
                b = float(p.b[q, i])
                s = 0.0
                for j in range(L - 1, -1, -1):      # histories[m, j] is j steps back
                    s = sigma(sum(w[k] * float(hist[m, j, k]) for k in range(d)) + b * s)
                total += float(p.c[q, i]) * s
            out[q, m] = total * N ** -beta
    return out


def sum_bound(p: UnitParameters, beta: float, sup_sigma: float = 1.0) -> np.ndarray:
    """Rounding bound per network: (16 + N) eps N^-beta sum|c| sup|sigma|.

    16 eps: a few ulp of sigma at each of the unit's memory steps, contracted by
    |b| sup|sigma'| <= 1/2 (geometric sum <= 2); N eps: the sum over N units in
    any order (each partial sum at most sum|c| sup|sigma|).
    """
    N = p.c.shape[1]
    return (16 + N) * EPS * N ** -beta * np.abs(p.c).sum(axis=1) * sup_sigma


def params(rng, S, N, d, b_max=0.5) -> UnitParameters:
    return UnitParameters(rng.standard_normal((S, N)), rng.standard_normal((S, N, d)),
                          rng.uniform(-b_max, b_max, (S, N)))


def mixed_windows(rng, M, L, d) -> np.ndarray:
    """Windows of three states (one of them 0) sharing suffixes, repeated, with their negations."""
    states = np.concatenate([rng.standard_normal((2, d)), np.zeros((1, d))])
    hist = states[rng.integers(0, 3, (M, L))]
    return np.concatenate([hist, -hist, hist[: M // 3]])


@pytest.mark.parametrize("name", ["tanh", "erf", "linear", "sigmoid"])
@pytest.mark.parametrize("d", [1, 2])
def test_compiled_output_equals_a_brute_force_sum(name, d):
    rng = np.random.default_rng(10 + d)
    p = params(rng, 2, 40, d, b_max=0.4)
    hist = mixed_windows(rng, 9, 5, d)
    got = network_output(p, hist, name, 0.5, backend="numba")
    want = brute_force(p, hist, SCALAR[name], 0.5)
    # linear: |S| <= sum_j 0.4^j |w.x| <= 2 max|w|_1 max|x| bounds sigma on every step
    sup = 1.0 if name != "linear" else 2 * np.abs(p.w).sum(axis=-1).max() * np.abs(hist).max()
    tol = sum_bound(p, 0.5, sup)[:, None]
    assert np.all(np.abs(got - want) <= tol)
    assert np.abs(want).max() > 0.1


@pytest.mark.parametrize("name", ["tanh", "linear", "erf"])
def test_each_window_is_computed_as_if_alone(name):
    # repeated and negated windows are evaluated once: the numbers must be exactly those
    # of evaluating every window by itself (which is how they were evaluated before)
    rng = np.random.default_rng(20)
    p = params(rng, 3, 300, 2)                      # 3 blocks of units, the last partial
    hist = mixed_windows(rng, 12, 6, 2)
    act = activation(name)
    kernel = out_mod._compiled(act, True)
    c, w, b = p.c, p.w, p.b
    batch = out_mod._tree_output(kernel, c, w, b, hist, out_mod._odd_kernel(act))
    alone = np.concatenate([out_mod._tree_output(kernel, c, w, b, hist[m:m + 1], False)
                            for m in range(hist.shape[0])], axis=1)
    assert np.array_equal(batch, alone)
    assert np.array_equal(np.abs(batch).view(np.int64), np.abs(alone).view(np.int64))


def test_negated_windows_give_negated_outputs_bit_for_bit():
    rng = np.random.default_rng(21)
    p = params(rng, 2, 200, 1)
    hist = rng.standard_normal((15, 7, 1))
    for name in ("tanh", "linear"):
        a = network_output(p, hist, name, 0.5, backend="numba")
        assert np.array_equal(network_output(p, -hist, name, 0.5, backend="numba"), -a)


def test_compiled_tanh_is_odd_bit_for_bit():
    # what the sign symmetry of the output rests on
    tiny = np.finfo(float).tiny
    u = np.concatenate([np.linspace(-45, 45, 20001), np.geomspace(tiny * 1e-10, 50, 3000),
                        [0.0, 5e-324, tiny, 19.06, 19.07, 40.0, 41.0, 1e300, np.inf]])
    t = vector_tanh(u)
    assert np.array_equal(vector_tanh(-u).view(np.int64), (-t).view(np.int64))
    assert out_mod._odd_kernel(activation("tanh")) and out_mod._odd_kernel(activation("linear"))
    for name in ("sigmoid", "erf", "softplus", "u/sqrt(1+u**2)"):
        assert not out_mod._odd_kernel(activation(name))


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_exact_histories_of_a_symmetric_chain_against_the_numpy_route(name):
    rng = np.random.default_rng(22)
    chain = FiniteChain([[0.7, 0.3], [0.4, 0.6]], [-1.0, 1.0])
    hist = exact_histories(chain, 8).values                      # all 256 windows of +-1
    p = params(rng, 2, 150, 1)
    a = network_output(p, hist, name, 0.5, backend="numpy")
    b = network_output(p, hist, name, 0.5, backend="numba")
    # sums of 150 terms of size ~1 in different orders, a few ulp of sigma each
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-14)
    windows, index, sign = out_mod._distinct_windows(hist, out_mod._odd_kernel(activation(name)))
    assert windows.shape[0] == (128 if name == "tanh" else 256)   # tanh: one of each +- pair


def test_distinct_windows_rebuild_every_window():
    rng = np.random.default_rng(23)
    hist = mixed_windows(rng, 10, 4, 2)
    hist[:5] = np.where(hist[:5] == 0.0, -0.0, hist[:5])     # signed zeros are zeros
    assert np.signbit(hist[:5][hist[:5] == 0.0]).any()
    rows = np.unique(hist.reshape(hist.shape[0], -1) + 0.0, axis=0)
    n_zero = int((rows == 0).all(axis=1).any())            # a window equal to its negation
    for odd, count in ((False, rows.shape[0]), (True, (rows.shape[0] + n_zero) // 2)):
        windows, index, sign = out_mod._distinct_windows(hist, odd)
        np.testing.assert_array_equal(windows[index] * sign[:, None, None], hist)
        assert windows.shape[0] == count < hist.shape[0]
    # odd: every kept window has a positive oldest nonzero coordinate
    windows, _, _ = out_mod._distinct_windows(hist, True)
    flat = windows[:, ::-1].reshape(windows.shape[0], -1)
    lead = flat[np.arange(flat.shape[0]), (flat != 0).argmax(axis=1)]
    assert np.all(lead >= 0)
    # a non-finite window: nothing is merged, and the compiled route keeps numpy's NaNs
    bad = hist.copy()
    bad[3, 2, 1] = np.nan
    windows, index, sign = out_mod._distinct_windows(bad, True)
    assert windows is bad and np.array_equal(index, np.arange(bad.shape[0]))
    p = params(rng, 1, 20, 2)
    a = network_output(p, bad, "tanh", 0.5, backend="numpy")
    b = network_output(p, bad, "tanh", 0.5, backend="numba")
    assert np.array_equal(np.isnan(a), np.isnan(b)) and np.isnan(b).sum() == 1
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-14)


def test_doubled_network_outputs_after_training_against_the_numpy_route():
    chain = FiniteChain([[0.7, 0.3], [0.4, 0.6]], [-1.0, 1.0])
    net = NetworkSpec(memory_tol=3e-3, alpha=2.0, prior=Prior(doubled=True))
    problem = Problem(chain, StateFunction("x"), net, horizon=1.0)
    res = simulate(problem, 64, [0, 1], snapshot_times=[0.0, 0.5, 1.0], backend="numba")
    hist = exact_histories(chain, problem.depth).values
    got = res.outputs(hist)
    assert np.array_equal(got[:, 0], np.zeros((2, hist.shape[0])))   # h_0 = 0 exactly
    for j in (1, 2):
        p = res.parameters(j)
        want = network_output(p, hist, "tanh", net.beta, backend="numpy")
        np.testing.assert_allclose(got[:, j], want, rtol=0, atol=2e-14)
        assert np.abs(want).max() > 1e-3
