r"""Numba-compiled step loop of the finite network (``THEORY.md`` §2).

One call of the kernel advances ``S`` independent networks (one per seed) by a
chunk of steps. For each seed and each step :math:`k` a single fused pass over
the units

1. applies the update of the previous step with :math:`g_{k-1} = \alpha
   N^{2\beta-2} e_{k-1} N^{-\beta}` (using :math:`c^i` before its update),

   .. math::

       c^i \mathrel{+}= g_{k-1} s^i_k,\quad
       w^i \mathrel{+}= g_{k-1} c^i J^{w,i}_k,\quad
       b^i \mathrel{+}= g_{k-1} c^i J^{b,i}_k,

2. advances the memory :math:`s^i_{k+1} = \sigma(w^i\cdot X_k + b^i s^i_k)` and
   the sensitivities (rtrl: :math:`J^w_{k+1} = \sigma'(u)(X_k + b J^w_k)`,
   :math:`J^b_{k+1} = \sigma'(u)(s_k + b J^b_k)`; truncated: the same without
   the :math:`b J` terms),
3. accumulates :math:`f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1}`.

The update of the last step of a chunk is applied in a final pass, so the
arrays hold the parameters after every step of the chunk when the kernel
returns. This is the same arithmetic as :func:`limitsolver.memory.memory_step`
followed by the update of §2 (the numpy backend), up to the order of the sum
over units; the tests check both backends agree to ~1e-12.

Activations are compiled once per expression (``functools.lru_cache`` keyed by
name and expression): the named ones from hand-written scalar functions, any
other expression from sympy's ``pycode`` printer with the ``math`` module.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["numba_available", "compiled_kernel", "scalar_activation_source"]

# reassoc lets LLVM vectorise the sum over units; no 'nnan'/'ninf' so that the
# divergence test (isfinite) stays meaningful.
_FASTMATH = {"reassoc", "nsz", "contract"}

_NAMED_SOURCE = {
    "tanh": "t = math.tanh(u)\n    return t, 1.0 - t * t",
    "sigmoid": "t = 0.5 * (1.0 + math.tanh(0.5 * u))\n    return t, t * (1.0 - t)",
    "erf": "return math.erf(u), 1.1283791670955126 * math.exp(-u * u)",
    "softplus": (
        "sp = max(u, 0.0) + math.log1p(math.exp(-abs(u)))\n"
        "    return sp, 0.5 * (1.0 + math.tanh(0.5 * u))"
    ),
    "linear": "return u * 1.0, 1.0",
}


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

    Named activations use hand-written stable forms (the same formulas as the
    numpy forms of :mod:`limitsolver.activations`); other expressions are
    printed by :func:`sympy.printing.pycode.pycode` from the sympy expression
    and its derivative.
    """
    if name in _NAMED_SOURCE:
        body = _NAMED_SOURCE[name]
    else:
        import sympy as sp
        from sympy.printing.pycode import pycode

        from ..activations import U, activation

        expr = activation(expression).sympy_expr
        d1 = sp.diff(expr, U)
        body = f"return float({pycode(expr)}), float({pycode(d1)})"
    return f"def _sigma_dsigma(u):\n    {body}\n"


@functools.lru_cache(maxsize=32)
def _compiled_activation(name: str, expression: str):
    import numba

    namespace: dict = {"math": math}
    exec(scalar_activation_source(name, expression), namespace)  # noqa: S102 - generated from sympy
    return numba.njit(inline="always", fastmath={"contract"})(namespace["_sigma_dsigma"])


@functools.lru_cache(maxsize=32)
def compiled_kernel(name: str, expression: str):
    """The jitted chunk kernel for one activation (compiled on first call, cached per process).

    Signature ``kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad)``
    with ``X`` (S, K, d), ``Y`` (S, K), ``c, b, s, jb`` (S, N), ``w, jw`` (S, N, d),
    ``f_out, e_out`` (S, K) and ``bad`` (S,) int64 (set to the first step whose
    prediction or error is not finite, else left at -1). Arrays are updated in
    place; ``train=False`` advances memory and sensitivities only.
    """
    import numba

    sd = _compiled_activation(name, expression)

    @numba.njit(parallel=True, fastmath=_FASTMATH, nogil=True)
    def kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad):
        S, K, d = X.shape
        N = c.shape[1]
        for q in numba.prange(S):
            cq = c[q]
            wq = w[q]
            bq = b[q]
            sq = s[q]
            jwq = jw[q]
            jbq = jb[q]
            g = 0.0
            for k in range(K):
                xk = X[q, k]
                acc = 0.0
                for i in range(N):
                    co = cq[i]
                    gc = g * co
                    cq[i] = co + g * sq[i]
                    bi = bq[i] + gc * jbq[i]
                    bq[i] = bi
                    si = sq[i]
                    u = bi * si
                    for j in range(d):
                        wij = wq[i, j] + gc * jwq[i, j]
                        wq[i, j] = wij
                        u += wij * xk[j]
                    t, du = sd(u)
                    if rtrl:
                        for j in range(d):
                            jwq[i, j] = du * (xk[j] + bi * jwq[i, j])
                        jbq[i] = du * (si + bi * jbq[i])
                    else:
                        for j in range(d):
                            jwq[i, j] = du * xk[j]
                        jbq[i] = du * si
                    sq[i] = t
                    acc += cq[i] * t
                f = scale * acc
                e = Y[q, k] - f
                f_out[q, k] = f
                e_out[q, k] = e
                if not (math.isfinite(f) and math.isfinite(e)):
                    bad[q] = k
                    g = 0.0
                    break
                g = lr * e * scale if train else 0.0
            if g != 0.0:
                for i in range(N):
                    co = cq[i]
                    gc = g * co
                    cq[i] = co + g * sq[i]
                    bq[i] += gc * jbq[i]
                    for j in range(d):
                        wq[i, j] += gc * jwq[i, j]
        return 0

    return kernel


def warm_kernel(name: str, expression: str, d: int = 1):
    """Compile the kernel for ``(name, expression)`` by running it on a tiny problem.

    Raises whatever numba raises when the activation cannot be compiled.
    """
    kernel = compiled_kernel(name, expression)
    S, K, N = 1, 2, 2
    X = np.zeros((S, K, d))
    Y = np.zeros((S, K))
    arrays = [np.zeros((S, N)), np.zeros((S, N, d)), np.zeros((S, N)), np.zeros((S, N)),
              np.zeros((S, N, d)), np.zeros((S, N))]
    kernel(X, Y, *arrays, 0.0, 1.0, True, True, np.zeros((S, K)), np.zeros((S, K)),
           np.full(S, -1, dtype=np.int64))
    return kernel
