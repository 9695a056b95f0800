r"""The memory recursion, shared by the finite network and the limit solver.

A unit with parameters :math:`(w, b)` driven by inputs :math:`X_k` updates

.. math::

    u_k = w\cdot X_k + b\, s_k,\qquad s_{k+1} = \sigma(u_k),\qquad s_0 = 0,

with forward sensitivities of the memory (``mode="rtrl"``)

.. math::

    J^w_{k+1} = \sigma'(u_k)\,(X_k + b J^w_k),\qquad
    J^b_{k+1} = \sigma'(u_k)\,(s_k + b J^b_k),\qquad J_0 = 0,

or their one-step truncation (``mode="truncated"``)
:math:`J^w_{k+1} = \sigma'(u_k) X_k`, :math:`J^b_{k+1} = \sigma'(u_k) s_k`.

With parameters frozen, :math:`J^w = \partial_w S`, :math:`J^b = \partial_b S`
exactly, and one step from the memory :math:`S(\theta;\xi_{k-1})` gives the
features of :ref:`theory §3 <theory-limit>` at :math:`\xi_k`: :math:`\varphi = s_{k+1}`,
:math:`\psi = J_{k+1}` (rtrl) and :math:`\chi = J_{k+1}` (truncated).

The same :func:`memory_step` advances a batch of networks in the simulator
(units of each network along the unit axis) and a batch of histories on the
parameter grid in the limit solver (grid nodes along the unit axis).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .activations import Activation
from .errors import ConfigError, DimensionError

__all__ = ["MemoryState", "memory_step", "memory_on_histories", "sensitivity", "carries",
           "SuffixTree", "suffix_tree", "GRADIENT_MODES"]

GRADIENT_MODES = ("rtrl", "truncated")


class MemoryState(NamedTuple):
    r"""Memory :math:`s` (..., G) with sensitivities :math:`J^w` (..., G, d) and :math:`J^b` (..., G).

    Parameters
    ----------
    s : numpy.ndarray, shape (..., G)
        Memory (hidden state) :math:`s_k` of each unit or parameter node.
    jw : numpy.ndarray, shape (..., G, d), or None
        Sensitivity :math:`J^w_k` (:math:`\partial_w s_k` in rtrl mode); ``None``
        when sensitivities are not tracked.
    jb : numpy.ndarray, shape (..., G), or None
        Sensitivity :math:`J^b_k` (:math:`\partial_b s_k` in rtrl mode); ``None``
        when sensitivities are not tracked.
    """

    s: np.ndarray
    jw: np.ndarray | None
    jb: np.ndarray | None


def check_mode(mode: str) -> str:
    """Validate a gradient mode name."""
    if mode not in GRADIENT_MODES:
        raise ConfigError(f"`gradient` must be one of {GRADIENT_MODES}, got {mode!r}.")
    return mode


def carries(mode: str) -> bool:
    r"""The coefficient :math:`\kappa` of the carried term :math:`b J` in ``mode``: rtrl 1, truncated 0.

    Parameters
    ----------
    mode : {"rtrl", "truncated"}
        Sensitivity recursion.

    Returns
    -------
    bool
        ``True`` (:math:`\kappa = 1`) for rtrl, ``False`` (:math:`\kappa = 0`) for truncated.

    Raises
    ------
    ConfigError
        If ``mode`` is neither.
    """
    if mode not in GRADIENT_MODES:
        raise ConfigError(f"`mode` must be one of {GRADIENT_MODES}, got {mode!r}.")
    return mode == "rtrl"


def sensitivity(du: float | np.ndarray, z: float | np.ndarray, b: float | np.ndarray,
                j: float | np.ndarray, carry: bool):
    r"""One coordinate of the sensitivity recursion, :math:`J' = \sigma'(u)\,(z + \kappa\, b J)`.

    The unit step of both modes, written once: :math:`z = X^j_k` for
    :math:`J^{w_j}` and :math:`z = s_k` for :math:`J^b`, and :math:`\kappa =`
    ``carry`` (1 in rtrl, 0 in truncated mode, see :func:`carries`). With
    :math:`\kappa = 0` the term is left out, not multiplied by zero, so an
    infinite or NaN :math:`J` does not leak into the truncated recursion. It runs
    on numpy arrays (broadcasting, in :func:`memory_step`) and, compiled with the
    mode as a constant, on scalars in the numba step loop of the simulator.

    Parameters
    ----------
    du : float or ndarray
        :math:`\sigma'(u_k)`.
    z : float or ndarray
        The input of this coordinate: :math:`X^j_k` or :math:`s_k`.
    b : float or ndarray
        The self-recurrence :math:`b`.
    j : float or ndarray
        The sensitivity :math:`J_k` of this coordinate.
    carry : bool
        :math:`\kappa`: whether the term :math:`b J_k` is carried (rtrl).

    Returns
    -------
    float or ndarray
        :math:`J_{k+1}`.
    """
    if carry:
        return du * (z + b * j)
    return du * z


def memory_step(
    state: MemoryState,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    act: Activation,
    mode: Literal["rtrl", "truncated"] = "rtrl",
    wx: np.ndarray | None = None,
) -> MemoryState:
    r"""Advance the memory and its sensitivities by one input.

    With :math:`u_k = w\cdot X_k + b\, s_k`, the memory moves to
    :math:`s_{k+1} = \sigma(u_k)` and the sensitivities to

    .. math::

        \text{rtrl:}\quad J^w_{k+1} = \sigma'(u_k)(X_k + b J^w_k),\quad
        J^b_{k+1} = \sigma'(u_k)(s_k + b J^b_k);

        \text{truncated:}\quad J^w_{k+1} = \sigma'(u_k) X_k,\quad
        J^b_{k+1} = \sigma'(u_k) s_k.

    Parameters
    ----------
    state : MemoryState
        :math:`(s_k, J^w_k, J^b_k)`; pass ``jw=jb=None`` to skip sensitivities.
    x : ndarray, shape (..., d)
        Current input :math:`X_k` of each batch element (shared by its units).
    w : ndarray, shape (..., G, d)
        Input weights; ``b`` has shape (..., G). Leading axes broadcast.
    b : ndarray, shape (..., G)
        Self-recurrences :math:`b` of the units.
    act : Activation
        :math:`\sigma`.
    mode : {"rtrl", "truncated"}
        Sensitivity recursion.
    wx : ndarray, shape (..., G), optional
        Precomputed :math:`w\cdot X_k`.

    Returns
    -------
    MemoryState
        :math:`(s_{k+1}, J^w_{k+1}, J^b_{k+1})`.

    Raises
    ------
    DimensionError
        If ``x`` and ``w`` do not share their last (state) dimension.
    ConfigError
        If ``mode`` is not ``"rtrl"`` or ``"truncated"`` (checked only when
        sensitivities are tracked).
    """
    if np.shape(x)[-1:] != np.shape(w)[-1:]:
        raise DimensionError(
            f"`x` of shape {np.shape(x)} and `w` of shape {np.shape(w)} must share the last "
            f"(state) dimension d."
        )
    s = state.s
    if wx is None:
        wx = np.einsum("...gd,...d->...g", w, x)
    u = wx + b * s
    if state.jw is None:
        return MemoryState(act.sigma(u), None, None)
    carry = carries(mode)
    s_new, du = act.sigma_dsigma(u)
    jw = sensitivity(du[..., None], np.broadcast_to(x[..., None, :], state.jw.shape),
                     b[..., None], state.jw, carry)
    jb = sensitivity(du, s, b, state.jb, carry)
    return MemoryState(s_new, jw, jb)


def memory_on_histories(
    histories: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    act: Activation,
    *,
    sensitivities: bool = True,
) -> MemoryState:
    r"""Memory :math:`S(\theta;\xi_{k-1})` and :math:`\partial_\theta S` on a batch of histories.

    Runs the fixed-point iteration
    :math:`S = \Phi_{X_{k-1}}\circ\cdots\circ\Phi_{X_{k-L+1}}(0)` over the past part
    ``histories[:, 1:]`` of each window (oldest first) for every parameter node,
    with exact rtrl sensitivities.

    Parameters
    ----------
    histories : ndarray, shape (M, L, d)
        ``histories[:, 0]`` is the current state :math:`X_k`, ``histories[:, j]``
        is :math:`X_{k-j}`.
    w : ndarray, shape (G, d)
        Input weights :math:`w` of the parameter nodes.
    b : ndarray, shape (G,)
        Self-recurrences :math:`b` of the parameter nodes.
    act : Activation
        The activation :math:`\sigma`, with :math:`\Phi_x(s) = \sigma(w\cdot x + b s)`.
    sensitivities : bool
        Also return :math:`\partial_w S` (M, G, d) and :math:`\partial_b S` (M, G).

    Returns
    -------
    MemoryState
        ``s`` of shape (M, G) and, if requested, ``jw`` (M, G, d) and ``jb`` (M, G).

    Raises
    ------
    DimensionError
        If ``histories`` is not of shape (M, L, d), or ``w`` and ``b`` are not of
        shapes (G, d) and (G,).

    Notes
    -----
    Cost :math:`O(U G d)` time, :math:`U \le M(L-1)` the number of distinct
    suffixes :math:`(X_{k-L+1},\dots,X_{k-j})` over all windows and levels
    (about :math:`M n/(n-1)` for the exact histories of an :math:`n`-state
    chain, :math:`M(L-1)` for Monte Carlo windows), and :math:`O(M G d)` memory.
    """
    histories = np.asarray(histories, dtype=float)
    w = np.asarray(w, dtype=float)
    b = np.asarray(b, dtype=float)
    if histories.ndim != 3:
        raise DimensionError(
            f"`histories` must have shape (M, L, d), got {histories.shape}."
        )
    M, L, d = histories.shape
    if w.ndim != 2 or w.shape[1] != d or b.shape != (w.shape[0],):
        raise DimensionError(
            f"`w` must have shape (G, {d}) and `b` shape (G,) to match histories of dimension "
            f"{d}; got w {w.shape}, b {b.shape}."
        )
    G = w.shape[0]
    state = MemoryState(np.zeros((1, G)), np.zeros((1, G, d)) if sensitivities else None,
                        np.zeros((1, G)) if sensitivities else None)
    parent = np.zeros(M, dtype=np.intp)
    for j, first, up, level_parent in _suffix_levels(histories):
        prev = MemoryState(state.s[up], None if state.jw is None else state.jw[up],
                           None if state.jb is None else state.jb[up])
        x = histories[first, j, :]
        state = memory_step(prev, x, w, b, act, "rtrl", wx=x @ w.T)
        parent = level_parent
    if state.s.shape[0] == M and np.array_equal(parent, np.arange(M)):
        return state
    return MemoryState(state.s[parent], None if state.jw is None else state.jw[parent],
                       None if state.jb is None else state.jb[parent])


def _suffix_levels(histories: np.ndarray):
    r"""Yield ``(j, first, up, parent)`` for the levels j = L-1, ..., 1 of the suffix tree.

    Windows that share their oldest states share the memory built from them
    (exact histories of a finite chain form a tree), so each level of the
    iteration runs once per distinct suffix :math:`(X_{k-L+1}, \dots, X_{k-j})`:
    ``first`` indexes one window of each distinct suffix, ``up`` the node of
    the level before it, and ``parent`` maps every window to its node.
    """
    M, L, d = histories.shape
    parent = np.zeros(M, dtype=np.intp)
    keys = np.empty((M, d + 1))
    for j in range(L - 1, 0, -1):
        # the suffix (X_{k-j}, ..., X_{k-L+1}) is the state X_{k-j} followed by the suffix of
        # the level before, whose rank among that level's sorted distinct suffixes is
        # `parent`: rows (state, rank) sort and compare as the whole suffixes do, with d + 1
        # columns instead of (L - j) d
        keys[:, :d] = histories[:, j, :]
        keys[:, d] = parent
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        up = parent[first]
        parent = inverse.reshape(M)
        yield j, first, up, parent


class SuffixTree(NamedTuple):
    r"""The distinct suffixes of a batch of windows, as a tree in level order.

    Node 0 is the root (the empty suffix, memory :math:`s = 0`); node ``k > 0``
    appends the state ``x[k]`` to the suffix of node ``up[k] < k``, so
    :math:`S_k = \sigma(w\cdot x_k + b\, S_{up[k]})` visits the nodes in
    order. Window ``m`` has memory :math:`S(\theta;\xi^{(m)}_{-1}) = S_{leaf[m]}`.

    Parameters
    ----------
    x : ndarray, shape (U, d)
        The state each node appends (row 0: zeros, unused).
    up : ndarray of intp, shape (U,)
        The node each node extends (``up[0] = 0``).
    leaf : ndarray of intp, shape (M,)
        The node holding the past ``histories[m, 1:]`` of each window.
    """

    x: np.ndarray
    up: np.ndarray
    leaf: np.ndarray


def suffix_tree(histories: ArrayLike) -> SuffixTree:
    r"""The suffix tree of the pasts ``histories[:, 1:]`` of a batch of windows.

    Parameters
    ----------
    histories : array_like, shape (M, L, d)
        ``histories[:, 0]`` is the current state, ``histories[:, j]`` the state
        ``j`` steps back.

    Returns
    -------
    SuffixTree
        With :math:`U = 1 +` the number of distinct suffixes over all levels
        (about :math:`M n/(n-1)` for the exact histories of an :math:`n`-state
        chain, :math:`M(L-1)` for Monte Carlo windows).

    Raises
    ------
    DimensionError
        If ``histories`` is not of shape (M, L, d).
    """
    histories = np.asarray(histories, dtype=float)
    if histories.ndim != 3:
        raise DimensionError(f"`histories` must have shape (M, L, d), got {histories.shape}.")
    M, _, d = histories.shape
    xs, ups = [np.zeros((1, d))], [np.zeros(1, dtype=np.intp)]
    start, size = 0, 1
    leaf = np.zeros(M, dtype=np.intp)
    for j, first, up, parent in _suffix_levels(histories):
        xs.append(histories[first, j, :])
        ups.append(start + up)
        start, size = size, size + first.size
        leaf = start + parent
    return SuffixTree(np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ups), leaf)
