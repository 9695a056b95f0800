"""``limitsolver converge``: finite networks against the kernel limit, with fitted rates.

With no arguments it runs the headline study: a two-state chain, a linear
memory target, tanh, doubled initialisation, beta = 1/2, rtrl, widths 128 to
32768 and 8 seeds. It prints the table and the fit, and writes under ``--out``:
``summary.json``, ``errors.npz``, ``convergence.png``, ``loss_curves.png`` and
``runs/`` (one file per finished run; rerunning resumes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..config import problem_from_config
from ..errors import ConfigError
from ..io import write_json, write_npz
from ._defaults import GRID, problem_defaults

NAME = "converge"
HELP = "convergence study: finite networks at several widths and seeds against the kernel limit"

DEFAULTS: dict = {
    "problem": problem_defaults(),
    "study": {
        "n_units": [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768],
        "n_seeds": 8,
        "n_times": 6,
        "histories": "exact",
        "tracking_samples": 256,
        "grid": dict(GRID),
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", default="sup_l2", choices=("sup_l2", "tracking", "loss_gap"),
                        help="metric shown first in the table (all are computed)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run the finite networks on a Dask cluster, e.g. tcp://host:8786 "
                             "(needs `pip install \"limitsolver[dask]\"`)")
    parser.add_argument("--scheduler-timeout", metavar="SECONDS", type=float, default=10.0,
                        help="seconds to keep trying to reach the scheduler (default 10)")


def study_from_config(config: dict, seed: int):
    """Build a :class:`ConvergenceStudy` from the configuration tables."""
    from ..studies.convergence import ConvergenceStudy

    problem = problem_from_config(config["problem"])
    s = config["study"]
    n_seeds = int(s["n_seeds"])
    if n_seeds < 2:
        raise ConfigError(f"`study.n_seeds` must be at least 2, got {n_seeds}.")
    histories = s["histories"]
    if not (histories == "exact" or (isinstance(histories, int) and histories > 0)):
        raise ConfigError(f"`study.histories` must be \"exact\" or a positive integer, got {histories!r}.")
    try:
        return ConvergenceStudy(
            problem=problem, n_units=tuple(s["n_units"]),
            seeds=tuple(range(seed, seed + n_seeds)), n_times=int(s["n_times"]),
            histories=histories, grid=dict(s["grid"]),
            tracking_samples=int(s["tracking_samples"]), limit_seed=seed,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"`study`: {exc}") from exc


def run(config: dict, args: argparse.Namespace) -> int:
    from ..io import save_figure
    from ..plotting import plot_convergence, plot_loss_curves
    from ..studies.convergence import METRICS, run_convergence

    study = study_from_config(config, args.seed)
    client = None
    if getattr(args, "scheduler", None):
        from ..studies.executors import connect

        client = connect(args.scheduler, timeout=getattr(args, "scheduler_timeout", 10.0))
    t0 = time.perf_counter()
    try:
        result = run_convergence(study, jobs=args.jobs, out=args.out, progress=not args.quiet,
                                 executor=client)
    finally:
        if client is not None:
            client.close()
    wall = time.perf_counter() - t0
    order = [args.metric] + [m for m in METRICS if m != args.metric]
    for m in order:
        print(result.table(m))
        print()
    print(f"limit solved in {result.limit_time:.1f} s; study wall time {wall:.1f} s; "
          f"results in {args.out}")
    summary = result.summary()
    summary["config"] = config
    summary["wall_time_total_s"] = wall
    write_json(args.out / "summary.json", summary)
    write_npz(args.out / "errors.npz", n_units=np.asarray(study.n_units),
              seeds=np.asarray(study.seeds), times=result.times, limit_loss=result.limit_loss,
              finite_loss=result.finite_loss, wall_times=result.wall_times,
              **{f"error_{m}": e for m, e in result.errors.items()})
    save_figure(plot_convergence(result), args.out / "convergence.png")
    save_figure(plot_loss_curves(result), args.out / "loss_curves.png")
    return 0
