r"""Finite Markov chains: a stochastic matrix and one vector of :math:`\mathbb R^d` per state.

A chain on the states :math:`\{0, \dots, n-1\}` with transition matrix
:math:`P \in \mathbb R^{n\times n}`, :math:`P_{xy} = \mathbb P(X_{k+1} = y \mid X_k = x)`,
:math:`P_{xy} \ge 0`, :math:`\sum_y P_{xy} = 1`, observed through the vectors
``states[x]`` :math:`\in \mathbb R^d` (:ref:`theory §1 <theory-data>`).

Definitions (in the vocabulary of the method names):

* :math:`x` *leads to* :math:`y` if :math:`(P^t)_{xy} > 0` for some :math:`t \ge 0`;
  :math:`x` and :math:`y` *communicate* if each leads to the other. The
  equivalence classes are the *communication classes*; :math:`P` is
  *irreducible* if there is only one.
* The *period* of an irreducible :math:`P` is
  :math:`\gcd\{t \ge 1 : (P^t)_{xx} > 0\}` (the same for every :math:`x`);
  :math:`P` is *aperiodic* if the period is 1.
* A *stationary* (invariant) distribution is a probability vector :math:`\pi`
  with :math:`\pi P = \pi`. It exists and is unique, with :math:`\pi_x > 0`,
  when :math:`P` is irreducible.
* The (absolute) *spectral gap* is :math:`1 - |\lambda_2|`, where
  :math:`|\lambda_2|` is the second largest modulus among the eigenvalues of
  :math:`P` counted with multiplicity (:math:`\lambda_1 = 1`).
* The *mixing time* is
  :math:`t_{\rm mix}(\varepsilon) = \min\{t \ge 0 : d(t) \le \varepsilon\}`,
  :math:`d(t) = \max_x \|P^t(x, \cdot) - \pi\|_{\rm TV}`,
  :math:`\|\mu - \nu\|_{\rm TV} = \tfrac12 \sum_y |\mu_y - \nu_y|`.

An irreducible aperiodic finite chain is ergodic, geometrically mixing:
:math:`d(t) \to 0` exponentially.
"""

from __future__ import annotations

import functools
import numbers
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._deprecation import renamed_argument
from .._random import as_generator
from ..errors import ConfigError, DimensionError, NotErgodicError, NotStochasticError
from .base import SavedChain, _count, _prepare

if TYPE_CHECKING:
    from ..._random import SeedLike

if TYPE_CHECKING:  # scipy.sparse loads with the first sparse P or chain graph
    from scipy.sparse import csr_array

__all__ = ["FiniteChain"]

#: largest admissible max|πP - π| of the computed stationary law
_STATIONARY_TOL = 1e-8
#: largest admissible condition number of the dense stationary system (rounding costs
#: up to ``cond · 2.2e-16`` of relative accuracy in π)
_STATIONARY_COND_MAX = 1e12


def _condition_1norm(A: np.ndarray) -> float:
    """LAPACK's 1-norm condition estimate of a dense square matrix (``inf`` if singular)."""
    import scipy.linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        lu, _ = scipy.linalg.lu_factor(A, check_finite=False)
    if not np.all(np.isfinite(lu)) or np.min(np.abs(np.diag(lu))) == 0.0:
        return np.inf
    rcond, _ = scipy.linalg.lapack.dgecon(lu, float(np.abs(A).sum(axis=0).max()), norm="1")
    return np.inf if rcond <= 0 else float(1.0 / rcond)

_MAX_LISTED = 6  # how many offending entries / rows an error message lists


def _fmt_set(indices) -> str:
    return "{" + ", ".join(str(int(i)) for i in indices) + "}"


def _listing(items: list[str]) -> str:
    if len(items) > _MAX_LISTED:
        return ", ".join(items[:_MAX_LISTED]) + f", ... ({len(items)} in all)"
    return ", ".join(items)


