"""Atomic writing of results: JSON summaries, NPZ arrays and PNG figures.

Every file is written to a temporary sibling and moved into place with
:func:`os.replace`, so an interrupted run never leaves a half-written file and a
resumed run can trust every file it finds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["write_json", "read_json", "write_npz", "read_npz_meta", "save_figure", "to_jsonable",
           "optional_import"]


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy scalars/arrays, paths and tuples to JSON-ready values.

    Parameters
    ----------
    obj : object
        Any value. Dataclasses become dicts of their fields, dict keys strings,
        tuples and arrays lists, numpy scalars Python scalars, paths strings,
        non-finite Python floats (array entries included) the strings ``"nan"``,
        ``"inf"``, ``"-inf"``, and anything else its ``repr``.

    Returns
    -------
    object
        A value made of dicts, lists, str, int, float, bool and None only.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C that arrives inside the block and raise it when the block has ended.

    In the main thread only (elsewhere signals are not delivered to Python). A
    write of a few milliseconds then always completes, instead of leaving a
    half-closed file object for the garbage collector; a Ctrl-C still stops the
    program right after it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except (ValueError, OSError):  # pragma: no cover - embedded interpreters
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if not caught or previous is signal.SIG_IGN:
        return
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signal.SIGINT, None)  # a caller's own handler (e.g. "stop after this chunk")
    else:
        raise KeyboardInterrupt


def _atomic(path: Path, write) -> Path:
    """Write through ``write(fh)`` to a temporary sibling, then move it onto ``path``.

    The temporary file is removed whatever stops the write (an exception, a
    ``SystemExit``): only a completed file is ever moved into place, and no
    temporary file is left behind. A Ctrl-C during the write is held until the
    file is in place and raised then (:func:`_sigint_deferred`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _sigint_deferred():
        return _atomic_write(path, write)


def _atomic_write(path: Path, write) -> Path:
    tmp = None
    moved = False
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
        moved = True
    finally:
        if tmp is not None and not moved:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return path


def write_json(path: str | os.PathLike, obj: Any, *, meta: dict | None = None) -> Path:
    """Write ``obj`` (converted by :func:`to_jsonable`) as indented JSON, atomically.

    The bytes go to a temporary file in the same directory, which then replaces
    ``path`` (:func:`os.replace`), so a reader never sees a partial file; missing
    parent directories are created.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    obj : object
        The value to write.
    meta : dict, optional
        Provenance (:func:`limitsolver.store.provenance`), stored under the key
        ``"provenance"`` of ``obj`` (which must then be a dict).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if meta is not None:
        if not isinstance(obj, dict):
            raise TypeError("`meta` needs a dict `obj` to be stored in.")
        obj = {**obj, "provenance": meta}
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"
    return _atomic(path, lambda fh: fh.write(text.encode()))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json`.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read (UTF-8).

    Returns
    -------
    object
        The decoded value (non-finite floats come back as the strings
        :func:`to_jsonable` wrote).
    """
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_npz(path: str | os.PathLike, *, meta: dict | None = None, **arrays: Any) -> Path:
    """Write arrays to a compressed ``.npz`` file, atomically.

    The bytes go to a temporary file in the same directory, which then replaces
    ``path`` (:func:`os.replace`), so a reader never sees a partial file; missing
    parent directories are created.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (written as given; no ``.npz`` suffix is added).
    meta : dict, optional
        Provenance (:func:`limitsolver.store.provenance`), stored as the JSON
        string array ``_provenance`` (read it back with :func:`read_npz_meta`).
    **arrays
        The arrays, stored under their keyword names
        (:func:`numpy.savez_compressed`).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if meta is not None:
        arrays["_provenance"] = np.asarray(json.dumps(to_jsonable(meta), sort_keys=True))
    return _atomic(path, lambda fh: np.savez_compressed(fh, **arrays))


def read_npz_meta(path: str | os.PathLike) -> dict | None:
    """The provenance stored in an ``.npz`` file by :func:`write_npz` (None if absent).

    Parameters
    ----------
    path : str or os.PathLike
        The file (loaded with ``allow_pickle=False``).

    Returns
    -------
    dict or None
    """
    with np.load(path, allow_pickle=False) as z:
        if "_provenance" not in z.files:
            return None
        return json.loads(str(z["_provenance"]))


def optional_import(module: str, what: str):
    """Import an optional dependency, or raise an ImportError saying how to install it.

    Parameters
    ----------
    module : str
        The module (``"pandas"``, ``"xarray"``).
    what : str
        The feature that needs it, named in the message (e.g. ``"to_xarray"``).

    Returns
    -------
    module

    Raises
    ------
    ImportError
        If the module is not installed.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"`{what}` needs {module}; install it with `pip install {module}` (or, from a "
            f"checkout of limitsolver, `pip install -e \".[xarray]\"`)."
        ) from exc


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it.

    The figure is closed even when saving fails.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or os.PathLike
        Destination file.
    dpi : int, default 120
        Resolution; the bounding box is tight.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib.pyplot as plt

    try:
        return _atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight"))
    finally:
        plt.close(fig)
