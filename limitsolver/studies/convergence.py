r"""Convergence of finite networks to the kernel limit (:ref:`theory §3 <theory-limit>`, :ref:`§7 <theory-convergence>`).

A :class:`ConvergenceStudy` runs the finite network of width :math:`N` for
several widths and seeds on one :class:`~limitsolver.problem.Problem`, solves
the limit once, and measures on the evaluation histories
:math:`\{\xi_m\}` with weights :math:`\omega_m` (exact stationary
probabilities for a finite chain):

``sup_l2``
    :math:`\sup_{t\in\mathcal T}\big(\sum_m \omega_m (h^N_t(\xi_m) - h_t(\xi_m))^2\big)^{1/2}`,
    the :math:`L^2(\pi)` distance of the output functions, sup over the time grid
    :math:`\mathcal T` (``n_times`` equispaced points in :math:`[0, T]`);
``tracking``
    the root mean square over sampled training steps :math:`k` of
    :math:`|f^N_k - h_{k/N}(\xi_k)|`, the online prediction against the limit
    evaluated (Nyström) on the history the network saw, at the time it saw it
    (one evaluation per step: the pairs :math:`(k/N, \xi_k)`, not all of
    :math:`\{k/N\}\times\{\xi_k\}`);
``loss_gap``
    :math:`\sup_t |L^N_t - L_t|`, with
    :math:`L_t = \tfrac12\sum_m\omega_m (g(\xi_m) - h_t(\xi_m))^2`.

Metrics are named functions of one finished run (:class:`RunData`, which holds
:math:`h^N_t`, the limit it is compared with and quantities computed once, such as
the loss curve :math:`L^N_t`); :data:`METRICS` holds the three above and a study
takes any others as :class:`Metric` objects::

    def sup_linf(run):   # sup_t max_m |h^N_t(xi_m) - h_t(xi_m)|
        return float(np.abs(run.outputs - run.limit.h).max())

    study = ConvergenceStudy(problem, metrics=("sup_l2", Metric("sup_linf", sup_linf)))

Each metric is fitted as :math:`e\approx C N^{-p}` with a bootstrap interval over
seeds (:func:`~limitsolver.studies.fit.fit_power_law`); the fit's means and
standard errors over seeds are the ones every table, summary and figure shows.
Finite-network runs are independent tasks executed here, by a process pool or on
Dask (:mod:`~limitsolver.studies.executors`); each finished run is written
atomically to the study's :class:`~limitsolver.store.RunStore` under
``out/runs``, so an interrupted study (Ctrl-C, ``kill -9``) resumes where it
stopped, reusing only run files that carry this study's fingerprint and their
own ``(N, seed)``. Ctrl-C stops the study and keeps what finished. The time of
each run excludes compilation of the step loop (:attr:`ConvergenceResult.compile_times`).
When the initial output is not zero (:math:`\beta = 1/2` without doubling) the
limit of each seed starts from that seed's :math:`h^N_0` on the histories.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._docstrings import with_sections
from ..errors import ConfigError, DivergenceError, StudyError
from ..histories import exact_histories
from ..io import optional_import
from ..problem import Problem
from ..progress import progress as progress_bar
from .executors import blas_threads as _blas
from .executors import execute
from .fit import PowerLawFit, fit_power_law
from .refinement import _exact_outputs, _lookup, _on_deeper

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from distributed import Client

    from ...limit.solution import LimitSolution

__all__ = ["ConvergenceStudy", "ConvergenceResult", "run_convergence", "depth_error", "METRICS",
           "Metric", "RunData", "Column", "TABLE_COLUMNS", "evaluate_pairs"]


# ---------------------------------------------------------------------------------------------
# Metrics: named functions of one finished run


@dataclass(frozen=True, eq=False)
class RunData:
    r"""One finished run :math:`(N, \mathrm{seed})` and the limit it is compared with.

    What a :class:`Metric` receives. Derived quantities are computed on first use
    and shared by every metric of the run.

    Parameters
    ----------
    n_units, seed : int
        The run's width :math:`N` and seed.
    outputs : ndarray, shape (n_times, M)
        :math:`h^N_t(\xi_m)` on the evaluation histories at the study's times.
    limit : LimitSolution
        The limit this run is compared with: the study's solution, or (when the
        initial output is not zero, :math:`\beta = 1/2` without doubling) the
        solution propagated from this run's :math:`h^N_0`.
    steps : ndarray of int
        Training steps :math:`k` sampled for the online predictions.
    predictions : ndarray
        :math:`f^N_k` at those steps.
    windows : ndarray, shape (len(steps), L, d)
        The history :math:`\xi_k` the network saw at each sampled step.
    track_h0 : ndarray
        :math:`h^N_0(\xi_k)` on those histories.
    own_start : bool
        Whether ``limit`` starts from this run's :math:`h^N_0`.
    pairs : optional
        Internal: evaluates the limit on its own training histories at given
        times (shared by the runs of a study).
    """

    n_units: int
    seed: int
    outputs: np.ndarray
    limit: Any
    steps: np.ndarray
    predictions: np.ndarray
    windows: np.ndarray
    track_h0: np.ndarray
    own_start: bool = False
    pairs: Any = field(default=None, repr=False)

    @property
    def weights(self) -> np.ndarray:
        r"""Weights :math:`\omega_m` of the evaluation histories."""
        return self.limit.histories.weights

    @cached_property
    def error_curve(self) -> np.ndarray:
        r""":math:`\|h^N_t - h_t\|_{L^2(\pi)} = \big(\sum_m \omega_m (h^N_t - h_t)^2(\xi_m)\big)^{1/2}` at each time."""
        return np.sqrt(((self.outputs - self.limit.h) ** 2) @ self.weights)

    @cached_property
    def finite_loss(self) -> np.ndarray:
        r""":math:`L^N_t = \tfrac12\sum_m\omega_m (g(\xi_m) - h^N_t(\xi_m))^2` at the study's times."""
        return 0.5 * ((self.limit.g[None, :] - self.outputs) ** 2) @ self.weights

    @cached_property
    def online_limit(self) -> np.ndarray:
        r""":math:`h_{k/N}(\xi_k)` at the sampled steps.

        For exact histories every window the network saw is one of the limit's
        training histories, and :math:`h_t` there is read from the flow's
        training rows (``pairs``); otherwise the limit is Nyström-evaluated on
        the windows (:func:`evaluate_pairs`). Both give the same numbers to
        rounding.
        """
        t = self.steps / self.n_units
        h0 = self.track_h0 if self.own_start else None
        idx = None if self.pairs is None else _history_index(self.limit, self.windows)
        if idx is None:
            return evaluate_pairs(self.limit, self.windows, t, h0_new=h0)
        return self.pairs(self.limit, idx, t, self.limit.h0[idx] if h0 is None else h0)


