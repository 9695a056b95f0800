r"""The output function of a finite network with frozen parameters, :math:`h^N_t`.

With the parameters :math:`\theta^i = (c^i, w^i, b^i)` of step :math:`\lfloor N t\rfloor`
frozen, the network's output at a history :math:`\xi = (x, X_{-1}, X_{-2}, \dots)` is
(:ref:`theory §3 <theory-limit>`)

.. math::

    h^N_t(\xi) = N^{-\beta}\sum_{i=1}^N c^i\,\sigma\big(w^i\cdot x + b^i S(\theta^i;\xi_{-1})\big),

where :math:`S(\theta;\xi_{-1})` is the memory driven by the past part of the window
from zero, computed by :func:`limitsolver.memory.memory_on_histories` (the same
code the limit solver uses).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ..activations import Activation, activation
from ..errors import ConfigError, DimensionError
from ..memory import MemoryState, memory_on_histories, memory_step, suffix_tree
from ..prior import UnitParameters

__all__ = ["network_output"]

_BYTES_BUDGET = 200e6


def network_output(params: UnitParameters, histories: ArrayLike, act: Activation | str,
                   beta: float, *, max_bytes: float = _BYTES_BUDGET,
                   backend: Literal["auto", "numba", "numpy"] = "auto") -> np.ndarray:
    r"""Evaluate :math:`f(\xi) = N^{-\beta}\sum_i c^i\sigma(w^i\cdot x + b^i S(\theta^i;\xi_{-1}))`.

    Parameters
    ----------
    params : UnitParameters
        ``c`` (S, N), ``w`` (S, N, d), ``b`` (S, N): ``S`` networks of ``N`` units
        (a missing leading axis means ``S = 1``).
    histories : array_like, shape (M, L, d)
        ``histories[:, 0]`` is the current state, ``histories[:, j]`` the state
        ``j`` steps in the past; the memory starts from zero at ``histories[:, L-1]``.
    act : Activation or str
        :math:`\sigma`.
    beta : float
        Output scaling exponent.
    max_bytes : float
        Work-array budget of the numpy route; units are processed in chunks so
        that the temporaries stay below it (about 200 MB by default).
    backend : {"auto", "numba", "numpy"}
        ``"numba"``: the compiled route (the memory of each distinct suffix of
        the windows computed once per unit, by :func:`limitsolver.memory.suffix_tree`,
        networks and blocks of units in parallel); ``"numpy"``: through
        :func:`limitsolver.memory.memory_on_histories`; ``"auto"``: numba when
        it can be used. Both agree to rounding (a few ulp per unit).

    Returns
    -------
    ndarray, shape (S, M)

    Raises
    ------
    DimensionError
        If ``histories`` is not (M, L, d) with the parameters' ``d``.
    ConfigError
        If ``backend`` is unknown, or ``"numba"`` cannot be used.

    Notes
    -----
    A network whose second half of units mirrors the first,
    :math:`(c, w, b) \mapsto (-c, w, b)` exactly (doubled initialisation before
    any update), has output exactly 0; it is not evaluated. The compiled route
    also evaluates equal windows once and, for an activation whose compiled
    form is odd bit for bit (tanh, linear), a window and its negation once:

    .. math::

        h(-\xi) = N^{-\beta}\sum_i c^i\sigma\big(-(w^i\cdot x + b^i S(\theta^i;\xi_{-1}))\big)
                 = -h(\xi),

    exactly in floating point, since every step of the recursion and of the sum
    is odd and rounding to nearest is symmetric (for the exact histories of a
    chain on :math:`\pm 1` this halves the work). Every number is the one the
    window gets when evaluated alone, bit for bit (the sign of a zero aside).
    Cost :math:`O(S N U d)` time for :math:`U` distinct suffixes
    (:math:`U \le M(L-1)`, about :math:`M n/(n-1)` for exact histories of an
    :math:`n`-state chain, half that with the sign symmetry); memory
    :math:`O(U\cdot 64)` per thread (numba) or :math:`O(M G d)` for chunks of
    ``G`` units (numpy).
    """
    act = activation(act)
    c = np.asarray(params.c, dtype=float)
    w = np.asarray(params.w, dtype=float)
    b = np.asarray(params.b, dtype=float)
    if c.ndim == 1:
        c, w, b = c[None], w[None], b[None]
    hist = np.asarray(histories, dtype=float)
    if hist.ndim != 3 or hist.shape[2] != w.shape[2]:
        raise DimensionError(
            f"`histories` must have shape (M, L, {w.shape[2]}) to match the network's input "
            f"dimension, got {hist.shape}."
        )
    if backend not in ("auto", "numba", "numpy"):
        raise ConfigError(f"`backend` must be one of ('auto', 'numba', 'numpy'), got {backend!r}.")
    S, N, d = w.shape
    M = hist.shape[0]
    live = ~_mirrored(c, w, b)
    if not live.all():  # h = 0 exactly for networks made of mirrored pairs (doubled, t = 0)
        out = np.zeros((S, M))
        if live.any():
            out[live] = network_output(UnitParameters(c[live], w[live], b[live]), hist, act,
                                       beta, max_bytes=max_bytes, backend=backend)
        return out
    if backend != "numpy":
        kernel = _compiled(act, backend == "numba")
        if kernel is not None:
            return _tree_output(kernel, c, w, b, hist, _odd_kernel(act)) * float(N) ** (-beta)
    G = int(max(1, min(N, max_bytes // (8.0 * max(M, 1) * (d + 4)))))
    out = np.zeros((S, M))
    x = hist[:, 0, :]
    for q in range(S):
        for lo in range(0, N, G):
            hi = min(N, lo + G)
            wg, bg = w[q, lo:hi], b[q, lo:hi]
            mem = memory_on_histories(hist, wg, bg, act, sensitivities=False)
            phi = memory_step(MemoryState(mem.s, None, None), x, wg, bg, act, wx=x @ wg.T).s
            out[q] += phi @ c[q, lo:hi]
    return out * float(N) ** (-beta)


_BLOCK = 128


def _mirrored(c: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per network: whether unit ``N/2 + i`` is ``(-c, w, b)`` of unit ``i`` exactly (doubled start)."""
    N = c.shape[1]
    if N % 2:
        return np.zeros(c.shape[0], dtype=bool)
    h = N // 2
    return (np.all(c[:, h:] == -c[:, :h], axis=1) & np.all(w[:, h:] == w[:, :h], axis=(1, 2))
            & np.all(b[:, h:] == b[:, :h], axis=1) & np.any(c != 0, axis=1))


