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
from ..headline import headline_table
from ..io import save_figure, write_json, write_npz
from ._options import SolveOptions, defaults_of, options

NAME = "solve"
HELP = "solve the kernel limit equation of a problem and report its discretisation errors"
EXAMPLE = "problem.network.beta=0.6"

DEFAULTS: dict = {
    "problem": headline_table(),
    "solve": defaults_of(SolveOptions),
}
"""The headline problem (:mod:`limitsolver.headline`) and :class:`SolveOptions`."""


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
        ``(problem, SolveOptions)``.
    """
    return problem_from_config(config["problem"]), options(SolveOptions, config, "solve")


def plot_solution(sol, n_histories: int = 6):
    """Loss curve, h_t on the most probable histories against g, and the kernel spectrum."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    ax[0].plot(sol.times, sol.loss, "k-")
    ax[0].set(xlabel="t", ylabel=r"$L_t$", title="loss of the limit", yscale="log")
    top = np.argsort(sol.weights)[::-1][:n_histories]
    for i, m in enumerate(top):
        ax[1].plot(sol.times, sol.h[:, m], color=f"C{i}")
        ax[1].axhline(sol.g[m], color=f"C{i}", ls=":")
    ax[1].set(xlabel="t", ylabel=r"$h_t(\xi)$", title="h_t on the likeliest histories (dotted: g)")
    spec = np.clip(sol.spectrum, 1e-300, None)
    ax[2].semilogy(np.arange(1, spec.size + 1), spec, ".")
    ax[2].set(xlabel="index", ylabel="eigenvalue", title=r"spectrum of $W^{1/2}AW^{1/2}$")
    for a in ax:
        a.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


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
    write_json(args.out / "summary.json", {
        "config": config, "seed": args.seed, "problem_state": problem.to_state(),
        "times": sol.times, "loss": sol.loss,
        "discretisation": sol.discretisation, "spectrum_top": sol.spectrum[:20],
        "method": sol.method,
    })
    write_npz(args.out / "solution.npz", times=sol.times, h=sol.h, loss=sol.loss, g=sol.g,
              weights=sol.weights, histories=sol.histories.values, spectrum=sol.spectrum)
    save_figure(plot_solution(sol), args.out / "limit.png")
    print(f"results in {args.out}")
    return 0
