"""``limitsolver memory``: curse-of-memory studies of linear RNNs (:ref:`theory §6 <theory-memory>`).

Runs :func:`limitsolver.linear_rnn.approximation_study` and/or
:func:`limitsolver.linear_rnn.plateau_study` from a configuration mirroring
:data:`DEFAULTS` (TOML tables ``[approximation]`` and ``[plateau]``), writes the
tables, JSON summaries, NPZ arrays and PNG plots under ``--out`` and prints the
tables.  The master seed is ``--seed``; every random start and initialisation is
derived from it.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np

from .._schema import Above, AtLeast, check_table, check_value
from ..errors import ConfigError, LimitSolverError

if TYPE_CHECKING:
    from ..linear_rnn.study import ApproximationStudyResult, PlateauStudyResult

if TYPE_CHECKING:  # the studies (and scipy) load when a study runs, not for --help
    from ..linear_rnn.study import ApproximationConfig, PlateauConfig

NAME = "memory"
HELP = "curse-of-memory studies: approximation rates and training plateaus of linear RNNs"
EXAMPLE = "plateau.m=3"

RENAMED = {"study": "memory.study"}
"""Old keys read with a DeprecationWarning: ``study = "both"`` is now ``[memory] study``."""

DEFAULTS: dict = {
    "memory": {"study": "both"},
    "approximation": {
        "targets": [
            {"family": "exponential_sum", "coefficients": [1.0, -0.5], "rates": [0.5, 2.0]},
            {"family": "power_law", "omega": 0.5},
            {"family": "airy", "t0": 2.0, "s0": 1.0},
        ],
        "m_values": [1, 2, 3, 4, 5],
        "n_starts": 1,
        "rate_bounds": [1e-4, 1e2],
    },
    "plateau": {
        "family": "delayed_bump",
        "target_params": {"width": 1.0},
        "memory_values": [1.0, 2.0, 3.0, 4.0],
        "m": 2,
        "init_scale": 1e-2,
        "rate_range": [0.5, 2.0],
        "t_max": 200.0,
        "method": "BDF",
        "n_seeds": 1,
        "rate_threshold": 0.05,
        "loss_factor": 1.2,
        "duration": "first",
    },
}

_STUDIES = ("approximation", "plateau", "both")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--study {approximation,plateau,both}`` (overrides the config's ``study``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser, extended in place.
    """
    parser.add_argument("--study", choices=_STUDIES, default=None,
                        help="which study to run (default: the config's `study`, 'both')")


_POSITIVE = Annotated[float, Above(0)]
_POSITIVE_INT = Annotated[int, AtLeast(1)]


def _table(config: dict, key: str) -> dict:
    return check_table(config.get(key, {}), key)


def _number(table: dict, key: str, name: str, *, positive=True, integer=False):
    if name not in table:
        raise ConfigError(f"`{key}.{name}` is missing.")
    hint: Any = (_POSITIVE_INT if positive else int) if integer else (
        _POSITIVE if positive else Annotated[float, Above(-float("inf"))])
    return check_value(table[name], hint, f"{key}.{name}")


def _list(table: dict, key: str, name: str, *, integer=False, length=None,
          positive=True) -> tuple:
    v = table.get(name)
    if not isinstance(v, (list, tuple)) or not v:
        raise ConfigError(f"`{key}.{name}` must be a non-empty list, got {v!r}.")
    if length is not None and len(v) != length:
        raise ConfigError(f"`{key}.{name}` must have {length} entries; got {len(v)}.")
    element = (_POSITIVE_INT if integer else _POSITIVE) if positive else \
        Annotated[float, Above(-float("inf"))]
    return check_value(v, tuple[element, ...], f"{key}.{name}")


def approximation_config(config: dict, seed: int) -> ApproximationConfig:
    """Build the :class:`ApproximationConfig` from ``[approximation]`` (ConfigError if bad).

    Parameters
    ----------
    config : dict
        The whole configuration; its ``approximation`` table has ``targets`` (tables for
        :func:`~limitsolver.linear_rnn.target_from_dict`), ``m_values``, ``n_starts`` and
        ``rate_bounds``, as in :data:`DEFAULTS`.
    seed : int
        Master seed of the study.

    Returns
    -------
    ApproximationConfig
        The validated study specification.

    Raises
    ------
    ConfigError
        Naming the offending entry when a target, list or number is missing or invalid.
    """
    from ..linear_rnn.study import ApproximationConfig
    from ..linear_rnn.targets import target_from_dict

    key = "approximation"
    t = _table(config, key)
    targets = t.get("targets")
    if not isinstance(targets, list) or not targets:
        raise ConfigError(f"`{key}.targets` must be a non-empty list of target tables.")
    tg = tuple(target_from_dict(d, f"{key}.targets[{i}]") for i, d in enumerate(targets))
    m_values = _list(t, key, "m_values", integer=True)
    lo, hi = _list(t, key, "rate_bounds", length=2)
    if not lo < hi:
        raise ConfigError(f"`{key}.rate_bounds` must be increasing; got {[lo, hi]}.")
    n_starts = _number(t, key, "n_starts", positive=False, integer=True)
    if n_starts < 0:
        raise ConfigError(f"`{key}.n_starts` must be non-negative; got {n_starts}.")
    return ApproximationConfig(tg, m_values, n_starts, (lo, hi), seed)


