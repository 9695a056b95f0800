r"""Branch-free :math:`\tanh` for the compiled step loop (SIMD code after LLVM vectorises it).

The scalar ``math.tanh`` is a libm call that LLVM cannot vectorise (no SVML
here), and it dominated the step. For the named ``tanh`` and ``sigmoid``
(:math:`\tfrac12(1 + \tanh(u/2))`) the step loop uses instead

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
for small :math:`|u|` (there :math:`q - 1 = 0` exactly). The result is within
3 ulp of ``numpy.tanh`` for all finite :math:`u` (``tanh(±inf) = ±1``, NaN
propagates, the sign of zero is kept).

The functions here are compiled once per machine (numba's on-disk cache);
:attr:`limitsolver.activations.ActivationSpec.simd` names the one an activation
uses. Importing this module imports numba.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["tanh_sd", "sigmoid_sd", "tanh_array"]

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

# 'contract' only: reassociation could undo the Cody-Waite reduction
_jit = numba.njit(fastmath={"contract"}, error_model="numpy", cache=True)


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


@_jit
def tanh_sd(u):
    """``(tanh(u), 1 - tanh(u)**2)`` without a branch or a libm call."""
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


@_jit
def sigmoid_sd(u):
    """``(sigmoid(u), sigmoid'(u))`` through :func:`tanh_sd` of ``u / 2``."""
    th, _ = tanh_sd(0.5 * u)
    t = 0.5 * (1.0 + th)
    return t, t * (1.0 - t)


@_jit
def tanh_array(u, out):
    """``out[i] = tanh(u[i])`` by :func:`tanh_sd` (for tests)."""
    for i in range(u.size):
        out[i], _ = tanh_sd(u[i])