class _TrainingPairs:
    r""":math:`h_{t_k}(\xi_{i_k})` for pairs of a time and a training history.

    With the flow's coefficients :math:`c(t)` and its training rows :math:`R`
    and extension :math:`E`, :math:`h_t - h_0 = c(t)\,E^\top R^\top` on the
    training histories; :math:`RE` is formed once, then each pair costs one
    inner product. The coefficients depend only on :math:`r_0 = g - h_0` and the
    times, which the seeds of one width share (their sampled steps are the
    same): the last ones are kept and reused while the key is the same (a study
    visits the seeds of a width one after the other).
    """

    def __init__(self, flow):
        self.flow = flow
        rows = np.asarray(flow.training_rows, dtype=float)
        self.rows = rows if flow.extension is None else rows @ flow.extension
        self._last: tuple[bytes, np.ndarray] | None = None

    def coefficients(self, r0: np.ndarray, times: np.ndarray) -> np.ndarray:
        """``flow.coefficients(r0, times)``, reused while ``(r0, times)`` repeats."""
        r0 = np.ascontiguousarray(r0, dtype=float)
        times = np.ascontiguousarray(times, dtype=float)
        key = b"%d|" % r0.size + r0.tobytes() + times.tobytes()
        if self._last is None or self._last[0] != key:
            self._last = (key, self.flow.coefficients(r0, times))
        return self._last[1]

    def __call__(self, sol, idx: np.ndarray, times: np.ndarray, h0: np.ndarray) -> np.ndarray:
        if sol.flow is not self.flow:
            raise ConfigError("these pairs belong to another limit solution.")
        coeffs = self.coefficients(sol.g - sol.h0, times)
        out = h0 + np.einsum("ij,ij->i", coeffs, self.rows[idx])
        if not np.all(np.isfinite(out)):
            raise DivergenceError("the limit at the sampled steps is NaN or infinite.")
        return out


def _history_index(sol, windows: np.ndarray) -> np.ndarray | None:
    """Index of each window among the limit's exact training histories (None if not all are)."""
    hist = sol.histories
    states = getattr(sol.problem.chain, "states", None)
    if hist.indices is None or states is None:
        return None
    states = np.asarray(states, dtype=float)
    w = np.asarray(windows, dtype=float)[:, :hist.depth]
    if w.ndim != 3 or w.shape[1] != hist.depth or w.shape[2] != states.shape[1]:
        return None
    eq = np.all(w[:, :, None, :] == states[None, None, :, :], axis=-1)   # (K, L, n)
    if not np.all(eq.sum(axis=-1) == 1):
        return None
    return _lookup(eq.argmax(axis=-1), hist.indices)


# The numpydoc sections of every metric ``fn(run) -> float``, written once.
_METRIC_SECTIONS = """
Parameters
----------
run : RunData
    A finished run and its limit.

Returns
-------
float
"""



@dataclass(frozen=True)
class Metric:
    r"""A named distance between a finite network and the limit, :math:`e = f(\mathrm{run})`.

    Parameters
    ----------
    name : str
        The key of the metric in :attr:`ConvergenceResult.errors` and the tables.
    fn : callable
        ``fn(run: RunData) -> float``; a non-negative number, fitted as
        :math:`e \approx C N^{-p}` over widths and seeds.
    label : str, optional
        Axis label of figures (default ``name``).
    """

    name: str
    fn: Callable[[RunData], float]
    label: str = ""

    @with_sections(_METRIC_SECTIONS, " " * 8)
    def __call__(self, run: RunData) -> float:
        """The metric of one run.
        """
        return float(self.fn(run))


@with_sections(_METRIC_SECTIONS)
def sup_l2(run: RunData) -> float:
    r""":math:`\sup_{t\in\mathcal T}\big(\sum_m \omega_m (h^N_t(\xi_m) - h_t(\xi_m))^2\big)^{1/2}`.
    """
    return float(run.error_curve.max())


@with_sections(_METRIC_SECTIONS)
def tracking(run: RunData) -> float:
    r""":math:`\big(\frac1K\sum_k (f^N_k - h_{k/N}(\xi_k))^2\big)^{1/2}` over the sampled steps.
    """
    return float(np.sqrt(np.mean((run.predictions - run.online_limit) ** 2)))


@with_sections(_METRIC_SECTIONS)
def loss_gap(run: RunData) -> float:
    r""":math:`\sup_{t\in\mathcal T} |L^N_t - L_t|`.
    """
    return float(np.abs(run.finite_loss - run.limit.loss).max())


#: The built-in metrics by name (read-only; pass others to a study as :class:`Metric`).
METRICS: Mapping[str, Metric] = MappingProxyType({
    "sup_l2": Metric("sup_l2", sup_l2, r"$\sup_t \|h^N_t - h_t\|_{L^2(\pi)}$"),
    "tracking": Metric("tracking", tracking, r"RMS online $|f^N_k - h_{k/N}(\xi_k)|$"),
    "loss_gap": Metric("loss_gap", loss_gap, r"$\sup_t |L^N_t - L_t|$"),
})


