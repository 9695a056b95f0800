r"""Numba-compiled step loop of the finite network (:ref:`theory §2 <theory-network>`), compiled once per machine.

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
2. :math:`\sigma(u^i_k)` and :math:`\sigma'(u^i_k)` (the activation's fused form);
3. the memory :math:`s^i_{k+1} = \sigma(u^i_k)`, the sensitivities by the unit
   step :func:`limitsolver.memory.sensitivity`, :math:`J_{k+1} =
   \sigma'(u)(z + \kappa\, b J_k)` with :math:`\kappa = 1` (rtrl) or 0
   (truncated), and the output :math:`f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1}`.

For :math:`d = 1` the three passes are one loop; for :math:`d > 1` they are
three loops through scratch buffers, so that pass 2 is a plain loop over a
contiguous buffer. The update of the last step of a chunk is applied in a
final pass, so the arrays hold the parameters after every step of the chunk
when the kernel returns. This is the same arithmetic as
:func:`limitsolver.memory.memory_step` followed by the update of §2 (the numpy
backend), up to the order of the sum over units and the last few bits of
:math:`\tanh`; the tests check both backends agree to ~1e-12.

**Unit blocks.** With ``n_blocks > 1`` the units are split into the fixed
blocks of :func:`block_bounds`, and the passes above run block by block: one
seed's blocks on several threads (``seed_blocks``: threads of a pool kept for
the process, each claiming its own blocks of a step first and then those no
other thread has claimed; the thread completing a step adds the block sums in
block order into :math:`f^N_k` and opens the next step, with the atomic
counters of :mod:`limitsolver.simulation._sync`), several seeds in parallel
over seeds with each seed's blocks in turn. The numbers depend on the blocks
only, never on which thread ran which block.

**Compiled once per machine.** The loop is written once, as the source file
``_step_loop.py``. For each activation and gradient mode a kernel module is
generated: a header defining the activation's ``sigma_dsigma`` (its registered
:attr:`~limitsolver.activations.Activation.kernel_source`, which for a user's
formula is printed by sympy's code printer from the parsed expression, never
copied from the user's text; or its branch-free SIMD form of
:mod:`limitsolver.simulation._simd`) and the constant ``CARRY``
(:math:`\kappa`), followed by the loop's source. The module is written once
into the kernel cache directory (:func:`kernel_cache_dir`) under a name
hashing its text and the sources it depends on, and imported from there; its
functions are jitted with ``cache=True``, so numba compiles them in the first
process on a machine and every later process (workers of a study included)
loads the machine code from disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ..activations import ACTIVATIONS, Activation, activation
from ..memory import carries

__all__ = ["numba_available", "compiled_kernel", "scalar_activation_source", "vector_tanh",
           "VECTOR_ACTIVATIONS", "kernel_cache_dir", "kernel_module_source", "kernel_module",
           "warm_kernel"]

#: Named activations whose kernel uses the branch-free (SIMD) tanh.
VECTOR_ACTIVATIONS = tuple(name for name, spec in ACTIVATIONS.items() if spec.simd)

_HERE = Path(__file__).resolve().parent
_HEADER_END = "# --- end of header ---\n"


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

    Parameters
    ----------
    name : str
        A registered name, or ``"custom"``.
    expression : str
        The formula in ``u`` (read only when ``name`` is ``"custom"``).

    Returns
    -------
    str
        The source of one function definition.
    """
    act = activation(name if name != "custom" else expression)
    return f"def _sigma_dsigma(u):\n    {act.kernel_source}\n"


def kernel_cache_dir() -> Path:
    """The directory holding generated kernel modules and numba's cache of them.

    ``$LIMITSOLVER_CACHE_DIR/kernels`` if that variable is set, else
    ``$XDG_CACHE_HOME/limitsolver/kernels`` (default ``~/.cache/limitsolver/kernels``);
    if that cannot be written, a per-user directory under the system's
    temporary directory.

    Returns
    -------
    pathlib.Path
        An existing, writable directory.
    """
    env = os.environ.get("LIMITSOLVER_CACHE_DIR")
    if env:
        base = Path(env)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "limitsolver"
    for d in (base / "kernels",
              Path(tempfile.gettempdir()) / f"limitsolver-{os.getuid()}" / "kernels"):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise OSError(f"no writable directory for compiled kernels (tried {base / 'kernels'}); set "
                  f"LIMITSOLVER_CACHE_DIR to one.")


