"""``limitsolver solve``: the kernel limit of one problem.

Writes ``summary.json`` (loss curve, discretisation and its error estimates,
leading kernel eigenvalues), ``solution.npz`` (times, ``h_t`` on the
histories, weights, ``g``, spectrum) and ``limit.png`` (loss curve, ``h_t`` on a
few histories, kernel spectrum).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..io import save_figure, write_json, write_npz
from . import subcommand_check
from ._options import SolveOptions, problem_and_options, problem_defaults

NAME = "solve"
HELP = "solve the kernel limit equation of a problem and report its discretisation errors"
EXAMPLE = "problem.network.beta=0.6"

DEFAULTS: dict = problem_defaults(SolveOptions, "solve")
"""The headline problem (:mod:`limitsolver.headline`) and :class:`SolveOptions`."""


@subcommand_check
def check(config: dict, args: argparse.Namespace):
    """Build the problem and the options, refusing a bad configuration before any work.

    Returns
    -------
    tuple
        ``(problem, SolveOptions)``.
    """
    return problem_and_options(config, SolveOptions, "solve")


def run(config: dict, args: argparse.Namespace) -> int:
    from ..limit import solve_limit

    problem, s = check(config, args)
    times = np.linspace(0.0, problem.horizon, s.n_times)
    sol = solve_limit(problem, histories=s.histories, times=times, grid=s.grid.as_dict(),
                      h0=s.h0, seed=args.seed, method=s.method,
                      error_estimate=s.error_estimate, progress=args.progress)
    print(sol)
    print(f"{'t':>8}  {'L_t':>12}")
    for t, loss in list(zip(sol.times, sol.loss, strict=True))[:: max(1, sol.times.size // 10)]:
        print(f"{t:>8.3f}  {loss:>12.6e}")
    print("discretisation:", {k: v for k, v in sol.discretisation.items()})
    from ..store import provenance

    meta = provenance(problem=problem, seeds=[args.seed])
    write_json(args.out / "summary.json", meta=meta, obj={
        "config": config, "seed": args.seed, "problem_state": problem.to_state(),
        "times": sol.times, "loss": sol.loss,
        "discretisation": sol.discretisation, "spectrum_top": sol.spectrum[:20],
        "method": sol.method,
    })
    write_npz(args.out / "solution.npz", meta=meta, times=sol.times, h=sol.h, loss=sol.loss, g=sol.g,
              weights=sol.weights, histories=sol.histories.values, spectrum=sol.spectrum)
    from ..plotting import plot_limit

    save_figure(plot_limit(sol), args.out / "limit.png")
    print(f"results in {args.out}")
    return 0
