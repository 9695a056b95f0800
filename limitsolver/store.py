r"""One store for the runs of every study: fingerprints, resume, provenance, a lock.

A study is a grid of independent runs named by a key such as :math:`(N,
\mathrm{seed})`. A :class:`RunStore` keeps them in a directory::

    out/
      study.json        the study's fingerprint, its full state and provenance
      .lock             held (fcntl.flock) while a process writes the directory
      runs/N64_seed0.npz  one file per finished run

Every run file carries, next to its arrays,

* ``_fingerprint`` — the study's fingerprint :math:`F`, a SHA-256 digest of the
  canonical JSON of the study's full state (the problem to the last bit of every
  float, the limit's discretisation and every setting that changes a run's
  numbers; :func:`fingerprint`);
* ``_key`` — the run's own key, e.g. :math:`(N, \mathrm{seed})`;
* ``_digest`` — a SHA-256 digest of the payload arrays (names, dtypes, shapes,
  bytes), so that an edited or rescaled file is detected;
* ``_provenance`` — package and dependency versions, command line, UTC time
  (:func:`provenance`).

:meth:`RunStore.load` returns a run only when the file loads with
``allow_pickle=False``, carries the study's fingerprint and its own key, matches
its digest and holds only finite numbers; any other file is reported with a
:class:`StaleRunWarning` naming it, and the run is computed again (and the file
replaced). Writes are atomic (:mod:`limitsolver.io`), and two processes writing
one directory are serialised by an exclusive lock on ``out/.lock``: the second
gets a :class:`~limitsolver.errors.StudyError` at once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import sys
import types
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, StudyError
from .io import read_json, to_jsonable, write_json, write_npz

if TYPE_CHECKING:
    from .problem import Problem

__all__ = ["RunStore", "StaleRunWarning", "fingerprint", "problem_state",
           "problem_fingerprint", "provenance", "RUN_FORMAT"]

#: Version of the run-file layout; files of another layout are recomputed.
RUN_FORMAT = 2

#: Distributions whose versions :func:`provenance` records.
DEPENDENCIES = ("numpy", "scipy", "numba", "findiff", "sympy", "matplotlib", "tqdm",
                "threadpoolctl", "dask", "distributed", "pandas", "xarray")

_RESERVED = ("_fingerprint", "_key", "_digest", "_provenance")


class StaleRunWarning(UserWarning):
    """A run file could not be reused (unreadable, of another study or run, edited, non-finite)."""


# ---------------------------------------------------------------------------------------------
# State and fingerprints


def _array_state(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    if a.dtype.kind in "fiub":
        return {"array": a.tolist(), "dtype": a.dtype.str, "shape": list(a.shape)}
    return {"array": [_state(v) for v in a.ravel().tolist()], "dtype": a.dtype.str,
            "shape": list(a.shape)}


def _code_state(code) -> dict:
    """Bytecode, names and constants of a code object (nested code objects included)."""
    return {"code": hashlib.sha256(code.co_code).hexdigest(), "names": list(code.co_names),
            "consts": [_code_state(c) if hasattr(c, "co_code") else _state(c)
                       for c in code.co_consts]}


def _callable_state(fn) -> dict:
    code = getattr(fn, "__code__", None)
    out: dict[str, Any] = {"callable": f"{getattr(fn, '__module__', '?')}."
                                       f"{getattr(fn, '__qualname__', type(fn).__name__)}"}
    if code is not None:
        out.update(_code_state(code))
        cells = getattr(fn, "__closure__", None) or ()
        out["closure"] = [_state(c.cell_contents) for c in cells]
    return out


def _public_attributes(obj) -> dict:
    cls = type(obj)
    cached = {k for k in dir(cls) if isinstance(getattr(cls, k, None), functools.cached_property)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_") and k not in cached}


def _state(obj, depth: int = 0) -> Any:
    """A JSON-ready description of ``obj`` from which two different objects differ."""
    if depth > 20:
        return repr(obj)
    to_state = getattr(obj, "to_state", None)
    if callable(to_state) and not isinstance(obj, type):
        try:
            return _state(to_state(), depth + 1)
        except ConfigError:  # e.g. a target wrapping a Python callable: described by its parts
            pass
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else repr(obj)
    if isinstance(obj, np.generic):
        return _state(obj.item(), depth + 1)
    if isinstance(obj, np.ndarray):
        return _array_state(obj)
    if isinstance(obj, Mapping):
        return {str(k): _state(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_state(v, depth + 1) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, types.ModuleType):
        return {"module": obj.__name__}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _state(getattr(obj, f.name), depth + 1)
                  for f in dataclasses.fields(obj) if not f.name.startswith("_")}
        return {"type": type(obj).__qualname__, **fields}
    if hasattr(obj, "__dict__") and not callable(obj):
        return {"type": type(obj).__qualname__,
                **{k: _state(v, depth + 1) for k, v in _public_attributes(obj).items()}}
    if callable(obj):
        return _callable_state(obj)
    return repr(obj)


def problem_state(problem: Any) -> Any:
    """The full state of a problem (or any spec) as JSON-ready data.

    The object's ``to_state()`` (:meth:`~limitsolver.problem.Problem.to_state`,
    from which :meth:`~limitsolver.problem.Problem.from_state` rebuilds it)
    where it has one; otherwise (a user's own chain, a target wrapping a Python
    callable) the fields of dataclasses and the public attributes of other
    objects, recursively, with arrays as nested lists of exact floats and
    callables by their code, so that two states still differ whenever one bit
    of the problem does.

    Parameters
    ----------
    problem : object
        A :class:`~limitsolver.problem.Problem` or any spec.

    Returns
    -------
    object
        Dicts, lists, str, int, float, bool and None only.
    """
    return _state(problem)


def fingerprint(state: Any) -> str:
    r""":func:`limitsolver.config.fingerprint`: SHA-256 of the canonical JSON, floats as hex.

    Parameters
    ----------
    state : object
        JSON-ready data (e.g. from :func:`problem_state`) or a spec.

    Returns
    -------
    str
        64 hexadecimal digits; equal for equal states, different (with
        probability :math:`1 - 2^{-256}`) otherwise.
    """
    from .config import fingerprint as canonical_fingerprint

    return canonical_fingerprint(state)


def problem_fingerprint(problem: Problem) -> str:
    """:func:`fingerprint` of :func:`problem_state`.

    Parameters
    ----------
    problem : Problem
        The problem.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    return fingerprint(problem_state(problem))


