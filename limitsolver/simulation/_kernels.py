r"""Numba-compiled step loop of the finite network (``THEORY.md`` §2).

One call of the kernel advances ``S`` independent networks (one per seed,
in parallel over seeds) by a chunk of steps. For each seed and each step
:math:`k` the units are visited in passes over contiguous arrays:

1. the update of the previous step with :math:`g_{k-1} = \alpha
   N^{2\beta-2} e_{k-1} N^{-\beta}` (using :math:`c^i` before its update),

   .. math::

       c^i \mathrel{+}= g_{k-1} s^i_k,\quad
       w^i \mathrel{+}= g_{k-1} c^i J^{w,i}_k,\quad
       b^i \mathrel{+}= g_{k-1} c^i J^{b,i}_k,

   and the pre-activation :math:`u^i_k = w^i\cdot X_k + b^i s^i_k`;
2. :math:`\sigma(u^i_k)` and :math:`\sigma'(u^i_k)`;
3. the memory :math:`s^i_{k+1} = \sigma(u^i_k)`, the sensitivities (rtrl:
   :math:`J^w_{k+1} = \sigma'(u)(X_k + b J^w_k)`, :math:`J^b_{k+1} =
   \sigma'(u)(s_k + b J^b_k)`; truncated: the same without the :math:`b J`
   terms) and the output :math:`f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1}`.

For :math:`d = 1` the three passes are one loop; for :math:`d > 1` they are
three loops through scratch buffers, so that pass 2 is a plain loop over a
contiguous buffer. The update of the last step of a chunk is applied in a
final pass, so the arrays hold the parameters after every step of the chunk
when the kernel returns. This is the same arithmetic as
:func:`limitsolver.memory.memory_step` followed by the update of §2 (the numpy
backend), up to the order of the sum over units and the last few bits of
:math:`\tanh`; the tests check both backends agree to ~1e-12.

**Vectorised tanh.** The scalar ``math.tanh`` is a libm call that LLVM cannot
vectorise (no SVML here), and it dominated the step. For the named ``tanh``
and ``sigmoid`` (:math:`\tfrac12(1 + \tanh(u/2))`) the kernel uses a
branch-free tanh that LLVM turns into SIMD code:

.. math::

    \tanh u = \operatorname{sign}(u)\,\frac{1 - e^x}{1 + e^x}
            = -\operatorname{sign}(u)\,\frac{2 q r + (q - 1) D}{2 q r + (q + 1) D},
    \qquad x = -2\min(|u|, 40) = n\ln 2 + r,

    q = 2^n,\quad n = \lfloor x/\ln 2 + \tfrac12\rfloor,\quad |r|\le\tfrac12\ln 2,\quad
    D = 2 - r + r^2 P(r^2),\quad e^r = 1 + \frac{2r}{D},

with :math:`r` from a two-constant (Cody-Waite) reduction, :math:`2^n` written
into the exponent bits, and :math:`P(z)` a degree-4 polynomial approximating
:math:`(r\coth(r/2) - 2)/r^2` (so that :math:`e^r = 1 + 2r/D`) to
:math:`7\cdot 10^{-17}`. One division per unit, no branch, and no cancellation
for small :math:`|u|` (there :math:`q - 1 = 0` exactly). The
result is within 3 ulp of ``numpy.tanh`` for all finite :math:`u` (``tanh(±inf)
= ±1``, NaN propagates, the sign of zero is kept). Other activations use
scalar functions: the named ones hand-written, any other expression printed by
sympy's ``pycode`` with the ``math`` module; each is compiled once per
expression (``functools.lru_cache``).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..activations import ACTIVATIONS

__all__ = ["numba_available", "compiled_kernel", "scalar_activation_source", "vector_tanh",
           "VECTOR_ACTIVATIONS"]

# reassoc lets LLVM vectorise the sum over units; no 'nnan'/'ninf' so that the
# divergence test (isfinite) stays meaningful. The vector tanh is compiled with
# 'contract' only: reassociation could undo its Cody-Waite reduction.
_FASTMATH = {"reassoc", "nsz", "contract"}

#: Named activations whose kernel uses the branch-free (SIMD) tanh.
VECTOR_ACTIVATIONS = tuple(name for name, spec in ACTIVATIONS.items() if spec.simd)

# exp on |r| <= ln2/2 in the rational form exp(r) - 1 = 2r / (2 - R(r)),
# R(r) = r - r^2 P(r^2) with P(z) = (r coth(r/2) - 2) / z; the coefficients of P
# interpolate it at the 5 Chebyshev points of [0, (ln2/2)^2] (computed with
# mpmath at 50 digits): max |P - P_exact| = 5.1e-17 (6.5e-17 with the coefficients
# rounded to double), i.e. < 5e-18 relative in exp(r) - 1.
_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # 32 significant bits: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_P1, _P2, _P3, _P4, _P5 = (0.1666666666666666, -0.0027777777777564573, 6.613756471707873e-05,
                           -1.6534060165972636e-06, 4.1437725653582016e-08)
# tanh(u) == ±1 in double precision for |u| > 19.1; 40 keeps 2^n normal
_TANH_CLAMP = 40.0


@functools.lru_cache(maxsize=1)
def numba_available() -> bool:
    """Whether numba can be imported."""
    try:
        import numba  # noqa: F401
    except Exception:  # pragma: no cover - numba is a declared dependency
        return False
    return True


def scalar_activation_source(name: str, expression: str) -> str:
    r"""Python source of ``_sigma_dsigma(u) -> (sigma(u), sigma'(u))`` using :mod:`math` only.

    The body is the activation's :attr:`~limitsolver.activations.Activation.kernel_source`:
    hand-written stable forms for the named activations, sympy's ``pycode`` of
    the parsed expression and its derivative otherwise.
    """
    from ..activations import activation

    act = activation(name if name != "custom" else expression)
    return f"def _sigma_dsigma(u):\n    {act.kernel_source}\n"


@functools.lru_cache(maxsize=1)
def _vector_functions():
    """Compile ``(tanh_sd, sigmoid_sd, tanh_array)``: branch-free scalar forms and an array loop."""
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def pow2i(typingctx, n):
        """``2.0**n`` for an integer ``n`` in [-1022, 1023], by writing the exponent bits."""
        if not isinstance(n, types.Integer):  # pragma: no cover - only called with int64
            return None

        def codegen(context, builder, sig, args):
            i64 = ir.IntType(64)
            nn = context.cast(builder, args[0], sig.args[0], types.int64)
            bits = builder.shl(builder.add(nn, ir.Constant(i64, 1023)), ir.Constant(i64, 52))
            return builder.bitcast(bits, ir.DoubleType())

        return types.float64(n), codegen

    jit = numba.njit(fastmath={"contract"}, error_model="numpy")

    @jit
    def tanh_sd(u):
        a = abs(u)
        a = a if a < _TANH_CLAMP else _TANH_CLAMP  # NaN -> clamp, restored below
        x = -2.0 * a
        nf = math.floor(x * _INV_LN2 + 0.5)
        r = x - nf * _LN2_HI
        r = r - nf * _LN2_LO
        z = r * r
        den = 2.0 - (r - z * (_P1 + z * (_P2 + z * (_P3 + z * (_P4 + z * _P5)))))
        q = pow2i(np.int64(nf))
        # e^x = q (1 + 2r/den); tanh(a) = (1 - e^x) / (1 + e^x), one division,
        # and no cancellation at small a where q - 1 == 0 exactly
        tqr = 2.0 * q * r
        t = math.copysign(-(tqr + (q - 1.0) * den) / (tqr + (q + 1.0) * den), u)
        if u != u:
            t = u
        return t, 1.0 - t * t

    @jit
    def sigmoid_sd(u):
        th, _ = tanh_sd(0.5 * u)
        t = 0.5 * (1.0 + th)
        return t, t * (1.0 - t)

    @jit
    def tanh_array(u, out):
        for i in range(u.size):
            out[i], _ = tanh_sd(u[i])

    return tanh_sd, sigmoid_sd, tanh_array


def vector_tanh(u) -> np.ndarray:
    r"""The kernel's branch-free :math:`\tanh`, elementwise on a float64 array (for tests).

    Within 3 ulp of :func:`numpy.tanh` for finite input; ``±inf -> ±1``; NaN -> NaN.
    """
    u = np.ascontiguousarray(u, dtype=np.float64)
    out = np.empty_like(u)
    _vector_functions()[2](u.reshape(-1), out.reshape(-1))
    return out


@functools.lru_cache(maxsize=32)
def _compiled_activation(name: str, expression: str):
    import numba

    if name in VECTOR_ACTIVATIONS:
        tanh_sd, sigmoid_sd, _ = _vector_functions()
        return {"tanh_sd": tanh_sd, "sigmoid_sd": sigmoid_sd}[ACTIVATIONS[name].simd]
    namespace: dict = {"math": math}
    exec(scalar_activation_source(name, expression), namespace)  # noqa: S102 - generated from sympy
    return numba.njit(inline="always", fastmath={"contract"})(namespace["_sigma_dsigma"])


@functools.lru_cache(maxsize=32)
def compiled_kernel(name: str, expression: str):
    """The jitted chunk kernel for one activation (compiled on first call, cached per process).

    Signature ``kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad)``
    with ``X`` (S, K, d), ``Y`` (S, K), ``c, b, s, jb`` (S, N), ``w, jw`` (S, N, d),
    ``f_out, e_out`` (S, K) and ``bad`` (S,) int64 (set to the first step whose
    prediction or error is not finite, else left at -1). Arrays must be
    C-contiguous and are updated in place; ``train=False`` advances memory and
    sensitivities only.
    """
    import numba

    sd = _compiled_activation(name, expression)
    jit = numba.njit(fastmath=_FASTMATH, error_model="numpy", nogil=True)

    @jit
    def units_d1(c, w, b, s, jw, jb, g, x, rtrl):
        """Update with ``g``, then one step of memory and sensitivities; returns sum c s."""
        acc = 0.0
        if rtrl:
            for i in range(c.size):
                co = c[i]
                si = s[i]
                gc = g * co
                cn = co + g * si
                jbi = jb[i]
                jwi = jw[i]
                bi = b[i] + gc * jbi
                wi = w[i] + gc * jwi
                t, du = sd(bi * si + wi * x)
                jw[i] = du * (x + bi * jwi)
                jb[i] = du * (si + bi * jbi)
                c[i] = cn
                b[i] = bi
                w[i] = wi
                s[i] = t
                acc += cn * t
        else:
            for i in range(c.size):
                co = c[i]
                si = s[i]
                gc = g * co
                cn = co + g * si
                bi = b[i] + gc * jb[i]
                wi = w[i] + gc * jw[i]
                t, du = sd(bi * si + wi * x)
                jw[i] = du * x
                jb[i] = du * si
                c[i] = cn
                b[i] = bi
                w[i] = wi
                s[i] = t
                acc += cn * t
        return acc

    @jit
    def units_dn(c, w, b, s, jw, jb, g, x, rtrl, ubuf, tbuf, dbuf):
        """As ``units_d1`` for any d, in three passes through the buffers."""
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
            tbuf[i], dbuf[i] = sd(ubuf[i])
        acc = 0.0
        for i in range(N):
            du = dbuf[i]
            bi = b[i]
            si = s[i]
            if rtrl:
                for j in range(d):
                    jw[i, j] = du * (x[j] + bi * jw[i, j])
                jb[i] = du * (si + bi * jb[i])
            else:
                for j in range(d):
                    jw[i, j] = du * x[j]
                jb[i] = du * si
            t = tbuf[i]
            s[i] = t
            acc += c[i] * t
        return acc

    @jit
    def final_update(c, w, b, s, jw, jb, g):
        N, d = w.shape
        for i in range(N):
            co = c[i]
            gc = g * co
            c[i] = co + g * s[i]
            b[i] += gc * jb[i]
            for j in range(d):
                w[i, j] += gc * jw[i, j]

    @jit
    def one_seed(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out):
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
                acc = units_d1(c, w1, b, s, jw1, jb, g, X[k, 0], rtrl)
            else:
                acc = units_dn(c, w, b, s, jw, jb, g, X[k], rtrl, ubuf, tbuf, dbuf)
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

    def seeds_loop(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad):
        for q in numba.prange(X.shape[0]):
            k = one_seed(X[q], Y[q], c[q], w[q], b[q], s[q], jw[q], jb[q], lr, scale, rtrl,
                         train, f_out[q], e_out[q])
            if k >= 0:
                bad[q] = k
        return 0

    parallel = numba.njit(parallel=True, nogil=True)(seeds_loop)
    # one seed: no thread hand-off (waking a pool thread can cost milliseconds on a busy machine)
    serial = numba.njit(nogil=True)(seeds_loop)

    def kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad):
        run = serial if X.shape[0] == 1 else parallel
        return run(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad)

    return kernel


@functools.lru_cache(maxsize=64)
def warm_kernel(name: str, expression: str, d: int = 1, parallel: bool = False):
    """Compile the kernel for ``(name, expression)`` and dimension ``d`` (once per process).

    Runs it on a tiny problem with one seed (serial loop) and, if ``parallel``,
    with two seeds (parallel loop over seeds). Raises whatever numba raises
    when the activation cannot be compiled.
    """
    kernel = compiled_kernel(name, expression)
    K, N = 2, 2
    for S in (1, 2) if parallel else (1,):
        X = np.zeros((S, K, d))
        Y = np.zeros((S, K))
        arrays = [np.zeros((S, N)), np.zeros((S, N, d)), np.zeros((S, N)), np.zeros((S, N)),
                  np.zeros((S, N, d)), np.zeros((S, N))]
        kernel(X, Y, *arrays, 0.0, 1.0, True, True, np.zeros((S, K)), np.zeros((S, K)),
               np.full(S, -1, dtype=np.int64))
    return kernel
