"""Tests of stationary histories (THEORY.md §4.2): exact enumeration, Monte Carlo windows, paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.chains import FiniteChain, GaussianAR1
from limitsolver.errors import DimensionError, DiscretisationError
from limitsolver.histories import Histories, exact_histories, path_windows, sample_histories


@st.composite
def finite_chains(draw, max_states: int = 4):
    """Random stochastic matrices, sometimes with zero entries (but irreducible)."""
    n = draw(st.integers(1, max_states))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(n), size=n)
    if n > 1 and draw(st.booleans()):
        # zero out some entries but keep the cycle 0 -> 1 -> ... -> n-1 -> 0 (irreducible)
        mask = rng.random((n, n)) < 0.4
        for i in range(n):
            mask[i, (i + 1) % n] = False
        P = np.where(mask, 0.0, P)
        P /= P.sum(axis=1, keepdims=True)
    dim = draw(st.integers(1, 2))
    return FiniteChain(P, rng.standard_normal((n, dim)))


@settings(max_examples=30, deadline=None)
@given(chain=finite_chains(), depth=st.integers(1, 4))
def test_exact_histories_against_brute_force(chain, depth):
    hist = exact_histories(chain, depth)
    n = chain.n_states
    pi, P = chain.stationary, chain.P
    # brute force: every tuple (x_{k-L+1}, ..., x_k), oldest first, probability by a loop
    brute = {}
    for seq in itertools.product(range(n), repeat=depth):
        prob = pi[seq[0]]
        for a, b in itertools.pairwise(seq):
            prob *= P[a, b]
        if prob > 0:
            brute[tuple(reversed(seq))] = prob  # current state first
    assert hist.M == len(brute)
    assert abs(hist.weights.sum() - 1.0) < 1e-13
    got = {tuple(row): q for row, q in zip(hist.indices.tolist(), hist.weights, strict=True)}
    assert set(got) == set(brute)
    for key, prob in brute.items():
        # products of at most 4 factors, then a renormalisation by a sum of ~n^L terms
        assert abs(got[key] - prob) <= 1e-13 * max(prob, 1e-300) + 1e-16
    np.testing.assert_array_equal(hist.values, chain.states[hist.indices])
    assert hist.depth == depth and hist.dim == chain.dim


@settings(max_examples=20, deadline=None)
@given(chain=finite_chains(), depth=st.integers(2, 4))
def test_exact_marginals_and_pair_expectation(chain, depth):
    hist = exact_histories(chain, depth)
    n = chain.n_states
    pi, P = chain.stationary, chain.P
    # marginal of the current state (and of every lag) is pi
    for j in range(depth):
        marg = np.bincount(hist.indices[:, j], weights=hist.weights, minlength=n)
        np.testing.assert_allclose(marg, pi, atol=1e-13)
    # E[f(X_k, X_{k-1})] = sum_{i,j} pi_i P_ij f(j, i)
    f = np.random.default_rng(1).standard_normal((n, n))
    closed = sum(pi[i] * P[i, j] * f[j, i] for i in range(n) for j in range(n))
    got = np.sum(hist.weights * f[hist.indices[:, 0], hist.indices[:, 1]])
    assert abs(got - closed) < 1e-13


def test_exact_histories_two_state_closed_form():
    p, q = 0.2, 0.5
    chain = FiniteChain.two_state(p, q)
    hist = exact_histories(chain, 2)
    pi0, pi1 = q / (p + q), p / (p + q)
    # (current, previous) -> pi(previous) P(previous, current)
    expected = {(0, 0): pi0 * (1 - p), (1, 0): pi0 * p, (0, 1): pi1 * q, (1, 1): pi1 * (1 - q)}
    for row, w in zip(hist.indices.tolist(), hist.weights, strict=True):
        assert abs(w - expected[tuple(row)]) < 1e-15


def test_exact_histories_drop_zero_probability_windows_and_limits():
    # deterministic cycle on 3 states made aperiodic by one self-loop
    P = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]])
    chain = FiniteChain(P)
    hist = exact_histories(chain, 5)
    assert hist.M < 3**5
    assert np.all(hist.weights > 0)
    with pytest.raises(DiscretisationError, match="max_histories"):
        exact_histories(FiniteChain.random(4, 0), 6, max_histories=1000)
    with pytest.raises(DimensionError, match="sample_histories"):
        exact_histories(GaussianAR1(0.5), 3)
    with pytest.raises(DimensionError, match="`depth`"):
        exact_histories(chain, 0)


def test_sample_histories_consistent_with_finite_chain():
    chain = FiniteChain(np.array([[0.7, 0.3, 0.0], [0.0, 0.6, 0.4], [0.5, 0.0, 0.5]]),
                        states=[-1.0, 0.5, 2.0])
    n = 20000
    hist = sample_histories(chain, 4, n, rng=3)
    assert hist.values.shape == (n, 4, 1)
    np.testing.assert_array_equal(hist.weights, 1.0 / n)
    np.testing.assert_array_equal(hist.values, chain.states[hist.indices])
    # each step from the past to the present has positive probability (P is not reversible
    # and has zeros, so windows in the wrong time order would fail this)
    for j in range(3):
        assert np.all(chain.P[hist.indices[:, j + 1], hist.indices[:, j]] > 0)
    # current-state frequencies match pi within 4.5 standard errors (independent windows)
    pi = chain.stationary
    freq = np.bincount(hist.indices[:, 0], minlength=3) / n
    se = np.sqrt(pi * (1 - pi) / n)
    assert np.all(np.abs(freq - pi) < 4.5 * se)
    # transition frequencies (previous -> current) match pi_i P_ij
    pair = np.zeros((3, 3))
    np.add.at(pair, (hist.indices[:, 1], hist.indices[:, 0]), 1.0 / n)
    target = pi[:, None] * chain.P
    assert np.all(np.abs(pair - target) < 4.5 * np.sqrt(target * (1 - target) / n) + 1e-12)


def test_sample_histories_reproducible_and_general_chain():
    chain = GaussianAR1(0.8)
    a = sample_histories(chain, 5, 4000, rng=11)
    b = sample_histories(chain, 5, 4000, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a.values, b.values)
    assert a.indices is None
    c = sample_histories(chain, 5, 4000, rng=12)
    assert not np.array_equal(a.values, c.values)
    # lag-one correlation E[X_k X_{k-1}] = a = 0.8; var of the product ~ 1 + a^2, SE ~ 0.02
    corr = np.mean(a.values[:, 0, 0] * a.values[:, 1, 0])
    se = np.sqrt((1 + 0.8**2) / 4000)
    assert abs(corr - 0.8) < 4.5 * se


def test_path_windows_brute_force():
    rng = np.random.default_rng(0)
    path = rng.standard_normal((9, 2))
    L = 4
    win = path_windows(path, L)
    assert win.shape == (6, L, 2)
    for i in range(6):
        k = i + L - 1
        for j in range(L):
            np.testing.assert_array_equal(win[i, j], path[k - j])
    one_d = path_windows(path[:, 0], 3)
    assert one_d.shape == (7, 3, 1)
    with pytest.raises(DimensionError, match="fewer than the window length"):
        path_windows(path, 10)


def test_histories_container():
    vals = np.arange(12.0).reshape(3, 2, 2)
    h = Histories.from_array(vals)
    assert (h.M, h.depth, h.dim) == (3, 2, 2)
    np.testing.assert_allclose(h.weights, 1 / 3)
    with pytest.raises(ValueError):
        h.values[0, 0, 0] = 1.0  # read-only
    s = Histories(vals, np.array([0.2, 0.3, 0.5])).subset([1, 2])
    np.testing.assert_allclose(s.weights, [0.375, 0.625])
    np.testing.assert_array_equal(s.values, vals[1:])
    with pytest.raises(DiscretisationError, match="sum to 1"):
        Histories(vals, np.array([0.2, 0.3, 0.6]))
    with pytest.raises(DimensionError, match=r"\(M, L, d\)"):
        Histories(np.zeros((3, 2)), np.full(3, 1 / 3))
    with pytest.raises(DimensionError, match="weights"):
        Histories(vals, np.full(2, 0.5))
