r"""Histories of the stationary chain: windows :math:`\xi_k = (X_k, X_{k-1}, \dots, X_{k-L+1})` (:ref:`theory §4.2 <theory-histories>`).

The limit equation integrates over the stationary law :math:`\pi` of histories.
Truncated at window length :math:`L` (current state included), :math:`\pi` is
replaced by a weighted set :math:`\{(\xi^{(m)}, \omega_m)\}_{m<M}`, either

* **exact** for a finite chain: all :math:`n^L` windows with their stationary
  probabilities

  .. math::

      \omega(x_{k-L+1}, \dots, x_k) = \pi(x_{k-L+1})\prod_{j=k-L+1}^{k-1} P(x_j, x_{j+1}),

  windows of probability zero dropped; or
* **Monte Carlo**: :math:`M` independent windows, each the last :math:`L`
  states of a path started from :math:`\pi`, with weights :math:`1/M`
  (error :math:`O(M^{-1/2})`).

Arrays of histories have shape ``(M, L, d)`` with ``values[:, 0]`` :math:`= X_k`
(the current state) and ``values[:, j]`` :math:`= X_{k-j}`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._random import SeedLike, as_generator
from .budget import check_memory
from .errors import DimensionError, DiscretisationError

if TYPE_CHECKING:
    from .chains import ChainProtocol, FiniteChain

__all__ = ["Histories", "exact_histories", "sample_histories", "path_windows"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Histories:
    r"""A weighted set of histories :math:`\{(\xi^{(m)}, \omega_m)\}_{m<M}` approximating :math:`\pi`.

    Integrals against the stationary law of histories are replaced by weighted sums,
    :math:`\int F\,d\pi \approx \sum_m \omega_m F(\xi^{(m)})`.

    Parameters
    ----------
    values : ndarray, shape (M, L, d)
        ``values[m, j]`` :math:`= X_{k-j}` of history :math:`m` (``j = 0`` is current).
    weights : ndarray, shape (M,)
        Non-negative weights :math:`\omega_m` summing to one (stationary
        probabilities, or :math:`1/M`).
    indices : ndarray of int, shape (M, L), or None
        State indices of a finite chain, in the same layout as ``values``.

    Raises
    ------
    DimensionError
        If the shapes disagree or ``values`` is not finite.
    DiscretisationError
        If the weights are negative or do not sum to one.
    """

    values: np.ndarray
    weights: np.ndarray
    indices: np.ndarray | None = None

    def __post_init__(self):
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 3:
            raise DimensionError(f"`values` must have shape (M, L, d), got {v.shape}.")
        q = np.asarray(self.weights, dtype=float)
        if q.shape != (v.shape[0],):
            raise DimensionError(
                f"`weights` must have shape (M,) = ({v.shape[0]},), got {q.shape}."
            )
        if not np.all(np.isfinite(v)):
            raise DimensionError("`values` must be finite.")
        if np.any(q < 0) or not np.isfinite(q).all() or abs(q.sum() - 1.0) > 1e-10:
            raise DiscretisationError(
                f"`weights` must be non-negative and sum to 1, got sum {q.sum():.17g}."
            )
        object.__setattr__(self, "values", _readonly(v))
        object.__setattr__(self, "weights", _readonly(q))
        if self.indices is not None:
            idx = np.asarray(self.indices)
            if idx.shape != v.shape[:2] or not np.issubdtype(idx.dtype, np.integer):
                raise DimensionError(
                    f"`indices` must be integers of shape (M, L) = {v.shape[:2]}, got "
                    f"{idx.dtype} {idx.shape}."
                )
            object.__setattr__(self, "indices", _readonly(idx.astype(np.int64)))

    @classmethod
    def from_array(cls, values: ArrayLike, weights: ArrayLike | None = None) -> Histories:
        r"""Histories from an array ``(M, L, d)`` (or ``(M, L)`` for ``d = 1``), equal weights by default.

        Parameters
        ----------
        values : array_like, shape (M, L, d) or (M, L)
            ``values[m, j]`` :math:`= X_{k-j}` of history :math:`m`; a 2-D array means
            :math:`d = 1`.
        weights : array_like, shape (M,), optional
            Weights :math:`\omega_m` (non-negative, summing to one); default :math:`1/M`.

        Returns
        -------
        Histories
            Without state indices.

        Raises
        ------
        DimensionError
            If ``values`` is not of shape (M, L, d) with :math:`M \ge 1`.
        """
        v = np.asarray(values, dtype=float)
        if v.ndim == 2:
            v = v[:, :, None]
        if v.ndim != 3 or v.shape[0] == 0:
            raise DimensionError(
                f"`values` must have shape (M, L, d) with M >= 1, got {np.shape(values)}."
            )
        if weights is None:
            weights = np.full(v.shape[0], 1.0 / v.shape[0])
        return cls(v, weights)

    def __repr__(self) -> str:
        kind = "exact" if self.indices is not None else "arrays"
        return f"Histories(M={self.M}, depth={self.depth}, dim={self.dim}, {kind})"

    @property
    def M(self) -> int:
        """Number of histories :math:`M`."""
        return int(self.values.shape[0])

    @property
    def depth(self) -> int:
        """Window length :math:`L` (current state included)."""
        return int(self.values.shape[1])

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.values.shape[2])

    def subset(self, idx: int | slice | np.ndarray) -> Histories:
        r"""The histories ``idx`` (indices, slice or boolean mask), weights renormalised to sum to 1.

        The new weights are :math:`\omega_m / \sum_{m'\in\mathrm{idx}}\omega_{m'}`.

        Parameters
        ----------
        idx : int array, slice or boolean mask
            Which histories to keep (any index valid for an array of length :math:`M`).

        Returns
        -------
        Histories
            The selected histories (with their state indices, if any).

        Raises
        ------
        DiscretisationError
            If the selected weights sum to zero.
        """
        idx = np.arange(self.M)[idx]
        q = self.weights[idx]
        total = q.sum()
        if not total > 0:
            raise DiscretisationError("`idx` selects histories of total weight zero.")
        ind = None if self.indices is None else self.indices[idx]
        return Histories(self.values[idx], q / total, ind)


def _depth(depth) -> int:
    if not isinstance(depth, numbers.Integral) or isinstance(depth, bool) or depth < 1:
        raise DimensionError(f"`depth` must be an integer >= 1 (window length L), got {depth!r}.")
    return int(depth)


def exact_histories(chain: FiniteChain, depth: int, *, max_histories: int = 2**20,
                    memory_budget: float | str | None = None) -> Histories:
    r"""All windows of length :math:`L` of a finite chain with their stationary probabilities.

    :math:`\omega(x_{k-L+1},\dots,x_k) = \pi(x_{k-L+1})\prod_j P(x_j, x_{j+1})`; windows
    are built oldest state first, extending only those of positive probability,
    so the result holds the :math:`M \le n^L` windows of positive probability
    (listed in lexicographic order of :math:`(x_{k-L+1}, \dots, x_k)`).

    Parameters
    ----------
    chain : FiniteChain
        Needs ``P``, ``states`` and ``stationary``.
    depth : int
        Window length :math:`L \ge 1`.
    max_histories : int
        Refuse to build more windows than this.
    memory_budget : int or str, optional
        Refuse windows whose arrays (:math:`M L (d + 1)` numbers) exceed this many bytes
        (default: :func:`limitsolver.budget.memory_budget`).

    Returns
    -------
    Histories
        With ``indices`` set.

    Raises
    ------
    DimensionError
        If ``chain`` is not a finite chain (no transition matrix ``P``).
    DiscretisationError
        If more than ``max_histories`` windows have positive probability, or their
        arrays exceed the memory budget (checked level by level, before allocating).

    Notes
    -----
    Cost :math:`O(M L (n + d))` time and memory.
    """
    L = _depth(depth)
    if not all(hasattr(chain, a) for a in ("P", "states", "stationary")):
        raise DimensionError(
            f"`chain` must be a finite chain (with `P`, `states`, `stationary`) for exact "
            f"histories, got {type(chain).__name__}; use `sample_histories` instead."
        )
    P = np.asarray(chain.P, dtype=float)
    pi = np.asarray(chain.stationary, dtype=float)
    n = P.shape[0]
    keep = np.flatnonzero(pi > 0)
    d = int(np.asarray(chain.states).reshape(n, -1).shape[1])
    idx = keep[:, None]  # (M, j) oldest first
    prob = pi[keep]
    for _ in range(1, L):
        check_memory(8.0 * idx.shape[0] * n * (1 + L * (d + 1)),
                     f"exact histories of depth {L} ({n} states)", budget=memory_budget,
                     fix="lower the depth (`memory_tol`) or use `sample_histories`")
        trans = prob[:, None] * P[idx[:, -1]]  # (M, n)
        m, nxt = np.nonzero(trans > 0)
        if m.size > max_histories:
            raise DiscretisationError(
                f"exact enumeration needs more than `max_histories` = {max_histories} windows "
                f"(n = {n} states, depth {L}); raise `max_histories`, lower the depth "
                f"(`memory_tol`) or use `sample_histories`."
            )
        idx = np.concatenate([idx[m], nxt[:, None]], axis=1)
        prob = trans[m, nxt]
    if idx.shape[0] > max_histories:
        raise DiscretisationError(
            f"exact enumeration needs {idx.shape[0]} windows > `max_histories` = {max_histories}."
        )
    idx = idx[:, ::-1]  # current state first
    check_memory(8.0 * idx.shape[0] * L * (d + 2), f"exact histories of depth {L} ({n} states)",
                 budget=memory_budget, fix="lower the depth (`memory_tol`) or use `sample_histories`")
    prob = prob / prob.sum()
    states = np.asarray(chain.states, dtype=float)
    return Histories(states[idx], prob, idx)


def sample_histories(chain: ChainProtocol, depth: int, n: int, rng: SeedLike, *,
                     memory_budget: float | str | None = None) -> Histories:
    r"""``n`` independent stationary windows of length :math:`L`, weights :math:`1/n`.

    Each window is a path :math:`(X_0,\dots,X_{L-1})` with :math:`X_0\sim\pi_X`
    (``chain.sample(L, rng, n_paths=n)``), reversed so the last state is current.
    For finite chains (``sample_indices``) the state indices are kept.

    Parameters
    ----------
    chain : MarkovChain
        The chain; it must sample stationary paths (``sample``, or ``sample_indices``
        and ``states`` for a finite chain).
    depth : int
        Window length :math:`L`.
    n : int
        Number of histories :math:`M`.
    rng : int, SeedSequence or Generator
        Source of randomness (same seed, same histories).
    memory_budget : int or str, optional
        Refuse, before sampling, windows whose arrays (the paths, their reversal and
        the state indices, about :math:`8 n L (2d + 1)` bytes) exceed this many bytes
        (default: :func:`limitsolver.budget.memory_budget`).

    Returns
    -------
    Histories
        ``n`` windows with weights :math:`1/n` (state indices set for a finite chain).

    Raises
    ------
    DimensionError
        If ``depth`` or ``n`` is not a positive integer, or ``chain.sample`` returns
        an array of the wrong shape.
    DiscretisationError
        If the windows would exceed the memory budget.

    Notes
    -----
    Cost: one simulation of ``n`` paths of ``L`` steps.
    """
    L = _depth(depth)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise DimensionError(f"`n` must be a positive integer (number of histories), got {n!r}.")
    n = int(n)
    d = int(getattr(chain, "dim", 1))
    check_memory(8.0 * n * L * (2 * d + 1), f"{n} Monte Carlo histories of depth {L}",
                 budget=memory_budget,
                 fix="sample fewer histories or lower the depth (a larger `memory_tol`)")
    gen = as_generator(rng)
    if hasattr(chain, "sample_indices") and hasattr(chain, "states"):
        idx = np.asarray(chain.sample_indices(L, gen, n_paths=n))[:, ::-1]
        values = np.asarray(chain.states, dtype=float)[idx]
        return Histories(values, np.full(n, 1.0 / n), idx)
    path = np.asarray(chain.sample(L, gen, n_paths=n), dtype=float)
    if path.shape[:2] != (n, L) or path.ndim != 3:
        raise DimensionError(
            f"`chain.sample` returned shape {path.shape}, expected (n_paths, n_steps, d) = "
            f"({n}, {L}, d)."
        )
    return Histories(path[:, ::-1], np.full(n, 1.0 / n))


def path_windows(path: np.ndarray, depth: int, *,
                 memory_budget: float | str | None = None) -> np.ndarray:
    r"""Sliding windows of one path, newest state first.

    ``out[i, j] = path[i + L - 1 - j]``: window :math:`i` is the history
    :math:`\xi_k` at :math:`k = i + L - 1`.

    Parameters
    ----------
    path : ndarray, shape (n_steps, d) or (n_steps,)
        One path in chronological order (a 1-D path means :math:`d = 1`).
    depth : int
        Window length :math:`L \le` ``n_steps``.
    memory_budget : int or str, optional
        Refuse windows larger than this many bytes (default:
        :func:`limitsolver.budget.memory_budget`).

    Returns
    -------
    ndarray, shape (n_steps - L + 1, L, d)
        A copy (not a view).

    Raises
    ------
    DimensionError
        If ``path`` is not of shape (n_steps, d) or is shorter than ``depth``.
    DiscretisationError
        If the windows would exceed the memory budget.
    """
    L = _depth(depth)
    p = np.asarray(path, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise DimensionError(f"`path` must have shape (n_steps, d), got {np.shape(path)}.")
    if p.shape[0] < L:
        raise DimensionError(
            f"`path` has {p.shape[0]} steps, fewer than the window length `depth` = {L}."
        )
    check_memory(8.0 * (p.shape[0] - L + 1) * L * p.shape[1], f"the windows of depth {L} of a "
                 f"path of {p.shape[0]} steps", budget=memory_budget,
                 fix="use a shorter path or a smaller depth")
    win = np.lib.stride_tricks.sliding_window_view(p, L, axis=0)  # (n-L+1, d, L)
    return np.ascontiguousarray(np.moveaxis(win, -1, 1)[:, ::-1, :])