def _metric(m) -> Metric:
    if isinstance(m, Metric):
        return m
    if isinstance(m, str) and m in METRICS:
        return METRICS[m]
    raise ConfigError(f"unknown metric {m!r} in `metrics`; registered: {sorted(METRICS)} "
                      "(or pass a `Metric(name, fn)`).")


def evaluate_pairs(sol: LimitSolution, windows: np.ndarray, times: ArrayLike,
                   h0_new: np.ndarray | None = None) -> np.ndarray:
    r""":math:`h_{t_k}(\xi_k)` for pairs of a time and a history, by the Nyström extension.

    The diagonal of ``sol.evaluate(windows, times)`` at the cost of one kernel
    row per pair: with the flow's coefficients :math:`c_k` at :math:`t_k` and the
    kernel row :math:`a_k` of :math:`\xi_k`, :math:`h_{t_k}(\xi_k) = h_0(\xi_k) +
    \langle c_k, a_k\rangle`.

    Parameters
    ----------
    sol : LimitSolution
        The limit.
    windows : ndarray, shape (K, L, d)
        Histories :math:`\xi_k` of depth at least ``sol.problem.depth``.
    times : array_like, shape (K,)
        Non-decreasing times :math:`t_k`.
    h0_new : ndarray, shape (K,), optional
        :math:`h_0(\xi_k)` (as in :meth:`~limitsolver.limit.LimitSolution.evaluate`).

    Returns
    -------
    ndarray, shape (K,)
    """
    from ..limit.ode import check_times

    hist = sol.feature_map.check(np.asarray(windows, dtype=float))
    t = check_times(times)
    if t.shape != (hist.M,):
        raise ConfigError(f"`times` must have one entry per history ({hist.M}), got {t.shape}.")
    if h0_new is not None:
        h0n = np.asarray(h0_new, dtype=float)
        if h0n.shape != (hist.M,):
            raise ConfigError(f"`h0_new` must have shape ({hist.M},), got {h0n.shape}.")
    elif sol.h0_kind == "zero":
        h0n = np.zeros(hist.M)
    else:
        raise ConfigError(f"`h0_new` is required: the initial output ({sol.h0_kind}) is only "
                          "known on the training histories.")
    flow = sol.flow
    coeffs = flow.coefficients(sol.g - sol.h0, t)
    right = coeffs if flow.extension is None else coeffs @ flow.extension.T
    feat = sol.feature_map.features(hist, training=False)
    rows = flow.rows(sol.feature_map, feat, sol.training_features)
    out = h0n + np.einsum("ij,ij->i", right, rows)
    if not np.all(np.isfinite(out)):
        raise DivergenceError("the Nyström extension produced NaN or infinite values.")
    return out


@dataclass(frozen=True)
class ConvergenceStudy:
    """What to run: the problem, the widths, the seeds and the limit's discretisation.

    Parameters
    ----------
    problem : Problem
        Chain, target, network and horizon shared by every run and the limit.
    n_units : tuple of int
        Widths :math:`N`.
    seeds : tuple of int
        Seeds; run ``(N, seed)`` draws its parameters and data from ``seed``.
    n_times : int
        Points of the time grid over which the sup is taken.
    histories : "exact" or int
        Evaluation/training histories of the limit: exact enumeration (finite
        chains) or that many Monte Carlo windows.
    grid : dict
        Keyword arguments of :func:`~limitsolver.limit.parameter_grid`
        (``n_w``, ``n_b``, ``kind``).
    tracking_samples : int
        Training steps sampled (evenly) for the tracking metric.
    limit_seed : int
        Seed of the Monte Carlo histories of the limit (when sampled).
    depth_check : bool
        Estimate the memory-truncation error of the limit by one more level of
        depth (:func:`depth_error`).
    backend : {"auto", "numba", "numpy"}
        Step loop of the finite networks (:func:`~limitsolver.simulation.simulate`);
        both give the same numbers, ``"numpy"`` avoids compilation for tiny studies.
    metrics : tuple of str or Metric
        The metrics computed: names of :data:`METRICS` or :class:`Metric`
        objects (default all three built-in ones).
    """

    problem: Problem
    n_units: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096, 8192, 16384)
    seeds: tuple[int, ...] = tuple(range(8))
    n_times: int = 11
    histories: Any = "exact"
    grid: dict = field(default_factory=lambda: {"n_w": 64, "n_b": 16, "kind": "legendre"})
    tracking_samples: int = 256
    limit_seed: int = 0
    depth_check: bool = True
    backend: str = "auto"
    metrics: tuple = tuple(METRICS)

    def __post_init__(self):
        n = tuple(int(v) for v in self.n_units)
        if len(set(n)) < 2 or min(n) < 2:
            raise ConfigError(f"`n_units` needs at least two distinct widths >= 2, got {n}.")
        if self.problem.network.prior.doubled and any(v % 2 for v in n):
            raise ConfigError(f"`n_units` must be even with doubled initialisation, got {n}.")
        object.__setattr__(self, "n_units", tuple(sorted(n)))
        s = tuple(int(v) for v in self.seeds)
        if len(s) < 2 or len(set(s)) != len(s):
            raise ConfigError(f"`seeds` needs at least two distinct seeds (for error bars), got {s}.")
        object.__setattr__(self, "seeds", s)
        if self.n_times < 2:
            raise ConfigError(f"`n_times` must be at least 2, got {self.n_times}.")
        if not (isinstance(self.tracking_samples, int) and self.tracking_samples >= 1):
            raise ConfigError(f"`tracking_samples` must be a positive integer, got "
                              f"{self.tracking_samples!r}.")
        if self.backend not in ("auto", "numba", "numpy"):
            raise ConfigError(f"`backend` must be 'auto', 'numba' or 'numpy', got "
                              f"{self.backend!r}.")
        metrics = tuple(_metric(m) for m in self.metrics)
        names = [m.name for m in metrics]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"`metrics` needs at least one metric and distinct names, got "
                              f"{names}.")
        object.__setattr__(self, "metrics", metrics)

    @property
    def times(self) -> np.ndarray:
        """The time grid :math:`\\mathcal T`."""
        return np.linspace(0.0, self.problem.horizon, self.n_times)

    def to_state(self) -> dict:
        """Everything that determines the numbers of a run, as JSON-ready data.

        Returns
        -------
        dict
            The full state of the problem (:func:`~limitsolver.store.problem_state`)
            and the settings that change a run: ``n_times``,
            ``histories``, ``grid``, ``tracking_samples``, ``limit_seed`` and
            ``backend``. The widths and seeds are not part of it: each run file
            carries its own ``(N, seed)``, so a study with more widths or seeds
            reuses the runs it shares with this one.
        """
        from ..store import problem_state

        return {"problem": problem_state(self.problem), "n_times": int(self.n_times),
                "histories": self.histories, "grid": dict(self.grid),
                "tracking_samples": int(self.tracking_samples),
                "limit_seed": int(self.limit_seed), "backend": self.backend}

    def fingerprint(self) -> str:
        """A digest of everything that determines the numbers of a run (for resuming).

        Returns
        -------
        str
            :func:`~limitsolver.store.fingerprint` of :meth:`to_state`: 64
            hexadecimal digits of a SHA-256 digest, different whenever one bit of
            the problem (e.g. an entry of the transition matrix) or one setting
            differs.
        """
        from ..store import fingerprint

        return fingerprint(self.to_state())


