r"""Online SGD of the finite network of :ref:`theory §2 <theory-network>`, for an ensemble of seeds.

For each seed a network of :math:`N` units with :math:`\theta^i\sim\mu_0` is run
on its own stationary path of the chain. Steps :math:`k = 0, \dots, K-1`,
:math:`K = \lfloor N T\rfloor`, training time :math:`t = k/N`:

.. math::

    u^i_k = w^i\cdot X_k + b^i s^i_k,\qquad s^i_{k+1} = \sigma(u^i_k),\qquad
    f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1},\qquad e_k = Y_k - f^N_k,

    c^i \mathrel{+}= \eta\, e_k N^{-\beta} s^i_{k+1},\quad
    w^i \mathrel{+}= \eta\, e_k N^{-\beta} c^i J^{w,i}_{k+1},\quad
    b^i \mathrel{+}= \eta\, e_k N^{-\beta} c^i J^{b,i}_{k+1},\qquad \eta = \alpha N^{2\beta-2},

with :math:`c^i` taken before its own update and :math:`J` the rtrl or truncated
sensitivities (:mod:`limitsolver.memory`).

**Warm-up.** Before step 0 the memory and the sensitivities are run with frozen
parameters, from :math:`s = 0, J = 0`, over the first ``warmup = problem.depth``
states of the path (no updates), so that both are stationary to within the
memory tolerance and the target's window is filled. Training step :math:`k`
reads the path state of index ``warmup + k``.

**Divergence.** A run whose error leaves
:math:`|e_k| \le 10^6\,(1 + \max_j |Y_j| + |f^N_0|)` (per seed; ``DIVERGENCE_FACTOR``)
stops with a :class:`~limitsolver.errors.DivergenceError` naming the step, long
before the parameters overflow: in a healthy run :math:`|e_k|` stays of the
order of the target and the initial output. So does a run in which one of
:math:`c, w, b` leaves :math:`\max_i|\theta^i| \le 10^6 (1 + \max_i |\theta^i_0|)`
(checked after each chunk of steps).

**Unit blocks.** For large :math:`N` the units of one seed's steps are split
into fixed blocks run by several cores, with one reduction per step (the sum
over units of :math:`f^N_k`, added block by block in order); see
``unit_blocks`` of :func:`simulate`.

**Seeds.** Seed ``s`` gives ``SeedSequence(s).spawn(2)``: the first child draws
the parameters (:meth:`Prior.sample`), the second the path
(``chain.sample(warmup + K, rng, n_paths=1)``, stationary start). A seed's
numbers therefore do not depend on the other seeds of the ensemble nor on the
backend.
"""

from __future__ import annotations

import math
import numbers
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..activations import ACTIVATIONS
from ..errors import ConfigError, DimensionError, DivergenceError
from ..memory import MemoryState, memory_step
from ..network import NetworkSpec
from ..prior import UnitParameters
from ..problem import Problem
from ..progress import progress as progress_bar
from .result import SimulationResult

__all__ = ["simulate", "SimulationProgress", "BACKENDS", "numpy_chunk", "seed_streams",
           "DIVERGENCE_FACTOR"]

BACKENDS = ("auto", "numba", "numpy", "jax")


class SimulationProgress(NamedTuple):
    """Record passed to a ``callback`` after every chunk of steps.

    The fields below are readable as attributes of the same names.

    Parameters
    ----------
    step : int
        Training steps completed.
    n_steps : int
        Training steps planned, :math:`K`.
    time : float
        Training time reached, ``step / N``.
    elapsed : float
        Wall-clock seconds since the step loop started.
    chunk_loss : float
        Mean of :math:`\\tfrac12 e_k^2` over the chunk and the seeds.
    """

    step: int
    n_steps: int
    time: float
    elapsed: float
    chunk_loss: float


class SimulationWarning(UserWarning):
    """The numba backend could not be used and the numpy backend was used instead."""


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """``(parameter generator, data generator)`` of one seed: ``SeedSequence(seed).spawn(2)``."""
    params_ss, data_ss = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(params_ss), np.random.default_rng(data_ss)


