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
from limitsolver.simulation._sync import (
    NAP_MICROSECONDS,
    compare_exchange,
    cycles,
    fetch_add,
    load_acquire,
    nap,
    store_release,
)

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
def record(k, acc, Y, lr, scale, train, f_out, e_out):
    """Store f_k and e_k from the sum over units; return the next step's factor g (NaN: diverged)."""
    f = scale * acc
    e = Y[k] - f
    f_out[k] = f
    e_out[k] = e
    if not (math.isfinite(f) and math.isfinite(e)):
        return math.nan
    return lr * e * scale if train else 0.0


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
        g = record(k, acc, Y, lr, scale, train, f_out, e_out)
        if g != g:
            bad = k
            g = 0.0
            break
    if g != 0.0:
        final_update(c, w, b, s, jw, jb, g)
    return bad


#: Spacing, in elements, of the counters the threads of the unit blocks share: one 64-byte
#: cache line each, so that no two counters written by different threads share a line.
PAD = 8
# the lines of ``ctrl`` (int64): steps opened, blocks done, abort, first non-finite step, naps;
# then the blocks' claim counters, one element each (a thread's blocks are contiguous)
STEP, DONE, ABORT, BAD, NAPS, CLAIMS = 0, PAD, 2 * PAD, 3 * PAD, 4 * PAD, 5 * PAD
# ``shared`` (float64): g on the first line, then the blocks' sums, one element each
SUMS = PAD
#: Cycles a thread spins at least before napping (about 50 us at 2-3 GHz).
SPIN_CYCLES = 1 << 17