@dataclass(frozen=True)
class Column:
    r"""One column of :meth:`ConvergenceResult.table`: a header and one value per width.

    Parameters
    ----------
    header : str
        The column's title.
    values : callable
        ``values(result, metric) -> sequence`` with one entry per width.
    fmt : str
        Format specification of an entry (e.g. ``">11.4e"``); the header is
        right-aligned to the same width.
    """

    header: str
    values: Callable[[Any, str], Any]
    fmt: str

    @property
    def width(self) -> int:
        """Characters of the column (from ``fmt``, at least the header's)."""
        digits = "".join(c for c in self.fmt.split(".")[0] if c.isdigit())
        return max(int(digits or 0), len(self.header))


#: The columns of :meth:`ConvergenceResult.table`, in order; a caller may pass more.
TABLE_COLUMNS: tuple[Column, ...] = (
    Column("N", lambda r, m: r.study.n_units, ">8d"),
    Column("mean error", lambda r, m: r.fits[m].mean_errors, ">11.4e"),
    Column("std error", lambda r, m: r.fits[m].standard_errors, ">10.2e"),
    Column("seeds", lambda r, m: np.isfinite(r.errors[m]).sum(axis=1), ">5d"),
    Column("wall s/run", lambda r, m: np.nanmean(r.wall_times, axis=1), ">10.2f"),
)


#: Per-run arrays of a result that :meth:`ConvergenceResult.save` writes when present.
_RUN_ARRAYS = ("error_curves", "finite_h", "limit_h", "history_weights")


