r"""The headline ratio: predicting the :math:`N\to\infty` curve against training one finite network.

The convergence study of ``limitsolver converge`` compares finite networks of
width up to :math:`N = 32768` with the kernel limit of ``THEORY.md`` §3. This
benchmark times, in one process and one run:

* **limit**: :func:`limitsolver.limit.solve_limit` on the study's default problem
  (:func:`limitsolver.headline.headline_table` through
  :func:`limitsolver.config.problem_from_config`), exact histories, the study's
  Legendre rule of :math:`64\times 16` nodes and its time grid, :math:`h_0 = 0`
  (doubled initialisation). Three numbers: the curve alone
  (``error_estimate=False``); the curve with its quadrature refinement estimate
  (``error_estimate=True``, what the study runs); and the depth estimate
  (:func:`limitsolver.studies.convergence.depth_error`, one more level of memory).
  The study's stated accuracy of the limit is the sum of the two estimates, so
  *limit with error estimates* = second + third time.
* **finite**: one :func:`limitsolver.simulation.simulate` run of the same problem
  at the study's largest width with one seed, parameters stored at the study's
  times (backend ``"auto"``, as the study; numba compilation excluded by a small
  untimed run first).

The headline ratio is *finite / limit with error estimates*; *finite / curve
only* is printed beside it. For the accuracy at which the comparison is made,
the limit's error estimate of this run is set against the study's measured
``sup_l2`` error at that width, read from ``results/converge/summary.json`` when
it exists (say so otherwise); there the finite network is the *less* accurate
of the two by the printed factor.

Run ``python -m benchmarks.bench_headline [--quick] [--summary PATH]``; prints
the comparison and writes ``benchmarks/results/headline.json``. ``--quick``
times each limit solve once instead of taking the best of three.
Run alone, BLAS uses the environment's thread settings (set
``OPENBLAS_NUM_THREADS=1`` for one core); the suite sets one thread by default.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from limitsolver.io import read_json, write_json

__all__ = ["headline", "study_accuracy", "format_headline", "DEFAULT_SUMMARY", "main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "headline.json"
#: Where ``limitsolver converge`` writes its summary when run from the repository root.
DEFAULT_SUMMARY = ROOT / "results" / "converge" / "summary.json"


def study_accuracy(summary_path: str | Path | None, n_units: int) -> dict:
    """The study's ``sup_l2`` error at width ``n_units`` from a converge ``summary.json``.

    Returns
    -------
    dict
        ``available`` (bool) and either ``reason`` or ``path``, ``sup_l2_mean``,
        ``sup_l2_stderr``, ``limit_error`` (the study's own estimate),
        ``wall_time_s_mean`` at that width and ``limit_time_s`` (None when the
        summary lacks them), and ``same_problem`` (whether the summary's problem
        tables equal the current defaults).
    """
    from limitsolver.headline import headline_table as problem_defaults

    if summary_path is None:
        return {"available": False, "reason": "no summary path given"}
    path = Path(summary_path)
    if not path.is_file():
        return {"available": False,
                "reason": f"{path} not found (run `limitsolver converge` from the repository "
                          "root to produce it)"}
    try:
        s = read_json(path)
        widths = [int(n) for n in s["n_units"]]
        if int(n_units) not in widths:
            return {"available": False,
                    "reason": f"{path} has no width N = {n_units} (widths {widths})"}
        i = widths.index(int(n_units))
        m = s["metrics"]["sup_l2"]
        walls = np.asarray(s["wall_time_s"][i], dtype=float) if "wall_time_s" in s else None
        limit_time = s.get("limit_time_s")
        cfg = s.get("config") or {}
        return {"available": True, "path": str(path),
                "sup_l2_mean": float(m["mean"][i]), "sup_l2_stderr": float(m["stderr"][i]),
                "limit_error": float(s["limit_error"]),
                "limit_time_s": None if limit_time is None else float(limit_time),
                "wall_time_s_mean": float(np.mean(walls)) if walls is not None else None,
                "same_problem": cfg.get("problem") == problem_defaults()}
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return {"available": False, "reason": f"{path} could not be read ({exc})"}


def _best_of(fn, repeat: int):
    best, out = np.inf, None
    for _ in range(max(1, int(repeat))):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return float(best), out


def headline(*, n_units: int | None = None, grid: dict | None = None, seed: int = 0,
             repeat: int = 3, summary_path: str | Path | None = DEFAULT_SUMMARY,
             backend: str = "auto", show: bool = True) -> dict:
    r"""Time the limit solve and one finite-network run of the default convergence study.

    Parameters
    ----------
    n_units : int, optional
        Width of the finite network; default the study's largest (32768).
    grid : dict, optional
        Parameter rule of the limit; default the study's (64 x 16 Legendre).
    seed : int
        Seed of the finite run (and of the study object).
    repeat : int
        Each limit solve is timed ``repeat`` times and the best kept; the finite
        run is timed once.
    summary_path : path, optional
        A ``limitsolver converge`` summary for the accuracy context.
    backend : {"auto", "numba", "numpy"}
        Simulator backend of the finite run (``"auto"``, as the study).
    show : bool
        Print the comparison.

    Returns
    -------
    dict
        ``n_units``, ``grid``, ``M``, ``G``, ``seconds`` (``limit_curve``,
        ``limit_with_quadrature_estimate``, ``depth_estimate``,
        ``limit_with_error_estimates``, ``finite_run``), ``ratio`` (``headline`` =
        finite / limit with error estimates, ``curve_only`` = finite / curve),
        ``accuracy`` (this run's ``quadrature_error``, ``depth_error``,
        ``limit_error`` and ``memory_truncation_bound``, and ``study`` from
        :func:`study_accuracy`, with ``finite_over_limit_error`` when available),
        ``finite_backend`` and ``finite_steps``.
    """
    from limitsolver.cli.converge import DEFAULTS, study_from_config
    from limitsolver.limit import solve_limit
    from limitsolver.simulation import simulate
    from limitsolver.studies.convergence import depth_error

    config = copy.deepcopy(DEFAULTS)
    if grid is not None:
        config["study"]["grid"] = dict(grid)
    study = study_from_config(config, seed)
    problem = study.problem
    N = int(study.n_units[-1] if n_units is None else n_units)
    times = study.times

    def solve(error_estimate: bool, rule=None):
        return solve_limit(problem, histories=study.histories, times=times,
                           grid=dict(study.grid if rule is None else rule), h0="zero",
                           seed=study.limit_seed, error_estimate=error_estimate,
                           progress=False)

    # one-off costs (compilation, caches) of both sides are kept out of the timings
    solve(False, {"n_w": 4, "n_b": 2, "kind": "legendre"})
    simulate(problem, 16, [seed], snapshot_times=times, backend=backend, progress=False)

    t_curve, _ = _best_of(lambda: solve(False), repeat)
    t_quad, sol = _best_of(lambda: solve(True), repeat)
    t_depth, d_err = _best_of(lambda: depth_error(study, sol), repeat)
    t0 = time.perf_counter()
    res = simulate(problem, N, [seed], snapshot_times=times, backend=backend, progress=False)
    t_finite = time.perf_counter() - t0

    disc = sol.discretisation
    quad = float(disc["quadrature_error"])
    limit_error = quad + float(d_err)
    study_acc = study_accuracy(summary_path, N)
    if study_acc["available"]:
        study_acc["finite_over_limit_error"] = study_acc["sup_l2_mean"] / max(limit_error, 1e-300)
    t_limit = t_quad + t_depth
    out = {
        "n_units": N, "grid": dict(study.grid), "M": int(sol.histories.M), "G": int(sol.grid.G),
        "route": sol.diagnostics.get("route"), "repeat": int(repeat),
        "finite_backend": res.backend, "finite_steps": int(res.n_steps),
        "seconds": {"limit_curve": t_curve, "limit_with_quadrature_estimate": t_quad,
                    "depth_estimate": t_depth, "limit_with_error_estimates": t_limit,
                    "finite_run": t_finite},
        "ratio": {"headline": t_finite / t_limit, "curve_only": t_finite / t_curve},
        "accuracy": {"quadrature_error": quad, "depth_error": float(d_err),
                     "limit_error": limit_error,
                     "memory_truncation_bound": float(disc["memory_truncation_bound"]),
                     "study": study_acc},
    }
    if show:
        print(format_headline(out))
    return out


def format_headline(out: dict) -> str:
    """The comparison of :func:`headline` as text."""
    s, r, a = out["seconds"], out["ratio"], out["accuracy"]
    lines = [
        f"limit: M = {out['M']} exact histories, G = {out['G']} nodes ({out['route']})",
        f"  curve only                         {s['limit_curve']:>9.3g} s",
        f"  curve + quadrature estimate        {s['limit_with_quadrature_estimate']:>9.3g} s",
        f"  depth estimate                     {s['depth_estimate']:>9.3g} s",
        f"  limit with error estimates         {s['limit_with_error_estimates']:>9.3g} s",
        f"finite: N = {out['n_units']}, one seed, {out['finite_steps']} steps "
        f"({out['finite_backend']})  {s['finite_run']:>9.3g} s",
        f"headline: one finite run / limit with error estimates = {r['headline']:.3g}x "
        f"(/ curve only = {r['curve_only']:.3g}x)",
        f"limit error estimate {a['limit_error']:.2e} (quadrature {a['quadrature_error']:.2e}, "
        f"depth {a['depth_error']:.2e}; a priori memory bound "
        f"{a['memory_truncation_bound']:.2e})",
    ]
    st = a["study"]
    if st["available"]:
        note = "" if st["same_problem"] else " [summary is of a different problem]"
        lines.append(
            f"study error at N = {out['n_units']}: {st['sup_l2_mean']:.2e} ± "
            f"{st['sup_l2_stderr']:.1e} (sup_l2), {st['finite_over_limit_error']:.3g}x the "
            f"limit's error estimate{note}")
    else:
        lines.append(f"study error at N = {out['n_units']}: not available: {st['reason']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python -m benchmarks.bench_headline [--quick] [--summary PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time each limit solve once")
    parser.add_argument("--summary", type=Path, default=DEFAULT_SUMMARY,
                        help="summary.json of `limitsolver converge` (accuracy context)")
    args = parser.parse_args(argv)
    out = headline(repeat=1 if args.quick else 3, summary_path=args.summary)
    write_json(RESULTS, {**out, "quick": args.quick})
    return out


if __name__ == "__main__":
    main()
