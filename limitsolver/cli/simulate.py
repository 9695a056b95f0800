"""``limitsolver simulate``: finite networks trained online, an ensemble of seeds.

Writes ``simulation.npz``/``simulation.json`` (predictions, errors, parameter
snapshots, paths; :meth:`SimulationResult.load` reads them back),
``summary.json`` and ``loss.png`` (running loss of each seed against training time).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..config import problem_from_config
from ..errors import ConfigError
from ..io import save_figure, write_json
from ._defaults import problem_defaults

NAME = "simulate"
HELP = "simulate finite networks trained online by SGD on the chain (an ensemble of seeds)"

DEFAULTS: dict = {
    "problem": problem_defaults(),
    "simulate": {"n_units": 1024, "n_seeds": 4, "n_snapshots": 11, "backend": "auto"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def run(config: dict, args: argparse.Namespace) -> int:
    from ..simulation import simulate

    problem = problem_from_config(config["problem"])
    s = config["simulate"]
    n_units, n_seeds, n_snap = int(s["n_units"]), int(s["n_seeds"]), int(s["n_snapshots"])
    if n_seeds < 1 or n_snap < 2:
        raise ConfigError("`simulate.n_seeds` must be >= 1 and `simulate.n_snapshots` >= 2.")
    seeds = list(range(args.seed, args.seed + n_seeds))
    result = simulate(problem, n_units, seeds,
                      snapshot_times=np.linspace(0.0, problem.horizon, n_snap),
                      backend=s["backend"], progress=not args.quiet)
    print(result)
    final = result.running_loss[:, -1] if result.steps_done else np.full(len(seeds), np.nan)
    print(f"{'seed':>6}  {'final running loss':>18}")
    for seed, v in zip(seeds, final, strict=True):
        print(f"{seed:>6d}  {v:>18.6e}")
    result.save(args.out / "simulation")
    write_json(args.out / "summary.json", {
        "config": config, "n_units": n_units, "seeds": seeds, "n_steps": result.n_steps,
        "status": result.status, "backend": result.backend, "wall_time_s": result.wall_time,
        "final_running_loss": final,
    })
    from ..plotting import plot_running_loss

    save_figure(plot_running_loss(result), args.out / "loss.png")
    print(f"results in {args.out}")
    return 0 if result.success else 1