def _sd_block(act: Activation) -> str:
    if act.simd:
        return f"from limitsolver.simulation._simd import {act.simd} as sigma_dsigma\n"
    return ('@numba.njit(inline="always", fastmath={"contract"}, cache=True)\n'
            f"def sigma_dsigma(u):\n    {act.kernel_source}\n")


#: Templates of generated kernel modules: the step loop of the simulator and the factor
#: rows of the limit solver (each a file whose header is replaced).
TEMPLATES = {"step_loop": _HERE / "_step_loop.py",
             "factor_rows": _HERE.parent / "limit" / "_factor_loop.py"}


def kernel_module_source(act: Activation, mode: str, template: str = "step_loop") -> str:
    """The text of the kernel module for activation ``act`` and gradient ``mode``.

    Parameters
    ----------
    act : Activation
        The activation (its ``kernel_source`` or SIMD form is used).
    mode : {"rtrl", "truncated"}
        Gradient mode; sets ``CARRY`` (:func:`limitsolver.memory.carries`).
    template : {"step_loop", "factor_rows"}
        Which file of :data:`TEMPLATES` follows the header.

    Returns
    -------
    str
        A generated header followed by the body of the template.
    """
    carry = carries(mode)
    template = TEMPLATES[template].read_text()
    body = template[template.index(_HEADER_END) + len(_HEADER_END):]
    header = (
        f"# Generated by limitsolver: activation {act.name!r} {act.expression!r}, gradient "
        f"{mode!r}.\n# Do not edit: the file name hashes this text and the sources it uses.\n"
        "import math\n\nimport numba\nimport numpy as np\n\n"
        "from limitsolver.memory import sensitivity as _sensitivity\n"
        "from limitsolver.simulation._sync import (NAP_MICROSECONDS, compare_exchange, cycles,\n"
        "    fetch_add, load_acquire, nap, store_release)\n"
        f"{_sd_block(act)}\nCARRY = {carry}\n"
    )
    return header + body


def _write_once(path: Path, text: str) -> None:
    """Create ``path`` with ``text`` unless it already holds it (atomic; never rewritten in place).

    Rewriting an identical file would change its time stamp and invalidate
    numba's cache of it in every other process.
    """
    try:
        if path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    try:
        try:
            os.link(tmp, path)  # create only if absent: another process may have written it
        except FileExistsError:
            if path.read_text() != text:  # a damaged file: replace it
                os.replace(tmp, path)
        except OSError:  # no hard links on this file system
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@functools.lru_cache(maxsize=64)
def kernel_module(act: Activation, mode: str, template: str = "step_loop"):
    """Import (writing it first if needed) the kernel module of ``act`` and ``mode``.

    Parameters
    ----------
    act : Activation
        The activation.
    mode : {"rtrl", "truncated"}
        Gradient mode.
    template : {"step_loop", "factor_rows"}
        The simulator's step loop (jitted ``seeds_serial``, ``seeds_parallel`` and the
        unit loops) or the limit solver's ``factor_rows``.

    Returns
    -------
    module
        The imported module.
    """
    import numba

    text = kernel_module_source(act, mode, template)
    deps = "".join((_HERE.parent / p).read_text() for p in ("memory.py", "simulation/_simd.py",
                                                           "simulation/_sync.py"))
    key = hashlib.sha256("\0".join((text, deps, numba.__version__)).encode()).hexdigest()[:20]
    prefix = "limitsolver_kernel" if template == "step_loop" else f"limitsolver_{template}"
    name = f"{prefix}_{act.name}_{mode}_{key}"
    path = kernel_cache_dir() / f"{name}.py"
    _write_once(path, text)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def vector_tanh(u) -> np.ndarray:
    r"""The kernel's branch-free :math:`\tanh`, elementwise on a float64 array (for tests).

    Within 3 ulp of :func:`numpy.tanh` for finite input; ``±inf -> ±1``; NaN -> NaN.

    Parameters
    ----------
    u : array_like
        Arguments.

    Returns
    -------
    numpy.ndarray
        :math:`\tanh u`, with the shape of ``u``.
    """
    from ._simd import tanh_array

    u = np.ascontiguousarray(u, dtype=np.float64)
    out = np.empty_like(u)
    tanh_array(u.reshape(-1), out.reshape(-1))
    return out