def _issparse(P) -> bool:
    """Whether ``P`` is a scipy.sparse array or matrix (none exists unless scipy.sparse is loaded)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(P)


def _sparse_stochastic(P, atol: float) -> csr_array:
    """Validate a sparse stochastic matrix on its stored entries; return it as a CSR copy."""
    from scipy.sparse import csr_array

    arr = csr_array(P, dtype=float, copy=True)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise DimensionError(
            f"`P` must be a non-empty square matrix of shape (n, n), got shape {arr.shape}."
        )
    arr.sum_duplicates()
    arr.sort_indices()
    rows = np.repeat(np.arange(arr.shape[0]), np.diff(arr.indptr))
    _check_entries(rows, arr.indices, arr.data, lambda: np.asarray(arr.sum(axis=1)).ravel(),
                   atol, "Normalise each row by its sum.")
    arr.eliminate_zeros()
    return arr


def _check_entries(rows, cols, values, row_sums, atol: float, hint: str) -> None:
    """Entries ``P[rows[k], cols[k]] = values[k]`` finite and non-negative, ``row_sums()`` one."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        pos = _listing([f"({rows[k]}, {cols[k]})" for k in bad])
        raise NotStochasticError(
            f"`P` must be finite; it has NaN or infinite entries at positions {pos}."
        )
    neg = np.flatnonzero(values < 0)
    if neg.size:
        ent = _listing([f"P[{rows[k]}, {cols[k]}] = {values[k]:.6g}" for k in neg])
        raise NotStochasticError(f"`P` must have non-negative entries; found {ent}.")
    sums = row_sums()
    off = np.flatnonzero(np.abs(sums - 1.0) > atol)
    if off.size:
        listed = _listing([f"row {i} sums to {sums[i]:.12g}" for i in off])
        raise NotStochasticError(
            f"The rows of `P` must sum to 1 (within atol={atol:g}); {listed}. {hint}"
        )


