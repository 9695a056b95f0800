"""``limitsolver fluctuations``: how large the finite-width error is, without training a network.

Prints the decomposition of the predicted error of the fluctuation limit (theory §8),
:math:`N\\,E\\|h^N_t - h_t\\|^2 \\to K_t + D_t` (kernel randomness and data noise), the
predicted constants of the sup metrics, and the width at which each target error is
reached. Writes ``summary.json`` (with the problem's state), ``fluctuations.npz`` and
``fluctuations.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np

from .._schema import AtLeast, table_class
from ..config import problem_from_config
from ..headline import HEADLINE_STUDY, headline_table
from ..io import save_figure, write_json, write_npz
from ._options import GridOptions, Positive, defaults_of, options

NAME = "fluctuations"
HELP = "predict the finite-width error of a problem (kernel randomness + data noise) and the width for a target error"
EXAMPLE = "fluctuations.n_samples=256"


@table_class
@dataclass(frozen=True)
class FluctuationOptions:
    """The ``[fluctuations]`` table of ``limitsolver fluctuations``.

    Parameters
    ----------
    n_times : int
        Points of the time grid on :math:`[0, T]` (the sup is over them).
    grid : GridOptions
        Quadrature rule of the limit.
    n_samples : int
        Sample paths of the Gaussian process (constants of the sup metrics).
    substeps : int
        Sub-intervals per time step of the data-noise term.
    epsilon : tuple of float
        Target errors for which the width is reported.
    """

    n_times: Annotated[int, AtLeast(2)] = HEADLINE_STUDY["n_times"]
    grid: GridOptions = field(default_factory=GridOptions)
    n_samples: Annotated[int, AtLeast(2)] = 512
    substeps: Positive = 2
    epsilon: tuple[float, ...] = (1e-2, 3e-3, 1e-3)


DEFAULTS: dict = {
    "problem": headline_table(),
    "fluctuations": defaults_of(FluctuationOptions),
}
"""The headline problem (:mod:`limitsolver.headline`) and :class:`FluctuationOptions`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """


def check(config: dict, args: argparse.Namespace):
    """Build the problem and the options, refusing a bad configuration before any work.

    Parameters
    ----------
    config : dict
        The effective configuration.
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    tuple
        ``(problem, FluctuationOptions)``.

    Raises
    ------
    ConfigError
        For a bad key or value, or a problem the prediction does not cover.
    """
    from ..errors import ConfigError

    problem = problem_from_config(config["problem"])
    s = options(FluctuationOptions, config, "fluctuations")
    if any(not (np.isfinite(e) and e > 0) for e in s.epsilon):
        raise ConfigError(f"`fluctuations.epsilon` must hold positive errors, got {s.epsilon}.")
    net = problem.network
    if net.beta != 0.5:
        raise ConfigError(f"`problem.network.beta` must be 0.5 for the prediction (the leading "
                          f"order at the kernel scaling), got {net.beta:g}.")
    if not hasattr(problem.chain, "P"):
        raise ConfigError("`problem.chain` must be a finite chain: the data-noise term needs "
                          "its exact histories.")
    return problem, s


def run(config: dict, args: argparse.Namespace) -> int:
    """Predict, print the decomposition and the widths, and write the outputs.

    Parameters
    ----------
    config : dict
        The effective configuration.
    args : argparse.Namespace
        The parsed command line (``seed``, ``out``, ``progress``).

    Returns
    -------
    int
        Exit status 0.
    """
    from ..limit import predict_fluctuations, solve_limit
    from ..limit.fluctuations import N_INITIAL_DRAWS, gaussian_initial_outputs
    from ..plotting import plot_fluctuations

    problem, s = check(config, args)
    times = np.linspace(0.0, problem.horizon, s.n_times)
    sol = solve_limit(problem, histories="exact", times=times, grid=s.grid.as_dict(),
                      h0="zero", error_estimate=False, progress=args.progress, seed=args.seed,
                      chunk_size=None)
    h0 = None
    if not problem.network.prior.doubled:
        # without doubling the limit starts from the network's initial output: average over
        # draws of the Gaussian process h_0 ~ N(0, Sigma)
        h0 = gaussian_initial_outputs(
            sol, N_INITIAL_DRAWS, np.random.default_rng(np.random.SeedSequence([args.seed, 1])))
    pred = predict_fluctuations(sol, h0=h0, n_samples=s.n_samples, substeps=s.substeps,
                                seed=args.seed, progress=args.progress)
    print(pred)
    print(f"{'t':>8}  {'K_t':>10}  {'D_t':>10}  {'K_t+D_t':>10}  {'rms*sqrtN':>10}")
    for t, k, d, tot in zip(pred.times, pred.kernel, pred.data, pred.total, strict=True):
        print(f"{t:>8.3f}  {k:>10.4e}  {d:>10.4e}  {tot:>10.4e}  {np.sqrt(tot):>10.4f}")
    for m, c in pred.constants.items():
        print(f"{m}: sqrt(N) * E[error] -> {c:.4f} ± {pred.constants_se[m]:.4f} "
              f"(Monte Carlo over {pred.diagnostics['n_samples']} paths)")
    print(f"{'epsilon':>10}  " + "  ".join(f"{'N for ' + m:>16}" for m in pred.constants))
    widths = {m: [pred.width_for(e, metric=m) for e in s.epsilon] for m in pred.constants}
    for i, e in enumerate(s.epsilon):
        print(f"{e:>10.3g}  " + "  ".join(f"{widths[m][i]:>16d}" for m in pred.constants))
    write_json(args.out / "summary.json", {
        "config": config, "seed": args.seed, "problem_state": problem.to_state(),
        "times": pred.times, "kernel": pred.kernel, "data": pred.data,
        "constants": pred.constants, "constants_se": pred.constants_se,
        "epsilon": list(s.epsilon), "width_for": widths, "diagnostics": pred.diagnostics,
    })
    write_npz(args.out / "fluctuations.npz", times=pred.times, kernel=pred.kernel,
              data=pred.data, per_history=pred.per_history, weights=pred.weights,
              histories=sol.histories.values)
    save_figure(plot_fluctuations(pred), args.out / "fluctuations.png")
    print(f"results in {args.out}")
    return 0
