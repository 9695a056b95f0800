"""The lifted chain of histories: its law, and Poisson solutions against base-chain truths."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.chains import FiniteChain
from limitsolver.errors import DimensionError, NotErgodicError
from limitsolver.poisson import LiftedChain, solve_poisson, solve_poisson_finite


def _chain(n, seed, sparse=False):
    gen = np.random.default_rng(seed)
    P = gen.dirichlet(np.ones(n), size=n)
    if sparse:  # a cycle keeps it irreducible; drop one other entry per row
        P = 0.5 * P + 0.5 * np.roll(np.eye(n), 1, axis=1)
        for i in range(n):
            j = (i + 2) % n
            if j not in (i, (i + 1) % n):
                P[i, j] = 0.0
        P /= P.sum(axis=1, keepdims=True)
    return P


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 4), depth=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
       sparse=st.booleans())
def test_lifted_law(n, depth, seed, sparse):
    P = _chain(n, seed, sparse)
    lc = LiftedChain(P, depth)
    n_admissible = np.sum(np.linalg.matrix_power((P > 0).astype(int), depth - 1)) if depth > 1 else n
    assert lc.n_words == n_admissible  # number of positive-probability paths of length depth
    PL = lc.P.toarray()
    np.testing.assert_allclose(PL.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(lc.stationary @ PL, lc.stationary, atol=1e-14)
    assert lc.stationary.sum() == pytest.approx(1.0, abs=1e-14)
    # Brute force: π_L(word) by stationary simulation-free enumeration P(X_{k-L+1} = j_{L-1}, ...)
    pi = FiniteChain(P).stationary
    w = lc.words[0]
    prob = pi[w[-1]] * np.prod([P[w[m], w[m - 1]] for m in range(depth - 1, 0, -1)])
    assert lc.stationary[0] == pytest.approx(prob, rel=1e-13)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 4), depth=st.integers(2, 3), seed=st.integers(0, 2**32 - 1))
def test_function_of_current_state_reduces_to_base_chain(n, depth, seed):
    """F(ξ) = G(X_k): the future depends on X_k only, so V_L(ξ) = V(X_k)."""
    P = _chain(n, seed)
    G = np.random.default_rng(seed).standard_normal(n)
    base = solve_poisson_finite(P, G)
    lc = LiftedChain(P, depth)
    sol = lc.solve_poisson(lambda h: G[h[:, 0, 0].astype(int)])
    np.testing.assert_allclose(sol.values, base.values[lc.words[:, 0]], atol=1e-12)
    assert sol.asymptotic_variance == pytest.approx(base.asymptotic_variance, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 4), seed=st.integers(0, 2**32 - 1))
def test_lagged_function_has_base_variance(n, seed):
    """F(ξ_k) = G(X_{k-1}): the ergodic sums differ by boundary terms only, so σ² agree."""
    P = _chain(n, seed)
    G = np.random.default_rng(seed).standard_normal(n)
    base = solve_poisson_finite(P, G)
    lc = LiftedChain(P, 2)
    sol = lc.solve_poisson(G[lc.words[:, 1]])
    assert sol.asymptotic_variance == pytest.approx(base.asymptotic_variance, abs=1e-12)
    assert sol.residual < 1e-13 and abs(sol.mean_V) < 1e-14


def test_two_step_function_against_autocovariance_series():
    """σ² = Var(F) + 2 Σ_{ℓ≥1} Cov(F(ξ_0), F(ξ_ℓ)), summed with dense powers of P_L."""
    P = _chain(3, 7)
    lc = LiftedChain(P, 3, states=[-1.0, 0.5, 2.0])
    F = lambda h: h[:, 0, 0] * h[:, 1, 0] - h[:, 2, 0] ** 2  # noqa: E731
    sol = solve_poisson(lc, F)
    vals = F(lc.histories)
    Fc = vals - lc.stationary @ vals
    PL = lc.P.toarray()
    total, term = lc.stationary @ (Fc * Fc), Fc.copy()
    for _ in range(400):  # |λ₂|^400 is far below rounding for this chain
        term = PL @ term
        total += 2 * lc.stationary @ (Fc * term)
    assert sol.asymptotic_variance == pytest.approx(total, rel=1e-11)


def test_windows_and_index():
    P = _chain(3, 1)
    chain = FiniteChain(P)
    lc = LiftedChain.from_chain(chain, 3)
    path = chain.sample_indices(50, 0)
    idx = lc.windows(path)
    assert idx.shape == (1, 48)
    np.testing.assert_array_equal(lc.words[idx[0, 5]], path[0, [7, 6, 5]])
    np.testing.assert_array_equal(lc.histories[idx[0, 5], :, 0], chain.states[path[0, [7, 6, 5]], 0])


def test_errors():
    P = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    lc = LiftedChain(P, 2)
    with pytest.raises(DimensionError, match="probability zero"):
        lc.index([[2, 2]])  # the transition 2 -> 2 is impossible
    with pytest.raises(DimensionError, match="`depth`"):
        LiftedChain(P, 0)
    with pytest.raises(NotErgodicError, match="irreducible"):
        LiftedChain(np.eye(2), 2)
    with pytest.raises(DimensionError, match="one value per state"):
        lc.solve_poisson(np.ones(lc.n_words + 1))