@dataclass(frozen=True)
class ConvergenceResult:
    r"""Errors per width and seed, their fits, the limit and the cost.

    Built by :func:`run_convergence`; the fields are:

    Parameters
    ----------
    study : ConvergenceStudy
        The study that produced the numbers.
    errors : dict of str to ndarray (len(n_units), len(seeds))
        Each metric per width (rows) and seed (columns).
    fits : dict of str to PowerLawFit
        The fit :math:`e \approx C N^{-p}` of each metric over widths and seeds;
        its ``mean_errors`` and ``standard_errors`` are the means and standard
        errors over the finite seeds of each width used everywhere (tables,
        summaries, figures).
    wall_times : ndarray (len(n_units), len(seeds))
        Seconds per finite-network run, compilation excluded.
    limit_error : float
        Estimated discretisation error of the limit in the ``sup_l2`` metric: the
        sum of its quadrature refinement estimate, its depth estimate
        (:func:`depth_error`) and, for sampled histories, its Monte Carlo
        standard error.
    limit_time : float
        Seconds to solve the limit.
    times, limit_loss : ndarray
        The time grid and the limit's loss curve on it.
    finite_loss : ndarray (len(n_units), len(seeds), n_times)
        Loss curves :math:`L^N_t` of the finite networks.
    limit_discretisation : dict
        The limit's own discretisation parameters and error estimates.
    compile_times : ndarray (len(n_units), len(seeds))
        Seconds each run spent compiling the step loop before it started (zero
        once its process had compiled it; NaN for runs read back from disk).
    provenance : dict
        Versions, command line, UTC time and seeds (:func:`~limitsolver.store.provenance`).
    timings : dict
        Seconds of each phase of :func:`run_convergence`: ``limit_s``,
        ``depth_check_s`` (when checked), ``resume_s`` (reading finished runs),
        ``runs_s`` (the finite-network runs, wall clock), ``metrics_s`` (metrics
        and fits) and ``total_s``.
    error_curves : ndarray (len(n_units), len(seeds), n_times), optional
        :math:`\|h^N_t - h_t\|_{L^2(\pi)}` at each time of the grid (``sup_l2`` is
        its maximum over time).
    finite_h : ndarray (len(n_units), len(seeds), n_times, M), optional
        :math:`h^N_t` of every run on the evaluation histories.
    limit_h : ndarray (n_times, M) or (len(n_units), len(seeds), n_times, M), optional
        :math:`h_t` on the histories; one per run when each limit starts from its
        run's :math:`h^N_0` (:math:`\beta = 1/2` without doubling).
    history_weights : ndarray (M,), optional
        Weights :math:`\omega_m` of the evaluation histories.
    limit : LimitSolution, optional
        The limit the runs were compared with (set by :func:`run_convergence`,
        not saved; later steps such as the fluctuation prediction reuse it
        instead of solving it again).
    """

    study: ConvergenceStudy
    errors: dict[str, np.ndarray]
    fits: dict[str, PowerLawFit]
    wall_times: np.ndarray
    limit_error: float
    limit_time: float
    times: np.ndarray
    limit_loss: np.ndarray
    finite_loss: np.ndarray
    limit_discretisation: dict
    compile_times: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    error_curves: np.ndarray | None = field(default=None, repr=False)
    finite_h: np.ndarray | None = field(default=None, repr=False)
    limit_h: np.ndarray | None = field(default=None, repr=False)
    history_weights: np.ndarray | None = field(default=None, repr=False)
    limit: Any = field(default=None, repr=False, compare=False)

    @property
    def n_units(self) -> np.ndarray:
        """The widths :math:`N` of the study, in increasing order."""
        return np.asarray(self.study.n_units)

    @property
    def overhead(self) -> float:
        r"""Fraction of the study's wall time spent outside the finite-network runs.

        :math:`1 - t_{\mathrm{runs}}/t_{\mathrm{total}}` from :attr:`timings`:
        the limit, its depth check, resuming, metrics and fits (NaN when not timed).
        """
        total = self.timings.get("total_s")
        if not total:
            return float("nan")
        return 1.0 - float(self.timings.get("runs_s", 0.0)) / float(total)

    @property
    def compile_time(self) -> float:
        """Seconds of step-loop compilation in the runs of this call (summed over processes)."""
        if self.compile_times is None:
            return 0.0
        return float(np.nansum(self.compile_times))

    def table(self, metric: str = "sup_l2", columns: tuple[Column, ...] = TABLE_COLUMNS) -> str:
        """The table N | mean ± standard error | seeds | wall time, and the fit.

        Parameters
        ----------
        metric : str, default "sup_l2"
            The metric to tabulate (a key of :attr:`errors`).
        columns : tuple of Column, default TABLE_COLUMNS
            The columns, e.g. ``TABLE_COLUMNS + (Column("predicted", fn, ">11.4e"),)``.

        Returns
        -------
        str
            One line per width (by default: mean over finite seeds, its standard
            error, number of finite seeds, mean wall time per run without
            compilation), then the fitted power law and the limit's
            discretisation error compared with the mean error at the largest width.
        """
        if metric not in self.errors:
            raise ConfigError(f"unknown `metric` {metric!r}; this result has {sorted(self.errors)}.")
        cols = [(c, list(c.values(self, metric))) for c in columns]
        lines = [f"metric: {metric}", "  ".join(f"{c.header:>{c.width}}" for c, _ in cols)]
        for i in range(len(self.study.n_units)):
            lines.append("  ".join(f"{v[i]:{c.fmt}}" for c, v in cols))
        last = float(self.fits[metric].mean_errors[-1])
        lines.append(f"fit: {self.fits[metric]}")
        lines.append(f"limit discretisation error ~ {self.limit_error:.2e} "
                     f"(error at N = {self.study.n_units[-1]}: {last:.2e}, "
                     f"ratio {last / max(self.limit_error, 1e-300):.0f}x)")
        return "\n".join(lines)

    # -- files and tables ----------------------------------------------------------------
    def save(self, out: str | Path, extra: dict | None = None) -> tuple[Path, Path]:
        """Write ``summary.json`` and ``errors.npz`` under ``out`` (atomically, with provenance).

        Parameters
        ----------
        out : str or os.PathLike
            Directory (created if missing).
        extra : dict, optional
            More entries for ``summary.json`` (the CLI adds its configuration).

        Returns
        -------
        tuple of pathlib.Path
            The two files; :meth:`load` reads them back.
        """
        from ..io import write_json, write_npz

        out = Path(out)
        summary = {**self.summary(), **(extra or {})}
        meta = summary.pop("provenance")
        js = write_json(out / "summary.json", summary, meta=meta)
        arrays = {f"error_{m}": e for m, e in self.errors.items()}
        for name in _RUN_ARRAYS:  # what the figures draw (absent from older results)
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        npz = write_npz(out / "errors.npz", meta=meta, n_units=np.asarray(self.study.n_units),
                        seeds=np.asarray(self.study.seeds), times=self.times,
                        limit_loss=self.limit_loss, finite_loss=self.finite_loss,
                        wall_times=self.wall_times,
                        compile_times=(np.full_like(self.wall_times, np.nan)
                                       if self.compile_times is None else self.compile_times),
                        **arrays)
        return js, npz

    @classmethod
    def load(cls, out: str | Path) -> ConvergenceResult:
        """Rebuild a result from the ``summary.json`` and ``errors.npz`` written by :meth:`save`.

        The study is rebuilt from the stored state of its problem (or, for files
        written by ``limitsolver converge``, from its configuration); the fits
        are recomputed from the errors with the study's seed, which reproduces
        them exactly.

        Parameters
        ----------
        out : str or os.PathLike
            The directory ``limitsolver converge --out`` (or :meth:`save`) wrote.

        Returns
        -------
        ConvergenceResult

        Raises
        ------
        ConfigError
            If the files are missing or their problem cannot be rebuilt.
        """
        from ..io import read_json

        out = Path(out)
        try:
            summary = read_json(out / "summary.json")
            with np.load(out / "errors.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"`out` {out} does not hold a readable convergence result "
                              f"(summary.json and errors.npz): {exc}") from exc
        state = summary.get("study") or {}
        study = ConvergenceStudy(
            problem=_problem_from(summary, state, out), n_units=tuple(summary["n_units"]),
            seeds=tuple(summary["seeds"]), n_times=int(state["n_times"]),
            histories=state["histories"], grid=dict(state["grid"]),
            tracking_samples=int(state["tracking_samples"]),
            limit_seed=int(state["limit_seed"]), backend=state.get("backend", "auto"),
            depth_check="depth_error" in summary.get("limit_discretisation", {}),
            metrics=tuple(m for m in summary["metrics"] if m in METRICS))
        errors = {m: arrays[f"error_{m}"] for m in summary["metrics"]}
        fits = {m: fit_power_law(study.n_units, e, rng=study.limit_seed)
                for m, e in errors.items()}
        return cls(study=study, errors=errors, fits=fits, wall_times=arrays["wall_times"],
                   limit_error=float(summary["limit_error"]),
                   limit_time=float(summary["limit_time_s"]), times=arrays["times"],
                   limit_loss=arrays["limit_loss"], finite_loss=arrays["finite_loss"],
                   limit_discretisation=dict(summary.get("limit_discretisation", {})),
                   compile_times=arrays.get("compile_times"),
                   provenance=dict(summary.get("provenance", {})),
                   timings=dict(summary.get("timings_s") or {}),
                   **{name: arrays.get(name) for name in _RUN_ARRAYS})

    def to_dataframe(self):
        """One row per run: width, seed, every metric, wall and compilation time.

        Returns
        -------
        pandas.DataFrame
            Columns ``width``, ``seed``, one per metric, ``wall_time_s`` and
            ``compile_time_s``; ``len(n_units) * len(seeds)`` rows, widths
            increasing, seeds in study order.

        Raises
        ------
        ImportError
            If pandas is not installed.
        """
        pd = optional_import("pandas", "to_dataframe")
        n, s = np.meshgrid(self.study.n_units, self.study.seeds, indexing="ij")
        data = {"width": n.ravel(), "seed": s.ravel()}
        data.update({m: e.ravel() for m, e in self.errors.items()})
        data["wall_time_s"] = self.wall_times.ravel()
        comp = self.compile_times if self.compile_times is not None else \
            np.full_like(self.wall_times, np.nan)
        data["compile_time_s"] = comp.ravel()
        return pd.DataFrame(data)

    def to_xarray(self):
        """The result as an ``xarray.Dataset`` with dimensions ``width``, ``seed`` and ``time``.

        Returns
        -------
        xarray.Dataset
            Variables: one per metric and ``wall_time_s`` (width, seed);
            ``finite_loss`` (width, seed, time); ``limit_loss`` (time); the
            fitted ``rate``, its interval and ``constant`` per metric in the
            attributes, with ``limit_error`` and the provenance (as JSON).

        Raises
        ------
        ImportError
            If xarray is not installed (``pip install xarray``, or from a
            checkout of limitsolver ``pip install -e ".[xarray]"``).
        """
        import json

        from ..io import to_jsonable

        xr = optional_import("xarray", "to_xarray")
        dims = ("width", "seed")
        data = {m: (dims, e) for m, e in self.errors.items()}
        data["wall_time_s"] = (dims, self.wall_times)
        data["finite_loss"] = (dims + ("time",), self.finite_loss)
        data["limit_loss"] = (("time",), self.limit_loss)
        attrs = {"limit_error": self.limit_error,
                 "provenance": json.dumps(to_jsonable(self.provenance), sort_keys=True)}
        for m, f in self.fits.items():
            attrs[f"{m}_rate"] = f.rate
            attrs[f"{m}_rate_ci"] = list(f.ci)
            attrs[f"{m}_constant"] = f.constant
        return xr.Dataset(data, coords={"width": list(self.study.n_units),
                                        "seed": list(self.study.seeds), "time": self.times},
                          attrs=attrs)

    def summary(self) -> dict:
        """A JSON-ready summary.

        Returns
        -------
        dict
            Widths, seeds, the study's full state (problem included), per
            metric the mean and standard error per width with the fitted rate,
            its interval and constant, the limit's error, time and
            discretisation, the wall and compilation times and the provenance
            (arrays are left as numpy arrays; :func:`~limitsolver.io.write_json`
            converts them).
        """
        return {
            "n_units": list(self.study.n_units), "seeds": list(self.study.seeds),
            "study": self.study.to_state(),
            "metrics": {m: {"mean": self.fits[m].mean_errors,
                            "stderr": self.fits[m].standard_errors,
                            "rate": self.fits[m].rate, "rate_ci": list(self.fits[m].ci),
                            "constant": self.fits[m].constant}
                        for m in self.errors},
            "limit_error": self.limit_error, "limit_time_s": self.limit_time,
            "limit_discretisation": self.limit_discretisation,
            "wall_time_s": self.wall_times,
            "compile_time_s": self.compile_time,
            "timings_s": self.timings, "overhead": self.overhead,
            "provenance": self.provenance,
        }