def numpy_chunk(X: np.ndarray, Y: np.ndarray, state: MemoryState, params: UnitParameters,
                network: NetworkSpec,
                lr: float, scale: float, train: bool) -> tuple:
    r"""Plain numpy step loop over a chunk (the reference backend).

    Uses :func:`limitsolver.memory.memory_step` (the recursion shared with the
    limit solver) for :math:`s_{k+1}, J_{k+1}`, then the update of §2.

    Parameters
    ----------
    X : ndarray (S, K, d)
    Y : ndarray (S, K)
    state : MemoryState
        ``s`` (S, N), ``jw`` (S, N, d), ``jb`` (S, N).
    params : UnitParameters
        ``c`` (S, N), ``w`` (S, N, d), ``b`` (S, N).

    Returns
    -------
    (state, params, f, e)
        Advanced state and parameters; predictions and errors (S, K).
    """
    S, K, d = X.shape
    c, w, b = params
    f_out = np.empty((S, K))
    e_out = np.empty((S, K))
    act, mode = network.activation, network.gradient
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for k in range(K):
            x = X[:, k, :]
            wx = w[..., 0] * x[:, None, 0]
            for j in range(1, d):
                wx = wx + w[..., j] * x[:, None, j]
            state = memory_step(state, x, w, b, act, mode, wx=wx)
            f = scale * np.sum(c * state.s, axis=-1)
            e = Y[:, k] - f
            f_out[:, k] = f
            e_out[:, k] = e
            if train:
                g = (lr * e * scale)[:, None]
                gc = g * c
                c = c + g * state.s
                w = w + gc[..., None] * state.jw
                b = b + gc * state.jb
    return state, UnitParameters(c, w, b), f_out, e_out


def _check_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = [seeds]
    try:
        out = tuple(int(s) for s in seeds)
        ok = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
                 for s in seeds)
    except TypeError:
        ok = False
    if not ok or len(out) == 0:
        raise ConfigError(
            f"`seeds` must be a non-negative integer or a non-empty sequence of them, got {seeds!r}."
        )
    return out


