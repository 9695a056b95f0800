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
import sympy as sp

from ..config import chain_from_config
from ..errors import ConfigError
from ..io import save_figure, write_json, write_npz

NAME = "poisson"
HELP = "Poisson equation of a Markov chain: solution, asymptotic variance, batch-means check"

DEFAULTS: dict = {
    "chain": {"kind": "finite", "P": [[0.7, 0.3], [0.4, 0.6]], "states": [-1.0, 1.0]},
    "F": "x",
    "check": {"n_steps": 200_000, "n_batches": 50},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common ones."""


def _function(text: str):
    x = sp.Symbol("x", real=True)
    try:
        expr = sp.parse_expr(str(text), local_dict={"x": x})
    except Exception as exc:  # sympy raises many kinds here
        raise ConfigError(f"`F` = {text!r} is not an expression in x: {exc}") from exc
    if expr.free_symbols - {x}:
        raise ConfigError(f"`F` = {text!r} may only use the variable x.")
    f = sp.lambdify(x, expr, modules=["scipy", "numpy"])
    return lambda v: np.broadcast_to(np.asarray(f(np.asarray(v, dtype=float)), dtype=float),
                                     np.shape(v)).copy()


def run(config: dict, args: argparse.Namespace) -> int:
    from ..plotting import plot_poisson
    from ..poisson import batch_means_check, solve_poisson

    chain = chain_from_config(config["chain"])
    f = _function(config["F"])
    kind = config["chain"]["kind"]
    if kind == "finite":
        F = f(chain.states[:, 0]) if chain.dim == 1 else None
        if F is None:
            raise ConfigError("`F` as an expression in x needs a chain of dimension 1.")
    else:
        F = f
    sol = solve_poisson(chain, F)
    check = config["check"]
    n_steps, n_batches = int(check["n_steps"]), int(check["n_batches"])
    if n_batches < 2 or n_steps < 10 * n_batches:
        raise ConfigError("`check.n_batches` must be >= 2 and `check.n_steps` >= 10 batches.")
    bm = batch_means_check(chain, F, n_steps, n_batches, args.seed, solution=sol)
    print(f"pi(F) = {float(np.ravel(sol.pi_F)[0]):.6g}")
    print(f"asymptotic variance sigma^2(F) = {float(sol.asymptotic_variance):.6g}")
    print(f"batch means: {bm.empirical_variance:.6g} +- {bm.standard_error:.2g} "
          f"(z = {bm.z_score:.2f}, {'passed' if bm.passed else 'FAILED'})")
    write_json(args.out / "summary.json", {
        "config": config, "pi_F": sol.pi_F, "asymptotic_variance": sol.asymptotic_variance,
        "residual": sol.residual, "discretisation": sol.discretisation, "batch_means": bm,
    })
    nodes = np.asarray(sol.nodes, dtype=float)
    write_npz(args.out / "poisson.npz", nodes=nodes, V=sol.values, F_centred=sol.F_centred,
              weights=sol.weights)
    save_figure(plot_poisson(sol), args.out / "poisson.png")
    print(f"results in {args.out}")
    return 0 if bm.passed else 1
