r"""The headline study: the one problem, grid and study the package's front page reports.

``limitsolver converge`` with no arguments runs :func:`headline_study`, and the
table in the README is its output. Everything that study uses is defined here
once:

* :func:`headline_table` / :func:`headline_problem` — a two-state chain
  :math:`P = \begin{pmatrix}0.7 & 0.3\\ 0.4 & 0.6\end{pmatrix}` on states
  :math:`\pm 1`, the target :math:`Y_k = \sum_{j<6} 0.6^j X_{k-j}`, tanh, doubled
  initialisation, :math:`\beta = 1/2`, rtrl, ``memory_tol = 3e-3`` (window
  :math:`L = 10`), horizon :math:`T = 1`;
* :data:`DEFAULT_GRID` — the :math:`64\times 16` truncated Gauss–Legendre rule on
  :math:`(w, b)` (also the default of :func:`~limitsolver.limit.parameter_grid`);
* :data:`HEADLINE_STUDY` — widths :math:`128, \dots, 32768`, 8 seeds, 6 times,
  exact histories, 256 tracking samples.

Where other defaults differ, they are the defaults of the objects themselves,
not of the headline study: :class:`~limitsolver.network.NetworkSpec` defaults to
``memory_tol = 1e-8`` (a tight window for any problem), and
:class:`~limitsolver.studies.convergence.ConvergenceStudy` to widths up to 16384
and 11 times (a study that runs in minutes from Python).
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .problem import Problem
    from .studies.convergence import ConvergenceStudy

__all__ = ["DEFAULT_GRID", "HEADLINE_STUDY", "headline_table", "headline_problem",
           "headline_study"]

DEFAULT_GRID = MappingProxyType({"n_w": 64, "n_b": 16, "kind": "legendre"})
"""The default quadrature rule of the limit: keyword arguments of ``parameter_grid``."""

_PROBLEM = {
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

HEADLINE_STUDY = MappingProxyType({
    "n_units": (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768),
    "n_seeds": 8,
    "n_times": 6,
    "histories": "exact",
    "tracking_samples": 256,
})
"""Widths, number of seeds, times, histories and tracking samples of the headline study."""


def headline_table() -> dict[str, Any]:
    """The headline problem as a configuration table (a fresh copy, safe to modify).

    Returns
    -------
    dict
        Tables ``chain``, ``target``, ``network`` (with ``prior``) and ``horizon``,
        as :func:`limitsolver.config.problem_from_config` reads them.
    """
    return copy.deepcopy(_PROBLEM)


def headline_problem() -> Problem:
    """The headline problem (see the module docstring).

    Returns
    -------
    Problem
        ``problem_from_config(headline_table())``.
    """
    from .config import problem_from_config

    return problem_from_config(headline_table())


def headline_study(seed: int = 0, *, problem: Problem | None = None,
                   **changes: Any) -> ConvergenceStudy:
    """The study ``limitsolver converge`` runs at its defaults (``--seed`` is ``seed``).

    Parameters
    ----------
    seed : int
        Base seed: the runs use seeds ``seed, ..., seed + n_seeds - 1`` and the
        limit's Monte Carlo histories (if any) ``seed``.
    problem : Problem, optional
        Another problem (default :func:`headline_problem`).
    **changes
        Other values of the keys of :data:`HEADLINE_STUDY` or ``grid`` (a dict of
        ``parameter_grid`` arguments, default :data:`DEFAULT_GRID`).

    Returns
    -------
    ConvergenceStudy
        The headline problem at the widths of :data:`HEADLINE_STUDY` on
        :data:`DEFAULT_GRID`, with ``changes`` applied.

    Raises
    ------
    ConfigError
        For a key that is not a study key, or a value the study refuses.
    """
    from .errors import ConfigError
    from .studies.convergence import ConvergenceStudy

    unknown = sorted(set(changes) - set(HEADLINE_STUDY) - {"grid"})
    if unknown:
        raise ConfigError(f"`{unknown[0]}` is not a key of the headline study; valid keys: "
                          f"{', '.join(sorted([*HEADLINE_STUDY, 'grid']))}.")
    s = {**HEADLINE_STUDY, "grid": DEFAULT_GRID, **changes}
    return ConvergenceStudy(
        problem=headline_problem() if problem is None else problem,
        n_units=tuple(s["n_units"]), seeds=tuple(range(seed, seed + s["n_seeds"])),
        n_times=s["n_times"], histories=s["histories"], grid=dict(s["grid"]),
        tracking_samples=s["tracking_samples"], limit_seed=seed,
    )
