"""The documented default problem shared by the subcommands."""

from __future__ import annotations

import copy

_PROBLEM: dict = {
    "chain": {"kind": "finite", "P": [[0.7, 0.3], [0.4, 0.6]], "states": [-1.0, 1.0]},
    "target": {"kind": "linear_memory", "decay": 0.6, "n_terms": 6},
    "network": {
        "activation": "tanh", "beta": 0.5, "alpha": 1.0, "gradient": "rtrl",
        "memory_tol": 3e-3,
        "prior": {"sigma_w": 1.0, "b_max": 0.5, "c_law": "rademacher", "sigma_c": 1.0,
                  "doubled": True},
    },
    "horizon": 1.0,
}

GRID: dict = {"n_w": 64, "n_b": 16, "kind": "legendre"}


def problem_defaults() -> dict:
    """A fresh copy of the default problem tables (two-state chain, linear memory, tanh)."""
    return copy.deepcopy(_PROBLEM)