# ---------------------------------------------------------------------------------------------
# Provenance


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def provenance(*, problem: Problem | None = None, seeds: Sequence[int] | None = None,
               argv: Sequence[str] | None = None) -> dict:
    """What produced a file: versions, command line, UTC time, seeds and the problem's state.

    Parameters
    ----------
    problem : Problem, optional
        Recorded by its full state (:func:`problem_state`).
    seeds : sequence of int, optional
        Every seed used.
    argv : sequence of str, optional
        The command line (default ``sys.argv``).

    Returns
    -------
    dict
        ``limitsolver`` (version), ``dependencies`` (installed versions of
        :data:`DEPENDENCIES`, None when absent), ``python``, ``platform``,
        ``argv``, ``created_utc`` (ISO 8601), and ``seeds`` / ``problem`` when given.
    """
    from ._version import __version__

    out: dict[str, Any] = {
        "limitsolver": __version__,
        "dependencies": {d: _version(d) for d in DEPENDENCIES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "argv": list(sys.argv if argv is None else argv),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if seeds is not None:
        out["seeds"] = [int(s) for s in seeds]
    if problem is not None:
        out["problem"] = problem_state(problem)
    return out


# ---------------------------------------------------------------------------------------------
# The store


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class _Lock:
    """Exclusive advisory lock on a file (``fcntl.flock``; a no-op where fcntl is missing)."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StudyError(
                f"`out` directory {self.path.parent} is being written by another process "
                f"(lock {self.path} is held); wait for it to finish or choose another `--out`."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self.fh = fh

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()  # closing the descriptor releases the flock
            self.fh = None


class RunStore:
    r"""The runs of one study in a directory: resume, validation, atomic writes, a lock.

    Use as a context manager: entering takes the directory's lock, refuses a
    directory whose ``study.json`` belongs to another study, writes
    ``study.json`` and removes temporary files left by a killed writer; leaving
    releases the lock.

    Parameters
    ----------
    root : str or os.PathLike
        The output directory.
    study_fingerprint : str
        :func:`fingerprint` of the study's state (every setting that changes the
        numbers of a run, not the set of keys).
    key_names : sequence of str, default ("N", "seed")
        Names of the parts of a run's key; the file of key ``(64, 0)`` is
        ``runs/N64_seed0.npz``.
    state : object, optional
        The study's state, written to ``study.json`` for the reader.
    meta : dict, optional
        Provenance written to ``study.json`` and into each run file (default
        :func:`provenance`).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, RunStore(d, fingerprint({"a": 1})) as store:
    ...     _ = store.save((64, 0), {"x": np.arange(3.0)})
    ...     store.load((64, 0))["x"]
    array([0., 1., 2.])
    """

    def __init__(self, root: str | os.PathLike, study_fingerprint: str, *,
                 key_names: Sequence[str] = ("N", "seed"),
                 state: Any = None, meta: dict | None = None):
        self.root = Path(root)
        self.fingerprint = str(study_fingerprint)
        self.key_names = tuple(key_names)
        self.state = state
        self.meta = provenance() if meta is None else dict(meta)
        self.runs = self.root / "runs"
        self._lock = _Lock(self.root / ".lock")
        self._meta_json = json.dumps(to_jsonable(self.meta), sort_keys=True)

    # -- lifetime ---------------------------------------------------------------------------
    def __enter__(self) -> RunStore:
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"`out` {self.root} is a file; choose a directory.")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ConfigError(f"`out` directory {self.root} cannot be written ({why}); choose "
                              "another `--out`.") from exc
        try:
            self._check_manifest()
            write_json(self.root / "study.json",
                       {"fingerprint": self.fingerprint, "format": RUN_FORMAT,
                        "state": self.state, "provenance": self.meta})
            for tmp in self.runs.glob(".*.tmp") if self.runs.is_dir() else ():
                tmp.unlink(missing_ok=True)  # left by a writer killed mid-write (we hold the lock)
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        self._lock.release()
        return False

    def _check_manifest(self) -> None:
        stamp = self.root / "study.json"
        if not stamp.exists():
            return
        try:
            old = read_json(stamp)
        except (OSError, ValueError):
            warnings.warn(f"{stamp} cannot be read; it is rewritten and every run file is "
                          "checked against the study's fingerprint.", StaleRunWarning,
                          stacklevel=3)
            return
        if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
            return  # an older layout: each run file is checked on its own
        if old.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"`out` directory {self.root} holds runs of a different study; choose another "
                f"`--out` or remove it."
            )

    # -- runs -------------------------------------------------------------------------------
    def path(self, key: Sequence[int]) -> Path:
        """The file of the run ``key``, e.g. ``runs/N64_seed0.npz``.

        Parameters
        ----------
        key : sequence of int
            One integer per name of ``key_names``.

        Returns
        -------
        pathlib.Path
        """
        key = self._key(key)
        return self.runs / ("_".join(f"{n}{v}" for n, v in zip(self.key_names, key,
                                                                 strict=True)) + ".npz")

    def _key(self, key) -> tuple[int, ...]:
        key = tuple(int(v) for v in key)
        if len(key) != len(self.key_names):
            raise ConfigError(f"a run key needs {len(self.key_names)} parts "
                              f"{self.key_names}, got {key}.")
        return key

    def save(self, key: Sequence[int], arrays: Mapping[str, Any]) -> Path:
        """Write one run atomically, with the study's fingerprint, its key, digest and provenance.

        Parameters
        ----------
        key : sequence of int
            The run's key.
        arrays : mapping of str to array_like
            The run's arrays (names must not start with ``_``).

        Returns
        -------
        pathlib.Path
            The run file.
        """
        payload = {k: np.asarray(v) for k, v in arrays.items()}
        bad = [k for k in payload if k.startswith("_")]
        if bad:
            raise ConfigError(f"run arrays may not be named {bad} (names starting with `_` "
                              "are reserved).")
        return write_npz(self.path(key), **payload,
                         _fingerprint=np.asarray(self.fingerprint),
                         _key=np.asarray(self._key(key), dtype=np.int64),
                         _digest=np.asarray(_digest(payload)),
                         _provenance=np.asarray(self._meta_json))

    def load(self, key: Sequence[int]) -> dict[str, np.ndarray] | None:
        """The arrays of a finished run, or None when it must be computed (again).

        A file that exists but cannot be trusted is reported with a
        :class:`StaleRunWarning` naming it and the reason.

        Parameters
        ----------
        key : sequence of int
            The run's key.

        Returns
        -------
        dict of str to ndarray or None
            The payload arrays (reserved entries removed).
        """
        key = self._key(key)
        f = self.path(key)
        if not f.exists():
            return None
        try:
            with np.load(f, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is recomputed
            return self._stale(f, f"it cannot be read ({type(exc).__name__}: {exc})")
        missing = [k for k in ("_fingerprint", "_key", "_digest") if k not in data]
        if missing:
            return self._stale(f, "it carries no fingerprint (written by an older version)")
        if str(data["_fingerprint"]) != self.fingerprint:
            return self._stale(f, "it belongs to another study (its fingerprint differs)")
        got = tuple(int(v) for v in np.ravel(data["_key"]))
        if got != key:
            names = ", ".join(self.key_names)
            return self._stale(f, f"it holds the run ({names}) = {got}, not {key}")
        payload = {k: v for k, v in data.items() if k not in _RESERVED}
        for k, v in payload.items():
            if v.dtype.kind in "fc" and not np.all(np.isfinite(v)):
                return self._stale(f, f"its array `{k}` holds NaN or infinite values")
        if _digest(payload) != str(data["_digest"]):
            return self._stale(f, "its arrays do not match its checksum (edited or corrupted)")
        return payload

    def _stale(self, f: Path, why: str) -> None:
        warnings.warn(f"run file {f} is not reused: {why}; the run is computed again.",
                      StaleRunWarning, stacklevel=3)
        return None
