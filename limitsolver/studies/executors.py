r"""Running the independent finite-network runs of a study: here, in processes, or on Dask.

A study is a grid of independent runs ``(N, seed)``. :func:`execute` runs a
function on each of them with one of

* nothing (``jobs = 1``): in this process, one after the other;
* a local process pool of ``jobs`` workers (the default for ``jobs > 1``), each
  with one BLAS thread (environment and :func:`blas_threads`) so that the
  processes do not oversubscribe the cores;
* any :class:`concurrent.futures.Executor`;
* a ``dask.distributed.Client`` (``pip install "dask[distributed]"``, or ``pip install ".[dask]"`` in a checkout): the
  arguments shared by every run are scattered to the workers once, runs are
  submitted as tasks with ``retries``, and a task lost with its worker is
  rescheduled by the scheduler.

Results are handed to ``record`` as they finish, so a caller can write each one
to disk at once; a failing run does not stop the others and is returned by
name. The numbers of a run depend only on its arguments, not on where it ran.

Stopping: a ``KeyboardInterrupt`` (Ctrl-C) stops :func:`execute` at once — the
runs not yet started are cancelled, the workers of the default pool are
terminated, and the interrupt propagates to the caller with every finished run
already recorded. Workers of the default pool end with their parent even when
it is killed (``kill -9``): on Linux the kernel signals them
(``prctl(PR_SET_PDEATHSIG)``), elsewhere a daemon thread in each worker polls
:func:`os.getppid` and exits when the parent is gone.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["execute", "is_dask_client", "connect", "blas_threads"]

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def is_dask_client(obj: Any) -> bool:
    """Whether ``obj`` looks like a ``dask.distributed.Client``.

    Parameters
    ----------
    obj : object
        A candidate executor.

    Returns
    -------
    bool
        True when ``obj`` has ``scatter`` and ``get_executor`` (duck typing, so
        dask need not be importable here).
    """
    return hasattr(obj, "scatter") and hasattr(obj, "get_executor")


def connect(address: str, timeout: float = 10.0):
    """A ``dask.distributed.Client`` connected to the scheduler at ``address``.

    Parameters
    ----------
    address : str
        Scheduler address, e.g. ``"tcp://10.0.0.1:8786"``.
    timeout : float
        Seconds to keep trying to reach the scheduler before giving up.

    Returns
    -------
    distributed.Client

    Raises
    ------
    ConfigError
        If dask.distributed is not installed or the scheduler cannot be reached.
    """
    from ..errors import ConfigError

    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(
            "`--scheduler` needs dask.distributed; install it with "
            "`pip install \"dask[distributed]\"` (or `pip install \".[dask]\"` in a "
            "limitsolver checkout)."
        ) from exc
    try:
        return Client(address, timeout=f"{float(timeout)}s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at `{address}`: {exc}") from exc


class _Environment:
    """Set environment variables for the lifetime of a process pool, then restore them."""

    def __init__(self, values: dict[str, str]):
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        return False


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_when_orphaned(parent: int, interval: float = 0.5) -> None:  # pragma: no cover - worker
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def blas_threads(n: int | None):
    """A context limiting BLAS/OpenMP threads of this process to ``n`` (``threadpoolctl``).

    Environment variables such as ``OPENBLAS_NUM_THREADS`` act only before BLAS
    is loaded; ``threadpoolctl`` changes the running libraries' pools, so the
    parent of a study and its workers can be set at any time.

    Parameters
    ----------
    n : int or None
        Threads per BLAS library; None leaves them as they are.

    Returns
    -------
    contextlib.AbstractContextManager
        Restores the previous limits on exit (a no-op context when ``n`` is
        None or threadpoolctl is not installed).
    """
    import contextlib

    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a declared dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(n))


def _worker_init(parent: int, threads: int | None = 1) -> None:  # pragma: no cover - worker
    """Initializer of the default pool's workers: BLAS threads, Ctrl-C, end when ``parent`` ends.

    Ctrl-C in a terminal signals the whole process group: the parent stops the
    study and terminates the workers, so an idle worker ignores SIGINT (instead of
    dying with a traceback in the pool's queue). A running simulation installs its
    own handler and stops at its next chunk.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    blas_threads(threads).__enter__()  # for the worker's lifetime
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True,
                     name="limitsolver-parent-watch").start()


