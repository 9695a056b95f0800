r"""Source of the compiled step loop: each kernel module is this file with its header replaced.

:mod:`limitsolver.simulation._kernels` writes, for one activation and one
gradient mode, a module made of a generated header (the activation's fused
``sigma_dsigma`` and the constant ``CARRY``, :math:`\kappa` of
:func:`limitsolver.memory.sensitivity`) followed by the text of this file below
the header, into a cache directory, and imports it there, so that numba caches
the compiled functions on disk for every later process. The header here (tanh,
rtrl) only makes the file readable and checkable on its own.

The unit step is :func:`limitsolver.memory.sensitivity`, the same function the
numpy backend uses, compiled with ``CARRY`` a constant (so truncated mode
carries no dead ``b J`` term). See :mod:`limitsolver.simulation._kernels` for
the passes of one step.
"""
# --- header: replaced in each generated kernel module ---
import math

import numba
import numpy as np

from limitsolver.memory import sensitivity as _sensitivity
from limitsolver.simulation._simd import tanh_sd as sigma_dsigma

CARRY = True
# --- end of header ---

# reassoc lets LLVM vectorise the sum over units; no 'nnan'/'ninf' so that the
# divergence test (isfinite) stays meaningful.
_jit = numba.njit(fastmath={"reassoc", "nsz", "contract"}, error_model="numpy", nogil=True,
                  cache=True)
sensitivity = numba.njit(inline="always")(_sensitivity)


@_jit
def units_d1(c, w, b, s, jw, jb, g, x):
    """Update with ``g``, then one step of memory and sensitivities (d = 1); returns sum c s."""
    acc = 0.0
    for i in range(c.size):
        co = c[i]
        si = s[i]
        gc = g * co
        cn = co + g * si
        jbi = jb[i]
        jwi = jw[i]
        bi = b[i] + gc * jbi
        wi = w[i] + gc * jwi
        t, du = sigma_dsigma(bi * si + wi * x)
        jw[i] = sensitivity(du, x, bi, jwi, CARRY)
        jb[i] = sensitivity(du, si, bi, jbi, CARRY)
        c[i] = cn
        b[i] = bi
        w[i] = wi
        s[i] = t
        acc += cn * t
    return acc


@_jit
def units_dn(c, w, b, s, jw, jb, g, x, ubuf, tbuf, dbuf):
    """As :func:`units_d1` for any d, in three passes through the buffers."""
    N, d = w.shape
    for i in range(N):
        co = c[i]
        gc = g * co
        c[i] = co + g * s[i]
        bi = b[i] + gc * jb[i]
        b[i] = bi
        u = bi * s[i]
        for j in range(d):
            wij = w[i, j] + gc * jw[i, j]
            w[i, j] = wij
            u += wij * x[j]
        ubuf[i] = u
    for i in range(N):
        tbuf[i], dbuf[i] = sigma_dsigma(ubuf[i])
    acc = 0.0
    for i in range(N):
        du = dbuf[i]
        bi = b[i]
        si = s[i]
        for j in range(d):
            jw[i, j] = sensitivity(du, x[j], bi, jw[i, j], CARRY)
        jb[i] = sensitivity(du, si, bi, jb[i], CARRY)
        t = tbuf[i]
        s[i] = t
        acc += c[i] * t
    return acc


@_jit
def final_update(c, w, b, s, jw, jb, g):
    """The update of the last step of a chunk (with the error of that step)."""
    N, d = w.shape
    for i in range(N):
        co = c[i]
        gc = g * co
        c[i] = co + g * s[i]
        b[i] += gc * jb[i]
        for j in range(d):
            w[i, j] += gc * jw[i, j]


@_jit
def one_seed(X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out, e_out):
    """All steps of a chunk for one seed; returns the first non-finite step or -1."""
    K, d = X.shape
    N = c.size
    w1 = w.reshape(N * d)
    jw1 = jw.reshape(N * d)
    ubuf = np.empty(N if d > 1 else 0)
    tbuf = np.empty_like(ubuf)
    dbuf = np.empty_like(ubuf)
    g = 0.0
    bad = -1
    for k in range(K):
        if d == 1:
            acc = units_d1(c, w1, b, s, jw1, jb, g, X[k, 0])
        else:
            acc = units_dn(c, w, b, s, jw, jb, g, X[k], ubuf, tbuf, dbuf)
        f = scale * acc
        e = Y[k] - f
        f_out[k] = f
        e_out[k] = e
        if not (math.isfinite(f) and math.isfinite(e)):
            bad = k
            g = 0.0
            break
        g = lr * e * scale if train else 0.0
    if g != 0.0:
        final_update(c, w, b, s, jw, jb, g)
    return bad


@numba.njit(parallel=True, nogil=True, cache=True)
def seeds_parallel(X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out, e_out, bad):
    """:func:`one_seed` for every seed, in parallel over seeds."""
    for q in numba.prange(X.shape[0]):
        k = one_seed(X[q], Y[q], c[q], w[q], b[q], s[q], jw[q], jb[q], lr, scale, train,
                     f_out[q], e_out[q])
        if k >= 0:
            bad[q] = k
    return 0


@numba.njit(nogil=True, cache=True)
def seeds_serial(X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out, e_out, bad):
    """:func:`one_seed` for every seed in turn (no thread hand-off: one seed)."""
    for q in range(X.shape[0]):
        k = one_seed(X[q], Y[q], c[q], w[q], b[q], s[q], jw[q], jb[q], lr, scale, train,
                     f_out[q], e_out[q])
        if k >= 0:
            bad[q] = k
    return 0
