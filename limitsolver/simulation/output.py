r"""The output function of a finite network with frozen parameters, :math:`h^N_t`.

With the parameters :math:`\theta^i = (c^i, w^i, b^i)` of step :math:`\lfloor N t\rfloor`
frozen, the network's output at a history :math:`\xi = (x, X_{-1}, X_{-2}, \dots)` is
(``THEORY.md`` §3)

.. math::

    h^N_t(\xi) = N^{-\beta}\sum_{i=1}^N c^i\,\sigma\big(w^i\cdot x + b^i S(\theta^i;\xi_{-1})\big),

where :math:`S(\theta;\xi_{-1})` is the memory driven by the past part of the window
from zero, computed by :func:`limitsolver.memory.memory_on_histories` (the same
code the limit solver uses).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..activations import Activation, activation
from ..errors import DimensionError
from ..memory import MemoryState, memory_on_histories, memory_step
from ..prior import UnitParameters

__all__ = ["network_output"]

_BYTES_BUDGET = 200e6


def network_output(params: UnitParameters, histories: ArrayLike, act: Activation | str, beta: float, *,
                   max_bytes: float = _BYTES_BUDGET) -> np.ndarray:
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
        Work-array budget; units are processed in chunks so that the
        temporaries stay below it (about 200 MB by default).

    Returns
    -------
    ndarray, shape (S, M)

    Raises
    ------
    DimensionError
        If ``histories`` is not (M, L, d) with the parameters' ``d``.

    Notes
    -----
    Cost :math:`O(S N M L d)` time, :math:`O(M G d)` memory for chunks of ``G`` units.
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
    S, N, d = w.shape
    M = hist.shape[0]
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