def _problem_from(summary: dict, state: dict, out: Path) -> Problem:
    """The problem of a saved study: from its state, or from the CLI configuration."""
    problem_state = state.get("problem")
    from_state = getattr(Problem, "from_state", None)
    if from_state is not None and problem_state is not None:
        return from_state(problem_state)
    config = summary.get("config", {})
    if "problem" in config:
        from ..config import problem_from_config

        return problem_from_config(config["problem"])
    raise ConfigError(f"the result in {out} does not say how to rebuild its problem.")


def _finite_run(problem: Problem, times: np.ndarray, eval_values: np.ndarray, n_track: int,
                backend: str, n: int, seed: int) -> dict:
    """One finite-network run: outputs on the evaluation histories and sampled online predictions.

    ``compile`` is the time :func:`~limitsolver.simulation.simulate` spent
    compiling or loading the step loop (zero once this process has it), ``wall``
    the time of the run without it.
    """
    from ..histories import path_windows
    from ..simulation import simulate

    t0 = time.perf_counter()
    res = simulate(problem, n, [seed], snapshot_times=times, progress=False, backend=backend)
    if res.status == "interrupted":  # Ctrl-C inside the step loop: stop the study, not this run
        raise KeyboardInterrupt(f"run N={n}, seed={seed}: {res.message}")
    outputs = res.outputs(eval_values, times)[0]                              # (n_times, M)
    K = res.n_steps
    steps = np.unique(np.linspace(0, K - 1, min(n_track, K)).astype(int))
    depth = eval_values.shape[1]
    path = res.paths[0]                       # (warmup + K, d)
    windows = path_windows(path, depth)       # window j ends at path index j + depth - 1
    offset = res.warmup - (depth - 1)
    track_windows = windows[steps + offset]
    return {"outputs": outputs, "steps": steps, "predictions": res.predictions[0, steps],
            "windows": track_windows, "track_h0": res.output(track_windows, time=0.0)[0],
            "n_steps": K, "wall": time.perf_counter() - t0 - res.compile_time,
            "compile": float(res.compile_time)}


