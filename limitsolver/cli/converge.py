r"""``limitsolver converge``: finite networks against the kernel limit, with fitted rates.

With no arguments it runs the headline study, :func:`limitsolver.headline.headline_study`:
a two-state chain, a linear memory target, tanh, doubled initialisation, beta = 1/2,
rtrl, widths 128 to 32768 and 8 seeds (:data:`~limitsolver.headline.HEADLINE_STUDY`,
not the smaller defaults of :class:`~limitsolver.studies.convergence.ConvergenceStudy`).
It prints the table and the fit, and writes under ``--out``: ``summary.json``,
``errors.npz``, ``runs/`` (one file per finished run; rerunning resumes) and the
figures ``convergence.png`` (rates, bootstrap bands, local orders),
``trajectories.png`` (:math:`h^N_t` against :math:`h_t` on a few histories),
``errors_in_time.png`` (errors and :math:`\sqrt N`-rescaled errors over time) and
``loss_curves.png``.
"""

from __future__ import annotations

import argparse
import time

from ..headline import headline_study
from . import add_jobs_argument, subcommand_check
from ._options import StudyOptions, problem_and_options, problem_defaults

NAME = "converge"
HELP = "convergence study: finite networks at several widths and seeds against the kernel limit"
EXAMPLE = "study.n_seeds=4"

DEFAULTS: dict = problem_defaults(StudyOptions, "study")
"""The headline study (:mod:`limitsolver.headline`): its problem and :class:`StudyOptions`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--jobs``, ``--metric`` and ``--scheduler``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    add_jobs_argument(parser)
    parser.add_argument("--metric", default="sup_l2", choices=("sup_l2", "tracking", "loss_gap"),
                        help="metric shown first in the table (all are computed)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run the finite networks on a Dask cluster, e.g. tcp://host:8786 "
                             "(needs `pip install \"dask[distributed]\"`)")
    parser.add_argument("--scheduler-timeout", metavar="SECONDS", type=float, default=10.0,
                        help="seconds to keep trying to reach the scheduler (default 10)")


def study_from_config(config: dict, seed: int):
    """Build the :class:`~limitsolver.studies.convergence.ConvergenceStudy` of a configuration.

    Parameters
    ----------
    config : dict
        Tables ``problem`` and ``study`` (see :data:`DEFAULTS`).
    seed : int
        Base seed (``--seed``).

    Returns
    -------
    ConvergenceStudy
        :func:`~limitsolver.headline.headline_study` with the configuration's
        problem and study keys.

    Raises
    ------
    ConfigError
        For a bad key or value, naming it.
    """
    problem, s = problem_and_options(config, StudyOptions, "study")
    return headline_study(seed, problem=problem, n_units=s.n_units, n_seeds=s.n_seeds,
                          n_times=s.n_times, histories=s.histories, grid=s.grid.as_dict(),
                          tracking_samples=s.tracking_samples)


@subcommand_check
def check(config: dict, args: argparse.Namespace):
    """Build the study (seeded by ``--seed``), refusing a bad configuration before any work.

    Returns
    -------
    ConvergenceStudy
        The study.
    """
    return study_from_config(config, args.seed)


def run(config: dict, args: argparse.Namespace) -> int:
    """Run the study, print the tables and write the outputs under ``args.out``.

    Parameters
    ----------
    config : dict
        The effective configuration.
    args : argparse.Namespace
        The parsed command line (``seed``, ``jobs``, ``out``, ``progress``,
        ``metric``, ``scheduler``).

    Returns
    -------
    int
        Exit status 0.
    """
    from ..io import save_figure
    from ..plotting import (
        plot_convergence,
        plot_error_curves,
        plot_fluctuations,
        plot_loss_curves,
        plot_predicted_errors,
        plot_trajectories,
    )
    from ..studies.convergence import METRICS, TABLE_COLUMNS, run_convergence
    from ..studies.prediction import (
        compare_with_prediction,
        predict_study,
        prediction_applies,
        prediction_columns,
    )

    study = study_from_config(config, args.seed)
    client = None
    if getattr(args, "scheduler", None):
        from ..studies.executors import connect

        client = connect(args.scheduler, timeout=getattr(args, "scheduler_timeout", 10.0))
    t0 = time.perf_counter()
    try:
        result = run_convergence(study, jobs=args.jobs, out=args.out, progress=args.progress,
                                 executor=client)
    finally:
        if client is not None:
            client.close()
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    prediction = predict_study(study, result, seed=args.seed, progress=args.progress)
    predict_time = time.perf_counter() - t1
    columns = prediction_columns(prediction) if prediction is not None else TABLE_COLUMNS
    order = [args.metric] + [m for m in METRICS if m != args.metric]
    for m in order:
        predicted = prediction is not None and m in prediction.constants
        print(result.table(m, columns if predicted else TABLE_COLUMNS))
        print()
    if prediction is not None:
        print(f"predicted: sqrt(N) * error -> C from the fluctuation limit (kernel randomness "
              f"+ data noise, {prediction.diagnostics['n_samples']} sample paths; "
              f"{predict_time:.1f} s, no network trained)")
    else:
        print(f"no fluctuation prediction: {prediction_applies(study)}")
    print(f"limit solved in {result.limit_time:.1f} s; study wall time {wall:.1f} s; "
          f"results in {args.out}")
    if result.compile_time > 0:
        print(f"step-loop compilation {result.compile_time:.1f} s in total over the worker "
              f"processes (not in the wall s/run column)")
    extra = {"config": config, "wall_time_total_s": wall}
    if prediction is not None:
        extra["prediction"] = {
            "constants": prediction.constants, "constants_se": prediction.constants_se,
            "kernel": prediction.kernel, "data": prediction.data, "times": prediction.times,
            "wall_time_s": predict_time,
            "comparison": {m: compare_with_prediction(result, prediction, m).to_dict()
                           for m in prediction.constants},
        }
    result.save(args.out, extra=extra)
    if prediction is not None:
        save_figure(plot_predicted_errors(compare_with_prediction(result, prediction)),
                    args.out / "predicted_errors.png")
        save_figure(plot_fluctuations(prediction), args.out / "fluctuations.png")
    save_figure(plot_convergence(result), args.out / "convergence.png")
    save_figure(plot_trajectories(result), args.out / "trajectories.png")
    save_figure(plot_error_curves(result), args.out / "errors_in_time.png")
    save_figure(plot_loss_curves(result), args.out / "loss_curves.png")
    return 0
