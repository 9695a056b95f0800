"""Tests of the Markov-chain protocol and of finite chains (THEORY.md §1).

Truths used: closed forms for the two-state chain (derived with sympy), exact
rational stationary laws (sympy), the Perron eigenvector from numpy.linalg.eig,
boolean reachability / return-time computations written from the definitions,
mixing times by direct powers of P, and sampling checks inside bands of five
standard errors at fixed seeds.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from limitsolver.chains import ChainProtocol, CircleWalk, FiniteChain, GaussianAR1, check_chain
from limitsolver.errors import (
    ConfigError,
    DimensionError,
    DivergenceError,
    LimitSolverError,
    NotErgodicError,
    NotStochasticError,
)

# ----------------------------------------------------------------------------------------------
# Strategies and brute-force references


@st.composite
def stochastic_matrices(draw, min_n=1, max_n=8, positive=False, irreducible=False):
    """Row-stochastic matrices from non-negative floats normalised by row.

    Unless ``positive``, about a third of the entries are exact zeros (so that
    reducible and periodic matrices occur). ``irreducible`` adds a cycle
    0 -> 1 -> ... -> n-1 -> 0 of positive weight.
    """
    n = draw(st.integers(min_n, max_n))
    weight = st.floats(0.01, 10.0)
    entry = weight if positive else st.one_of(st.just(0.0), weight, weight)
    W = np.array(draw(st.lists(entry, min_size=n * n, max_size=n * n))).reshape(n, n)
    if irreducible:
        W[np.arange(n), (np.arange(n) + 1) % n] += draw(weight)
    empty = W.sum(axis=1) == 0
    W[empty, np.flatnonzero(empty)] = 1.0  # a row with no mass becomes absorbing
    return W / W.sum(axis=1, keepdims=True)


def reachability(P: np.ndarray) -> np.ndarray:
    """R[x, y] = x leads to y in t >= 0 steps, by boolean powers of (I + A)."""
    n = P.shape[0]
    R = np.eye(n, dtype=bool) | (P > 0)
    for _ in range(n):
        R = (R.astype(int) @ R.astype(int)) > 0
    return R


def period_by_return_times(P: np.ndarray) -> int:
    """gcd of the t <= n^2 + n with (P^t)_{00} > 0, from boolean powers."""
    n = P.shape[0]
    A = (P > 0).astype(int)
    M = np.eye(n, dtype=int)
    g = 0
    for t in range(1, n * n + n + 1):
        M = ((M @ A) > 0).astype(int)
        if M[0, 0]:
            g = math.gcd(g, t)
    return g


def tv_distance(P_t: np.ndarray, pi: np.ndarray) -> float:
    return max(0.5 * sum(abs(P_t[x, y] - pi[y]) for y in range(len(pi))) for x in range(len(pi)))


def mixing_time_brute(P: np.ndarray, pi: np.ndarray, eps: float) -> int:
    P_t = np.eye(P.shape[0])
    t = 0
    while tv_distance(P_t, pi) > eps:
        P_t = P_t @ P
        t += 1
    return t


@functools.cache
def two_state_pi_from_sympy():
    """pi for P = [[1-p, p], [q, 1-q]] from the null space of P^T - I, as a numpy function."""
    ps, qs = sp.symbols("p q", positive=True)
    Psym = sp.Matrix([[1 - ps, ps], [qs, 1 - qs]])
    null = (Psym.T - sp.eye(2)).nullspace()[0]
    pi_sym = sp.simplify(null / sum(null))
    f = sp.lambdify((ps, qs), list(pi_sym), "numpy")
    return lambda p, q: np.array(f(p, q), dtype=float)


def perron_vector(P: np.ndarray) -> np.ndarray:
    lam, V = np.linalg.eig(P.T)
    v = np.real(V[:, np.argmin(np.abs(lam - 1.0))])
    return v / v.sum()


# ----------------------------------------------------------------------------------------------
# Validation and errors


def test_validation_errors_name_the_problem():
    with pytest.raises(DimensionError, match="square matrix of shape"):
        FiniteChain(np.ones((2, 3)) / 3)
    with pytest.raises(DimensionError, match="square"):
        FiniteChain([0.5, 0.5])
    with pytest.raises(NotStochasticError, match=r"positions \(1, 0\)"):
        FiniteChain([[0.5, 0.5], [np.nan, 0.5]])
    with pytest.raises(NotStochasticError, match=r"P\[0, 1\] = -0\.1"):
        FiniteChain([[1.1, -0.1], [0.5, 0.5]])
    with pytest.raises(NotStochasticError, match=r"row 1 sums to 0\.9.*row 2 sums to 1\.2"):
        FiniteChain([[1.0, 0, 0], [0.4, 0.5, 0], [0.4, 0.4, 0.4]])
    with pytest.raises(DimensionError, match="`states` must have shape"):
        FiniteChain(np.eye(3), states=np.zeros((2, 1)))
    with pytest.raises(NotStochasticError, match="`p` must be a probability"):
        FiniteChain.two_state(1.5, 0.2)
    with pytest.raises(LimitSolverError):  # all package errors are ValueErrors
        FiniteChain([[2.0]])


def test_atol_on_row_sums():
    P = np.array([[0.5, 0.5 + 1e-12], [0.5, 0.5]])
    FiniteChain(P)  # within the default atol
    with pytest.raises(NotStochasticError, match="row 0"):
        FiniteChain(P, atol=1e-14)


def test_attributes_are_read_only_copies():
    P = np.array([[0.9, 0.1], [0.2, 0.8]])
    chain = FiniteChain(P, states=[[1.0, 2.0], [3.0, 4.0]])
    P[0, 0] = 0.0
    assert chain.P[0, 0] == 0.9
    with pytest.raises(ValueError):
        chain.P[0, 0] = 1.0
    with pytest.raises(ValueError):
        chain.stationary[0] = 1.0
    assert chain.n_states == 2 and chain.dim == 2 and chain.states.shape == (2, 2)
    assert FiniteChain(np.eye(3)).states.tolist() == [[0.0], [1.0], [2.0]]
    assert FiniteChain(np.eye(2), states=[5.0, 7.0]).states.shape == (2, 1)


# ----------------------------------------------------------------------------------------------
# Stationary law


@settings(max_examples=60, deadline=None)
@given(stochastic_matrices())
def test_stationary_is_the_perron_vector_or_reducible_is_refused(P):
    chain = FiniteChain(P)
    R = reachability(P)
    irreducible = bool(R.all())
    assert chain.is_irreducible == irreducible
    # classes from the definition: x ~ y iff x -> y and y -> x
    comm = R & R.T
    expected = sorted({tuple(np.flatnonzero(comm[x])) for x in range(len(P))})
    assert [tuple(c) for c in chain.communication_classes] == expected
    if not irreducible:
        with pytest.raises(NotErgodicError, match="do not communicate with state 0"):
            _ = chain.stationary
        return
    pi = chain.stationary
    # pi P = pi with rounding of order n * machine epsilon on entries of size <= 1
    np.testing.assert_allclose(pi @ P, pi, rtol=0, atol=1e-13)
    assert abs(pi.sum() - 1.0) < 1e-14 and np.all(pi >= 0)
    # Perron vector from an eigen-decomposition (a different algorithm): its accuracy is
    # limited by eig on a matrix with entries >= 1e-3, hence 1e-10.
    np.testing.assert_allclose(pi, perron_vector(P), rtol=0, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 1.0), st.floats(1e-3, 1.0))
def test_two_state_stationary_closed_form(p, q):
    exact = two_state_pi_from_sympy()(p, q)
    np.testing.assert_allclose(exact, [q / (p + q), p / (p + q)], rtol=1e-14)
    chain = FiniteChain.two_state(p, q)
    # a 2x2 solve: a few ulps relative to the smaller entry of pi, which can be ~1e-3
    np.testing.assert_allclose(chain.stationary, exact, rtol=1e-12, atol=0)


def test_stationary_exact_rational_three_state():
    Pq = sp.Matrix([[sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6)],
                    [sp.Rational(1, 4), 0, sp.Rational(3, 4)],
                    [sp.Rational(2, 5), sp.Rational(2, 5), sp.Rational(1, 5)]])
    null = (Pq.T - sp.eye(3)).nullspace()[0]
    pi_exact = np.array([float(v) for v in null / sum(null)])
    chain = FiniteChain(np.array(Pq.tolist(), dtype=float))
    np.testing.assert_allclose(chain.stationary, pi_exact, rtol=8 * np.finfo(float).eps)
    f = np.array([1.0, -2.0, 5.0])
    assert chain.expectation(f) == pytest.approx(float(pi_exact @ f), rel=1e-14)
    assert chain.expectation(np.stack([f, f**2], axis=1)).shape == (2,)
    with pytest.raises(DimensionError, match="`f_values`"):
        chain.expectation(np.ones(4))


def test_periodic_irreducible_chain_has_uniform_stationary_law():
    cycle = FiniteChain(np.roll(np.eye(5), 1, axis=1))
    np.testing.assert_allclose(cycle.stationary, np.full(5, 0.2), rtol=1e-15)


# ----------------------------------------------------------------------------------------------
# Irreducibility, period, ergodicity


def test_cycle_of_three_has_period_three():
    chain = FiniteChain([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    assert chain.is_irreducible
    assert chain.period == 3 and not chain.is_aperiodic
    with pytest.raises(NotErgodicError, match="aperiodic.*period 3"):
        chain.check_ergodic()
    # adding a self-loop breaks the periodicity
    lazy = FiniteChain((chain.P + np.eye(3)) / 2)
    assert lazy.period == 1
    lazy.check_ergodic()


def test_block_diagonal_is_reducible_with_named_classes():
    A = np.array([[0.5, 0.5], [0.5, 0.5]])
    P = np.zeros((5, 5))
    P[:2, :2] = A
    P[2:4, 2:4] = A
    P[4, 4] = 1.0
    chain = FiniteChain(P)
    assert not chain.is_irreducible
    assert [c.tolist() for c in chain.communication_classes] == [[0, 1], [2, 3], [4]]
    msg = r"states \{2, 3, 4\} do not communicate with state 0 .*\{0, 1\}, \{2, 3\}, \{4\}"
    with pytest.raises(NotErgodicError, match=msg):
        chain.check_ergodic()
    with pytest.raises(NotErgodicError, match="irreducible for the period"):
        _ = chain.period
    with pytest.raises(NotErgodicError, match="irreducible"):
        chain.sample(3, seed=0)  # no unique law to start from
    assert chain.spectral_gap == pytest.approx(0.0, abs=1e-15)


def test_transient_state_makes_chain_reducible():
    chain = FiniteChain([[0.0, 1.0], [0.0, 1.0]])
    assert [c.tolist() for c in chain.communication_classes] == [[0], [1]]
    with pytest.raises(NotErgodicError, match=r"states \{1\}"):
        chain.check_ergodic()


@settings(max_examples=40, deadline=None)
@given(stochastic_matrices(irreducible=True))
def test_period_matches_return_times(P):
    chain = FiniteChain(P)
    assert chain.period == period_by_return_times(P)
    assert chain.is_aperiodic == (chain.period == 1)


@settings(max_examples=30, deadline=None)
@given(stochastic_matrices(positive=True))
def test_positive_chains_are_ergodic(P):
    chain = FiniteChain(P)
    assert chain.is_irreducible and chain.is_aperiodic
    chain.check_ergodic()
    assert chain.spectral_gap > 0 or chain.n_states == 1


# ----------------------------------------------------------------------------------------------
# Spectral gap and mixing time


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_two_state_spectral_gap(p, q):
    chain = FiniteChain.two_state(p, q)
    # eigenvalues 1 and 1 - p - q; eig of a 2x2 matrix is accurate to a few ulps
    assert chain.spectral_gap == pytest.approx(1.0 - abs(1.0 - p - q), abs=1e-14)


def test_single_state_chain():
    chain = FiniteChain([[1.0]], states=[[2.0, 3.0]])
    assert chain.is_irreducible and chain.period == 1
    assert chain.stationary.tolist() == [1.0]
    assert chain.spectral_gap == 1.0 and chain.mixing_time(0.1) == 0
    np.testing.assert_array_equal(chain.sample(4, 0, n_paths=2), np.tile([2.0, 3.0], (2, 4, 1)))


@settings(max_examples=30, deadline=None)
@given(
    stochastic_matrices(max_n=6, irreducible=True),
    st.floats(0.01, 0.9),
    st.floats(1e-4, 0.5),
)
def test_mixing_time_matches_direct_powers(P, eps, laziness):
    P = (P + laziness * np.eye(len(P))) / (1 + laziness)  # lazy: aperiodic, slow-ish mixing
    chain = FiniteChain(P)
    t = chain.mixing_time(eps)
    assume(t < 400)
    pi = perron_vector(P)
    assert t == mixing_time_brute(P, pi, eps)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.floats(0.01, 0.99))
def test_two_state_mixing_time_closed_form(p, q, eps):
    # d(t) = max(p, q) / (p + q) * |1 - p - q|^t
    lam = abs(1 - p - q)
    c = max(p, q) / (p + q)
    assume(lam > 0)
    t_real = math.log(eps / c) / math.log(lam)
    assume(abs(t_real - round(t_real)) > 1e-6)  # avoid ties decided by rounding
    expected = max(0, math.ceil(t_real))  # t_real <= 0 when d(0) = c <= eps
    assert FiniteChain.two_state(p, q).mixing_time(eps) == expected


@settings(max_examples=20, deadline=None)
@given(stochastic_matrices(min_n=2, max_n=6, positive=True), st.floats(0.01, 0.5))
def test_mixing_time_is_monotone_in_eps(P, eps):
    chain = FiniteChain(P)
    assert chain.mixing_time(eps) >= chain.mixing_time(min(2 * eps, 0.99))


def test_mixing_time_errors():
    chain = FiniteChain.two_state(0.1, 0.2)
    for eps in (0.0, 1.0, -0.5):
        with pytest.raises(ConfigError, match="`eps` must lie in"):
            chain.mixing_time(eps)
    with pytest.raises(NotErgodicError, match="period 2"):
        FiniteChain.two_state(1.0, 1.0).mixing_time()
    with pytest.raises(NotErgodicError, match="has not mixed"):
        FiniteChain.two_state(1e-9, 1e-9).mixing_time(0.01, max_time=1000)
    # t_mix = 3 for p = 0.1, q = 0.3, eps = 0.25 (d(t) = 0.75 * 0.6^t): a cap between the
    # powers of two 2 and 4 must not hide it, and a cap below it must raise
    chain = FiniteChain.two_state(0.1, 0.3)
    assert chain.mixing_time(0.25, max_time=3) == 3
    with pytest.raises(NotErgodicError, match="by time 2"):
        chain.mixing_time(0.25, max_time=2)


# ----------------------------------------------------------------------------------------------
# Sampling


def test_random_chain_is_ergodic_and_reproducible():
    a = FiniteChain.random(6, seed=3, dim=2)
    b = FiniteChain.random(6, seed=3, dim=2)
    np.testing.assert_array_equal(a.P, b.P)
    np.testing.assert_array_equal(a.states, b.states)
    assert np.all(a.P > 0) and a.states.shape == (6, 2)
    a.check_ergodic()


def test_sampling_shapes_seeds_and_start():
    chain = FiniteChain.random(5, seed=1, dim=3)
    x = chain.sample(7, seed=11, n_paths=4)
    assert x.shape == (4, 7, 3)
    np.testing.assert_array_equal(x, chain.sample(7, seed=11, n_paths=4))
    assert not np.array_equal(x, chain.sample(7, seed=12, n_paths=4))
    idx = chain.sample_indices(7, np.random.default_rng(11), n_paths=4)
    assert idx.shape == (4, 7) and idx.dtype == np.int64
    np.testing.assert_array_equal(x, chain.states[idx])
    assert np.all(chain.sample_indices(5, 0, n_paths=3, start=2)[:, 0] == 2)
    np.testing.assert_array_equal(
        chain.sample_indices(5, 0, n_paths=3, start=[4, 0, 1])[:, 0], [4, 0, 1]
    )
    np.testing.assert_array_equal(chain.sample(2, 0, start=3)[0, 0], chain.states[3])
    assert chain.sample_stationary(9, seed=0).shape == (9, 3)
    assert chain.sample(1, seed=0, n_paths=2).shape == (2, 1, 3)
    assert isinstance(chain, ChainProtocol) and check_chain(chain) is chain


def test_sampling_errors():
    chain = FiniteChain.two_state(0.3, 0.4)
    with pytest.raises(DimensionError, match="`start` indices must lie in"):
        chain.sample(3, 0, start=2)
    with pytest.raises(DimensionError, match="`start` must be a state index"):
        chain.sample(3, 0, n_paths=3, start=[0, 1])
    with pytest.raises(DimensionError, match="`start` must be a state index"):
        chain.sample(3, 0, start=0.5)
    with pytest.raises(DimensionError, match="`n_steps` must be an integer >= 1"):
        chain.sample(0, 0)
    with pytest.raises(DimensionError, match="`n_paths`"):
        chain.sample(3, 0, n_paths=0)
    with pytest.raises(ConfigError, match="`seed` must be"):
        chain.sample(3, None)


def test_marginals_of_independent_paths_match_pi():
    # X_0 ~ pi, so X_T ~ pi exactly and the n_paths values are i.i.d.: the counts are
    # multinomial with standard error sqrt(pi (1 - pi) / M). Band: 5 standard errors.
    chain = FiniteChain.random(5, seed=7)
    M = 40_000
    x = chain.sample_indices(6, seed=8, n_paths=M)
    pi = chain.stationary
    se = np.sqrt(pi * (1 - pi) / M)
    for k in (0, 5):
        freq = np.bincount(x[:, k], minlength=5) / M
        assert np.all(np.abs(freq - pi) < 5 * se), (k, freq, pi)
    freq = np.bincount(chain.sample_indices(1, 9, n_paths=M)[:, 0], minlength=5) / M
    assert np.all(np.abs(freq - pi) < 5 * se)


def test_paths_from_a_fixed_start_forget_it():
    # From X_0 = 0 the law of X_T is row 0 of P^T, computed here by direct powers.
    chain = FiniteChain.random(4, seed=17)
    T, M = 3, 40_000
    law = np.linalg.matrix_power(chain.P, T)[0]
    x = chain.sample_indices(T + 1, seed=18, n_paths=M, start=0)
    freq = np.bincount(x[:, T], minlength=4) / M
    assert np.all(np.abs(freq - law) < 5 * np.sqrt(law * (1 - law) / M))


def test_long_path_frequencies_with_batch_means():
    # Ergodic averages along one path: standard error from 50 batch means, each batch
    # (2000 steps) far longer than the mixing time, so the batch means are nearly independent.
    chain = FiniteChain([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.0, 0.7]])
    assert chain.mixing_time(0.01) < 20
    x = chain.sample_indices(100_000, seed=5)[0]
    onehot = x[:, None] == np.arange(3)
    batches = onehot.reshape(50, -1, 3).mean(axis=1)
    se = batches.std(axis=0, ddof=1) / np.sqrt(50)
    assert np.all(np.abs(onehot.mean(axis=0) - chain.stationary) < 5 * se)


def test_empirical_transition_frequencies_match_P():
    # Given N_x visits to x, the next states are multinomial(N_x, P[x]) (strong Markov property).
    P = np.array([[0.5, 0.0, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4], [0.0, 0.9, 0.0, 0.1],
                  [0.25, 0.25, 0.25, 0.25]])
    chain = FiniteChain(P)
    x = chain.sample_indices(2_000, seed=21, n_paths=50)
    counts = np.zeros((4, 4))
    np.add.at(counts, (x[:, :-1].ravel(), x[:, 1:].ravel()), 1)
    N = counts.sum(axis=1, keepdims=True)
    freq = counts / N
    se = np.sqrt(P * (1 - P) / N)
    assert np.all(counts[P == 0] == 0)  # impossible transitions never happen
    assert np.all(np.abs(freq - P) <= 5 * se)


# ----------------------------------------------------------------------------------------------
# The protocol


class _IIDGaussian:
    dim = 2

    def sample(self, n_steps, rng, *, n_paths=1, start=None):
        return np.random.default_rng(rng).standard_normal((n_paths, n_steps, 2))

    def sample_stationary(self, n, rng):
        return np.random.default_rng(rng).standard_normal((n, 2))


class _NoStationary:
    dim = 1

    def sample(self, n_steps, rng, *, n_paths=1, start=None):
        return np.zeros((n_paths, n_steps, 1))


class _WrongShape(_IIDGaussian):
    def sample(self, n_steps, rng, *, n_paths=1, start=None):
        return np.zeros((n_paths, n_steps))


class _NaNs(_IIDGaussian):
    def sample_stationary(self, n, rng):
        return np.full((n, 2), np.nan)


class _BadDim(_IIDGaussian):
    dim = 0


def test_check_chain_accepts_user_and_builtin_chains():
    user = _IIDGaussian()
    assert isinstance(user, ChainProtocol) and check_chain(user) is user
    for chain in (FiniteChain.two_state(0.2, 0.3), GaussianAR1(0.5, 2), CircleWalk(0.4)):
        assert check_chain(chain) is chain


def test_check_chain_names_what_is_wrong():
    with pytest.raises(ConfigError, match="no `sample_stationary`"):
        check_chain(_NoStationary())
    with pytest.raises(ConfigError, match="no `dim`, `sample`, `sample_stationary`"):
        check_chain(object(), name="data")
    with pytest.raises(DimensionError, match=r"\(2, 3, 2\), got \(2, 3\)"):
        check_chain(_WrongShape())
    with pytest.raises(DivergenceError, match="sample_stationary` returned NaN"):
        check_chain(_NaNs())
    with pytest.raises(ConfigError, match="positive integer"):
        check_chain(_BadDim())


# -- names a user can guess ----------------------------------------------------------------


def test_rng_is_a_deprecated_name_of_seed():
    from limitsolver import Prior, TeacherRNN

    chain = FiniteChain.two_state(0.2, 0.3)
    with pytest.warns(DeprecationWarning, match="`rng` of FiniteChain.sample"):
        old = chain.sample(7, rng=3, n_paths=2)
    np.testing.assert_array_equal(old, chain.sample(7, seed=3, n_paths=2))
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(FiniteChain.random(3, rng=1).P, FiniteChain.random(3, 1).P)
    with pytest.warns(DeprecationWarning):
        old = Prior().sample(4, 2, rng=5)
    np.testing.assert_array_equal(old.w, Prior().sample(4, 2, seed=5).w)
    with pytest.warns(DeprecationWarning):
        t = TeacherRNN.from_prior(3, Prior(), "tanh", 1, rng=2)
    np.testing.assert_array_equal(t.w, TeacherRNN.from_prior(3, Prior(), "tanh", 1, seed=2).w)
    with pytest.raises(TypeError, match="got both `rng` and `seed`"):
        chain.sample(3, rng=1, seed=1)


def test_markov_chain_builds_a_finite_chain_as_quantecon_does():
    from limitsolver import MarkovChain

    P = [[0.9, 0.1], [0.5, 0.5]]
    mc = MarkovChain(P, [-1.0, 1.0])
    assert type(mc) is FiniteChain
    np.testing.assert_array_equal(mc.P, P)
    np.testing.assert_array_equal(mc.states[:, 0], [-1.0, 1.0])
    # closed form of the two-state chain: pi = (q, p) / (p + q) with p = 0.1, q = 0.5
    np.testing.assert_allclose(mc.stationary, [0.5 / 0.6, 0.1 / 0.6], rtol=1e-14)


def test_a_quantecon_like_chain_is_accepted_where_a_chain_is_expected():
    from scipy.sparse import csr_matrix

    from limitsolver import LinearMemory, Problem
    from limitsolver.chains import as_chain

    class QuantEconLike:  # the attributes quantecon.MarkovChain has; no sample method
        def __init__(self, P, state_values):
            self.P, self.state_values = P, np.asarray(state_values)

    qe = QuantEconLike(np.array([[0.7, 0.3], [0.4, 0.6]]), [-1.0, 1.0])
    problem = Problem(qe, LinearMemory([1.0, 0.5]))
    assert isinstance(problem.chain, FiniteChain)
    np.testing.assert_array_equal(problem.chain.P, qe.P)
    sparse = as_chain(QuantEconLike(csr_matrix(qe.P), [0.0, 1.0]))
    np.testing.assert_array_equal(sparse.P, qe.P)
    with pytest.warns(DeprecationWarning, match="ChainProtocol"):
        from limitsolver import MarkovChain

        assert isinstance(problem.chain, MarkovChain)