def plateau_config(config: dict, seed: int) -> PlateauConfig:
    """Build the :class:`PlateauConfig` from the ``[plateau]`` table (ConfigError if bad).

    Parameters
    ----------
    config : dict
        The whole configuration; its ``plateau`` table has ``family``, ``target_params``,
        ``memory_values``, the flow entries ``m``, ``init_scale``, ``rate_range``,
        ``t_max``, ``method`` and the plateau entries ``n_seeds``, ``rate_threshold``,
        ``loss_factor``, ``duration``, as in :data:`DEFAULTS`; optionally the plateau
        theorem's setup: ``factorised`` (default true), ``initial_point = {a0 = [...],
        w0 = [...]}`` (needs ``factorised = false``) and ``exit_delta``.
    seed : int
        Master seed of the study.

    Returns
    -------
    PlateauConfig
        The validated study specification (the family parameters are checked by building
        the first target).

    Raises
    ------
    ConfigError
        Naming the offending entry when an entry is missing or invalid, or
        ``target_params`` do not fit the family.
    """
    from ..linear_rnn.gradient_flow import FlowSpec
    from ..linear_rnn.study import MEMORY_FAMILIES, PlateauConfig

    key = "plateau"
    t = _table(config, key)
    fam = t.get("family")
    if fam not in MEMORY_FAMILIES:
        raise ConfigError(f"`{key}.family` must be one of {sorted(MEMORY_FAMILIES)}; got {fam!r}.")
    params = t.get("target_params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"`{key}.target_params` must be a table.")
    mem = _list(t, key, "memory_values")
    if len(mem) < 2:
        raise ConfigError(f"`{key}.memory_values` must hold at least two values.")
    lo, hi = _list(t, key, "rate_range", length=2)
    method = t.get("method", "BDF")
    if method not in ("BDF", "Radau"):
        raise ConfigError(f"`{key}.method` must be 'BDF' or 'Radau'; got {method!r}.")
    duration = t.get("duration", "first")
    if duration not in ("first", "longest", "total"):
        raise ConfigError(
            f"`{key}.duration` must be 'first', 'longest' or 'total'; got {duration!r}."
        )
    thr = _number(t, key, "rate_threshold")
    if not thr < 1:
        raise ConfigError(f"`{key}.rate_threshold` must lie in (0, 1); got {thr}.")
    lf = _number(t, key, "loss_factor")
    if lf < 1:
        raise ConfigError(f"`{key}.loss_factor` must be >= 1; got {lf}.")
    factorised = t.get("factorised", True)
    if not isinstance(factorised, bool):
        raise ConfigError(f"`{key}.factorised` must be true or false; got {factorised!r}.")
    point = t.get("initial_point")
    if point is not None:
        if not isinstance(point, dict) or set(point) != {"a0", "w0"}:
            raise ConfigError(f"`{key}.initial_point` must be a table {{a0 = [...], w0 = [...]}}.")
        point = (_list(point, f"{key}.initial_point", "a0", positive=False),
                 _list(point, f"{key}.initial_point", "w0"))
    delta = _number(t, key, "exit_delta") if "exit_delta" in t else None
    try:
        flow = FlowSpec(m=_number(t, key, "m", integer=True),
                        init_scale=_number(t, key, "init_scale"), rate_range=(lo, hi),
                        t_max=_number(t, key, "t_max"), method=method, factorised=factorised)
        cfg = PlateauConfig(fam, mem, dict(params), flow,
                            _number(t, key, "n_seeds", integer=True), thr, lf, 0.0, duration, seed,
                            initial_point=point, exit_delta=delta)
        # validate the family parameters now, not halfway through the study
        from ..linear_rnn.study import target_with_memory

        target_with_memory(fam, mem[0], **params)
    except TypeError as exc:
        raise ConfigError(f"`{key}.target_params` do not fit family {fam!r}: {exc}") from exc
    except LimitSolverError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"`{key}` is invalid: {exc}") from exc
    return cfg


def _write_text(path: Path, text: str) -> None:
    from ..io import _atomic

    _atomic(path, lambda fh: fh.write((text + "\n").encode()))


def _csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])

    def cell(v):
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace('"', "'") + '"'
        return str(v)

    return "\n".join([",".join(keys)] + [",".join(cell(r[k]) for k in keys) for r in rows])