@_jit
def _block(p, k, K, g, X, c, w, b, s, jw, jb, w1, jw1, bounds, ubuf, tbuf, dbuf):
    """Block ``p`` at step ``k``: :func:`units_d1` / :func:`units_dn` (its sum), or at ``k = K``
    the final update."""
    lo = bounds[p]
    hi = bounds[p + 1]
    if k == K:
        if g != 0.0:
            final_update(c[lo:hi], w[lo:hi], b[lo:hi], s[lo:hi], jw[lo:hi], jb[lo:hi], g)
        return 0.0
    if w.shape[1] == 1:
        return units_d1(c[lo:hi], w1[lo:hi], b[lo:hi], s[lo:hi], jw1[lo:hi], jb[lo:hi], g,
                        X[k, 0])
    m = hi - lo
    return units_dn(c[lo:hi], w[lo:hi], b[lo:hi], s[lo:hi], jw[lo:hi], jb[lo:hi], g, X[k],
                    ubuf[:m], tbuf[:m], dbuf[:m])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def seed_blocks(t, n_threads, X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out, e_out, bounds,
                shared, ctrl):
    """Thread ``t`` of ``n_threads`` running the steps of a chunk for one seed in unit blocks.

    Block ``p`` holds units ``bounds[p]:bounds[p + 1]``. Step ``k`` (and a
    last round ``k = K`` for the final update) is open once ``ctrl[STEP] ==
    k``, with the factor ``g`` of step ``k - 1`` in ``shared[0]``. A thread
    claims a block for step ``k`` by moving its counter ``ctrl[CLAIMS + p]``
    from ``k`` to ``k + 1`` (compare-and-exchange): first its own blocks ``t B
    // n_threads`` to ``(t + 1) B // n_threads - 1`` (each thread keeps its
    units in its core's cache), then, from the end, the blocks the other
    threads have not claimed yet (a thread descheduled on a busy machine does
    not hold the step up). Each block's sum goes to ``shared[SUMS + p]``, and
    the thread adds the number of blocks it ran to ``ctrl[DONE]``; the thread
    whose addition completes the step adds the ``B`` sums in block order (the
    same number whichever threads ran which blocks, for any ``n_threads``),
    stores ``f_k, e_k`` and ``g_k`` and opens step ``k + 1``; the others wait
    for it (spinning as long as they worked in the step, then napping, counted
    in ``ctrl[NAPS]``: a busy machine). Returns the first
    non-finite step or -1 (in every thread), or -2 if a thread set
    ``ctrl[ABORT]``. ``n_threads = 1`` is the same arithmetic in one thread.
    """
    K = X.shape[0]
    N, d = w.shape
    n_blocks = bounds.size - 1
    w1 = w.reshape(N * d)
    jw1 = jw.reshape(N * d)
    m = bounds[1] if d > 1 else 0  # the longest block
    ubuf = np.empty(m)
    tbuf = np.empty(m)
    dbuf = np.empty(m)
    p0 = t * n_blocks // n_threads
    p1 = (t + 1) * n_blocks // n_threads
    mine = np.zeros(p1 - p0, dtype=np.bool_)
    k = 0
    while k <= K:
        start = cycles()
        g = shared[0]
        for p in range(p0, p1):
            mine[p - p0] = compare_exchange(ctrl, CLAIMS + p, k, k + 1)
        ran = 0
        for j in range(n_threads):
            u = (t + j) % n_threads
            for i in range((u + 1) * n_blocks // n_threads - u * n_blocks // n_threads):
                if j == 0:
                    p = p0 + i
                    if not mine[i]:
                        continue
                else:  # another thread's blocks, from the end
                    p = (u + 1) * n_blocks // n_threads - 1 - i
                    if not (load_acquire(ctrl, CLAIMS + p) == k
                            and compare_exchange(ctrl, CLAIMS + p, k, k + 1)):
                        continue
                shared[SUMS + p] = _block(p, k, K, g, X, c, w, b, s, jw, jb, w1, jw1, bounds,
                                          ubuf, tbuf, dbuf)
                ran += 1
        if ran > 0 and fetch_add(ctrl, DONE, ran) + ran == (k + 1) * n_blocks:
            nxt = k + 1  # this thread completed step k: close it
            if k < K:
                acc = 0.0
                for q in range(n_blocks):
                    acc += shared[SUMS + q]
                gk = record(k, acc, Y, lr, scale, train, f_out, e_out)
                if gk != gk:
                    ctrl[BAD] = k
                    gk = 0.0
                    nxt = K + 1
                shared[0] = gk
            store_release(ctrl, STEP, nxt)
        # wait as long again as this thread worked (and at least SPIN_CYCLES), then nap
        now = cycles()
        patience = max(now - start, SPIN_CYCLES)
        while load_acquire(ctrl, STEP) <= k:
            if load_acquire(ctrl, ABORT) != 0:
                return -2
            if cycles() - now > patience:
                fetch_add(ctrl, NAPS, 1)
                nap(NAP_MICROSECONDS)
        k = load_acquire(ctrl, STEP)
    return ctrl[BAD]


@numba.njit(parallel=True, nogil=True, cache=True)
def seeds_parallel_blocks(X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out, e_out, bad,
                          bounds):
    """:func:`seed_blocks` on one thread for every seed, in parallel over seeds (same numbers)."""
    n_blocks = bounds.size - 1
    for q in numba.prange(X.shape[0]):
        shared = np.zeros(SUMS + n_blocks)
        ctrl = np.zeros(CLAIMS + n_blocks, dtype=np.int64)
        ctrl[BAD] = -1
        k = seed_blocks(0, 1, X[q], Y[q], c[q], w[q], b[q], s[q], jw[q], jb[q], lr, scale, train,
                        f_out[q], e_out[q], bounds, shared, ctrl)
        if k >= 0:
            bad[q] = k
    return 0


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


@_jit
def _dot(a, b):
    """``sum_g a[g] b[g]``, reassociated (vectorised) like the step loop's sum over units."""
    acc = 0.0
    for g in range(a.size):
        acc += a[g] * b[g]
    return acc


@numba.njit(parallel=True, nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")
def tree_outputs(c, w, b, tx, up, x0, leaf, block, part):
    r"""``part[q, k, m] = sum_{i in block k} c_qi sigma(w_qi . x0_m + b_qi S_qi(leaf_m))``.

    ``S`` runs down the suffix tree (``tx``, ``up``; node 0 is the root with
    ``S = 0``) once per unit, for blocks of ``block`` units at a time (every
    inner loop runs over a block's units, contiguous); the (network, block)
    pairs run in parallel, each writing its own row of ``part``.
    """
    S, N, d = w.shape
    U = tx.shape[0]
    M = x0.shape[0]
    n_blocks = part.shape[1]
    for job in numba.prange(S * n_blocks):
        q = job // n_blocks
        lo = (job % n_blocks) * block
        G = min(block, N - lo)
        cl = np.empty(G)
        bl = np.empty(G)
        wl = np.empty((d, G))
        for g in range(G):
            cl[g] = c[q, lo + g]
            bl[g] = b[q, lo + g]
            for j in range(d):
                wl[j, g] = w[q, lo + g, j]
        sbuf = np.zeros((U, G))
        ubuf = np.empty(G)
        for k in range(1, U + M):
            if k < U:
                p = up[k]
                x = tx[k]
            else:
                p = leaf[k - U]
                x = x0[k - U]
            for g in range(G):
                ubuf[g] = bl[g] * sbuf[p, g]
            for j in range(d):
                xj = x[j]
                for g in range(G):
                    ubuf[g] += wl[j, g] * xj
            if k < U:
                for g in range(G):
                    sbuf[k, g], _ = sigma_dsigma(ubuf[g])
            else:
                for g in range(G):
                    ubuf[g], _ = sigma_dsigma(ubuf[g])
                part[q, job % n_blocks, k - U] = _dot(cl, ubuf)
