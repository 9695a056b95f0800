r"""Convergence of finite networks to the kernel limit (``THEORY.md`` §3, §7).

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
    evaluated (Nyström) on the history the network saw;
``loss_gap``
    :math:`\sup_t |L^N_t - L_t|`, with
    :math:`L_t = \tfrac12\sum_m\omega_m (g(\xi_m) - h_t(\xi_m))^2`.

Each metric is fitted as :math:`e\approx C N^{-p}` with a bootstrap interval over
seeds (:func:`~limitsolver.studies.fit.fit_power_law`). Finite-network runs are
independent tasks executed by a process pool; each finished run is written
atomically under ``out/runs`` so an interrupted study resumes where it stopped.
When the initial output is not zero (:math:`\beta = 1/2` without doubling) the
limit of each seed starts from that seed's :math:`h^N_0` on the histories.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DivergenceError, StudyError
from ..io import read_json, to_jsonable, write_json, write_npz
from ..problem import Problem
from ..progress import progress as progress_bar
from .executors import execute
from .fit import PowerLawFit, fit_power_law

__all__ = ["ConvergenceStudy", "ConvergenceResult", "run_convergence", "depth_error", "METRICS"]

METRICS = ("sup_l2", "tracking", "loss_gap")


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

    @property
    def times(self) -> np.ndarray:
        """The time grid :math:`\\mathcal T`."""
        return np.linspace(0.0, self.problem.horizon, self.n_times)

    def fingerprint(self) -> str:
        """A hash of everything that determines the numbers (for resuming).

        Chains and targets are identified by what they do: a short path drawn
        with a fixed seed and the target's values along it.

        Returns
        -------
        str
            The first 16 hexadecimal digits of a SHA-256 digest of the network,
            horizon, time grid, histories, grid, tracking samples, limit seed and
            the probe path with the target's values on it.
        """
        probe = np.asarray(self.problem.chain.sample(64, 20261121, n_paths=2), dtype=float)
        values = np.asarray(self.problem.target.along_path(probe), dtype=float)
        text = json.dumps(to_jsonable({
            "network": repr(self.problem.network), "horizon": self.problem.horizon,
            "n_times": self.n_times, "histories": self.histories, "grid": self.grid,
            "tracking_samples": self.tracking_samples, "limit_seed": self.limit_seed,
        }), sort_keys=True)
        digest = hashlib.sha256(text.encode())
        digest.update(probe.tobytes())
        digest.update(values.tobytes())
        return digest.hexdigest()[:16]


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
        The fit :math:`e \approx C N^{-p}` of each metric over widths and seeds.
    wall_times : ndarray (len(n_units), len(seeds))
        Seconds per finite-network run.
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
    error_curves: np.ndarray | None = field(default=None, repr=False)
    finite_h: np.ndarray | None = field(default=None, repr=False)
    limit_h: np.ndarray | None = field(default=None, repr=False)
    history_weights: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_units(self) -> np.ndarray:
        """The widths :math:`N` of the study, in increasing order."""
        return np.asarray(self.study.n_units)

    def table(self, metric: str = "sup_l2") -> str:
        """The table N | mean ± standard error | seeds | wall time, and the fit.

        Parameters
        ----------
        metric : {"sup_l2", "tracking", "loss_gap"}, default "sup_l2"
            The metric to tabulate (see the module docstring).

        Returns
        -------
        str
            One line per width (mean over seeds, its standard error, number of
            finite seeds, mean wall time per run), then the fitted power law and
            the limit's discretisation error compared with the error at the
            largest width.
        """
        e = self.errors[metric]
        lines = [f"metric: {metric}",
                 f"{'N':>8}  {'mean error':>11}  {'std error':>10}  {'seeds':>5}  {'wall s/run':>10}"]
        for i, n in enumerate(self.study.n_units):
            row = e[i][np.isfinite(e[i])]
            se = row.std(ddof=1) / np.sqrt(row.size) if row.size > 1 else float("nan")
            lines.append(f"{n:>8d}  {row.mean():>11.4e}  {se:>10.2e}  {row.size:>5d}  "
                         f"{np.nanmean(self.wall_times[i]):>10.2f}")
        lines.append(f"fit: {self.fits[metric]}")
        lines.append(f"limit discretisation error ~ {self.limit_error:.2e} "
                     f"(error at N = {self.study.n_units[-1]}: {np.nanmean(e[-1]):.2e}, "
                     f"ratio {np.nanmean(e[-1]) / max(self.limit_error, 1e-300):.0f}x)")
        return "\n".join(lines)

    def summary(self) -> dict:
        """A JSON-ready summary.

        Returns
        -------
        dict
            Widths, seeds, the problem's ``repr``, per metric the mean and
            standard error per width with the fitted rate, its interval and
            constant, the limit's error, time and discretisation, and the wall
            times (arrays are left as numpy arrays; :func:`~limitsolver.io.write_json`
            converts them).
        """
        return {
            "n_units": list(self.study.n_units), "seeds": list(self.study.seeds),
            "problem": repr(self.study.problem),
            "metrics": {m: {"mean": np.nanmean(e, axis=1), "stderr": _stderr(e),
                            "rate": self.fits[m].rate, "rate_ci": list(self.fits[m].ci),
                            "constant": self.fits[m].constant}
                        for m, e in self.errors.items()},
            "limit_error": self.limit_error, "limit_time_s": self.limit_time,
            "limit_discretisation": self.limit_discretisation,
            "wall_time_s": self.wall_times,
        }


def _stderr(e: np.ndarray) -> np.ndarray:
    out = []
    for row in e:
        r = row[np.isfinite(row)]
        out.append(r.std(ddof=1) / np.sqrt(r.size) if r.size > 1 else np.nan)
    return np.asarray(out)


def _finite_run(problem: Problem, times: np.ndarray, eval_values: np.ndarray, n_track: int,
                backend: str, n: int, seed: int) -> dict:
    """One finite-network run: outputs on the evaluation histories and sampled online predictions."""
    from ..histories import path_windows
    from ..simulation import simulate

    t0 = time.perf_counter()
    res = simulate(problem, n, [seed], snapshot_times=times, progress=False, backend=backend)
    outputs = np.stack([res.output(eval_values, time=t)[0] for t in times])   # (n_times, M)
    K = res.n_steps
    steps = np.unique(np.linspace(0, K - 1, min(n_track, K)).astype(int))
    depth = eval_values.shape[1]
    path = res.paths[0]                       # (warmup + K, d)
    windows = path_windows(path, depth)       # window j ends at path index j + depth - 1
    offset = res.warmup - (depth - 1)
    track_windows = windows[steps + offset]
    return {"outputs": outputs, "steps": steps, "predictions": res.predictions[0, steps],
            "windows": track_windows, "track_h0": res.output(track_windows, time=0.0)[0],
            "n_steps": K, "wall": time.perf_counter() - t0}


def _solve(study: ConvergenceStudy, show, problem: Problem | None = None,
           error_estimate: bool = True):
    from ..limit import solve_limit

    return solve_limit(study.problem if problem is None else problem,
                       histories=study.histories, times=study.times, grid=dict(study.grid),
                       h0="zero", seed=study.limit_seed, progress=show,
                       error_estimate=error_estimate)


def depth_error(study: ConvergenceStudy, sol, show=None) -> float:
    r"""Memory-truncation error of ``sol`` estimated by one more level of depth.

    Solves again with the memory tolerance multiplied by :math:`\gamma` (window
    ``L + 1``) and returns :math:`\sup_t \|h^{(L+1)}_t - h^{(L)}_t\|_{L^2(\pi)}`,
    the shallow solution read on the deep histories truncated to ``L`` states.

    Parameters
    ----------
    study : ConvergenceStudy
        The study whose problem and limit discretisation are used.
    sol : LimitSolution
        The limit solved at the problem's depth ``L``.
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
    deep = _solve(study, show, deeper, error_estimate=False)
    L = sol.histories.depth
    shallow_on_deep = sol.evaluate(deep.histories.values[:, :L], times=study.times)
    diff = (deep.h - shallow_on_deep) ** 2 @ deep.histories.weights
    return float(np.sqrt(diff.max()))