class FiniteChain(SavedChain):
    r"""A Markov chain on finitely many states :math:`x \in \{0,\dots,n-1\}` of :math:`\mathbb R^d`.

    :math:`\mathbb P(X_{k+1} = \mathrm{states}[y] \mid X_k = \mathrm{states}[x]) = P_{xy}`.
    The matrix is validated once; the stationary law, communication classes,
    period and spectral gap are computed on first use and cached.

    Parameters
    ----------
    P : array_like or scipy.sparse matrix, shape (n, n)
        Row-stochastic transition matrix: finite, :math:`P_{xy} \ge 0`,
        :math:`|\sum_y P_{xy} - 1| \le` ``atol``. A copy is stored, read-only. A
        sparse matrix is validated on its stored entries and kept sparse (CSR), as
        QuantEcon's ``MarkovChain`` does; its stationary law comes from a sparse LU
        solve and sampling uses the rows' stored entries only.
    states : array_like, shape (n, d) or (n,), optional
        The vector of :math:`\mathbb R^d` observed in each state; a 1-D array
        of length ``n`` means :math:`d = 1`. Default: ``arange(n)`` as an
        ``(n, 1)`` column.
    atol : float, optional
        Tolerance on the row sums.

    Attributes
    ----------
    P : numpy.ndarray or scipy.sparse.csr_array, shape (n, n)
        The transition matrix (read-only float copy; CSR when given sparse).
    states : numpy.ndarray, shape (n, d)
        The state vectors (read-only float copy).
    n_states : int
        Number of states :math:`n`.
    dim : int
        Dimension :math:`d` of the state vectors.

    Raises
    ------
    DimensionError
        If ``P`` is not a square 2-D array or ``states`` does not have ``n`` rows.
    NotStochasticError
        If ``P`` has NaN or infinite entries, negative entries or rows that do
        not sum to one (the message names the positions, entries or rows).

    Examples
    --------
    >>> chain = FiniteChain.two_state(0.1, 0.3)
    >>> chain.stationary
    array([0.75, 0.25])
    >>> chain.sample(4, seed=0, n_paths=2).shape
    (2, 4, 1)
    """

    kind: str = "finite"

    def __init__(self, P: np.ndarray, states: np.ndarray | None = None, *, atol: float = 1e-10):
        if _issparse(P):
            arr = _sparse_stochastic(P, atol)
            self._init_states(arr, arr.shape[0], states)
            return
        try:
            arr = np.array(P, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DimensionError(
                f"`P` must be a square 2-D array of transition probabilities ({exc})."
            ) from None
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
            raise DimensionError(
                f"`P` must be a non-empty square matrix of shape (n, n), got shape {arr.shape}."
            )
        rows, cols = np.indices(arr.shape).reshape(2, -1)
        _check_entries(rows, cols, arr.ravel(), lambda: arr.sum(axis=1), atol,
                       "Normalise with `P / P.sum(axis=1, keepdims=True)`.")
        self._init_states(arr, arr.shape[0], states)

    def _init_states(self, arr, n: int, states) -> None:
        if states is None:
            st = np.arange(n, dtype=float)[:, None]
        else:
            st = np.array(states, dtype=float)
            if st.ndim == 1:
                st = st[:, None]
            if st.ndim != 2 or st.shape[0] != n:
                raise DimensionError(
                    f"`states` must have shape (n, d) or (n,) with n = {n} rows (one vector per "
                    f"state of `P`), got shape {np.shape(states)}."
                )
            if not np.all(np.isfinite(st)):
                raise DimensionError("`states` must be finite vectors.")
        (arr.data if _issparse(arr) else arr).flags.writeable = False
        st.flags.writeable = False
        self.P = arr
        self.states: np.ndarray = st
        self.n_states: int = n
        self.dim: int = st.shape[1]

    def __repr__(self) -> str:
        return f"FiniteChain(n_states={self.n_states}, dim={self.dim})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, FiniteChain):
            return NotImplemented
        return (self.P.shape == other.P.shape and self.states.shape == other.states.shape
                and bool(np.all(self._dense_P() == other._dense_P()))
                and bool(np.all(self.states == other.states)))

    __hash__ = None  # mutable caches aside, equality is by value: not hashable

    def to_state(self) -> dict:
        """The chain as a JSON-able table: ``kind = "finite"``, ``P`` and ``states`` in full.

        Floats are kept exactly (JSON writes the shortest repr that reads back to
        the same double), so :meth:`from_state` rebuilds ``P`` and ``states`` bit
        for bit.

        Returns
        -------
        dict
            ``{"kind": "finite", "P": [[...], ...], "states": [[...], ...]}`` (a sparse ``P``
            is written in full).
        """
        return {"kind": self.kind, "P": self._dense_P().tolist(), "states": self.states.tolist()}


    # ------------------------------------------------------------------------------------------
    # Constructors

    @classmethod
    def two_state(cls, p: float, q: float, states: Sequence[float] = (-1.0, 1.0)) -> FiniteChain:
        r"""The two-state chain :math:`P = \begin{pmatrix}1-p & p\\ q & 1-q\end{pmatrix}`.

        Its stationary law is :math:`\pi = (q, p)/(p+q)`, its eigenvalues are
        :math:`1` and :math:`1-p-q`.

        Parameters
        ----------
        p, q : float
            Probabilities of leaving state 0 and state 1, in :math:`[0, 1]`.
        states : sequence of two floats or shape (2, d), optional
            The values observed in the two states.
        """
        for name, v in (("p", p), ("q", q)):
            if not (isinstance(v, numbers.Real) and 0.0 <= v <= 1.0):
                raise NotStochasticError(f"`{name}` must be a probability in [0, 1], got {v!r}.")
        return cls([[1.0 - p, p], [q, 1.0 - q]], states=states)

    @classmethod
    @renamed_argument("rng", "seed")
    def random(cls, n: int, seed: SeedLike, *, dim: int = 1) -> FiniteChain:
        r"""A random ergodic chain: rows i.i.d. Dirichlet(1, ..., 1), states i.i.d. :math:`N(0, I_d)`.

        Every entry of :math:`P` is positive (almost surely), so the chain is
        irreducible and aperiodic.

        Parameters
        ----------
        n : int
            Number of states.
        seed : int, SeedSequence or Generator
            Source of randomness.
        dim : int, optional
            Dimension :math:`d` of the state vectors.
        """
        n = _count(n, "n")
        dim = _count(dim, "dim")
        gen = as_generator(seed, "seed")
        P = gen.dirichlet(np.ones(n), size=n)
        states = gen.standard_normal((n, dim))
        return cls(P, states)

    # ------------------------------------------------------------------------------------------
    # Structure

    @property
    def is_sparse(self) -> bool:
        """Whether ``P`` is stored sparse (CSR)."""
        return _issparse(self.P)

    def _dense_P(self) -> np.ndarray:
        return self.P.toarray() if self.is_sparse else self.P

    @functools.cached_property
    def _graph(self) -> csr_array:
        from scipy.sparse import csr_array

        if self.is_sparse:
            return csr_array(((self.P.data > 0).astype(np.int8), self.P.indices, self.P.indptr),
                             shape=self.P.shape)
        return csr_array((self.P > 0).astype(np.int8))

    @functools.cached_property
    def communication_classes(self) -> list[np.ndarray]:
        r"""The communication classes, as sorted arrays of state indices.

        Classes are the strongly connected components of the graph
        :math:`x \to y \iff P_{xy} > 0`, listed by their smallest state.
        """
        from scipy.sparse.csgraph import connected_components

        n_comp, labels = connected_components(self._graph, directed=True, connection="strong")
        classes = [np.flatnonzero(labels == c) for c in range(n_comp)]
        classes.sort(key=lambda c: int(c[0]))
        for c in classes:
            c.flags.writeable = False
        return classes

    @property
    def is_irreducible(self) -> bool:
        """Whether all states communicate (a single communication class)."""
        return len(self.communication_classes) == 1

    @functools.cached_property
    def period(self) -> int:
        r"""Period :math:`\gcd\{t \ge 1 : (P^t)_{00} > 0\}` of an irreducible chain.

        Computed from breadth-first levels :math:`\ell` from state 0 as
        :math:`\gcd\{\ell(x) + 1 - \ell(y) : P_{xy} > 0\}`. Cost :math:`O(n^2)`.

        Raises
        ------
        NotErgodicError
            If the chain is reducible (the period is then a property of each class).
        """
        self._require_irreducible("the period to be defined")
        from scipy.sparse.csgraph import breadth_first_order

        order, pred = breadth_first_order(self._graph, 0, directed=True)
        level = np.zeros(self.n_states, dtype=np.int64)
        for v in order[1:]:
            level[v] = level[pred[v]] + 1
        src, dst = self._graph.nonzero()
        return int(np.gcd.reduce(np.abs(level[src] + 1 - level[dst])))

    @property
    def is_aperiodic(self) -> bool:
        """Whether the (irreducible) chain has period 1; raises NotErgodicError if reducible."""
        return self.period == 1

    def _class_message(self) -> str:
        classes = self.communication_classes
        first = next(c for c in classes if 0 in c)
        others = np.setdiff1d(np.arange(self.n_states), first)
        listed = _listing([_fmt_set(c) for c in classes])
        return (
            f"states {_fmt_set(others)} do not communicate with state 0 "
            f"(communication classes: {listed})"
        )

    def _require_irreducible(self, purpose: str) -> None:
        if not self.is_irreducible:
            raise NotErgodicError(
                f"`P` must be irreducible for {purpose}; {self._class_message()}."
            )

    def check_ergodic(self) -> None:
        """Check that the chain is irreducible and aperiodic.

        Raises
        ------
        NotErgodicError
            If the chain is reducible (the message names the states that do not
            communicate with state 0 and the communication classes) or periodic
            (the message names the period).
        """
        self._require_irreducible("the chain to be ergodic")
        if self.period != 1:
            raise NotErgodicError(
                f"`P` must be aperiodic for the chain to be ergodic; it has period {self.period}. "
                "The lazy chain `(P + I) / 2` has the same stationary law and is aperiodic."
            )

    # ------------------------------------------------------------------------------------------
    # Spectrum and stationarity

    @functools.cached_property
    def stationary(self) -> np.ndarray:
        r"""The stationary distribution :math:`\pi`, :math:`\pi P = \pi`, :math:`\sum_x \pi_x = 1`.

        Solved exactly as the linear system :math:`(I - P)^\top \pi = 0` with its
        last equation replaced by :math:`\sum_x \pi_x = 1` (non-singular exactly
        when the solution is unique); entries below zero by rounding are set to
        zero and :math:`\pi` renormalised. Cost :math:`O(n^3)`.

        Raises
        ------
        NotErgodicError
            If ``P`` is reducible (the stationary law need not be unique), or so
            nearly reducible that the solve is singular in double precision, its
            condition number exceeds ``1e12`` (dense ``P``) or its result misses
            invariance, ``max|πP - π| > 1e-8`` (never a raw ``LinAlgError``).
        """
        self._require_irreducible("the stationary distribution to be unique")
        n = self.n_states
        if self.is_sparse:
            import scipy.sparse as sp
            import scipy.sparse.linalg as spla

            A = (self.P.T - sp.identity(n, format="csr")).tolil()
            A[n - 1, :] = np.ones(n)
            b = np.zeros(n)
            b[-1] = 1.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", spla.MatrixRankWarning)
                try:
                    pi = np.asarray(spla.spsolve(A.tocsc(), b))
                except RuntimeError as exc:  # "Factor is exactly singular"
                    raise NotErgodicError(self._stationary_failure(str(exc))) from exc
            return self._finish_stationary(pi)
        A = (np.eye(n) - self.P).T.copy()
        A[-1, :] = 1.0
        b = np.zeros(n)
        b[-1] = 1.0
        try:
            pi = np.linalg.solve(A, b)
        except np.linalg.LinAlgError as exc:
            raise NotErgodicError(self._stationary_failure(str(exc))) from exc
        cond = _condition_1norm(A)
        if not cond <= _STATIONARY_COND_MAX:
            raise NotErgodicError(self._stationary_failure(
                f"condition number {cond:.2e} of the system exceeds {_STATIONARY_COND_MAX:.0e}, "
                f"so pi could be wrong by up to {cond * 2.2e-16:.1e}"))
        return self._finish_stationary(pi)

    def _stationary_failure(self, reason: str) -> str:
        gap = ""
        if not self.is_sparse and self.n_states <= 500:
            g = 1.0 - float(np.sort(np.abs(np.linalg.eigvals(self._dense_P())))[-2])
            gap = f", spectral gap 1 - |λ₂| = {g:.2e}"
        return (
            f"The stationary distribution of `P` cannot be computed ({reason}): `P` is "
            f"irreducible only through couplings too weak for double precision (nearly "
            f"reducible{gap}). Treat its weakly coupled blocks as separate chains or strengthen "
            "the coupling."
        )

    def _finish_stationary(self, pi: np.ndarray) -> np.ndarray:
        """Clip rounding negatives, renormalise, and refuse a non-invariant result."""
        if not np.all(np.isfinite(pi)) or not np.sum(np.clip(pi, 0.0, None)) > 0:
            raise NotErgodicError(self._stationary_failure("the solve gave NaN or infinity"))
        pi = np.clip(pi, 0.0, None)
        pi = pi / pi.sum()
        defect = float(np.max(np.abs(pi @ self.P - pi)))
        if defect > _STATIONARY_TOL:
            raise NotErgodicError(self._stationary_failure(
                f"max|pi P - pi| = {defect:.1e} exceeds {_STATIONARY_TOL:g}"))
        pi.flags.writeable = False
        return pi

    @functools.cached_property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``P`` sorted by decreasing modulus (read-only). Cost :math:`O(n^3)`."""
        lam = np.linalg.eigvals(self._dense_P())
        lam = lam[np.argsort(-np.abs(lam), kind="stable")]
        lam.flags.writeable = False
        return lam

    @functools.cached_property
    def spectral_gap(self) -> float:
        r"""Absolute spectral gap :math:`1 - |\lambda_2|`, clipped to :math:`[0, 1]`.

        Zero for reducible or periodic chains; 1 for a single state. Cost :math:`O(n^3)`.
        """
        if self.n_states == 1:
            return 1.0
        return float(min(1.0, max(0.0, 1.0 - abs(self.eigenvalues[1]))))

    def _tv_to_stationary(self, Pt: np.ndarray) -> float:
        return float(0.5 * np.abs(Pt - self.stationary[None, :]).sum(axis=1).max())

    def mixing_time(self, eps: float = 0.25, *, max_time: int = 2**40) -> int:
        r"""Mixing time :math:`t_{\rm mix}(\varepsilon) = \min\{t \ge 0 : d(t) \le \varepsilon\}`.

        :math:`d(t) = \max_x \tfrac12 \sum_y |(P^t)_{xy} - \pi_y|`. Since
        :math:`d` is non-increasing in :math:`t`, the matrices
        :math:`P^{2^j}` are formed by repeated squaring until
        :math:`d(2^K) \le \varepsilon`, then :math:`t` is found by bisection in
        :math:`(2^{K-1}, 2^K]` built bit by bit from the stored powers. Exact
        for the finite chain up to rounding in :math:`P^t` (ties
        :math:`d(t) = \varepsilon` are decided in floating point). Cost
        :math:`O(n^3 \log_2 t_{\rm mix})`.

        Parameters
        ----------
        eps : float, optional
            Threshold :math:`\varepsilon \in (0, 1)`.
        max_time : int, optional
            Give up (raise) if :math:`d(t) > \varepsilon` up to this time.

        Returns
        -------
        int
            :math:`t_{\rm mix}(\varepsilon)`; 0 when :math:`d(0) \le \varepsilon`.

        Raises
        ------
        NotErgodicError
            If the chain is not irreducible and aperiodic (then :math:`d(t)`
            need not tend to 0), or has not mixed by ``max_time``.
        ConfigError
            If ``eps`` is not in :math:`(0, 1)`.
        """
        if not (isinstance(eps, numbers.Real) and 0.0 < eps < 1.0):
            raise ConfigError(f"`eps` must lie in (0, 1), got {eps!r}.")
        self.check_ergodic()
        if self._tv_to_stationary(np.eye(self.n_states)) <= eps:
            return 0
        P = self._dense_P()
        powers = [P]  # powers[j] = P^(2^j)
        while self._tv_to_stationary(powers[-1]) > eps:
            if 2 ** len(powers) > max_time and self._tv_to_stationary(
                np.linalg.matrix_power(P, int(max_time))
            ) > eps:
                raise NotErgodicError(
                    f"The chain has not mixed to `eps`={eps:g} by time {max_time} "
                    f"(spectral gap {self.spectral_gap:.3g}); increase `max_time`."
                )
            powers.append(powers[-1] @ powers[-1])
        K = len(powers) - 1
        if K == 0:
            return 1
        lo, M = 2 ** (K - 1), powers[K - 1]  # invariant: d(lo) > eps >= d(2^K)
        for j in range(K - 2, -1, -1):
            cand = M @ powers[j]
            if self._tv_to_stationary(cand) > eps:
                lo, M = lo + 2**j, cand
        return lo + 1

    def expectation(self, f_values: ArrayLike) -> float | np.ndarray:
        r"""Stationary expectation :math:`\pi(f) = \sum_x \pi_x f(x)`.

        Parameters
        ----------
        f_values : array_like, shape (n,) or (n, ...)
            Values :math:`f(x)` in each state (further axes are averaged independently).

        Returns
        -------
        float or numpy.ndarray
            A float for ``f_values`` of shape ``(n,)``, else an array of shape ``f_values.shape[1:]``.
        """
        f = np.asarray(f_values, dtype=float)
        if f.ndim == 0 or f.shape[0] != self.n_states:
            raise DimensionError(
                f"`f_values` must have shape (n, ...) with n = {self.n_states}, got {f.shape}."
            )
        out = np.tensordot(self.stationary, f, axes=(0, 0))
        return float(out) if out.ndim == 0 else out

    # ------------------------------------------------------------------------------------------
    # Sampling

    @functools.cached_property
    def _sampler(self) -> tuple[np.ndarray, np.ndarray]:
        # Flattened cumulative rows with offsets: entry x*n + y is x + F_x(y), where F_x is the
        # normalised cdf of row x (F_x(n-1) = 1 exactly). A uniform u in [0, 1) from state x is
        # located by a single searchsorted of x + u; the count of row-x entries <= x + u is the
        # inverse cdf. Clipping to the last positive entry of the row guards against x + u
        # rounding up to x + 1; states of probability zero are never chosen.
        n = self.n_states
        P = self.P
        if self.is_sparse:
            # the same flattened layout on the stored entries of each row
            data, indptr = P.data, P.indptr
            rows = np.repeat(np.arange(n), np.diff(indptr))
            cdf = np.empty_like(data)
            for x in range(n):  # every stored entry is positive (zeros were eliminated)
                c = np.cumsum(data[indptr[x]:indptr[x + 1]])
                cdf[indptr[x]:indptr[x + 1]] = c / c[-1]
                cdf[indptr[x + 1] - 1] = 1.0
            return cdf + rows, indptr[1:] - 1
        cdf = np.cumsum(P, axis=1) / P.sum(axis=1, keepdims=True)
        cdf[:, -1] = 1.0
        flat = (cdf + np.arange(n, dtype=float)[:, None]).ravel()
        last_pos = n - 1 - np.argmax(P[:, ::-1] > 0, axis=1)
        return flat, last_pos

    def _inverse_cdf(self, current: np.ndarray, u: np.ndarray) -> np.ndarray:
        flat, last_pos = self._sampler
        if self.is_sparse:
            k = np.searchsorted(flat, current + u, side="right")
            return self.P.indices[np.minimum(k, last_pos[current])].astype(np.int64)
        n = self.n_states
        idx = np.searchsorted(flat, current + u, side="right") - current * n
        return np.minimum(idx, last_pos[current])

    def _stationary_indices(self, size: int, gen: np.random.Generator) -> np.ndarray:
        pi = self.stationary
        cdf = np.cumsum(pi)
        cdf /= cdf[-1]
        idx = np.searchsorted(cdf, gen.random(size), side="right")
        return np.minimum(idx, self.n_states - 1 - np.argmax(pi[::-1] > 0))

    @renamed_argument("rng", "seed")
    def sample_indices(self, n_steps: int, seed: SeedLike, *, n_paths: int = 1,
                       start: ArrayLike | None = None) -> np.ndarray:
        r"""Paths of state indices :math:`(X_0, \dots, X_{n\_steps-1})`, shape ``(n_paths, n_steps)``.

        Each step draws ``Generator.random(n_paths)`` and inverts the cumulative row
        of the current state (vectorised over paths). Cost
        :math:`O(n_{\rm paths}\, n_{\rm steps} \log n)` after an :math:`O(n^2)` set-up.

        Parameters
        ----------
        n_steps : int
            Number of states per path, :math:`X_0` included.
        seed : int, SeedSequence or Generator
            Source of randomness.
        n_paths : int, optional
            Number of independent paths.
        start : int or array_like of int, optional
            Index of :math:`X_0` (one for all paths, or one per path); when
            ``None``, :math:`X_0 \sim \pi` (requires ``P`` irreducible).

        Returns
        -------
        numpy.ndarray of int64, shape (n_paths, n_steps)
        """
        n_steps, gen, n_paths = _prepare(n_steps, seed, n_paths)
        if start is None:
            x = self._stationary_indices(n_paths, gen)
        else:
            s = np.asarray(start)
            if not np.issubdtype(s.dtype, np.integer) or s.ndim > 1 or s.size not in (1, n_paths):
                raise DimensionError(
                    f"`start` must be a state index or an array of {n_paths} state indices "
                    f"(integers), got {start!r}."
                )
            if np.any((s < 0) | (s >= self.n_states)):
                raise DimensionError(
                    f"`start` indices must lie in [0, {self.n_states - 1}], got {start!r}."
                )
            x = np.broadcast_to(s.reshape(-1), (n_paths,)).astype(np.int64)
        out = np.empty((n_paths, n_steps), dtype=np.int64)
        out[:, 0] = x
        for k in range(1, n_steps):
            x = self._inverse_cdf(x, gen.random(n_paths))
            out[:, k] = x
        return out

    @renamed_argument("rng", "seed")
    def sample(self, n_steps: int, seed: SeedLike, *, n_paths: int = 1,
               start: ArrayLike | None = None) -> np.ndarray:
        r"""Paths of states, ``states[sample_indices(...)]``, shape ``(n_paths, n_steps, d)``.

        Here ``start`` is a state INDEX (or an array of indices, one per path),
        not a vector; ``None`` draws :math:`X_0 \sim \pi`. See :meth:`sample_indices`.

        Parameters
        ----------
        n_steps : int
            Number of states per path, :math:`X_0` included.
        seed : int, SeedSequence or Generator
            Source of randomness.
        n_paths : int, optional
            Number of independent paths.
        start : int or array_like of int, optional
            Index of :math:`X_0` (one for all paths, or one per path); when
            ``None``, :math:`X_0 \sim \pi` (requires ``P`` irreducible).

        Returns
        -------
        numpy.ndarray
            Shape ``(n_paths, n_steps, d)``, chronological (index 0 is :math:`X_0`).

        Raises
        ------
        DimensionError
            If ``n_steps`` or ``n_paths`` is not a positive integer, or ``start`` is
            not a valid state index or array of indices.
        """
        return self.states[self.sample_indices(n_steps, seed, n_paths=n_paths, start=start)]

    @renamed_argument("rng", "seed")
    def sample_stationary(self, n: int, seed: SeedLike) -> np.ndarray:
        r"""``n`` independent draws from :math:`\pi`, shape ``(n, d)``.

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int, SeedSequence or Generator
            Source of randomness.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, d)``.

        Raises
        ------
        DimensionError
            If ``n`` is not a positive integer.
        """
        n = _count(n, "n")
        return self.states[self._stationary_indices(n, as_generator(seed, "seed"))]

