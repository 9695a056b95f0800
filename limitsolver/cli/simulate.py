"""``limitsolver simulate``: finite networks trained online, an ensemble of seeds.

Writes ``simulation.npz``/``simulation.json`` (predictions, errors, parameter
snapshots, paths; :meth:`SimulationResult.load` reads them back),
``summary.json`` and ``loss.png`` (running loss of each seed against training time).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import ConfigError
from ..io import save_figure, write_json
from . import subcommand_check
from ._options import SimulateOptions, problem_and_options, problem_defaults

NAME = "simulate"
HELP = "simulate finite networks trained online by SGD on the chain (an ensemble of seeds)"
EXAMPLE = "simulate.n_units=256"

DEFAULTS: dict = problem_defaults(SimulateOptions, "simulate")
"""The headline problem (:mod:`limitsolver.headline`) and :class:`SimulateOptions`."""


@subcommand_check
def check(config: dict, args: argparse.Namespace):
    """Build the problem and the options, refusing a bad configuration before any work.

    Returns
    -------
    tuple
        ``(problem, SimulateOptions)``.

    Raises
    ------
    ConfigError
        For a bad key or value, or an odd width with doubled initialisation.
    """
    problem, s = problem_and_options(config, SimulateOptions, "simulate")
    if problem.network.prior.doubled and s.n_units % 2:
        raise ConfigError(
            f"`simulate.n_units` must be even with doubled initialisation "
            f"(`problem.network.prior.doubled = true`), got {s.n_units}."
        )
    return problem, s


def run(config: dict, args: argparse.Namespace) -> int:
    from ..simulation import simulate

    problem, s = check(config, args)
    n_units = s.n_units
    seeds = list(range(args.seed, args.seed + s.n_seeds))
    result = simulate(problem, n_units, seeds,
                      snapshot_times=np.linspace(0.0, problem.horizon, s.n_snapshots),
                      backend=s.backend, progress=args.progress, unit_blocks=s.unit_blocks)
    print(result)
    final = result.running_loss[:, -1] if result.steps_done else np.full(len(seeds), np.nan)
    print(f"{'seed':>6}  {'final running loss':>18}")
    for seed, v in zip(seeds, final, strict=True):
        print(f"{seed:>6d}  {v:>18.6e}")
    result.save(args.out / "simulation")
    from ..store import provenance

    write_json(args.out / "summary.json", meta=provenance(problem=problem, seeds=seeds), obj={
        "config": config, "problem_state": problem.to_state(), "n_units": n_units,
        "seeds": seeds, "n_steps": result.n_steps,
        "status": result.status, "backend": result.backend, "unit_blocks": result.unit_blocks,
        "wall_time_s": result.wall_time,
        "final_running_loss": final,
    })
    from ..plotting import plot_running_loss

    save_figure(plot_running_loss(result), args.out / "loss.png")
    print(f"results in {args.out}")
    return 0 if result.success else 1