def _compiled(act: Activation, required: bool):
    """The compiled tree evaluation of ``act`` (``None``: use numpy; raise if ``required``)."""
    from ._kernels import kernel_module, numba_available

    if not numba_available():
        if required:
            raise ConfigError("`backend` 'numba' requested but numba cannot be imported.")
        return None
    try:
        return kernel_module(act, "rtrl").tree_outputs
    except Exception as exc:  # numba raises many kinds of typing/lowering errors
        if required:
            raise ConfigError(f"activation {act.expression!r} could not be compiled with numba "
                              f"({type(exc).__name__}: {exc}).") from exc
        return None


def _odd_kernel(act: Activation) -> bool:
    r"""Whether the compiled :math:`\sigma` is odd bit for bit, :math:`\sigma(-u) = -\sigma(u)`.

    ``tanh`` (:func:`~limitsolver.simulation._simd.tanh_sd` works on :math:`|u|`
    and copies the sign of :math:`u`) and ``linear`` (``u * 1.0``); for the
    others (libm calls, printed formulas) it is not guaranteed.
    """
    return act.simd == "tanh_sd" or (act.spec is not None and act.name == "linear")


def _distinct_windows(hist: np.ndarray, odd: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The windows to evaluate, and how every window's output follows from theirs.

    Returns ``(windows, index, sign)`` with ``f(hist[m]) = sign[m] * f(windows[index[m]])``
    exactly: equal windows are evaluated once, and, when ``odd``, a window and
    its negation :math:`-\xi` too (with :math:`\sigma` odd bit for bit, every
    operation of the memory recursion and of the sum over units is odd in
    :math:`(x, S)`, and rounding to nearest is symmetric, so
    :math:`f(-\xi) = -f(\xi)` to the bit, the sign of a zero aside). The
    window evaluated for a pair is the one whose oldest nonzero coordinate is
    positive (for the exact histories of a chain on :math:`\pm 1`, the half
    starting at :math:`+1`: half the suffix tree). Histories with non-finite
    entries are returned as they are.
    """
    M = hist.shape[0]
    one = np.ones(M)
    if M == 0 or not np.isfinite(hist).all():
        return hist, np.arange(M), one
    keys = hist[:, ::-1].reshape(M, -1) + 0.0          # oldest state first; -0.0 -> 0.0
    sign = one
    if odd:
        nonzero = keys != 0.0
        lead = keys[np.arange(M), nonzero.argmax(axis=1)]
        sign = np.where(lead < 0.0, -1.0, 1.0)
        keys = keys * sign[:, None] + 0.0
    _, first, index = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    windows = hist[first] * sign[first][:, None, None] + 0.0
    return windows, index.reshape(M), sign


def _tree_output(kernel, c, w, b, hist, odd: bool) -> np.ndarray:
    r""":math:`\sum_i c^i \phi^i` per network and window, by the compiled suffix-tree walk.

    Each window's sum depends only on its own path through the tree, so
    evaluating the distinct windows (:func:`_distinct_windows`) gives every
    window's number bit for bit.
    """
    windows, index, sign = _distinct_windows(hist, odd)
    tree = suffix_tree(windows)
    S, N, _ = w.shape
    n_blocks = max(1, -(-N // _BLOCK))
    part = np.zeros((S, n_blocks, windows.shape[0]))
    kernel(np.ascontiguousarray(c), np.ascontiguousarray(w), np.ascontiguousarray(b), tree.x,
           tree.up, np.ascontiguousarray(windows[:, 0, :]), tree.leaf, _BLOCK, part)
    return part.sum(axis=1)[:, index] * sign
