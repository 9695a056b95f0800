r"""The Markov-chain protocol (:ref:`theory §1 <theory-data>`).

A chain :math:`X_0, X_1, \dots` on :math:`\mathcal X \subset \mathbb R^d` with
transition kernel :math:`P(x, dx')` and invariant law :math:`\pi_X`,

.. math:: \mathbb P(X_{k+1} \in A \mid X_k = x) = P(x, A), \qquad \pi_X P = \pi_X,

is anything that can draw paths :math:`(X_0, \dots, X_{T-1})` from a given start
or from stationarity, and independent draws from :math:`\pi_X`. The rest of the
package (histories, targets, simulators) only uses these two methods and ``dim``.

Paths have shape ``(n_paths, n_steps, d)`` in chronological order: index 0 is
:math:`X_0`. Every random draw comes from the ``numpy.random.Generator`` passed
in (see :func:`limitsolver._random.as_generator`), so the same seed gives the
same paths bit for bit.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from .._docstrings import with_parameters
from .._random import as_generator
from ..errors import ConfigError, DimensionError, DivergenceError

if TYPE_CHECKING:
    from ..._random import SeedLike

__all__ = ["ChainProtocol", "check_chain", "SavedChain"]


@runtime_checkable
class ChainProtocol(Protocol):
    r"""The protocol a user implements to plug in their own chain.

    Parameters
    ----------
    *args, **kwargs
        Not used: a protocol is never instantiated itself; a user's class
        implements it (structurally, no inheritance needed).

    Attributes
    ----------
    dim : int
        Dimension :math:`d` of the state space; states are vectors of
        :math:`\mathbb R^d`.

    Notes
    -----
    Implementations must be vectorised over paths (loop only over time) and
    must draw every random number from the generator they are given.
    """

    dim: int

    def sample(self, n_steps: int, seed: SeedLike, *, n_paths: int = 1,
               start: ArrayLike | None = None) -> np.ndarray:
        r"""Draw ``n_paths`` independent paths :math:`(X_0, \dots, X_{n\_steps-1})`.

        Parameters
        ----------
        n_steps : int
            Number of states per path, :math:`X_0` included.
        seed : int, SeedSequence or Generator
            Source of randomness.
        n_paths : int, optional
            Number of independent paths.
        start : array_like, optional
            :math:`X_0`, of shape ``(d,)`` (all paths) or ``(n_paths, d)``; when
            ``None``, :math:`X_0 \sim \pi_X`.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_paths, n_steps, d)``.
        """
        ...

    def sample_stationary(self, n: int, seed: SeedLike) -> np.ndarray:
        r"""Draw ``n`` independent states from :math:`\pi_X`; shape ``(n, d)``.

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int, SeedSequence or Generator
            Source of randomness.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, d)``.
        """
        ...


candidate_chain = with_parameters("""
obj : object
    The candidate chain.
name : str, optional
    Name of the argument, used in error messages.
