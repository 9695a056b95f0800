r"""Step counters shared by the threads of one seed's step loop (atomic loads and stores).

The unit blocks of one network (:func:`limitsolver.simulation.simulate` with
``unit_blocks``) run on a few threads that all advance through the same
steps; the output :math:`f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1}` needs every
block's partial sum of step :math:`k` before any thread can apply the update
of step :math:`k`. Each thread publishes "my partial sums of step :math:`k`
are written" by storing :math:`k + 1` into its own counter with *release*
order, and reads the other counters with *acquire* order, so that a
counter seen at :math:`k + 1` guarantees that the partial sums written before
it are visible. This module gives numba those two operations, which it has
no syntax for, as LLVM atomic instructions on an ``int64`` array element
(with :func:`compare_exchange`, by which a thread claims a block, and
:func:`fetch_add`, by which it counts the blocks done); :func:`cycles`, the
processor's cycle counter, by which a waiting thread measures how long it
has spun; and :func:`nap`, the pause of a thread that has waited long enough
for another to have been descheduled (so that a busy machine does not spin a
core the other thread needs).

The functions are compiled into the step loop (on-disk cache included);
importing this module imports numba.
"""

from __future__ import annotations

import sys

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["load_acquire", "store_release", "compare_exchange", "fetch_add", "cycles", "nap",
           "NAP_MICROSECONDS"]

#: Length of one pause of a waiting thread (the kernel's timer slack adds ~50 us).
NAP_MICROSECONDS = 20


def _element_pointer(context, builder, aryty, ary, index):
    array = context.make_array(aryty)(context, builder, ary)
    return builder.gep(array.data, [index])


def _is_int64_array(a) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.int64 and a.ndim == 1


@intrinsic
def load_acquire(typingctx, a, i):
    """``a[i]`` as an atomic load with acquire order (``a`` a 1-d int64 array; no bound check)."""
    if not (_is_int64_array(a) and isinstance(i, types.Integer)):  # pragma: no cover
        return None

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], index)
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(a, i), codegen


@intrinsic
def store_release(typingctx, a, i, v):
    """``a[i] = v`` as an atomic store with release order (``a`` a 1-d int64 array)."""
    if not (_is_int64_array(a) and isinstance(i, types.Integer)
            and isinstance(v, types.Integer)):  # pragma: no cover
        return None

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], index)
        builder.store_atomic(value, ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(a, i, v), codegen


@intrinsic
def compare_exchange(typingctx, a, i, expected, v):
    """Atomically ``a[i] = v`` if ``a[i] == expected`` (acquire-release); whether it did."""
    if not (_is_int64_array(a) and isinstance(i, types.Integer)
            and isinstance(expected, types.Integer)
            and isinstance(v, types.Integer)):  # pragma: no cover
        return None

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        old = context.cast(builder, args[2], sig.args[2], types.int64)
        new = context.cast(builder, args[3], sig.args[3], types.int64)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], index)
        pair = builder.cmpxchg(ptr, old, new, "acq_rel", "acquire")
        return builder.extract_value(pair, 1)

    return types.boolean(a, i, expected, v), codegen


@intrinsic
def fetch_add(typingctx, a, i, v):
    """Atomically ``a[i] += v`` (acquire-release); returns the value before the addition."""
    if not (_is_int64_array(a) and isinstance(i, types.Integer)
            and isinstance(v, types.Integer)):  # pragma: no cover
        return None

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        ptr = _element_pointer(context, builder, sig.args[0], args[0], index)
        return builder.atomic_rmw("add", ptr, value, "acq_rel")

    return types.int64(a, i, v), codegen


@intrinsic
def cycles(typingctx):
    """The processor's cycle (time-stamp) counter, ``llvm.readcyclecounter``; 0 where there is none."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


if sys.platform == "win32":  # pragma: no cover - no usleep: keep spinning
    @numba.njit(inline="always", cache=True)
    def nap(microseconds):
        """A no-op here (the waiting thread keeps spinning)."""
        return 0
else:
    #: ``usleep`` of the C library: suspend the calling thread for at least that many us.
    nap = types.ExternalFunction("usleep", types.int32(types.uint32))