def _solve(study: ConvergenceStudy, show, problem: Problem | None = None,
           error_estimate: bool = True):
    from ..limit import solve_limit

    return solve_limit(study.problem if problem is None else problem,
                       histories=study.histories, times=study.times, grid=dict(study.grid),
                       h0="zero", seed=study.limit_seed, progress=show,
                       error_estimate=error_estimate, chunk_size=None)


def depth_error(study: ConvergenceStudy, sol: LimitSolution, show: bool | None = None) -> float:
    r"""Memory-truncation error of ``sol`` estimated by one more level of depth.

    Solves again with the memory tolerance multiplied by :math:`\gamma` (window
    ``L + 1``) and returns :math:`\sup_t \|h^{(L+1)}_t - h^{(L)}_t\|_{L^2(\pi)}`,
    the shallow solution read on the deep histories truncated to ``L`` states.
    For exact histories (and :math:`h_0 = 0`) every deep window truncated to its
    ``L`` most recent states is one of the shallow training histories, so
    :math:`h^{(L)}_t` is read there by index, and :math:`h^{(L+1)}_t` is needed
    only on the deep training histories: it is computed there by the action of
    the exponential on the kernel's factors, without the :math:`M\times M`
    eigendecomposition of a full solve (the same to rounding). Otherwise the
    deep limit is solved and the shallow one Nyström-evaluated.

    Parameters
    ----------
    study : ConvergenceStudy
        The study whose problem and limit discretisation are used.
    sol : LimitSolution
        The limit solved at the problem's depth ``L`` on the study's times.
    show : bool, optional
        Progress bar for the deeper solve (default: when stderr is a terminal).

    Returns
    -------
    float
        The estimate :math:`\sup_t \|h^{(L+1)}_t - h^{(L)}_t\|_{L^2(\pi)}`; 0 when
        the tighter tolerance does not deepen the window.
    """
    net = study.problem.network
    gamma = max(net.gamma, 1e-3)
    deeper = study.problem.replace(network=net.replace(memory_tol=net.memory_tol * gamma))
    if deeper.depth <= study.problem.depth:
        return 0.0
    times = study.times
    fast = None
    if study.histories == "exact" and sol.h0_kind == "zero":
        fast = _exact_outputs(deeper, sol.grid, times)
    if fast is not None:
        h, hist = fast
    else:
        deep = _solve(study, show, deeper, error_estimate=False)
        h, hist, times = deep.h, deep.histories, deep.times
    diff = (h - _on_deeper(sol, hist, times)) ** 2 @ hist.weights
    return float(np.sqrt(diff.max()))


def run_convergence(study: ConvergenceStudy, *, jobs: int = 1, out: str | Path | None = None,
                    progress: bool | None = None, executor: Executor | Client | None = None,
                    retries: int = 2,
                    blas_threads: int | None = 1) -> ConvergenceResult:
    """Run a convergence study; resume from ``out`` when it holds finished runs.

    Parameters
    ----------
    study : ConvergenceStudy
        Problem, widths, seeds and limit discretisation.
    jobs : int
        Worker processes (ignored when ``executor`` is given).
    out : path, optional
        Directory of the study's :class:`~limitsolver.store.RunStore`: finished
        runs (``runs/N{N}_seed{seed}.npz``) are written atomically as they finish
        and reused by a later call only when they carry this study's fingerprint
        and their own ``(N, seed)``, load cleanly and are finite (any other file
        is recomputed with a :class:`~limitsolver.store.StaleRunWarning`). The
        directory is locked while the study runs.
    progress : bool, optional
        Progress bar over finished runs (default: when stderr is a terminal).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where the runs execute; default a process pool of ``jobs`` workers. With
        a Dask client the problem and the evaluation histories are scattered to
        the workers once and each run is a task (see
        :func:`~limitsolver.studies.executors.execute`).
    retries : int
        Dask only: retries of a run whose task raised.
    blas_threads : int or None, default 1
        BLAS threads of this process while it solves the limit (with workers and
        exact histories, while the first run trains: the other runs are submitted
        when the limit and its depth check are done, so the runs' timings are not
        disturbed), runs (with
        ``jobs = 1``) and computes the metrics (:func:`~limitsolver.studies.executors.blas_threads`;
        None: leave the library's setting). One thread is the fastest on a
        shared machine: the study's matrices are small and a second thread
        waits for a busy core. Workers of the default pool always use one.

    Returns
    -------
    ConvergenceResult
        Errors per width and seed, their power-law fits, the limit and the cost.

    Raises
    ------
    ConfigError
        If ``out`` is a file or its ``study.json`` belongs to a different study.
    DivergenceError
        If finite-network runs diverge (the message names each ``N`` and seed).
    StudyError
        If runs fail otherwise (named by ``N`` and seed; every finished run is
        kept in ``out`` and a new call resumes from them), or if another process
        holds the lock of ``out``.
    """
    from ..store import RunStore, provenance

    if not (isinstance(jobs, int) and jobs >= 1):
        raise ConfigError(f"`jobs` must be a positive integer, got {jobs!r}.")
    meta = provenance(seeds=(*study.seeds, study.limit_seed))
    with _blas(blas_threads):
        if out is None:
            return _run_study(study, None, meta, jobs, progress, executor, retries)
        with RunStore(out, study.fingerprint(), state=study.to_state(), meta=meta) as store:
            return _run_study(study, store, meta, jobs, progress, executor, retries)


