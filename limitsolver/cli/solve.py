"""``limitsolver solve``: the kernel limit of one problem.

Writes ``summary.json`` (loss curve, discretisation and its error estimates,
leading kernel eigenvalues), ``solution.npz`` (times, ``h_t`` on the
histories, weights, ``g``, spectrum) and ``limit.png`` (loss curve, ``h_t`` on a
few histories, kernel spectrum).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..config import problem_from_config
from ..errors import ConfigError
from ..io import save_figure, write_json, write_npz
from ._defaults import GRID, problem_defaults

NAME = "solve"
HELP = "solve the kernel limit equation of a problem and report its discretisation errors"

DEFAULTS: dict = {
    "problem": problem_defaults(),
    "solve": {"histories": "exact", "n_times": 101, "method": "spectral", "grid": dict(GRID),
              "h0": "auto", "error_estimate": True},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(config: dict, args: argparse.Namespace) -> int:
    from ..limit import solve_limit

    problem = problem_from_config(config["problem"])
    s = config["solve"]
    if int(s["n_times"]) < 2:
        raise ConfigError(f"`solve.n_times` must be at least 2, got {s['n_times']}.")
    times = np.linspace(0.0, problem.horizon, int(s["n_times"]))
    sol = solve_limit(problem, histories=s["histories"], times=times, grid=dict(s["grid"]),
                      h0=s["h0"], seed=args.seed, method=s["method"],
                      error_estimate=bool(s["error_estimate"]), progress=not args.quiet)
    print(sol)
    print(f"{'t':>8}  {'L_t':>12}")
    for t, loss in list(zip(sol.times, sol.loss, strict=True))[:: max(1, sol.times.size // 10)]:
        print(f"{t:>8.3f}  {loss:>12.6e}")
    print("discretisation:", {k: v for k, v in sol.discretisation.items()})
    write_json(args.out / "summary.json", {
        "config": config, "times": sol.times, "loss": sol.loss,
        "discretisation": sol.discretisation, "spectrum_top": sol.spectrum[:20],
        "method": sol.method,
    })
    write_npz(args.out / "solution.npz", times=sol.times, h=sol.h, loss=sol.loss, g=sol.g,
              weights=sol.weights, histories=sol.histories.values, spectrum=sol.spectrum)
    from ..plotting import plot_limit

    save_figure(plot_limit(sol), args.out / "limit.png")
    print(f"results in {args.out}")
    return 0