def _terminate_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Terminate the worker processes of a pool (after Ctrl-C: do not wait for running runs)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()


def execute(fn: Callable, keys: Sequence[Hashable], shared: tuple, task_args: Callable,
            record: Callable[[Hashable, Any], None], *, jobs: int = 1, executor: cf.Executor | Client | None = None,
            retries: int = 2, advance: Callable[[], None] | None = None,
            meanwhile: Callable[[], Any] | None = None
            ) -> dict[Hashable, BaseException]:
    """Run ``fn(*shared, *task_args(key))`` for every key; hand each result to ``record``.

    Parameters
    ----------
    fn : callable
        The run; must be importable by worker processes (a module-level function).
    keys : sequence of hashable
        One key per run, e.g. ``(N, seed)``.
    shared : tuple
        Leading arguments common to every run (scattered once to Dask workers).
    task_args : callable
        ``key -> tuple`` of the remaining arguments of that run.
    record : callable
        Called in this process as ``record(key, result)`` when a run finishes.
    jobs : int
        Worker processes of the default pool (``1``: run here).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where to run instead of the default.
    retries : int
        Dask only: times a task is retried after an exception in it.
    advance : callable, optional
        Called once per finished or failed run (e.g. a progress bar's ``update``).
    meanwhile : callable, optional
        Work of this process to overlap with the runs: with workers, called once
        the first run is submitted and before the others are (one worker starts,
        the other cores are left to this work, so that the runs' own timings are
        not disturbed), then the rest is submitted; without workers (``jobs = 1``),
        called before the first run.

    Returns
    -------
    dict
        ``key -> exception`` for every run that failed (empty when all finished).
    """
    failures: dict[Hashable, BaseException] = {}
    step = advance or (lambda: None)
    if not keys:
        if meanwhile is not None:
            meanwhile()
        return failures
    if executor is None and jobs <= 1:
        if meanwhile is not None:
            meanwhile()
        for key in keys:
            try:
                record(key, fn(*shared, *task_args(key)))
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # reported by name below; the other runs go on
                failures[key] = exc
            step()
        return failures

    if is_dask_client(executor):
        shared = tuple(executor.scatter(list(shared), broadcast=True))
        pool, own, env = executor.get_executor(pure=False, retries=retries), False, None
    elif executor is None:
        # one BLAS thread per worker: `jobs` processes already fill the cores
        env = _Environment({k: "1" for k in _BLAS_THREADS})
        env.__enter__()
        pool = cf.ProcessPoolExecutor(max_workers=jobs,
                                      mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_worker_init, initargs=(os.getpid(), 1))
        own = True
    else:
        pool, own, env = executor, False, None
    interrupted = False
    try:
        head = 1 if meanwhile is not None else len(keys)
        futures = {pool.submit(fn, *shared, *task_args(key)): key for key in keys[:head]}
        if meanwhile is not None:
            meanwhile()
            futures.update({pool.submit(fn, *shared, *task_args(key)): key
                            for key in keys[head:]})
        for fut in cf.as_completed(futures):
            key = futures[fut]
            try:
                record(key, fut.result())
            except Exception as exc:  # includes a worker lost for good (BrokenProcessPool)
                failures[key] = exc
            step()
    except BaseException:  # Ctrl-C, or an error of `meanwhile`: do not wait for running runs
        interrupted = True
        raise
    finally:
        if own:
            if interrupted:
                _terminate_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)
        elif is_dask_client(executor):
            pool.shutdown(wait=False)  # releases the tasks of this study, keeps the client
        if env is not None:
            env.__exit__(None, None, None)
    return failures