""")
"""Decorator documenting the ``(obj, name)`` of a function that takes a candidate chain."""


@candidate_chain
def check_chain(obj: Any, name: str = "chain") -> ChainProtocol:
    r"""Check that ``obj`` implements :class:`ChainProtocol` and return it.

    The check is structural and then behavioural: ``obj`` must have an integer
    attribute ``dim >= 1`` and callable ``sample`` and ``sample_stationary``;
    ``obj.sample(3, rng, n_paths=2)`` must return a finite array of shape
    ``(2, 3, dim)`` and ``obj.sample_stationary(4, rng)`` one of shape
    ``(4, dim)``, with ``rng = numpy.random.default_rng(0)``. Cost: one short
    simulation.

    Returns
    -------
    ChainProtocol
        ``obj`` itself.

    Raises
    ------
    ConfigError
        If ``dim``, ``sample`` or ``sample_stationary`` is missing or of the
        wrong kind.
    DimensionError
        If a sample has the wrong shape.
    DivergenceError
        If a sample contains NaN or infinite values.
    """
    missing = [a for a in ("dim", "sample", "sample_stationary") if not hasattr(obj, a)]
    if missing:
        listed = ", ".join(f"`{m}`" for m in missing)
        raise ConfigError(
            f"`{name}` does not implement the chain protocol (ChainProtocol): it has no {listed}; "
            "a chain needs an integer `dim` and methods `sample(n_steps, seed, *, n_paths, "
            "start)` and `sample_stationary(n, seed)`."
        )
    dim = obj.dim
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) or dim < 1:
        raise ConfigError(f"`{name}.dim` must be a positive integer, got {dim!r}.")
    for meth in ("sample", "sample_stationary"):
        if not callable(getattr(obj, meth)):
            raise ConfigError(f"`{name}.{meth}` must be a method, got {getattr(obj, meth)!r}.")
    d = int(dim)
    rng = np.random.default_rng(0)
    path = np.asarray(obj.sample(3, rng, n_paths=2))
    if path.shape != (2, 3, d):
        raise DimensionError(
            f"`{name}.sample(3, rng, n_paths=2)` must return shape (n_paths, n_steps, dim) = "
            f"(2, 3, {d}), got {path.shape}."
        )
    if not np.all(np.isfinite(path)):
        raise DivergenceError(f"`{name}.sample` returned NaN or infinite states.")
    stat = np.asarray(obj.sample_stationary(4, rng))
    if stat.shape != (4, d):
        raise DimensionError(
            f"`{name}.sample_stationary(4, rng)` must return shape (n, dim) = (4, {d}), "
            f"got {stat.shape}."
        )
    if not np.all(np.isfinite(stat)):
        raise DivergenceError(f"`{name}.sample_stationary` returned NaN or infinite states.")
    return obj


class SavedChain:
    """Saving and rebuilding of the built-in chains: their state is the table of their arguments.

    A subclass sets ``kind`` and writes ``to_state()``; equality and hashing are
    by state, and :meth:`from_state` reads the constructor's arguments (keys and
    types from its signature) from a state or a configuration table.
    """

    kind: str = ""

    def to_state(self) -> dict:  # pragma: no cover - every subclass defines it
        """The chain as a JSON-able table (``kind`` and its parameters, exact).

        Returns
        -------
        dict
            The state.
        """
        raise NotImplementedError

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_state() == other.to_state()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_state().items())))

    @classmethod
    def from_state(cls, state: dict, where: str = "chain"):
        """Rebuild the chain from :meth:`to_state` or a configuration table.

        Parameters
        ----------
        state : dict
            The constructor's arguments and optionally ``kind``.
        where : str
            Name of the table in error messages.

        Returns
        -------
        SavedChain
            The chain (a finite chain is not checked for ergodicity here;
            :class:`~limitsolver.problem.Problem` and
            :func:`~limitsolver.chains.chain_from_config` check it).

        Raises
        ------
        ConfigError
            For a wrong kind, an unknown or missing key or a value of the wrong type.
        NotStochasticError, NotErgodicError, DimensionError
            If the chain refuses its arguments.
        """
        from .._schema import build, check_state, fields_of

        check_state(state, cls.kind, [f.name for f in fields_of(cls)], where)
        return build(cls, state, where)


# ----------------------------------------------------------------------------------------------
# Helpers shared by the built-in chains (private).


def _count(value, name: str, minimum: int = 1) -> int:
    """Validate an array-size argument (``n_steps``, ``n_paths``, ``n``)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise DimensionError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _prepare(n_steps, seed, n_paths) -> tuple[int, np.random.Generator, int]:
    return _count(n_steps, "n_steps"), as_generator(seed, "seed"), _count(n_paths, "n_paths")


def _vector_start(start, n_paths: int, d: int) -> np.ndarray:
    """Broadcast a vector start of shape ``(d,)`` or ``(n_paths, d)`` to ``(n_paths, d)``.

    For ``d = 1`` a scalar or an array of shape ``(n_paths,)`` is also accepted.
    """
    x0 = np.asarray(start, dtype=float)
    if d == 1 and x0.ndim <= 1 and x0.size in (1, n_paths):
        x0 = x0.reshape(-1, 1)
    if x0.ndim == 1 and x0.shape == (d,):
        x0 = x0[None, :]
    if x0.ndim != 2 or x0.shape[1] != d or x0.shape[0] not in (1, n_paths):
        raise DimensionError(
            f"`start` must have shape ({d},) or (n_paths, {d}) = ({n_paths}, {d}), "
            f"got {np.shape(start)}."
        )
    if not np.all(np.isfinite(x0)):
        raise DivergenceError("`start` contains NaN or infinite values.")
    return np.broadcast_to(x0, (n_paths, d)).copy()
