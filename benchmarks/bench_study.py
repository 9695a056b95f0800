r"""Study overhead: the share of the headline study's wall time spent outside the training runs.

Runs the headline study as ``limitsolver converge`` does (its default
configuration, :func:`limitsolver.cli.converge.run` in this process, with
``jobs`` workers, default the number of cores, as the command): the study, the
fluctuation prediction of its predicted columns, the tables, ``summary.json``,
``errors.npz`` and the figures. From the command's wall time :math:`t_{\mathrm{total}}`
and the phases the study records (:attr:`limitsolver.studies.ConvergenceResult.timings`):

* **overhead** :math:`= 1 - t_{\mathrm{runs}}/t_{\mathrm{total}}`, everything
  but the finite-network runs: the limit solve with its quadrature estimate, the
  depth check, resuming, the metrics and fits, the prediction, the tables and
  files; target below 0.10;
* **study overhead**, the same within :func:`~limitsolver.studies.run_convergence`
  alone (without the prediction, tables and files);
* the wall time split by phase, each as a fraction of :math:`t_{\mathrm{total}}`
  (the fractions add up to 1; ``other`` is the study's time between its
  phases, ``output`` what follows the study and the prediction: tables, files
  and figures).

Every number is a ratio of times measured in this run. ``--quick`` uses widths
128 to 2048 and 4 seeds (the limit is the headline's: the overhead is then a
larger share than in the full study, an upper bound for it). Interpreter start-up
and imports (about a second) are not in the command's time.

Run ``python -m benchmarks.bench_study [--quick]``; prints the ratios and writes
``benchmarks/results/study.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from limitsolver.io import read_json, write_json

__all__ = ["study_overhead", "main"]

RESULTS = Path(__file__).resolve().parent / "results" / "study.json"
QUICK = {"n_units": [128, 256, 512, 1024, 2048], "n_seeds": 4}


def study_overhead(*, quick: bool = True, jobs: int | None = None,
                   study_options: dict | None = None,
                   network_options: dict | None = None) -> dict:
    """Run the headline command once and return its phase times as fractions of its wall time.

    Parameters
    ----------
    quick : bool
        Smaller widths and fewer seeds (:data:`QUICK`).
    jobs : int, optional
        Worker processes (default ``os.cpu_count()``).
    study_options : dict, optional
        Entries replacing those of the ``[study]`` table (e.g. a tiny grid in tests).
    network_options : dict, optional
        Entries replacing those of the ``[problem.network]`` table.

    Returns
    -------
    dict
        ``overhead`` (fraction of the command's wall time outside the runs),
        ``study_overhead`` (the same within the study alone), ``fractions`` and
        ``seconds`` per phase (``limit``, ``depth_check``, ``resume``, ``runs``,
        ``metrics``, ``other`` (the study's time between those), ``prediction``,
        ``output``), ``during_runs_s`` (the phases run while the first run trains:
        with workers, the limit and its depth check), ``wall_time_s``, ``timings_s``
        (the study's own record), ``n_units``, ``n_seeds``, ``quick`` and ``jobs``.
    """
    from limitsolver.cli import converge

    config = copy.deepcopy(converge.DEFAULTS)
    if quick:
        config["study"].update(QUICK)
    config["study"].update(study_options or {})
    config["problem"]["network"].update(network_options or {})
    study = converge.study_from_config(config, 0)
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as out:
        args = argparse.Namespace(seed=0, jobs=jobs, out=Path(out), progress=False,
                                  metric="sup_l2", scheduler=None)
        printed = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(printed):
            converge.run(config, args)
        wall = time.perf_counter() - t0
        summary = read_json(Path(out) / "summary.json")
    timings = summary["timings_s"]
    # with workers the limit and its depth check run while the first run trains: they
    # take no wall time of their own (listed apart, not in the partition)
    during = {k.removesuffix("_during_runs_s"): v for k, v in timings.items()
              if k.endswith("_during_runs_s")}
    seconds = {k.removesuffix("_s"): v for k, v in timings.items()
               if k != "total_s" and not k.endswith("_during_runs_s")}
    seconds["other"] = timings["total_s"] - sum(seconds.values())    # between the phases
    seconds["prediction"] = float((summary.get("prediction") or {}).get("wall_time_s", 0.0))
    seconds["output"] = wall - timings["total_s"] - seconds["prediction"]
    return {"overhead": 1.0 - timings["runs_s"] / wall,
            "study_overhead": 1.0 - timings["runs_s"] / timings["total_s"],
            "fractions": {k: v / wall for k, v in seconds.items()}, "seconds": seconds,
            "during_runs_s": during,
            "wall_time_s": wall, "timings_s": timings, "n_units": list(study.n_units),
            "n_seeds": len(study.seeds), "quick": quick, "jobs": jobs}


def format_overhead(res: dict) -> str:
    """Lines: the overhead against its 10 % target, then each phase's share.

    Parameters
    ----------
    res : dict
        The output of :func:`study_overhead`.

    Returns
    -------
    str
    """
    lines = [f"headline study overhead (all but the training runs): {100 * res['overhead']:.1f} % "
             f"of the {res['wall_time_s']:.1f} s of `limitsolver converge` (target < 10 %; "
             f"widths {res['n_units'][0]}..{res['n_units'][-1]}, {res['n_seeds']} seeds, "
             f"{res['jobs']} workers)",
             f"  within run_convergence alone: {100 * res['study_overhead']:.1f} %"]
    for k, v in res["fractions"].items():
        lines.append(f"  {k:<12} {100 * v:6.1f} %  {res['seconds'][k]:8.2f} s")
    for k, v in res.get("during_runs_s", {}).items():
        lines.append(f"  {k:<12} while the first run trains: {v:.2f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m benchmarks.bench_study [--quick]``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="widths 128..2048, 4 seeds")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    args = p.parse_args(argv)
    res = study_overhead(quick=args.quick, jobs=args.jobs)
    print(format_overhead(res))
    write_json(RESULTS, res)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