def _write_tables(result, out, stem: str) -> Path:
    from ..io import write_json

    out = Path(out)
    _write_text(out / f"{stem}.txt", result.table())
    _write_text(out / f"{stem}.csv", _csv(result.rows()))
    write_json(out / f"{stem}.json", result.summary())
    return out


def write_approximation(result: ApproximationStudyResult, out: str | Path) -> None:
    """Write ``approximation.{txt,csv,json,npz,png}`` of an approximation study under ``out``.

    Parameters
    ----------
    result : ApproximationStudyResult
        The study's result.
    out : path-like
        Output directory (files are written atomically).
    """
    from ..io import save_figure, write_npz
    from ..plotting import plot_approximation

    out = _write_tables(result, out, "approximation")
    arrays = {}
    for i, c in enumerate(result.curves):
        arrays[f"m_{i}"] = c.m_values
        arrays[f"error_{i}"] = c.errors
        arrays[f"relative_error_{i}"] = c.relative_errors
    from ..linear_rnn.loss import ERROR_CONVENTION

    write_npz(out / "approximation.npz", error_convention=np.array(ERROR_CONVENTION), **arrays)
    save_figure(plot_approximation(result), out / "approximation.png")


def write_plateau(result: PlateauStudyResult, out: str | Path) -> None:
    """Write ``plateau.{txt,csv,json,npz}``, ``plateau_loss.png`` and ``plateau_fit.png`` under ``out``.

    Parameters
    ----------
    result : PlateauStudyResult
        The study's result.
    out : path-like
        Output directory (files are written atomically).
    """
    from ..io import save_figure, write_npz
    from ..plotting import plot_flow_losses, plot_plateau_fit

    out = _write_tables(result, out, "plateau")
    arrays = {"memory_values": result.memory_values, "durations": result.durations,
              "initial_loss": result.initial_loss, "final_loss": result.final_loss,
              "loss_convention": np.array(result.loss_convention)}
    if result.exit_times is not None:
        arrays["tau0"] = result.exit_times
        arrays["tau0_loss"] = result.loss_exit_times
    for s, runs in enumerate(result.flows):
        for k, fr in enumerate(runs):
            arrays[f"t_{s}_{k}"] = fr.t
            arrays[f"loss_{s}_{k}"] = fr.loss
    write_npz(out / "plateau.npz", **arrays)
    save_figure(plot_flow_losses(result), out / "plateau_loss.png")
    save_figure(plot_plateau_fit(result), out / "plateau_fit.png")


def _study(config: dict, args: argparse.Namespace) -> str:
    study = getattr(args, "study", None)
    if study is None and isinstance(config.get("study"), str):  # the name before [memory]
        warnings.warn("`study` is deprecated; write `memory.study`.", DeprecationWarning,
                      stacklevel=3)
        study, where = config["study"], "study"
    else:
        where = "memory.study"
        study = study or _table(config, "memory").get("study", "both")
    if study not in _STUDIES:
        raise ConfigError(f"`{where}` must be one of {list(_STUDIES)}; got {study!r}.")
    return study


def check(config: dict, args: argparse.Namespace) -> list:
    """Build the requested studies' specifications, refusing a bad configuration first.

    Parameters
    ----------
    config : dict
        The configuration (see :data:`DEFAULTS`).
    args : argparse.Namespace
        Parsed command line: ``seed`` and the optional ``study``.

    Returns
    -------
    list of (str, config)
        ``("approximation", ApproximationConfig)`` and/or ``("plateau", PlateauConfig)``.

    Raises
    ------
    ConfigError
        If ``memory.study`` or a study table is invalid.
    """
    study = _study(config, args)
    todo = []
    if study in ("approximation", "both"):
        todo.append(("approximation", approximation_config(config, int(args.seed))))
    if study in ("plateau", "both"):
        todo.append(("plateau", plateau_config(config, int(args.seed))))
    return todo


def run(config: dict, args: argparse.Namespace) -> int:
    """Run the requested studies, write outputs under ``args.out``, print tables; return 0.

    Parameters
    ----------
    config : dict
        The configuration (see :data:`DEFAULTS`).
    args : argparse.Namespace
        Parsed command line: ``out``, ``seed``, ``quiet`` and the optional ``study``
        (which overrides ``memory.study``).

    Returns
    -------
    int
        Exit status 0.

    Raises
    ------
    ConfigError
        If ``study`` or a study table is invalid.
    """
    from ..linear_rnn.study import approximation_study, plateau_study

    out = Path(args.out)
    show = False if args.quiet else None
    for name, cfg in check(config, args):
        if name == "approximation":
            res = approximation_study(cfg, show_progress=show)
            write_approximation(res, out)
        else:
            res = plateau_study(cfg, show_progress=show)
            write_plateau(res, out)
        print(res.table())
        print()
    print(f"outputs written to {out}")
    return 0