def run_convergence(study: ConvergenceStudy, *, jobs: int = 1, out: str | Path | None = None,
                    progress: bool | None = None, executor=None, retries: int = 2
                    ) -> ConvergenceResult:
    """Run a convergence study; resume from ``out`` when it holds finished runs.

    Parameters
    ----------
    study : ConvergenceStudy
        Problem, widths, seeds and limit discretisation.
    jobs : int
        Worker processes (ignored when ``executor`` is given).
    out : path, optional
        Directory for finished runs (``runs/N{N}_seed{seed}.npz``), written atomically.
    progress : bool, optional
        Progress bar over finished runs (default: when stderr is a terminal).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where the runs execute; default a process pool of ``jobs`` workers. With
        a Dask client the problem and the evaluation histories are scattered to
        the workers once and each run is a task (see
        :func:`~limitsolver.studies.executors.execute`).
    retries : int
        Dask only: retries of a run whose task raised.

    Returns
    -------
    ConvergenceResult
        Errors per width and seed, their power-law fits, the limit and the cost.

    Raises
    ------
    ConfigError
        If ``out`` holds runs of a different study (another fingerprint).
    DivergenceError
        If finite-network runs diverge (the message names each ``N`` and seed).
    StudyError
        If runs fail otherwise (named by ``N`` and seed); every finished run is
        kept in ``out`` and a new call resumes from them.
    """
    problem = study.problem
    t0 = time.perf_counter()
    sol = _solve(study, progress)
    disc = dict(sol.discretisation)
    if study.depth_check:
        disc["depth_error"] = depth_error(study, sol, progress)
    limit_time = time.perf_counter() - t0
    H = sol.histories
    omega = H.weights
    g = sol.g
    times = study.times

    run_dir = None
    if out is not None:
        out = Path(out)
        run_dir = out / "runs"
        stamp = out / "study.json"
        fp = study.fingerprint()
        if stamp.exists() and read_json(stamp).get("fingerprint") != fp:
            raise ConfigError(
                f"`out` directory {out} holds runs of a different study; choose another `--out` "
                f"or remove it."
            )
        write_json(stamp, {"fingerprint": fp, "n_units": study.n_units, "seeds": study.seeds})

    tasks = [(n, s) for n in sorted(study.n_units, reverse=True) for s in study.seeds]
    done: dict[tuple[int, int], dict] = {}
    if run_dir is not None:
        for n, s in tasks:
            f = run_dir / f"N{n}_seed{s}.npz"
            if f.exists():
                with np.load(f) as z:
                    done[(n, s)] = {k: z[k] for k in z.files}
    todo = [t for t in tasks if t not in done]

    def record(key, value):
        done[key] = value
        if run_dir is not None:
            write_npz(run_dir / f"N{key[0]}_seed{key[1]}.npz", **value)

    bar = progress_bar(total=len(tasks), desc="finite networks", show=progress, unit="run")
    bar.update(len(tasks) - len(todo))
    # everything but (N, seed) is shared by the runs: scattered once to Dask workers
    shared = (problem, times, H.values, study.tracking_samples, study.backend)
    failures = execute(
        _finite_run, todo, shared, lambda key: key, record,
        jobs=jobs, executor=executor, retries=retries, advance=bar.update)
    bar.close()
    if failures:
        names = "; ".join(f"N={n}, seed={s}: {type(e).__name__}: {e}"
                          for (n, s), e in sorted(failures.items()))
        where = f"; the {len(done)} finished runs are in {run_dir}" if run_dir else ""
        cls = DivergenceError if all(isinstance(e, DivergenceError)
                                     for e in failures.values()) else StudyError
        raise cls(f"{len(failures)} of {len(tasks)} runs failed ({names}){where}.")

    nN, nS = len(study.n_units), len(study.seeds)
    errors = {m: np.full((nN, nS), np.nan) for m in METRICS}
    walls = np.full((nN, nS), np.nan)
    finite_loss = np.full((nN, nS, times.size), np.nan)
    net = problem.network
    own_start = net.beta == 0.5 and not net.prior.doubled
    curves = np.full((nN, nS, times.size), np.nan)
    finite_h = np.full((nN, nS, times.size, omega.size), np.nan)
    limit_h = np.full_like(finite_h, np.nan) if own_start else sol.h
    for i, n in enumerate(study.n_units):
        for j, s in enumerate(study.seeds):
            r = done[(n, s)]
            hN = r["outputs"]
            # at beta = 1/2 without doubling the limit starts from this network's h^N_0
            sol_s = sol.propagate(hN[0]) if own_start else sol
            h_limit = sol_s.h
            curves[i, j] = np.sqrt(((hN - h_limit) ** 2) @ omega)
            errors["sup_l2"][i, j] = curves[i, j].max()
            finite_h[i, j] = hN
            if own_start:
                limit_h[i, j] = h_limit
            finite_loss[i, j] = 0.5 * ((g[None, :] - hN) ** 2) @ omega
            errors["loss_gap"][i, j] = np.abs(finite_loss[i, j] - sol_s.loss).max()
            t_track = r["steps"] / n
            h_track = sol_s.evaluate(r["windows"], times=t_track,
                                     h0_new=r["track_h0"] if own_start else None)
            errors["tracking"][i, j] = np.sqrt(np.mean(
                (r["predictions"] - np.diagonal(h_track)) ** 2))
            walls[i, j] = float(r["wall"])
    fits = {m: fit_power_law(study.n_units, e, rng=study.limit_seed) for m, e in errors.items()}
    limit_error = float(sum(float(disc.get(k) or 0.0)
                            for k in ("quadrature_error", "depth_error", "monte_carlo_se")))
    return ConvergenceResult(study=study, errors=errors, fits=fits, wall_times=walls,
                             limit_error=limit_error, limit_time=limit_time, times=times,
                             limit_loss=sol.loss, finite_loss=finite_loss,
                             limit_discretisation=disc, error_curves=curves, finite_h=finite_h,
                             limit_h=limit_h, history_weights=omega)
