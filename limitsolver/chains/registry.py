"""Chains by name and by shape: the registry of chain kinds, QuantEcon-style construction.

* :data:`CHAIN_CLASSES` — ``kind`` -> class of the built-in chains, each with
  ``to_state``/``from_state``; :func:`chain_from_config` builds one from a table.
* :func:`as_chain` — accepts any :class:`~limitsolver.chains.base.ChainProtocol`
  chain, or an object with ``P`` and ``state_values`` (a ``quantecon.MarkovChain``).
* :class:`MarkovChain` — ``MarkovChain(P, state_values)`` builds a
  :class:`~limitsolver.chains.FiniteChain`, as QuantEcon's constructor does.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._schema import check_table, lookup
from ..errors import ConfigError
from .ar1 import GaussianAR1
from .base import ChainProtocol, candidate_chain
from .circle import CircleWalk
from .finite import FiniteChain

__all__ = ["CHAIN_CLASSES", "chain_from_config", "as_chain", "MarkovChain"]

CHAIN_CLASSES: Mapping[str, type] = MappingProxyType(
    {cls.kind: cls for cls in (FiniteChain, GaussianAR1, CircleWalk)}
)
"""Chain kinds buildable from a table: ``kind`` -> class."""


def chain_from_config(table: Mapping[str, Any], where: str = "chain"):
    """Build a chain from ``{"kind": "finite" | "ar1" | "circle", ...}``.

    Parameters
    ----------
    table : Mapping
        ``kind = "finite"`` with ``P`` (required) and ``states``;
        ``kind = "ar1"`` with ``a`` (default 0.5) and ``dim`` (default 1);
        ``kind = "circle"`` with ``kappa`` (default 0.5) — the arguments of
        :class:`FiniteChain`, :class:`GaussianAR1` and :class:`CircleWalk`.
    where : str
        Name of the table in error messages.

    Returns
    -------
    FiniteChain, GaussianAR1 or CircleWalk
        The chain (a finite chain is checked to be irreducible and aperiodic).

    Raises
    ------
    ConfigError
        If ``kind`` is missing or unknown (the message lists the kinds), a key is
        unknown or missing, or a value has the wrong type.
    NotStochasticError, NotErgodicError, DimensionError
        If the chain's own validation fails.
    """
    table = check_table(table, where, f"a table with a `kind` ({', '.join(CHAIN_CLASSES)})")
    cls = lookup(CHAIN_CLASSES, table.get("kind"), f"{where}.kind")
    chain = cls.from_state(table, where)
    if isinstance(chain, FiniteChain):
        chain.check_ergodic()
    return chain


class _MarkovChainMeta(type):
    def __instancecheck__(cls, obj) -> bool:
        warnings.warn("`isinstance(obj, MarkovChain)` is deprecated; test against "
                      "`limitsolver.chains.ChainProtocol`.", DeprecationWarning, stacklevel=2)
        return isinstance(obj, ChainProtocol)


class MarkovChain(metaclass=_MarkovChainMeta):
    r"""A finite chain built as QuantEcon builds one: ``MarkovChain(P, state_values)``.

    Returns a :class:`~limitsolver.chains.FiniteChain`, so code written for
    ``quantecon.MarkovChain`` runs unchanged; a ``quantecon.MarkovChain`` object
    itself is accepted wherever a chain is expected (see :func:`as_chain`). The
    protocol a user's own chain implements is :class:`ChainProtocol`.

    Parameters
    ----------
    P : array_like, shape (n, n)
        Row-stochastic transition matrix.
    state_values : array_like, shape (n,) or (n, d), optional
        The value observed in each state (default ``0, ..., n-1``).

    Returns
    -------
    FiniteChain
        ``FiniteChain(P, state_values)``.
    """

    def __new__(cls, P, state_values=None):  # noqa: D102
        return FiniteChain(P, state_values)


@candidate_chain
def as_chain(obj: Any, name: str = "chain"):
    r"""Return ``obj`` as a chain of the package's protocol.

    A chain implementing :class:`ChainProtocol` is returned unchanged; an object
    with a transition matrix ``P`` and ``state_values`` but no ``sample`` (a
    ``quantecon.MarkovChain``, duck-typed: quantecon is not needed) becomes the
    :class:`~limitsolver.chains.FiniteChain` with that matrix and those states.

    Returns
    -------
    ChainProtocol
        ``obj`` or the finite chain built from it.

    Raises
    ------
    ConfigError
        If ``obj`` is neither (the message lists what a chain needs).
    """
    if isinstance(obj, ChainProtocol) and isinstance(getattr(obj, "dim", None), numbers.Integral):
        return obj
    if hasattr(obj, "P") and hasattr(obj, "state_values"):
        P = obj.P
        P = P.toarray() if hasattr(P, "toarray") else P
        return FiniteChain(P, obj.state_values)
    raise ConfigError(
        f"`{name}` must be a Markov chain (FiniteChain, GaussianAR1, CircleWalk, an object "
        "with `P` and `state_values` such as a quantecon.MarkovChain, or a class with an "
        f"integer `dim`, `sample` and `sample_stationary`), got {type(obj).__name__}."
    )
