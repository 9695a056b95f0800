r"""Study overhead: the share of a convergence study's wall time spent outside the training runs.

Runs the headline study of ``limitsolver converge`` (its default configuration
through :func:`limitsolver.cli.converge.study_from_config`) in this process with
``jobs`` workers (default: the number of cores, as the command) and reads :attr:`limitsolver.studies.ConvergenceResult.timings`:

* **overhead** :math:`= 1 - t_{\mathrm{runs}}/t_{\mathrm{total}}`, everything
  but the finite-network runs (the limit solve with its quadrature estimate, the
  depth check, resuming, the metrics and fits), target below 0.10;
* the same time split by phase, each as a fraction of the total.

Every number is a ratio of times measured in this run. ``--quick`` uses widths
128 to 2048 and 4 seeds (the limit is the headline's: the overhead is then a
larger share than in the full study, an upper bound for it).

Run ``python -m benchmarks.bench_study [--quick]``; prints the ratios and writes
``benchmarks/results/study.json``.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from limitsolver.io import write_json

__all__ = ["study_overhead", "main"]

RESULTS = Path(__file__).resolve().parent / "results" / "study.json"
QUICK = {"n_units": [128, 256, 512, 1024, 2048], "n_seeds": 4}


def study_overhead(*, quick: bool = True, jobs: int | None = None,
                   study_options: dict | None = None,
                   network_options: dict | None = None) -> dict:
    """Run the headline study once and return its phase times as fractions of the total.

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
        ``overhead`` (fraction outside the runs), ``fractions`` per phase,
        ``timings_s`` (seconds, for the record), ``n_units`` and ``n_seeds``.
    """
    from limitsolver.cli.converge import DEFAULTS, study_from_config
    from limitsolver.studies import run_convergence

    config = copy.deepcopy(DEFAULTS)
    if quick:
        config["study"].update(QUICK)
    config["study"].update(study_options or {})
    config["problem"]["network"].update(network_options or {})
    study = study_from_config(config, 0)
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as out:
        res = run_convergence(study, jobs=jobs, out=out, progress=False)
    total = res.timings["total_s"]
    fractions = {k.removesuffix("_s"): v / total for k, v in res.timings.items() if k != "total_s"}
    return {"overhead": res.overhead, "fractions": fractions, "timings_s": res.timings,
            "n_units": list(study.n_units), "n_seeds": len(study.seeds), "quick": quick,
            "jobs": jobs}


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
    lines = [f"study overhead (all but the training runs): {100 * res['overhead']:.1f} % of the "
             f"wall time (target < 10 %; widths {res['n_units'][0]}..{res['n_units'][-1]}, "
             f"{res['n_seeds']} seeds, {res['jobs']} workers)"]
    for k, v in res["fractions"].items():
        lines.append(f"  {k:<12} {100 * v:6.1f} %")
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
