"""Poisson equation of finite chains: closed forms, brute-force series, errors."""

import numpy as np
import pytest
import scipy.sparse as sp
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.chains import FiniteChain
from limitsolver.errors import (
    ConfigError,
    DimensionError,
    DivergenceError,
    NotErgodicError,
    NotStochasticError,
)
from limitsolver.poisson import (
    solve_poisson,
    solve_poisson_finite,
    stationary_distribution,
)


def _two_state_symbolic():
    """V and σ² of the two-state chain for a general F = (f0, f1), solved by sympy."""
    p, q, f0, f1, v0, v1 = sympy.symbols("p q f0 f1 v0 v1", real=True)
    P = sympy.Matrix([[1 - p, p], [q, 1 - q]])
    pi = sympy.Matrix([[q, p]]) / (p + q)
    F = sympy.Matrix([f0, f1])
    Fc = F - sympy.ones(2, 1) * (pi * F)[0]
    V = sympy.Matrix([v0, v1])
    eqs = list(V - P * V - Fc) + [(pi * V)[0]]
    sol = sympy.solve(eqs, [v0, v1], dict=True)
    assert len(sol) == 1
    Vs = V.subs(sol[0])
    sigma2 = sympy.simplify(sum(pi[i] * (2 * Fc[i] * Vs[i] - Fc[i] ** 2) for i in range(2)))
    return (p, q, f0, f1), Vs, sigma2


SYM = _two_state_symbolic()


def test_two_state_indicator_variance_closed_form():
    """The symbolic σ² of F = 1{state 1} is p q (2 - p - q) / (p + q)³."""
    (p, q, f0, f1), _, sigma2 = SYM
    known = p * q * (2 - p - q) / (p + q) ** 3
    assert sympy.simplify(sigma2.subs({f0: 0, f1: 1}) - known) == 0
    assert sympy.simplify(sigma2.subs({f0: 1, f1: 0}) - known) == 0


@settings(max_examples=25, deadline=None)
@given(
    p=st.floats(0.01, 0.99),
    q=st.floats(0.01, 0.99),
    f=st.tuples(st.floats(-5, 5), st.floats(-5, 5)),
)
def test_two_state_matches_sympy(p, q, f):
    (ps, qs, f0, f1), Vs, sigma2 = SYM
    subs = {ps: p, qs: q, f0: f[0], f1: f[1]}
    V_true = np.array([float(Vs[0].subs(subs)), float(Vs[1].subs(subs))])
    chain = FiniteChain.two_state(p, q)
    sol = solve_poisson(chain, np.array(f))
    # condition number of I - P + 1 πᵀ is O(1/(p+q)) <= 50: a few hundred ulps of |F|/(p+q)
    scale = (abs(f[0]) + abs(f[1]) + 1.0) / (p + q)
    np.testing.assert_allclose(sol.values, V_true, rtol=0, atol=1e-13 * scale)
    assert sol.asymptotic_variance == pytest.approx(float(sigma2.subs(subs)), abs=1e-12 * scale**2)
    assert sol.pi_F == pytest.approx((q * f[0] + p * f[1]) / (p + q), abs=1e-14 * scale)


def _positive_chain(n, seed):
    """Rows ε + (1 - nε) Dirichlet(1): all entries >= ε = 0.2/n, so |λ₂| <= 0.8 (Doeblin)."""
    gen = np.random.default_rng(seed)
    eps = 0.2 / n
    return eps + (1 - n * eps) * gen.dirichlet(np.ones(n), size=n)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 8), seed=st.integers(0, 2**32 - 1), m=st.integers(1, 3))
