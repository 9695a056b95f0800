r"""The record of a finite-network simulation (:ref:`theory §2 <theory-network>`).

A :class:`SimulationResult` holds, for ``S`` seeds run together, the online
predictions :math:`f^N_k`, targets :math:`Y_k` and errors :math:`e_k = Y_k - f^N_k`
for :math:`k = 0, \dots, K-1`, the loss curves, parameter snapshots at training
times :math:`t_j` (parameters after :math:`\lfloor N t_j\rfloor` updates), and the
network's frozen-parameter output function :math:`h^N_t` (:meth:`SimulationResult.output`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, DimensionError
from ..io import read_json, to_jsonable, write_json, write_npz
from ..network import NetworkSpec
from ..prior import Prior, UnitParameters
from .output import network_output

__all__ = ["SimulationResult", "windowed_loss"]


def windowed_loss(errors: np.ndarray, window: int) -> np.ndarray:
    r"""Mean of :math:`\tfrac12 e_j^2` over the last ``min(k+1, window)`` steps, for every ``k``.

    With :math:`n` = ``window``,

    .. math::

        \bar L_k = \frac{1}{\min(k+1, n)}\sum_{j=\max(0, k-n+1)}^{k} \tfrac12 e_j^2 .

    ``errors`` has shape (S, K); returns (S, K). Uses a cumulative sum, :math:`O(SK)`.

    Parameters
    ----------
    errors : array_like, shape (S, K)
        Online errors :math:`e_k = Y_k - f^N_k` of each seed (any leading shape; the
        last axis is the step :math:`k`).
    window : int
        Window length :math:`n` in steps (values below 1 count as 1).

    Returns
    -------
    ndarray, shape (S, K)
        :math:`\bar L_k` for every step.
    """
    errors = np.asarray(errors, dtype=float)
    window = max(1, int(window))
    half = 0.5 * errors**2
    csum = np.cumsum(half, axis=-1)
    K = errors.shape[-1]
    k = np.arange(K)
    lo = k - window
    prev = np.where(lo >= 0, csum[..., np.maximum(lo, 0)], 0.0)
    return (csum - prev) / np.minimum(k + 1, window)


@dataclass(frozen=True)
class SimulationResult:
    r"""Outcome of :func:`~limitsolver.simulation.simulate`.

    The fields below are stored as attributes of the same names.

    Parameters
    ----------
    problem : Problem or None
        The simulated problem (``None`` after :meth:`load`: chains and targets
        are not serialised; ``network`` is).
    network : NetworkSpec
        Activation, prior, :math:`\beta`, :math:`\alpha` and gradient mode.
    n_units : int
        :math:`N`.
    seeds : tuple of int
        One network and one data path per seed (``S = len(seeds)``).
    n_steps : int
        Number of training steps planned, :math:`K = \lfloor N T\rfloor`.
    warmup : int
        Steps of the memory (and rtrl sensitivities) run with frozen
        parameters before training; states :math:`X_0,\dots,X_{warmup-1}`.
    times : ndarray, shape (n_snap,)
        Training times of the stored snapshots, :math:`t_j`.
    snapshot_steps : ndarray of int, shape (n_snap,)
        :math:`\lfloor N t_j\rfloor`: each snapshot holds the parameters after
        that many updates (0: the initial parameters).
    snapshots : UnitParameters
        ``c`` (S, n_snap, N), ``w`` (S, n_snap, N, d), ``b`` (S, n_snap, N).
    final : UnitParameters
        Parameters after the last completed step: ``c`` (S, N), ``w`` (S, N, d), ``b`` (S, N).
    predictions : ndarray, shape (S, K_done)
        Online predictions :math:`f^N_k` made before the update of step ``k``.
    targets : ndarray, shape (S, K_done)
        :math:`Y_k`.
    errors : ndarray, shape (S, K_done)
        :math:`e_k = Y_k - f^N_k`.
    status : str
        ``"finished"``, ``"interrupted"`` (Ctrl-C, stopped after a chunk) or
        ``"stopped by callback"``.
    message : str
        Human-readable reason for ``status``.
    wall_time : float
        Seconds spent in the step loop (warm-up included, compilation excluded).
    backend : str
        ``"numba"``, ``"numpy"`` or ``"jax"``.
    paths : ndarray, shape (S, warmup + K, d)
        The data path of each seed, warm-up included: training step ``k`` read
        ``paths[:, warmup + k]``.
    compile_time : float
        Seconds this call spent compiling the numba kernel or loading it from
        the machine's cache (0 when it was already loaded in this process, and
        for the numpy backend); not part of ``wall_time``.
    unit_blocks : int
        Blocks the units of each step were split into (1: the serial loop); the
        numbers depend on it at rounding (the block sums are added in block order).
    """

    problem: Any
    network: NetworkSpec
    n_units: int
    seeds: tuple
    n_steps: int
    warmup: int
    times: np.ndarray
    snapshot_steps: np.ndarray
    snapshots: UnitParameters
    final: UnitParameters
    predictions: np.ndarray
    targets: np.ndarray
    errors: np.ndarray
    status: str
    message: str
    wall_time: float
    backend: str
    paths: np.ndarray | None = None
    compile_time: float = 0.0
    unit_blocks: int = 1

    # -- derived quantities ------------------------------------------------------------------
    @property
    def success(self) -> bool:
        """``True`` when every planned step was run."""
        return self.status == "finished"

    @property
    def steps_done(self) -> int:
        """Number of training steps actually run."""
        return int(self.predictions.shape[-1])

    @property
    def step_times(self) -> np.ndarray:
        r"""Training time :math:`t = k/N` of each recorded step, shape (K_done,)."""
        return np.arange(self.steps_done) / self.n_units

    @functools.cached_property
    def running_loss(self) -> np.ndarray:
        r"""Windowed loss: mean of :math:`\tfrac12 e_j^2` over the last :math:`N` steps
        (training-time window 1; fewer at the start), shape (S, K_done)."""
        return windowed_loss(self.errors, self.n_units)

    @functools.cached_property
    def cumulative_loss(self) -> np.ndarray:
        r"""Cumulative mean :math:`\frac1{k+1}\sum_{j\le k}\tfrac12 e_j^2`, shape (S, K_done)."""
        return np.cumsum(0.5 * self.errors**2, axis=-1) / np.arange(1, self.steps_done + 1)

    def windowed_loss(self, window_time: float) -> np.ndarray:
        r"""Mean of :math:`\tfrac12 e^2` over the training-time window ``window_time``
        (``max(1, round(N window_time))`` steps), shape (S, K_done).

        See the module-level :func:`~limitsolver.simulation.result.windowed_loss` for the
        formula.

        Parameters
        ----------
        window_time : float
            Window length in training time (:math:`t = k/N`).

        Returns
        -------
        ndarray, shape (S, K_done)
            The windowed loss at every recorded step.
        """
        return windowed_loss(self.errors, max(1, round(self.n_units * window_time)))

    def parameters(self, time: float | int | None = None) -> UnitParameters:
        r"""Parameters at a snapshot: ``None`` = final, an ``int`` = snapshot index,
        a ``float`` = snapshot training time (must be one of ``times``).

        Parameters
        ----------
        time : None, int or float
            ``None`` for the final parameters, an ``int`` for a snapshot index
            (negative counts from the end), a ``float`` for a snapshot time
            (matched to ``times`` within 1e-12).

        Returns
        -------
        UnitParameters
            ``c`` (S, N), ``w`` (S, N, d), ``b`` (S, N): the parameters after
            :math:`\lfloor N t_j\rfloor` updates.

        Raises
        ------
        ConfigError
            If the index is out of range or the time is not a snapshot time.
        """
        if time is None:
            return self.final
        if isinstance(time, (int, np.integer)) and not isinstance(time, bool):
            n = len(self.times)
            if not -n <= time < n:
                raise ConfigError(f"`time` index {time} is out of range for {n} snapshots.")
            j = int(time)
        else:
            matches = np.flatnonzero(np.isclose(self.times, float(time), rtol=0, atol=1e-12))
            if matches.size == 0:
                raise ConfigError(
                    f"`time` = {time} is not a snapshot time; stored times are "
                    f"{np.round(self.times, 12).tolist()} (pass `snapshot_times` to simulate)."
                )
            j = int(matches[0])
        return UnitParameters(self.snapshots.c[:, j], self.snapshots.w[:, j],
                              self.snapshots.b[:, j])

    def output(self, histories: ArrayLike, time: float | int | None = None) -> np.ndarray:
        r"""The frozen-parameter output :math:`h^N_t(\xi)` on a batch of histories.

        :math:`h^N_t(\xi) = N^{-\beta}\sum_i c^i\sigma(w^i\cdot x + b^i S(\theta^i;\xi_{-1}))`
        with the parameters of snapshot ``time`` (see :meth:`parameters`).

        Parameters
        ----------
        histories : array_like, shape (M, L, d)
            ``histories[:, 0]`` current state, ``histories[:, j]`` ``j`` steps back.
        time : None, int or float
            ``None`` final parameters, ``int`` snapshot index, ``float`` snapshot time.

        Returns
        -------
        ndarray, shape (S, M)
            :math:`h^N_t(\xi^{(m)})` for each seed and history.
        """
        return network_output(self.parameters(time), histories, self.network.activation,
                              self.network.beta)

    def outputs(self, histories: ArrayLike, times: Sequence | None = None) -> np.ndarray:
        r"""The frozen-parameter outputs :math:`h^N_t(\xi)` at several snapshots in one pass.

        The same numbers as :meth:`output` at each time, with the suffix tree
        of the histories built once for all seeds and times.

        Parameters
        ----------
        histories : array_like, shape (M, L, d)
            ``histories[:, 0]`` current state, ``histories[:, j]`` ``j`` steps back.
        times : sequence, optional
            Snapshot times or indices as in :meth:`parameters` (default: all
            stored snapshots).

        Returns
        -------
        ndarray, shape (S, n_times, M)
            :math:`h^N_{t_j}(\xi^{(m)})` for each seed, time and history.
        """
        times = list(range(len(self.times))) if times is None else list(times)
        snaps = [self.parameters(t) for t in times]
        S, N = self.final.c.shape
        d = self.final.w.shape[-1]
        stacked = UnitParameters(np.stack([p.c for p in snaps], axis=1).reshape(-1, N),
                                 np.stack([p.w for p in snaps], axis=1).reshape(-1, N, d),
                                 np.stack([p.b for p in snaps], axis=1).reshape(-1, N))
        out = network_output(stacked, histories, self.network.activation, self.network.beta)
        return out.reshape(S, len(times), -1)

    # -- storage -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (metadata) atomically.

        Parameters
        ----------
        path : str or Path
            Base path; a ``.npz`` or ``.json`` suffix is dropped.

        Returns
        -------
        npz : Path
            The array file (parameters, snapshots, predictions, targets, errors, paths).
        json : Path
            The metadata file (sizes, seeds, status, network spec, problem).
        """
        path = Path(path)
        base = path.with_suffix("") if path.suffix in (".npz", ".json") else path
        arrays = {
            "times": self.times, "snapshot_steps": self.snapshot_steps,
            "snap_c": self.snapshots.c, "snap_w": self.snapshots.w, "snap_b": self.snapshots.b,
            "final_c": self.final.c, "final_w": self.final.w, "final_b": self.final.b,
            "predictions": self.predictions, "targets": self.targets, "errors": self.errors,
        }
        if self.paths is not None:
            arrays["paths"] = self.paths
        npz = write_npz(base.with_name(base.name + ".npz"), **arrays)
        net = self.network
        meta = {
            "n_units": self.n_units, "seeds": list(self.seeds), "n_steps": self.n_steps,
            "warmup": self.warmup, "status": self.status, "message": self.message,
            "wall_time": self.wall_time, "backend": self.backend,
            "compile_time": self.compile_time, "unit_blocks": self.unit_blocks,
            "network": {
                "activation": net.activation.expression, "activation_name": net.activation.name,
                "prior": to_jsonable(net.prior), "beta": net.beta, "alpha": net.alpha,
                "gradient": net.gradient, "memory_tol": net.memory_tol,
            },
            "problem": None if self.problem is None else to_jsonable(self.problem),
        }
        js = write_json(base.with_name(base.name + ".json"), meta)
        return npz, js

    @classmethod
    def load(cls, path: str | Path) -> SimulationResult:
        """Read a result written by :meth:`save` (``problem`` is ``None``).

        Parameters
        ----------
        path : str or Path
            The base path given to :meth:`save` (a ``.npz`` or ``.json`` suffix is dropped).

        Returns
        -------
        SimulationResult
            With ``problem = None`` (chains and targets are not serialised).

        Raises
        ------
        ConfigError
            If the ``.json`` metadata cannot be read.
        DimensionError
            If the arrays do not match ``n_units``.
        """
        path = Path(path)
        base = path.with_suffix("") if path.suffix in (".npz", ".json") else path
        try:
            meta = read_json(base.with_name(base.name + ".json"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"`path` {str(base)!r} has no readable .json metadata: {exc}") from exc
        with np.load(base.with_name(base.name + ".npz")) as z:
            a = {k: z[k] for k in z.files}
        nd = meta["network"]
        act = nd["activation_name"] if nd["activation_name"] != "custom" else nd["activation"]
        network = NetworkSpec(activation=act, prior=Prior(**nd["prior"]), beta=nd["beta"],
                              alpha=nd["alpha"], gradient=nd["gradient"],
                              memory_tol=nd["memory_tol"])
        if a["final_c"].shape[-1] != meta["n_units"]:
            raise DimensionError(f"`path` {str(base)!r}: arrays do not match n_units.")
        return cls(
            problem=None, network=network, n_units=int(meta["n_units"]),
            seeds=tuple(meta["seeds"]), n_steps=int(meta["n_steps"]), warmup=int(meta["warmup"]),
            times=a["times"], snapshot_steps=a["snapshot_steps"],
            snapshots=UnitParameters(a["snap_c"], a["snap_w"], a["snap_b"]),
            final=UnitParameters(a["final_c"], a["final_w"], a["final_b"]),
            predictions=a["predictions"], targets=a["targets"], errors=a["errors"],
            status=meta["status"], message=meta["message"], wall_time=float(meta["wall_time"]),
            backend=meta["backend"], paths=a.get("paths"),
            compile_time=float(meta.get("compile_time", 0.0)),
            unit_blocks=int(meta.get("unit_blocks", 1)),
        )

    def to_dataframe(self):
        """One row per seed and training step: the online prediction, target and error.

        Returns
        -------
        pandas.DataFrame
            Columns ``seed``, ``step`` (:math:`k`), ``time`` (:math:`k/N`),
            ``prediction`` (:math:`f^N_k`), ``target`` (:math:`Y_k`) and ``error``
            (:math:`e_k`).

        Raises
        ------
        ImportError
            If pandas is not installed.
        """
        from ..io import optional_import

        pd = optional_import("pandas", "to_dataframe")
        S, K = self.predictions.shape
        return pd.DataFrame({
            "seed": np.repeat(np.asarray(self.seeds), K), "step": np.tile(np.arange(K), S),
            "time": np.tile(np.arange(K) / self.n_units, S),
            "prediction": self.predictions.ravel(), "target": self.targets.ravel(),
            "error": self.errors.ravel()})

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` (dimensions ``seed``, ``step``, ``time``, ``unit``).

        Returns
        -------
        xarray.Dataset
            ``prediction``, ``target``, ``error`` (seed, step); the snapshot
            parameters ``c``, ``b`` (seed, time, unit) and ``w`` (seed, time,
            unit, dim); attributes ``n_units``, ``backend``, ``status``,
            ``wall_time`` and ``compile_time``.

        Raises
        ------
        ImportError
            If xarray is not installed.
        """
        from ..io import optional_import

        xr = optional_import("xarray", "to_xarray")
        snap = self.snapshots
        data = {"prediction": (("seed", "step"), self.predictions),
                "target": (("seed", "step"), self.targets),
                "error": (("seed", "step"), self.errors),
                "c": (("seed", "time", "unit"), snap.c), "b": (("seed", "time", "unit"), snap.b),
                "w": (("seed", "time", "unit", "dim"), snap.w)}
        K = self.predictions.shape[1]
        return xr.Dataset(data, coords={"seed": list(self.seeds), "step": np.arange(K),
                                        "time": self.times},
                          attrs={"n_units": self.n_units, "backend": self.backend,
                                 "unit_blocks": self.unit_blocks,
                                 "status": self.status, "wall_time": self.wall_time,
                                 "compile_time": self.compile_time})

    def __repr__(self) -> str:
        return (f"SimulationResult(N={self.n_units}, seeds={len(self.seeds)}, "
                f"steps={self.steps_done}/{self.n_steps}, status={self.status!r}, "
                f"backend={self.backend!r})")


