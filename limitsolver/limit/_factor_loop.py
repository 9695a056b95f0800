r"""Source of the compiled kernel-factor rows of the limit: the memory recursion fused with one step.

:func:`limitsolver.simulation._kernels.kernel_module` writes, for one activation,
a module made of a generated header (the activation's fused ``sigma_dsigma``)
followed by the text of this file below the header, into the machine's kernel
cache, so numba caches the compiled function on disk. The header here (tanh)
only makes the file readable and checkable on its own.

For every history of a chunk and every node :math:`(w_g, b_g)` of the rule,
:func:`factor_rows` runs the memory :math:`S` and its exact sensitivities from
zero over the past of the window (oldest first; the recursion of
:mod:`limitsolver.memory`, with :func:`limitsolver.memory.sensitivity` compiled
in), takes one step with the current state :math:`x = X_k`, and writes the row of
the kernel factor

.. math::

    F(\xi) = \bigl[\varphi\,\sqrt q,\ \sqrt{\mathbb E c^2}\,G_{w_1}\sqrt q,\ \dots,\
    \sqrt{\mathbb E c^2}\,G_b\sqrt q\bigr]

(column blocks of ``G`` nodes, as :func:`limitsolver.limit.kernels.kernel_factor`),
with :math:`G = \psi` in ``F`` and, when asked, :math:`G = \chi`
(:math:`\chi_w = \sigma'(u)x`, :math:`\chi_b = \sigma'(u)S`) in ``T``. Histories
run in parallel; the loop over nodes is innermost so that LLVM vectorises it.
"""
# --- header: replaced in each generated kernel module ---

import numba
import numpy as np

from limitsolver.memory import sensitivity as _sensitivity
from limitsolver.simulation._simd import tanh_sd as sigma_dsigma

CARRY = True
# --- end of header ---

sensitivity = numba.njit(inline="always")(_sensitivity)


_jit = numba.njit(nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")


@_jit
def _past(X, i, w, b, s, jw, jb, u, t, du):  # pragma: no cover - compiled
    """Memory and sensitivities over the past ``X[i, L-1], ..., X[i, 1]`` (oldest first), from 0."""
    L, d = X.shape[1], X.shape[2]
    G = b.shape[0]
    s[:] = 0.0
    jb[:] = 0.0
    jw[:, :] = 0.0
    for k in range(L - 1, 0, -1):
        for g in range(G):
            u[g] = b[g] * s[g]
        for a in range(d):
            xa = X[i, k, a]
            wa = w[a]
            for g in range(G):
                u[g] += wa[g] * xa
        for g in range(G):
            t[g], du[g] = sigma_dsigma(u[g])
        for a in range(d):
            xa = X[i, k, a]
            ja = jw[a]
            for g in range(G):
                ja[g] = sensitivity(du[g], xa, b[g], ja[g], True)
        for g in range(G):
            jb[g] = sensitivity(du[g], s[g], b[g], jb[g], True)
            s[g] = t[g]


@numba.njit(parallel=True, nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")
def factor_rows(X, w, b, sq, sc, F, T, chi):  # pragma: no cover - compiled
    """Rows ``F`` (m, (d+2)G) of a chunk ``X`` (m, L, d) and, if ``chi``, the rows ``T`` of chi.

    ``w`` is the transposed node matrix, shape (d, G).
    """
    m, d = X.shape[0], X.shape[2]
    G = b.shape[0]
    for i in numba.prange(m):
        s = np.empty(G)
        jb = np.empty(G)
        jw = np.empty((d, G))
        u = np.empty(G)
        t = np.empty(G)
        du = np.empty(G)
        _past(X, i, w, b, s, jw, jb, u, t, du)
        for g in range(G):
            u[g] = b[g] * s[g]
        for a in range(d):
            xa = X[i, 0, a]
            wa = w[a]
            for g in range(G):
                u[g] += wa[g] * xa
        for g in range(G):
            t[g], du[g] = sigma_dsigma(u[g])
        row = F[i]
        for g in range(G):
            row[g] = t[g] * sq[g]
            du[g] = du[g] * (sc * sq[g])  # sqrt(E c^2) sqrt(q) sigma'(u)
        for a in range(d):
            xa = X[i, 0, a]
            ja = jw[a]
            for g in range(G):
                row[(1 + a) * G + g] = sensitivity(du[g], xa, b[g], ja[g], True)
        for g in range(G):
            row[(1 + d) * G + g] = sensitivity(du[g], s[g], b[g], jb[g], True)
        if chi:
            trow = T[i]
            for g in range(G):
                trow[g] = row[g]
            for a in range(d):
                xa = X[i, 0, a]
                for g in range(G):
                    trow[(1 + a) * G + g] = du[g] * xa
            for g in range(G):
                trow[(1 + d) * G + g] = du[g] * s[g]