def test_random_chain_residual_and_series(n, seed, m):
    P = _positive_chain(n, seed)
    F = np.random.default_rng(seed + 1).standard_normal((n, m))
    sol = solve_poisson_finite(P, F)
    pi = sol.weights
    np.testing.assert_allclose(pi @ P, pi, atol=1e-14)
    Fc = F - pi @ F
    np.testing.assert_allclose(sol.F_centred, Fc, atol=1e-14)
    assert np.max(np.abs(sol.values - P @ sol.values - Fc)) < 1e-13
    assert np.max(np.abs(pi @ sol.values)) < 1e-14
    # Brute force: V = Σ_{k<K} P^k F_c; the tail is <= 0.8^K max|F_c| (contraction), 0.8^200 ~ 4e-20
    series = np.zeros_like(Fc)
    term = Fc.copy()
    for _ in range(200):
        series += term
        term = P @ term
    np.testing.assert_allclose(sol.values, series, rtol=0, atol=1e-12)
    # Asymptotic covariance against the autocovariance series Σ_ℓ Cov(F(X_0), F(X_ℓ))
    cov = (Fc * pi[:, None]).T @ Fc + 2 * (Fc * pi[:, None]).T @ (series - Fc)
    np.testing.assert_allclose(sol.asymptotic_covariance, (cov + cov.T) / 2, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_sparse_bordered_route_agrees_with_fundamental_matrix(n, seed):
    P = _positive_chain(n, seed)
    F = np.random.default_rng(seed).standard_normal(n)
    dense = solve_poisson_finite(P, F)
    sparse = solve_poisson_finite(sp.csr_matrix(P), F)
    assert sparse.discretisation["method"] == "bordered sparse LU"
    np.testing.assert_allclose(sparse.values, dense.values, atol=1e-13)
    assert abs(sparse.constant_defect) < 1e-14
    chain = FiniteChain(P)
    np.testing.assert_allclose(stationary_distribution(P), chain.stationary, atol=1e-14)


def test_callable_F_on_states_and_evaluation_at_indices():
    chain = FiniteChain(_positive_chain(4, 0), states=[[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, -1]])
    sol = solve_poisson(chain, lambda x: x[:, 0] * x[:, 1])
    ref = solve_poisson_finite(chain.P, chain.states[:, 0] * chain.states[:, 1])
    np.testing.assert_allclose(sol.values, ref.values, atol=1e-14)
    np.testing.assert_array_equal(sol([2, 0, 2]), sol.values[[2, 0, 2]])
    np.testing.assert_allclose(sol.PV([1, 3]), (chain.P @ sol.values)[[1, 3]], atol=1e-15)


def test_errors():
    reducible = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(NotErgodicError, match=r"irreducible.*\{2\}"):
        solve_poisson_finite(reducible, np.ones(3))
    with pytest.raises(NotErgodicError):
        solve_poisson(FiniteChain(reducible), np.ones(3))
    with pytest.raises(NotErgodicError):
        solve_poisson(FiniteChain([[0.0, 1.0], [1.0, 0.0]]), np.array([0.0, 1.0]))
    chain = FiniteChain.two_state(0.3, 0.4)
    with pytest.raises(DimensionError, match="`F` must have one value per state"):
        solve_poisson(chain, np.ones(3))
    with pytest.raises(DivergenceError, match="`F` must be finite"):
        solve_poisson(chain, np.array([0.0, np.nan]))
    with pytest.raises(NotStochasticError, match="sum to 1"):
        solve_poisson_finite(np.array([[0.5, 0.6], [0.5, 0.5]]), np.ones(2))
    with pytest.raises(ConfigError, match="not supported"):
        solve_poisson("a chain", np.ones(2))
    with pytest.raises(ConfigError, match="Unknown option"):
        solve_poisson(chain, np.ones(2), n=10)
    with pytest.raises(DimensionError, match="`pi`"):
        solve_poisson_finite(chain.P, np.ones(2), pi=np.ones(3) / 3)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**32 - 1), density=st.floats(0.2, 1.0))
def test_sparse_finite_chain_agrees_with_dense(n, seed, density):
    """A sparse P stays sparse; π and the Poisson solution agree with dense P to rounding."""
    gen = np.random.default_rng(seed)
    mask = gen.random((n, n)) < density
    mask |= np.roll(np.eye(n, dtype=bool), 1, axis=1) | np.eye(n, dtype=bool)  # cycle + loops
    P = np.where(mask, gen.random((n, n)), 0.0)
    P /= P.sum(axis=1, keepdims=True)
    dense, sparse = FiniteChain(P), FiniteChain(sp.csr_matrix(P))
    assert sparse.is_sparse and not dense.is_sparse and sp.issparse(sparse.P)
    # π P = π solved two ways: dense LU and sparse LU, both residuals at rounding
    np.testing.assert_allclose(sparse.stationary, dense.stationary, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sparse.stationary @ P, sparse.stationary, atol=1e-14)
    assert sparse.period == dense.period == 1
    F = gen.standard_normal(n)
    a, b = solve_poisson(dense, F), solve_poisson(sparse, F)
    assert b.discretisation["method"] == "bordered sparse LU"
    np.testing.assert_allclose(b.values, a.values, rtol=0, atol=1e-12 * (1 + np.abs(a.values).max()))
    assert b.asymptotic_variance == pytest.approx(a.asymptotic_variance, rel=1e-10, abs=1e-13)


def test_sparse_chain_samples_its_rows():
    """Dyadic P: every cumulative sum is exact, so sparse and dense sampling coincide."""
    P = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.25, 0.75, 0.0],
                  [0.0, 0.0, 0.5, 0.5], [0.125, 0.0, 0.0, 0.875]])
    dense, sparse = FiniteChain(P), FiniteChain(sp.csr_array(P))
    np.testing.assert_array_equal(sparse.sample_indices(500, 3, n_paths=4),
                                  dense.sample_indices(500, 3, n_paths=4))
    path = sparse.sample_indices(40_000, 1)[0]
    counts = np.zeros((4, 4))
    np.add.at(counts, (path[:-1], path[1:]), 1)
    freq = counts / counts.sum(axis=1, keepdims=True)
    se = np.sqrt(P * (1 - P) / counts.sum(axis=1, keepdims=True))
    assert np.all(np.abs(freq - P) <= 5 * se + 1e-12)
    assert np.all(freq[P == 0] == 0)


def test_sparse_chain_errors_name_entries_and_rows():
    with pytest.raises(NotStochasticError, match=r"P\[0, 1\] = -0.5"):
        FiniteChain(sp.csr_matrix(np.array([[1.5, -0.5], [0.5, 0.5]])))
    with pytest.raises(NotStochasticError, match="row 0 sums to 1.1"):
        solve_poisson_finite(sp.csr_matrix(np.array([[0.5, 0.6], [0.5, 0.5]])), np.ones(2))
    reducible = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(NotErgodicError, match=r"irreducible.*\{2\}"):
        solve_poisson_finite(reducible, np.ones(3))
    with pytest.raises(DimensionError, match="square"):
        FiniteChain(sp.csr_matrix(np.ones((2, 3)) / 3))
