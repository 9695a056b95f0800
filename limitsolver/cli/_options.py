"""Typed option tables of the subcommands (``[solve]``, ``[simulate]``, ``[study]``, ``[check]``).

Each table is a frozen dataclass: its fields are the table's keys, its type
hints the checks (``Annotated[int, AtLeast(2)]``: an integer of at least 2),
its defaults the documented defaults that ``--print-config`` shows. A table
is read with :func:`options`, which names the offending key in every error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from .._schema import AtLeast, build, check_table, defaults_of, table_class
from ..headline import DEFAULT_GRID, HEADLINE_STUDY, headline_table

__all__ = ["GridOptions", "SolveOptions", "SimulateOptions", "StudyOptions", "CheckOptions",
           "options", "defaults_of", "problem_defaults", "problem_and_options"]

Positive = Annotated[int, AtLeast(1)]
Histories = Literal["exact"] | Positive


@table_class
@dataclass(frozen=True)
class GridOptions:
    """The quadrature rule of the limit (keyword arguments of ``parameter_grid``).

    Parameters
    ----------
    n_w : int
        Nodes per :math:`w` axis (Sobol: number of points).
    n_b : int
        Nodes on the :math:`b` axis.
    kind : {"legendre", "hermite", "sobol", "uniform"}
        The rule.
    """

    n_w: Positive = DEFAULT_GRID["n_w"]
    n_b: Positive = DEFAULT_GRID["n_b"]
    kind: Literal["legendre", "hermite", "sobol", "uniform"] = DEFAULT_GRID["kind"]

    def as_dict(self) -> dict[str, Any]:
        """The rule's arguments as a dict.

        Returns
        -------
        dict
            ``{"n_w": ..., "n_b": ..., "kind": ...}``.
        """
        return dataclasses.asdict(self)


@table_class
@dataclass(frozen=True)
class SolveOptions:
    """The ``[solve]`` table of ``limitsolver solve``.

    Parameters
    ----------
    histories : "exact" or int
        Exact enumeration (finite chains) or that many Monte Carlo histories.
    n_times : int
        Points of the time grid on :math:`[0, T]`.
    method : {"spectral", "dense", "lowrank", "ivp"}
        ODE solver.
    grid : GridOptions
        Quadrature rule.
    h0 : {"auto", "zero", "gp"}
        Initial output.
    error_estimate : bool
        Also solve on the refined rule and report the difference.
    """

    histories: Histories = "exact"
    n_times: Annotated[int, AtLeast(2)] = 101
    method: Literal["spectral", "dense", "lowrank", "ivp"] = "spectral"
    grid: GridOptions = field(default_factory=GridOptions)
    h0: Literal["auto", "zero", "gp"] = "auto"
    error_estimate: bool = True


@table_class
@dataclass(frozen=True)
class SimulateOptions:
    """The ``[simulate]`` table of ``limitsolver simulate``.

    Parameters
    ----------
    n_units : int
        Width :math:`N`.
    n_seeds : int
        Independent networks (seeds ``--seed, --seed + 1, ...``).
    n_snapshots : int
        Parameter snapshots on :math:`[0, T]`.
    backend : {"auto", "numba", "numpy", "jax"}
        Step loop (``"jax"`` needs the ``jax`` extra).
    unit_blocks : "auto" or int
        Blocks the units of one seed's steps are split into over the cores
        (:func:`~limitsolver.simulation.simulate`; ``"auto"``: from 65536 units).
    """

    n_units: Positive = 1024
    n_seeds: Positive = 4
    n_snapshots: Annotated[int, AtLeast(2)] = 11
    backend: Literal["auto", "numba", "numpy", "jax"] = "auto"
    unit_blocks: Literal["auto"] | Positive = "auto"


@table_class
@dataclass(frozen=True)
class StudyOptions:
    """The ``[study]`` table of ``limitsolver converge`` (defaults: :data:`~limitsolver.headline.HEADLINE_STUDY`).

    Parameters
    ----------
    n_units : tuple of int
        Widths :math:`N`, at least two distinct, each at least 2.
    n_seeds : int
        Seeds per width (at least 2, for error bars).
    n_times : int
        Points of the time grid.
    histories : "exact" or int
        Histories of the limit.
    tracking_samples : int
        Training steps sampled for the tracking metric.
    grid : GridOptions
        Quadrature rule of the limit.
    """

    n_units: tuple[Annotated[int, AtLeast(2)], ...] = HEADLINE_STUDY["n_units"]
    n_seeds: Annotated[int, AtLeast(2)] = HEADLINE_STUDY["n_seeds"]
    n_times: Annotated[int, AtLeast(2)] = HEADLINE_STUDY["n_times"]
    histories: Histories = HEADLINE_STUDY["histories"]
    tracking_samples: Positive = HEADLINE_STUDY["tracking_samples"]
    grid: GridOptions = field(default_factory=GridOptions)


@table_class
@dataclass(frozen=True)
class CheckOptions:
    """The ``[check]`` table of ``limitsolver poisson`` (batch-means check).

    Parameters
    ----------
    n_steps : int
        Length of the simulated path.
    n_batches : int
        Number of batches (at least 2; each at least 10 steps); 1000 batches
        reject a variance off by 30 % with probability 0.995 (``BatchMeansResult.power``).
        Lowered to ``n_steps // 200`` when batches would be shorter than 200 steps.
    """

    n_steps: Positive = 200_000
    n_batches: Annotated[int, AtLeast(2)] = 1000


def options(cls: type, config: dict, key: str) -> Any:
    """Read the table ``config[key]`` into the option class ``cls``.

    Parameters
    ----------
    cls : type
        One of the option dataclasses.
    config : dict
        The effective configuration.
    key : str
        The table's key.

    Returns
    -------
    object
        The options.

    Raises
    ------
    ConfigError
        Naming the key, for an unknown key or a value of the wrong type or range.
    """
    return build(cls, check_table(config.get(key, {}), key), key)


def problem_defaults(table: type, key: str) -> dict:
    """The ``DEFAULTS`` of a subcommand on one problem: the headline problem and table ``key``.

    Parameters
    ----------
    table, key : type, str
        The subcommand's option dataclass and the key of its table.

    Returns
    -------
    dict
        ``{"problem": headline_table(), key: defaults_of(table)}``.
    """
    return {"problem": headline_table(), key: defaults_of(table)}


def problem_and_options(config: dict, table: type, key: str) -> tuple[Any, Any]:
    """Build the problem of ``config["problem"]`` and read the table ``config[key]`` into ``table``.

    Parameters
    ----------
    config : dict
        A configuration laid out as :func:`problem_defaults`.
    table, key : type, str
        The subcommand's option dataclass and the key of its table.

    Returns
    -------
    tuple
        ``(Problem, options)``; a bad key or value raises :class:`ConfigError` naming it.
    """
    from ..config import problem_from_config

    return problem_from_config(config["problem"]), options(table, config, key)
