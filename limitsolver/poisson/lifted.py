"""The lifted chain of histories of depth ``L`` of a finite chain (:ref:`theory §4.2 <theory-histories>`, :ref:`§5 <theory-poisson>`).

For a finite chain with matrix ``P`` on states ``{0, ..., n-1}`` the window
process ``ξ_k = (X_k, X_{k-1}, ..., X_{k-L+1})`` is itself a Markov chain, on the
*words* ``(j_0, j_1, ..., j_{L-1})`` (``j_0`` the current state, ``j_m`` the state
``m`` steps in the past — the ordering of a history batch ``hist[:, m] = X_{k-m}``).
Its transition shifts the window and appends a fresh state in front:

    P_L((j_0, ..., j_{L-1}), (j', j_0, ..., j_{L-2})) = P(j_0, j'),

and its stationary law is ``π_L(j_0, ..., j_{L-1}) = π(j_{L-1}) Π_{m=1}^{L-1} P(j_m, j_{m-1})``.
Only *admissible* words (``π_L > 0``, i.e. every transition along the word has
positive probability) are kept: on them ``P_L`` is irreducible when ``P`` is,
with the same period. There are at most ``n^L`` of them; ``P_L`` has ``n``
entries per row and is stored sparse.

The Poisson equation of the lifted chain, ``V - P_L V = F - π_L(F)`` for a
function ``F(ξ)`` of the window, is solved with the sparse bordered solver of
:mod:`limitsolver.poisson.finite`; it is the equation behind the fluctuations of
the drift ``F(ξ) = A(ξ_0, ξ)(g(ξ) - h(ξ))`` of the limit ODE.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ..errors import DimensionError, DiscretisationError
from .finite import _check_irreducible, _finite_chain, solve_poisson_finite
from .solution import PoissonSolution

if TYPE_CHECKING:
    from ..chains import FiniteChain

__all__ = ["LiftedChain"]

#: refuse to enumerate more words than this (memory: words × L integers)
_MAX_WORDS = 5_000_000


class LiftedChain:
    """Chain of windows ``ξ_k = (X_k, ..., X_{k-L+1})`` of a finite chain.

    Parameters
    ----------
    P : (n, n) array_like
        Irreducible stochastic matrix of the base chain.
    depth : int
        Window length ``L ≥ 1`` (``L = 1`` is the base chain itself).
    states : (n, d) or (n,) array_like, optional
        State vectors of the base chain (default: the indices as 1-d vectors).

    Attributes
    ----------
    words : ndarray of int, shape (n_words, L)
        Admissible words, ``words[w, m]`` the index of ``X_{k-m}``; sorted by
        the code ``Σ_m j_m n^{L-1-m}`` (current state most significant).
    P : scipy.sparse.csr_matrix, shape (n_words, n_words)
        The lifted transition matrix.
    stationary : ndarray, shape (n_words,)
        ``π_L`` of the words.
    histories : ndarray, shape (n_words, L, d)
        The words as history arrays, ``histories[w, m] = states[words[w, m]]``.

    Raises
    ------
    NotStochasticError, NotErgodicError
        If ``P`` is not an irreducible stochastic matrix.
    DimensionError
        If ``depth < 1`` or there would be more than 5·10⁶ admissible words.
    """

    def __init__(self, P: ArrayLike, depth: int, states: ArrayLike | None = None):
        from ..chains import FiniteChain
        from ..histories import exact_histories

        base = _finite_chain(np.asarray(P, dtype=float))
        _check_irreducible(base)
        P = np.array(base.P)
        depth = int(depth)
        if depth < 1:
            raise DimensionError(f"`depth` must be at least 1, got {depth}.")
        n = P.shape[0]
        if states is None:
            st = np.arange(n, dtype=float)[:, None]
        else:
            st = np.asarray(states, dtype=float)
            st = st[:, None] if st.ndim == 1 else st
            if st.ndim != 2 or st.shape[0] != n:
                raise DimensionError(
                    f"`states` must have shape ({n}, d) or ({n},), got {np.shape(states)}."
                )
        self._P_base = P
        self.base_states = st
        self.n_base = n
        self.depth = depth
        self.dim = st.shape[1]
        # the admissible words and their stationary law are the exact histories of depth L
        try:
            hist = exact_histories(FiniteChain(P, st), depth, max_histories=_MAX_WORDS)
        except DiscretisationError as exc:
            raise DimensionError(
                f"The lifted chain of depth {depth} would have more than {_MAX_WORDS} "
                "words; reduce `depth`."
            ) from exc
        codes = self._encode(hist.indices)
        order = np.argsort(codes)
        self.words = np.ascontiguousarray(hist.indices[order])
        self._codes = codes[order]
        self._stationary = hist.weights[order]
        self.words.flags.writeable = False

    @classmethod
    def from_chain(cls, chain: FiniteChain, depth: int) -> LiftedChain:
        """Lift a :class:`~limitsolver.chains.FiniteChain` (its ``P`` and ``states``).

        Parameters
        ----------
        chain : FiniteChain
            The base chain (checked to be ergodic when it has ``check_ergodic``).
        depth : int
            Window length ``L ≥ 1``.

        Returns
        -------
        LiftedChain
            The chain of windows of depth ``L`` of ``chain``.

        Raises
        ------
        NotErgodicError
            If ``chain`` is not irreducible and aperiodic.
        DimensionError
            If ``depth < 1`` or there would be more than 5·10⁶ admissible words.
        """
        if hasattr(chain, "check_ergodic"):
            chain.check_ergodic()
        return cls(chain.P, depth, states=chain.states)

    def _encode(self, words: np.ndarray) -> np.ndarray:
        codes = np.zeros(words.shape[0], dtype=np.int64)
        for m in range(words.shape[1]):
            codes = codes * self.n_base + words[:, m]
        return codes

    @property
    def n_words(self) -> int:
        """Number of admissible words."""
        return int(self.words.shape[0])

    def index(self, words: ArrayLike) -> np.ndarray:
        """Row index of each word (array ``(..., L)`` of state indices, current first).

        Parameters
        ----------
        words : array_like of int, shape (..., L)
            Words of base-state indices, ``words[..., m]`` the index of ``X_{k-m}``.

        Returns
        -------
        numpy.ndarray of int, shape (...)
            Row index of each word in :attr:`words` (and in :attr:`P`).

        Raises
        ------
        DimensionError
            If the last axis of ``words`` is not ``L`` long, or a word is not
            admissible (stationary probability zero).
        """
        w = np.asarray(words, dtype=np.int64)
        if w.shape[-1] != self.depth:
            raise DimensionError(f"`words` must have last axis of length {self.depth}.")
        flat = w.reshape(-1, self.depth)
        codes = self._encode(flat)
        idx = np.searchsorted(self._codes, codes)
        idx = np.minimum(idx, self.n_words - 1)
        bad = self._codes[idx] != codes
        if np.any(bad):
            raise DimensionError(
                f"Word {flat[np.argmax(bad)].tolist()} has stationary probability zero "
                "(a transition along it is impossible under `P`)."
            )
        return idx.reshape(w.shape[:-1])

    @cached_property
    def P(self) -> sp.csr_matrix:
        """Lifted transition matrix ``P_L`` (sparse CSR, ``n`` entries per row at most)."""
        n, L = self.n_base, self.depth
        rows, cols, vals = [], [], []
        for j in range(n):
            src = np.flatnonzero(self._P_base[self.words[:, 0], j] > 0)
            new = np.empty((src.size, L), dtype=np.int64)
            new[:, 0] = j
            new[:, 1:] = self.words[src, : L - 1]
            rows.append(src)
            cols.append(self.index(new))
            vals.append(self._P_base[self.words[src, 0], j])
        rows = np.concatenate(rows)
        cols = np.concatenate(cols)
        vals = np.concatenate(vals)
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_words, self.n_words))

    @property
    def stationary(self) -> np.ndarray:
        """``π_L(j_0..j_{L-1}) = π(j_{L-1}) Π_m P(j_m, j_{m-1})`` (from :func:`exact_histories`)."""
        return self._stationary

    @cached_property
    def histories(self) -> np.ndarray:
        """Words as history arrays ``(n_words, L, d)`` with ``[:, m] = X_{k-m}``."""
        return self.base_states[self.words]

    def windows(self, paths: ArrayLike) -> np.ndarray:
        """Word indices of the windows along index paths ``(n_paths, n_steps)``.

        Parameters
        ----------
        paths : array_like of int, shape (n_paths, n_steps) or (n_steps,)
            Paths of base-state indices in chronological order (index 0 is ``X_0``).

        Returns
        -------
        numpy.ndarray of int, shape (n_paths, n_steps - L + 1)
            Entry ``k`` is the index of ``ξ_{k+L-1} = (X_{k+L-1}, ..., X_k)``.

        Raises
        ------
        DimensionError
            If the paths have fewer than ``L`` steps or contain an impossible transition.
        """
        paths = np.asarray(paths, dtype=np.int64)
        paths = paths[None, :] if paths.ndim == 1 else paths
        L = self.depth
        if paths.shape[1] < L:
            raise DimensionError(f"Paths must have at least `depth` = {L} steps.")
        win = np.lib.stride_tricks.sliding_window_view(paths, L, axis=1)[..., ::-1]
        return self.index(win)

    def solve_poisson(
        self, F: np.ndarray | Callable[[np.ndarray], np.ndarray]
    ) -> PoissonSolution:
        """Solve ``V - P_L V = F - π_L(F)``, ``π_L(V) = 0`` on the words.

        Parameters
        ----------
        F : array_like (n_words,) or (n_words, m), or callable
            Values on the words (in the order of :attr:`words`), or a callable
            on the history array :attr:`histories` ``(n_words, L, d)``.

        Returns
        -------
        PoissonSolution
            Nodes are :attr:`histories`; evaluate it at word indices (see :meth:`index`).
        """
        return solve_poisson_finite(
            self.P, F, pi=self.stationary, states=self.histories, check=False,
            discretisation={"lifted_depth": self.depth, "n_base_states": self.n_base},
        )

    def __repr__(self) -> str:
        return f"LiftedChain(n_base={self.n_base}, depth={self.depth}, n_words={self.n_words})"