def block_bounds(n_units: int, n_blocks: int) -> np.ndarray:
    r"""The unit blocks of the step loop: block ``p`` is units ``bounds[p]:bounds[p + 1]``.

    Every block but the last holds the same multiple of 8 units (whole 64-byte
    lines of each array, so that threads never write into one line); with more
    blocks than that allows the trailing blocks are empty.

    Parameters
    ----------
    n_units : int
        :math:`N`.
    n_blocks : int
        :math:`B \ge 1`.

    Returns
    -------
    numpy.ndarray
        ``B + 1`` int64 bounds from 0 to ``n_units``.
    """
    size = 8 * -(-int(n_units) // (8 * int(n_blocks)))
    return np.minimum(np.arange(int(n_blocks) + 1, dtype=np.int64) * size, int(n_units))


_POOL_LOCK = threading.Lock()
_POOL: list = [None, 0]  # the executor running threads 1, 2, ... of the unit blocks; its size


def _forget_pool() -> None:
    """In a forked child: the parent's pool threads do not exist there (nor a held lock)."""
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    _POOL[:] = [None, 0]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _block_threads(n: int) -> cf.ThreadPoolExecutor:
    """A pool of at least ``n`` threads (call with ``_POOL_LOCK`` held)."""
    if _POOL[1] < n:
        if _POOL[0] is not None:
            _POOL[0].shutdown(wait=False)
        _POOL[0] = cf.ThreadPoolExecutor(max_workers=n, thread_name_prefix="limitsolver-blocks")
        _POOL[1] = n
    return _POOL[0]


def _guarded(fn, flags, abort, *args):
    """``fn(*args)``; on an exception first set ``flags[abort]``, so no thread waits for this one."""
    try:
        return fn(*args)
    except BaseException:
        flags[abort] = 1
        raise


def run_blocks(module, n_threads: int, args: tuple, bounds: np.ndarray) -> int:
    """One seed's chunk (``args`` as for ``seed_blocks`` after ``t, n_threads``) on ``n_threads`` threads.

    The calling thread runs thread 0; threads 1, ... run in a pool kept for the
    process. One run of blocks at a time uses the pool (a lock), so that two
    callers never wait for each other's threads.

    Returns
    -------
    (int, int)
        The first non-finite step or -1 (as :func:`seed_blocks`), and how
        many times a waiting thread napped (another thread was descheduled).
    """
    n_threads = max(1, min(int(n_threads), bounds.size - 1))
    n_blocks = bounds.size - 1
    shared = np.zeros(module.SUMS + n_blocks)  # g, then the blocks' sums
    flags = np.zeros(module.CLAIMS + n_blocks, dtype=np.int64)
    flags[module.BAD] = -1
    fn = module.seed_blocks
    if n_threads == 1:
        return fn(0, 1, *args, bounds, shared, flags), 0
    with _POOL_LOCK:
        pool = _block_threads(n_threads - 1)
        futures = [pool.submit(_guarded, fn, flags, module.ABORT, t, n_threads, *args, bounds,
                               shared, flags) for t in range(1, n_threads)]
        try:
            bad = _guarded(fn, flags, module.ABORT, 0, n_threads, *args, bounds, shared, flags)
        finally:
            cf.wait(futures)
        for future in futures:
            future.result()  # a thread's exception
    if bad == -2:  # pragma: no cover - only after an exception, raised above
        raise RuntimeError("a thread of the unit blocks stopped")
    return bad, int(flags[module.NAPS])


@functools.lru_cache(maxsize=32)
def compiled_kernel(name: str, expression: str):
    """The chunk kernel of one activation (both gradient modes, each compiled on first use).

    Signature ``kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad,
    n_blocks=1, n_threads=1)``
    with ``X`` (S, K, d), ``Y`` (S, K), ``c, b, s, jb`` (S, N), ``w, jw`` (S, N, d),
    ``f_out, e_out`` (S, K) and ``bad`` (S,) int64 (set to the first step whose
    prediction or error is not finite, else left at -1). Arrays must be
    C-contiguous and are updated in place; ``train=False`` advances memory and
    sensitivities only; ``rtrl`` chooses the gradient mode. Several seeds run
    in parallel over seeds. ``n_blocks > 1`` splits the units of every step into
    the blocks of :func:`block_bounds` (the sum over units adds the blocks'
    sums in block order: the same numbers as the serial loop to rounding, and
    the same bits for any ``n_threads``); one seed's blocks then run on
    ``n_threads`` threads, and the kernel returns how many times a waiting
    thread napped (0 otherwise).

    Parameters
    ----------
    name : str
        A registered activation name, or ``"custom"``.
    expression : str
        The activation's formula in ``u``.

    Returns
    -------
    callable
        The kernel.
    """
    act = activation(name if name != "custom" else expression)

    def kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad,
               n_blocks=1, n_threads=1):
        module = kernel_module(act, "rtrl" if rtrl else "truncated")
        if n_blocks > 1:
            bounds = block_bounds(c.shape[1], n_blocks)
            if X.shape[0] > 1:
                return module.seeds_parallel_blocks(X, Y, c, w, b, s, jw, jb, lr, scale, train,
                                                    f_out, e_out, bad, bounds)
            k, naps = run_blocks(module, n_threads, (X[0], Y[0], c[0], w[0], b[0], s[0], jw[0],
                                                     jb[0], lr, scale, train, f_out[0], e_out[0]),
                                 bounds)
            if k >= 0:
                bad[0] = k
            return naps
        if X.shape[0] > 1:
            return module.seeds_parallel(X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out,
                                         e_out, bad)
        # one seed: no thread hand-off (waking a pool thread can cost milliseconds on a busy
        # machine)
        return module.seeds_serial(X, Y, c, w, b, s, jw, jb, lr, scale, train, f_out, e_out,
                                   bad)

    return kernel