def _snapshot_steps(times, n_units: int, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1:
        raise ConfigError(f"`snapshot_times` must be one-dimensional, got shape {t.shape}.")
    bad = t[~((t >= 0) & (t <= horizon * (1 + 1e-12)))]
    if bad.size:
        raise ConfigError(
            f"`snapshot_times` must lie in [0, T] = [0, {horizon:g}]; got {bad.tolist()} outside."
        )
    t = np.unique(t)
    steps = np.floor(n_units * t + 1e-9).astype(np.int64)
    return t, np.minimum(steps, NetworkSpec.n_steps(n_units, horizon))


# Rule of backend="auto" (measured with benchmarks/bench_simulator.py): for the
# activations whose numba kernel is SIMD code (tanh and sigmoid through the kernel's
# branch-free tanh, linear) numba is faster at every size, several times at large N.
# For the others each unit-step pays a scalar libm call, so numba wins only while
# Python's per-step overhead dominates the numpy loop: below AUTO_NUMBA_MAX_WORK
# unit-steps per step (seeds x units).
AUTO_NUMBA_MAX_WORK = 1024
AUTO_NUMBA_ALWAYS = tuple(name for name, spec in ACTIVATIONS.items() if spec.auto_numba)

# Rule of unit_blocks="auto" (measured with benchmarks/bench_parallel.py): from
# AUTO_BLOCKS_MIN_UNITS units on, the units of every step are split into blocks of
# AUTO_BLOCK_UNITS units (the last one shorter), whatever the machine, so that a seed's
# numbers depend on N only; below it, the serial loop. On 2 idle cores blocks pay from
# N ~ 2048 (1.25-1.3x; 1.7-2.1x from 16384 on), but the threshold stays above the headline
# study's widths (N <= 32768), whose numbers stay those of the serial loop.
AUTO_BLOCKS_MIN_UNITS = 65536
AUTO_BLOCK_UNITS = 4096


def _unit_blocks(unit_blocks, n_units: int) -> int:
    """The number of unit blocks of ``unit_blocks`` (an int >= 1 or ``"auto"``) at ``n_units``."""
    if isinstance(unit_blocks, str) and unit_blocks == "auto":
        if n_units < AUTO_BLOCKS_MIN_UNITS:
            return 1
        return -(-n_units // AUTO_BLOCK_UNITS)
    if not (isinstance(unit_blocks, numbers.Integral) and not isinstance(unit_blocks, bool)
            and unit_blocks >= 1):
        raise ConfigError(f"`unit_blocks` must be a positive integer or 'auto', got "
                          f"{unit_blocks!r}.")
    return int(unit_blocks)


def _block_threads(n_blocks: int) -> int:
    """Threads for one seed's ``n_blocks`` unit blocks: the cores this process may use.

    At most ``NUMBA_NUM_THREADS`` and the CPUs of the process's affinity mask;
    one in a worker process of a pool (``multiprocessing.parent_process()``),
    whose siblings already use the cores.
    """
    import multiprocessing

    import numba

    if n_blocks <= 1 or multiprocessing.parent_process() is not None:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(n_blocks, cores, int(numba.config.NUMBA_NUM_THREADS)))


def _resolve_backend(backend: str, network: NetworkSpec, d: int, work: int = 0,
                     n_seeds: int = 1, blocks: bool = False):
    """Return (name, kernel or None, compile seconds); ``work`` is seeds x units per step."""
    if backend not in BACKENDS:
        raise ConfigError(f"`backend` must be one of {BACKENDS}, got {backend!r}.")
    act = network.activation
    if backend == "jax":  # optional: imported only when asked for
        from ._jax import jax_kernel

        return "jax", jax_kernel(act, network.gradient), 0.0
    if backend == "numpy" or (backend == "auto" and not act.auto_numba
                              and work >= AUTO_NUMBA_MAX_WORK):
        return "numpy", None, 0.0
    from ._kernels import numba_available, warm_kernel

    if not numba_available():
        if backend == "numba":
            raise ConfigError("`backend` 'numba' requested but numba cannot be imported.")
        return "numpy", None, 0.0
    try:
        kernel, seconds = warm_kernel(act.name, act.expression, d, n_seeds > 1, network.gradient,
                                      blocks)
    except Exception as exc:  # numba raises many kinds of typing/lowering errors
        warnings.warn(
            f"activation {act.expression!r} could not be compiled with numba ({type(exc).__name__}); "
            "using the numpy backend.", SimulationWarning, stacklevel=3)
        return "numpy", None, 0.0
    return "numba", kernel, seconds


class _Threads:
    """Threads of the next chunk of one seed's unit blocks: all, but one after a busy chunk.

    A chunk whose waiting threads napped more than ``BUSY_NAPS`` times and more
    than once per ``BUSY_STEPS`` steps ran on a machine with more busy threads
    than cores (there a thread naps about once per step; on idle cores a few
    times per thousand steps, and while the pool's threads start), where one
    thread is faster; the next ``PROBE_CHUNKS`` chunks run on one thread, then
    all again. The numbers do not depend on the threads (only the blocks).
    """

    BUSY_STEPS = 4
    BUSY_NAPS = 16
    PROBE_CHUNKS = 8

    def __init__(self, n: int):
        self.n = self.now = int(n)
        self.left = 0

    def after(self, naps: int, steps: int) -> None:
        """Record a chunk of ``steps`` steps during which waiting threads napped ``naps`` times."""
        if self.now > 1:
            if naps > self.BUSY_NAPS and naps * self.BUSY_STEPS > steps:
                self.now, self.left = 1, self.PROBE_CHUNKS
        elif self.n > 1:
            self.left -= 1
            if self.left <= 0:
                self.now = self.n


#: A training run stops with a DivergenceError when an error leaves
#: |e_k| <= DIVERGENCE_FACTOR (1 + max_k |Y_k| + |f^N_0|), per seed (max over its
#: training path, f^N_0 its first prediction). Healthy runs stay within a few
#: times 1 + max|Y| + |f^N_0|; checking costs one pass over the chunk's errors.
DIVERGENCE_FACTOR = 1e6


def _first_over(e: np.ndarray, bad: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Per seed, the first chunk step whose error is not finite or exceeds ``bound`` (-1: none)."""
    with np.errstate(invalid="ignore"):
        out = ~(np.abs(e) <= bound[:, None])
    first = np.where(out.any(axis=1), np.argmax(out, axis=1), -1)
    # the compiled loop stops a seed at its first non-finite step and leaves later entries unset
    return np.where((bad >= 0) & ((first < 0) | (bad < first)), bad, first)


def _max_abs(a: np.ndarray) -> np.ndarray:
    """max |a| per seed (leading axis); NaN when any entry is NaN.

    As ``max(max a, -min a)``: two reductions, no temporary of the size of ``a``
    (whose allocation cost more than the reductions at large N).
    """
    a = a.reshape(a.shape[0], -1)
    return np.maximum(a.max(axis=1, initial=0.0), -a.min(axis=1, initial=0.0))


def _parameters_over(params: UnitParameters, theta_bound: dict) -> tuple[int, str, float]:
    """The first seed whose c, w or b left its bound (or is not finite): (seed index, name, max|.|)."""
    for name_ in ("c", "w", "b"):
        size = _max_abs(getattr(params, name_))
        with np.errstate(invalid="ignore"):
            over = ~(size <= theta_bound[name_])
        if over.any():
            q = int(np.argmax(over))
            return q, name_, float(size[q])
    return -1, "", 0.0


class _Interrupt:
    """Install a SIGINT handler (main thread only) that asks the loop to stop after a chunk."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):  # pragma: no cover - embedded interpreters
                self._previous = None
        return self

    def _handler(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def simulate(problem: Problem, n_units: int, seeds: int | Sequence[int], *,
             snapshot_times: ArrayLike | None = None,
             backend: Literal["auto", "numba", "numpy", "jax"] = "auto",
             progress: bool | None = None,
             callback: Callable[[SimulationProgress], bool | None] | None = None,
             chunk_steps: int | None = None,
             unit_blocks: int | Literal["auto"] = "auto") -> SimulationResult:
    r"""Train finite networks online on the problem's chain, one network per seed.

    Runs the system of :ref:`theory §2 <theory-network>` (see the module docstring): warm-up of
    ``problem.depth`` frozen steps, then :math:`K = \lfloor N T\rfloor` SGD steps
    with learning rate :math:`\alpha N^{2\beta-2}` and output scale
    :math:`N^{-\beta}`. All seeds advance together.

    Parameters
    ----------
    problem : Problem
        Chain, target, network spec and horizon :math:`T`.
    n_units : int
        :math:`N \ge 1` (even with doubled initialisation).
    seeds : int or sequence of int
        One independent run (parameters and path) per seed.
    snapshot_times : array_like, optional
        Training times :math:`t\in[0, T]` at which parameters are stored
        (after :math:`\lfloor N t\rfloor` updates; ``0`` = initial parameters).
        Default ``[0, T]``.
    backend : {"auto", "numba", "numpy", "jax"}
        ``"numba"``: jitted fused loop (parallel over seeds); ``"numpy"``:
        plain step loop through :func:`limitsolver.memory.memory_step`;
        ``"auto"``: numba when importable and either the activation is one of
        ``AUTO_NUMBA_ALWAYS`` (tanh, sigmoid, linear: SIMD kernel, faster at
        every size) or seeds x units is below ``AUTO_NUMBA_MAX_WORK`` (where
        per-step Python overhead dominates); numpy otherwise. ``"jax"``
        (optional extra, never chosen by ``"auto"``): the step as one XLA-compiled
        scan vectorised over seeds, on a GPU when JAX has one, else the CPU
        (:mod:`limitsolver.simulation._jax`; activations tanh, sigmoid, erf,
        softplus, linear); ``wall_time`` includes its compilation on the first
        run of a shape in a process. All give the same numbers to rounding
        (tanh and sigmoid to a few ulp per step).
    progress : bool, optional
        Show a progress bar over chunks (``None``: only on a terminal).
    callback : callable, optional
        Called after every chunk with a :class:`SimulationProgress`; returning
        ``False`` stops the run cleanly (status ``"stopped by callback"``).
    chunk_steps : int, optional
        Steps per chunk (default: about :math:`2^{23}` unit-steps per chunk and
        thread). Chunks do not change the numbers.
    unit_blocks : int or "auto", default "auto"
        Split the units of every step into :math:`B` fixed blocks
        (:func:`~limitsolver.simulation._kernels.block_bounds`: equal
        multiples of 8 units, the last one shorter) run by several cores
        (numba backend): each block's sum :math:`\sum_{i\in\text{block}}
        c^i s^i_{k+1}` is formed where its units are, :math:`f^N_k` adds the
        :math:`B` sums in block order, then every block applies the update.
        The numbers depend on :math:`B` only -- not on the number of threads,
        the machine, its load or the other seeds -- and agree with the serial
        loop (``1``) to rounding (only the order of the sum over units
        differs). ``"auto"``: the serial loop below ``AUTO_BLOCKS_MIN_UNITS``
        = 65536 units, blocks of ``AUTO_BLOCK_UNITS`` = 4096 units from there
        on (so the headline study, :math:`N \le 32768`, keeps the serial
        loop's numbers). One seed's blocks run on as many threads as the
        process may use cores (at most ``NUMBA_NUM_THREADS`` and :math:`B`;
        one in a worker process of a pool, whose siblings use the cores);
        several seeds run in parallel over seeds, each seed's blocks in turn.
        After a chunk in which the threads often waited long for one another
        (a busy machine) the next 8 chunks run on one thread.
        Speed-up over the serial loop measured on 2 cores with no other busy
        process (``python -m benchmarks.bench_parallel``, best of 5-7): 0.9x
        at :math:`N = 1024`, 1.25-1.3x at 2048 (blocks pay from there), 1.5x
        at 4096, 1.7-2.1x from 16384 to 262144. On a machine
        with more busy processes than cores the threads, which meet once per
        step, lose it (0.5-0.9x measured with two threads; hence the
        fallback to one thread, about the serial loop's speed).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ContractionError
        Raised by :class:`NetworkSpec` when :math:`b_{\max}\sup|\sigma'|\ge 1`.
    DimensionError
        If the chain, the target's path values, or the network disagree in shape.
    ConfigError
        For bad ``seeds``, ``backend``, ``chunk_steps``, ``unit_blocks`` (or
        ``unit_blocks > 1`` with the numpy backend) or ``snapshot_times``
        outside :math:`[0, T]`; for ``backend="jax"`` without JAX installed
        (``pip install ".[jax]"`` from a checkout, or ``pip install jax``) or
        with an activation it has no form of.
    ValueError
        For ``n_units < 1`` or odd ``n_units`` with doubled initialisation.
    DivergenceError
        If an error leaves the bound :math:`|e_k| \le 10^6\,(1 + \max_j|Y_j| +
        |f^N_0|)` (``DIVERGENCE_FACTOR``, per seed) or a prediction or error
        becomes NaN/infinite; ``.step`` is the first bad training step (of the
        first seed that diverged, which is named); or if a parameter leaves
        :math:`\max_i|\theta^i| \le 10^6 (1 + \max_i|\theta^i_0|)` (for each of
        :math:`c, w, b`). Checked after every chunk; the numbers of a run that
        stays within the bounds are not affected.

    Notes
    -----
    Cost :math:`O(S N K d)` time and :math:`O(S (N d + K))` memory plus the
    snapshots. Ctrl-C during the loop stops after the current chunk and
    returns the partial result with status ``"interrupted"``.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be a limitsolver Problem, got {type(problem).__name__}.")
    if not (isinstance(n_units, numbers.Integral) and not isinstance(n_units, bool)
            and n_units >= 1):
        raise ValueError(f"`n_units` must be a positive integer, got {n_units!r}.")
    N = int(n_units)
    seeds = _check_seeds(seeds)
    network = problem.network
    T = float(problem.horizon)
    K = NetworkSpec.n_steps(N, T)
    W = int(problem.depth)
    d = problem.dim
    times, snap_steps = _snapshot_steps([0.0, T] if snapshot_times is None else snapshot_times,
                                        N, T)
    if chunk_steps is not None and not (isinstance(chunk_steps, numbers.Integral)
                                        and chunk_steps >= 1):
        raise ConfigError(f"`chunk_steps` must be a positive integer, got {chunk_steps!r}.")
    blocks = _unit_blocks(unit_blocks, N)

    # -- draws: parameters and paths, one pair of streams per seed -----------------------------
    cs, ws, bs, paths, ys = [], [], [], [], []
    for seed in seeds:
        rng_params, rng_data = seed_streams(seed)
        p = network.prior.sample(N, d, rng_params)
        path = np.asarray(problem.chain.sample(W + K, rng_data, n_paths=1), dtype=float)
        if path.shape != (1, W + K, d):
            raise DimensionError(
                f"`problem.chain.sample` returned shape {path.shape}, expected (1, {W + K}, {d})."
            )
        y = np.asarray(problem.target.along_path(path), dtype=float)
        if y.shape != (1, W + K):
            raise DimensionError(
                f"`problem.target.along_path` returned shape {y.shape}, expected (1, {W + K})."
            )
        cs.append(p.c)
        ws.append(p.w)
        bs.append(p.b)
        paths.append(path[0])
        ys.append(y[0])
    S = len(seeds)
    params = UnitParameters(np.array(cs), np.array(ws), np.array(bs))
    X = np.ascontiguousarray(np.array(paths))
    Y = np.ascontiguousarray(np.array(ys))
    lr = network.learning_rate(N)
    scale = network.output_scale(N)

    name, kernel, compile_time = _resolve_backend(backend, network, d, S * N, S, blocks > 1)
    if name != "numba":
        if blocks > 1 and unit_blocks != "auto":
            raise ConfigError(f"`unit_blocks` = {unit_blocks!r} needs the numba backend; this run "
                              f"uses {name} (backend={backend!r}): pass backend='numba' or "
                              f"unit_blocks=1.")
        blocks = 1
    threads = _block_threads(blocks) if S == 1 else 1
    unit_threads = _Threads(threads)
    if chunk_steps is None:  # about 2^23 unit-steps per chunk and thread
        chunk_steps = max(1, min(max(K, 1), 2**23 * threads // (N * S)))
    state = MemoryState(np.zeros((S, N)), np.zeros((S, N, d)), np.zeros((S, N)))
    f_all = np.empty((S, K))
    e_all = np.empty((S, K))

    def run(k0: int, k1: int, train: bool):
        nonlocal state, params
        xs = np.ascontiguousarray(X[:, k0:k1])
        yv = np.ascontiguousarray(Y[:, k0:k1])
        if kernel is None:
            state, params, f, e = numpy_chunk(xs, yv, state, params, network, lr, scale, train)
            bad = np.full(S, -1, dtype=np.int64)
            finite = np.isfinite(f) & np.isfinite(e)
            for q in range(S):
                if not finite[q].all():
                    bad[q] = int(np.argmin(finite[q]))
        else:
            f = np.empty((S, k1 - k0))
            e = np.empty((S, k1 - k0))
            bad = np.full(S, -1, dtype=np.int64)
            naps = kernel(xs, yv, params.c, params.w, params.b, state.s, state.jw, state.jb, lr,
                          scale, network.gradient == "rtrl", train, f, e, bad, blocks,
                          unit_threads.now)
            unit_threads.after(naps if blocks > 1 else 0, k1 - k0)
        return f, e, bad

    # the kernel works in place: own the arrays
    params = UnitParameters(*(np.ascontiguousarray(a, dtype=float).copy() for a in params))
    start = time.perf_counter()
    if W > 0:
        run(0, W, train=False)

    n_snap = len(times)
    snap = UnitParameters(np.empty((S, n_snap, N)), np.empty((S, n_snap, N, d)),
                          np.empty((S, n_snap, N)))

    def store(k: int):
        for j in np.flatnonzero(snap_steps == k):
            snap.c[:, j], snap.w[:, j], snap.b[:, j] = params.c, params.w, params.b

    with np.errstate(invalid="ignore"):
        y_max = np.max(np.abs(Y[:, W:]), axis=1, initial=0.0)
    bound = np.full(S, np.inf)
    with np.errstate(over="ignore"):
        theta_bound = {name_: DIVERGENCE_FACTOR * (1.0 + _max_abs(getattr(params, name_)))
                       for name_ in ("c", "w", "b")}
    bounds = sorted(set(range(0, K, chunk_steps)) | set(snap_steps.tolist()) | {K})
    status, message = "finished", f"completed {K} steps"
    k_done = 0
    store(0)
    with _Interrupt() as interrupt, progress_bar(total=K, desc=f"simulate N={N}", show=progress,
                                                 unit="step") as bar:
        for k0, k1 in zip(bounds[:-1], bounds[1:], strict=True):
            f, e, bad = run(W + k0, W + k1, train=True)
            f_all[:, k0:k1], e_all[:, k0:k1] = f, e
            if k0 == 0 and k1 > 0:
                with np.errstate(over="ignore", invalid="ignore"):
                    bound = DIVERGENCE_FACTOR * (1.0 + y_max + np.abs(f[:, 0]))
            over = _first_over(e, bad, bound)
            if (over >= 0).any():
                q = int(np.argmin(np.where(over >= 0, over, np.iinfo(np.int64).max)))
                step = k0 + int(over[q])
                size = abs(float(e[q, over[q]]))
                what = ("is not finite" if not math.isfinite(size) else
                        f"|e| = {size:.3g} left the bound {bound[q]:.3g}")
                raise DivergenceError(
                    f"the simulation diverged: the error {what} at training step {step} "
                    f"(t = {step / N:g}) for seed {seeds[q]} (bound: |e_k| <= "
                    f"{DIVERGENCE_FACTOR:g} (1 + max|Y| + |f_0|)); reduce `alpha` (learning rate "
                    f"alpha N^(2 beta - 2)) or rescale the target.", step=step)
            q, name_, size = _parameters_over(params, theta_bound)
            if q >= 0:
                raise DivergenceError(
                    f"the simulation diverged: max|{name_}| = {size:.3g} left the bound "
                    f"{theta_bound[name_][q]:.3g} by training step {k1} (t = {k1 / N:g}) for seed "
                    f"{seeds[q]} (bound: {DIVERGENCE_FACTOR:g} (1 + max|{name_}_0|)); reduce "
                    f"`alpha` (learning rate alpha N^(2 beta - 2)) or the prior's scales.",
                    step=k1)
            k_done = k1
            store(k1)
            bar.update(k1 - k0)
            if callback is not None:
                rec = SimulationProgress(k1, K, k1 / N, time.perf_counter() - start,
                                         float(np.mean(0.5 * e**2)) if e.size else math.nan)
                if callback(rec) is False:
                    status, message = "stopped by callback", f"callback stopped the run at step {k1}"
                    break
            if interrupt.requested:
                status, message = "interrupted", f"interrupted at step {k1} of {K}"
                break
    wall = time.perf_counter() - start
    keep = snap_steps <= k_done
    return SimulationResult(
        problem=problem, network=network, n_units=N, seeds=seeds, n_steps=K, warmup=W,
        times=times[keep], snapshot_steps=snap_steps[keep],
        snapshots=UnitParameters(snap.c[:, keep], snap.w[:, keep], snap.b[:, keep]),
        final=UnitParameters(params.c.copy(), params.w.copy(), params.b.copy()),
        predictions=f_all[:, :k_done], targets=Y[:, W:W + k_done].copy(),
        errors=e_all[:, :k_done], status=status, message=message, wall_time=wall, backend=name,
        paths=X, compile_time=compile_time, unit_blocks=blocks,
    )
