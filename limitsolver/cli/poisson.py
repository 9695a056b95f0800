"""``limitsolver poisson``: the Poisson equation of a chain and its asymptotic variance.

Solves ``V - P V = F - π(F)`` with ``π(V) = 0``, reports
``σ²(F) = π(2 F V - F²)`` (``F`` centred) and checks it against batch means of a
simulated path. ``F`` is an expression in ``x`` (finite chains, AR(1): the
state; circle walk: the angle). Writes ``summary.json``, ``poisson.npz`` and
``poisson.png``.
"""

from __future__ import annotations

import argparse

import numpy as np

from .._schema import check_value
from ..config import chain_from_config
from ..errors import ConfigError
from ..headline import headline_table
from ..io import save_figure, write_json, write_npz
from . import subcommand_check
from ._options import CheckOptions, defaults_of, options

NAME = "poisson"
HELP = "Poisson equation of a Markov chain: solution, asymptotic variance, batch-means check"
EXAMPLE = 'F="x**2"'
#: shortest batch the check uses: ``check.n_batches`` is lowered to ``n_steps // 200``
#: for short paths, as batches much shorter than the mixing time bias the estimate
MIN_BATCH_LENGTH = 200

DEFAULTS: dict = {
    "chain": headline_table()["chain"],
    "F": "x",
    "check": defaults_of(CheckOptions),
}
"""The headline chain (:mod:`limitsolver.headline`), ``F = x`` and :class:`CheckOptions`."""


@subcommand_check
def check(config: dict, args: argparse.Namespace):
    """Build the chain, ``F`` and the check options before any work.

    Returns
    -------
    tuple
        ``(chain, F, CheckOptions)``; ``F`` is the values on the states of a finite
        chain, else a function.

    Raises
    ------
    ConfigError
        For a bad chain, expression or check option, naming the key.
    """
    chain = chain_from_config(config["chain"])
    f = _function(check_value(config["F"], str, "F"))
    if config["chain"]["kind"] == "finite":
        if chain.dim != 1:
            raise ConfigError("`F` as an expression in x needs a chain of dimension 1.")
        F = f(chain.states[:, 0])
    else:
        F = f
    c = options(CheckOptions, config, "check")
    if c.n_steps < 10 * c.n_batches:
        raise ConfigError(
            f"`check.n_steps` must be at least 10 batches (10 * `check.n_batches` = "
            f"{10 * c.n_batches}), got {c.n_steps}."
        )
    return chain, F, c


def _function(text: str):
    import sympy as sp

    from ..expressions import parse_expression

    x = sp.Symbol("x", real=True)
    expr = parse_expression(str(text), {"x": x}, argument="F")
    f = sp.lambdify(x, expr, modules=["scipy", "numpy"])
    return lambda v: np.broadcast_to(np.asarray(f(np.asarray(v, dtype=float)), dtype=float),
                                     np.shape(v)).copy()


def run(config: dict, args: argparse.Namespace) -> int:
    """Solve, check by batch means, print and write the outputs under ``args.out``.

    Parameters
    ----------
    config : dict
        The effective configuration.
    args : argparse.Namespace
        The parsed command line (``seed``, ``out``).

    Returns
    -------
    int
        0 if the batch-means check passed, else 1.
    """
    from ..plotting import plot_poisson
    from ..poisson import batch_means_check, solve_poisson

    chain, F, c = check(config, args)
    sol = solve_poisson(chain, F)
    # batches of at least MIN_BATCH_LENGTH steps: shorter ones bias sigma-hat^2 by O(tau / b)
    n_batches = min(c.n_batches, max(2, c.n_steps // MIN_BATCH_LENGTH))
    bm = batch_means_check(chain, F, c.n_steps, n_batches, args.seed, solution=sol)
    print(f"pi(F) = {float(np.ravel(sol.pi_F)[0]):.6g}")
    print(f"asymptotic variance sigma^2(F) = {float(sol.asymptotic_variance):.6g}")
    print(f"batch means: {bm.empirical_variance:.6g} +- {bm.standard_error:.2g} "
          f"(z = {bm.z_score:.2f}, {'passed' if bm.passed else 'FAILED'})")
    from ..store import provenance

    meta = provenance(seeds=[args.seed])
    meta["chain"] = chain.to_state()
    write_json(args.out / "summary.json", meta=meta, obj={
        "config": config, "seed": args.seed, "chain_state": chain.to_state(), "pi_F": sol.pi_F, "asymptotic_variance": sol.asymptotic_variance,
        "residual": sol.residual, "discretisation": sol.discretisation, "batch_means": bm,
    })
    nodes = np.asarray(sol.nodes, dtype=float)
    write_npz(args.out / "poisson.npz", meta=meta, nodes=nodes, V=sol.values, F_centred=sol.F_centred,
              weights=sol.weights)
    save_figure(plot_poisson(sol), args.out / "poisson.png")
    print(f"results in {args.out}")
    return 0 if bm.passed else 1