def warm_kernel(name: str, expression: str, d: int = 1, parallel: bool = False,
                mode: str = "rtrl", blocks: bool = False):
    """Compile (or load from the machine's cache) the kernel for one activation, ``d`` and ``mode``.

    Runs it on a tiny problem with one seed (serial loop) and, if ``parallel``,
    with two seeds (parallel loop over seeds), once per process; with
    ``blocks``, the loops in unit blocks instead.

    Parameters
    ----------
    name, expression : str
        The activation, as for :func:`compiled_kernel`.
    d : int
        Input dimension (1 and > 1 are different loops).
    parallel : bool
        Also prepare the loop parallel over seeds.
    mode : {"rtrl", "truncated"}
        Gradient mode.
    blocks : bool
        Prepare the loops in unit blocks (``n_blocks > 1``) rather than the serial ones.

    Returns
    -------
    (callable, float)
        The kernel of :func:`compiled_kernel` and the seconds spent compiling or
        loading it in this call (about 0 once it is warm in this process).

    Raises
    ------
    Exception
        Whatever numba raises when the activation cannot be compiled.
    """
    start = time.perf_counter()
    kernel = _warm(name, expression, int(d) > 1, bool(parallel), mode, bool(blocks))
    return kernel, time.perf_counter() - start


@functools.lru_cache(maxsize=64)
def _warm(name: str, expression: str, multi: bool, parallel: bool, mode: str, blocks: bool):
    kernel = compiled_kernel(name, expression)
    K, N, d = 2, 2, 2 if multi else 1
    for S in (1, 2) if parallel else (1,):
        X = np.zeros((S, K, d))
        Y = np.zeros((S, K))
        arrays = [np.zeros((S, N)), np.zeros((S, N, d)), np.zeros((S, N)), np.zeros((S, N)),
                  np.zeros((S, N, d)), np.zeros((S, N))]
        kernel(X, Y, *arrays, 0.0, 1.0, carries(mode), True, np.zeros((S, K)),
               np.zeros((S, K)), np.full(S, -1, dtype=np.int64), 2 if blocks else 1)
    # the evaluation of h^N_t on histories (SimulationResult.output) uses the same module
    act = activation(name if name != "custom" else expression)
    tree_outputs = kernel_module(act, "rtrl").tree_outputs
    tree_outputs(np.ones((1, N)), np.ones((1, N, d)), np.zeros((1, N)), np.zeros((2, d)),
                 np.zeros(2, dtype=np.intp), np.zeros((1, d)), np.ones(1, dtype=np.intp), 64,
                 np.zeros((1, 1, 1)))
    return kernel