def _run_study(study: ConvergenceStudy, store, meta: dict, jobs, progress, executor, retries
               ) -> ConvergenceResult:
    problem = study.problem
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    # The runs need only the evaluation histories. Exact ones are known before the limit is
    # solved, so with workers the limit (and its depth check) is solved while the first run
    # trains (execute's `meanwhile`); sampled ones come from the limit's seed: solved first.
    overlap = (isinstance(study.histories, str) and study.histories == "exact"
               and (executor is not None or jobs > 1))
    limit: dict = {}

    def solve_limit_and_depth() -> None:
        t_limit = t0 = time.perf_counter()
        sol = _solve(study, progress)
        suffix = "_during_runs_s" if overlap else "_s"
        timings["limit" + suffix] = time.perf_counter() - t0
        disc = dict(sol.discretisation)
        if study.depth_check:
            t0 = time.perf_counter()
            disc["depth_error"] = depth_error(study, sol, progress)
            timings["depth_check" + suffix] = time.perf_counter() - t0
        limit.update(sol=sol, disc=disc, time=time.perf_counter() - t_limit)

    if overlap:
        H = exact_histories(problem.chain, problem.depth)
    else:
        solve_limit_and_depth()
        H = limit["sol"].histories
    times = study.times

    t0 = time.perf_counter()
    tasks = [(n, s) for n in sorted(study.n_units, reverse=True) for s in study.seeds]
    done: dict[tuple[int, int], dict] = {}
    run_dir = store.runs if store is not None else None
    if store is not None:
        for key in tasks:
            run = store.load(key)
            if run is not None:
                done[key] = run
    todo = [t for t in tasks if t not in done]
    timings["resume_s"] = time.perf_counter() - t0

    computed: set[tuple[int, int]] = set()

    def record(key, value):
        done[key] = value
        computed.add(key)
        if store is not None:
            store.save(key, value)

    bars: list = []

    def open_bar() -> None:  # after the limit's own bar, so that the two never interleave
        bars.append(progress_bar(total=len(tasks), desc="finite networks", show=progress,
                                 unit="run"))
        bars[0].update(len(tasks) - len(todo))

    def meanwhile() -> None:
        solve_limit_and_depth()
        open_bar()

    if not overlap:
        open_bar()
    # everything but (N, seed) is shared by the runs: scattered once to Dask workers
    shared = (problem, times, H.values, study.tracking_samples, study.backend)
    t0 = time.perf_counter()
    try:
        failures = execute(
            _finite_run, todo, shared, lambda key: key, record, jobs=jobs, executor=executor,
            retries=retries, advance=lambda: bars[0].update(),
            meanwhile=meanwhile if overlap else None)
    finally:
        for bar in bars:
            bar.close()
    timings["runs_s"] = time.perf_counter() - t0
    sol, disc, limit_time = limit["sol"], limit["disc"], limit["time"]
    if overlap and not np.array_equal(sol.histories.values, H.values):  # pragma: no cover
        raise StudyError("the limit was solved on other histories than the runs were evaluated "
                         "on; run with jobs=1.")
    H = sol.histories
    if failures:
        names = "; ".join(f"N={n}, seed={s}: {type(e).__name__}: {e}"
                          for (n, s), e in sorted(failures.items()))
        where = f"; the {len(done)} finished runs are in {run_dir}" if run_dir else ""
        cls = DivergenceError if all(isinstance(e, DivergenceError)
                                     for e in failures.values()) else StudyError
        raise cls(f"{len(failures)} of {len(tasks)} runs failed ({names}){where}.")

    t0 = time.perf_counter()
    nN, nS = len(study.n_units), len(study.seeds)
    metrics = study.metrics
    errors = {m.name: np.full((nN, nS), np.nan) for m in metrics}
    walls = np.full((nN, nS), np.nan)
    compiles = np.full((nN, nS), np.nan)
    finite_loss = np.full((nN, nS, times.size), np.nan)
    net = problem.network
    own_start = net.beta == 0.5 and not net.prior.doubled
    pairs = _TrainingPairs(sol.flow) if H.indices is not None else None
    omega = H.weights
    curves = np.full((nN, nS, times.size), np.nan)
    finite_h = np.full((nN, nS, times.size, omega.size), np.nan)
    limit_h = np.full_like(finite_h, np.nan) if own_start else sol.h
    for i, n in enumerate(study.n_units):
        for j, s in enumerate(study.seeds):
            r = done[(n, s)]
            # at beta = 1/2 without doubling the limit starts from this network's h^N_0
            limit = sol.propagate(r["outputs"][0]) if own_start else sol
            run = RunData(n_units=n, seed=s, outputs=r["outputs"], limit=limit,
                          steps=r["steps"], predictions=r["predictions"], windows=r["windows"],
                          track_h0=r["track_h0"], own_start=own_start, pairs=pairs)
            for m in metrics:
                errors[m.name][i, j] = m(run)
            finite_loss[i, j] = run.finite_loss
            curves[i, j] = run.error_curve
            finite_h[i, j] = run.outputs
            if own_start:
                limit_h[i, j] = limit.h
            walls[i, j] = float(r["wall"])
            if (n, s) in computed:
                compiles[i, j] = float(r["compile"])
    fits = {m: fit_power_law(study.n_units, e, rng=study.limit_seed) for m, e in errors.items()}
    limit_error = float(sum(float(disc.get(k) or 0.0)
                            for k in ("quadrature_error", "depth_error", "monte_carlo_se")))
    timings["metrics_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    return ConvergenceResult(study=study, errors=errors, fits=fits, wall_times=walls,
                             limit_error=limit_error, limit_time=limit_time, times=times,
                             limit_loss=sol.loss, finite_loss=finite_loss,
                             limit_discretisation=disc, compile_times=compiles,
                             provenance=meta, timings=timings, error_curves=curves,
                             finite_h=finite_h, limit_h=limit_h, history_weights=omega,
                             limit=sol)
