r"""Description of the network: activation, prior, scaling and gradient mode.

The finite network of :ref:`theory §2 <theory-network>` has :math:`N` units,

.. math::

    u^i_k = w^i\cdot X_k + b^i s^i_k,\quad s^i_{k+1} = \sigma(u^i_k),\quad
    f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1},

is trained online with learning rate :math:`\alpha N^{2\beta-2}` for
:math:`K = \lfloor N T\rfloor` steps (training time :math:`t = k/N`), and its
kernel limit is solved by :mod:`limitsolver.limit`. A :class:`NetworkSpec`
holds everything both need and nothing that depends on :math:`N`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ._schema import build, check_fields, check_table
from .activations import Activation, activation
from .errors import ActivationError, ConfigError
from .memory import check_mode
from .prior import Prior, _check_kind

__all__ = ["NetworkSpec"]


@dataclass(frozen=True)
class NetworkSpec:
    r"""An RNN with diagonal recurrence, its prior and its training rule.

    Parameters
    ----------
    activation : Activation or str
        :math:`\sigma` (name or expression in ``u``); default ``tanh``.
    prior : Prior
        :math:`\mu_0`; its ``b_max`` must make the memory contract.
    beta : float
        Output scaling exponent, :math:`\beta\in[1/2, 1)`; 1/2 is the NTK scaling.
    alpha : float
        Learning-rate constant :math:`\alpha > 0`.
    gradient : {"rtrl", "truncated"}
        Forward sensitivities used for training.
    memory_tol : float
        Tolerance :math:`\gamma^{L-1}\sup|\sigma|` that fixes the memory window
        (warm-up length of the network, history depth of the limit), in :math:`(0, 1)`.

    Raises
    ------
    ConfigError
        If a field has the wrong type or ``beta``, ``alpha``, ``gradient`` or
        ``memory_tol`` is out of range.
    ContractionError
        If :math:`b_{\max}\sup|\sigma'|\ge 1`.
    """

    activation: Activation | str = field(default_factory=lambda: activation("tanh"))
    prior: Prior = field(default_factory=Prior)
    beta: float = 0.5
    alpha: float = 1.0
    gradient: str = "rtrl"
    memory_tol: float = 1e-8

    kind: ClassVar[str] = "network"

    def __post_init__(self):
        if not (isinstance(self.activation, (Activation, str))
                or hasattr(self.activation, "free_symbols")):  # a sympy expression in u
            raise ConfigError(
                f"`activation` must be a name, an expression in `u` or an Activation, got "
                f"{self.activation!r}."
            )
        object.__setattr__(self, "activation", activation(self.activation))
        if not isinstance(self.prior, Prior):
            raise ConfigError(
                f"`prior` must be a limitsolver.Prior, got {type(self.prior).__name__}; "
                "build it with `Prior(...)`."
            )
        check_fields(self, ("beta", "alpha", "gradient", "memory_tol"))
        if not (0.5 <= self.beta < 1.0):
            raise ConfigError(f"`beta` must lie in [1/2, 1), got {self.beta}.")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ConfigError(f"`alpha` must be positive and finite, got {self.alpha}.")
        if not (0.0 < self.memory_tol < 1.0):
            raise ConfigError(
                f"`memory_tol` must lie in (0, 1), got {self.memory_tol}; it bounds the "
                "memory-truncation error, e.g. 1e-8."
            )
        check_mode(self.gradient)
        self.prior.check_contraction(self.activation)

    def to_state(self) -> dict[str, Any]:
        """The network as a JSON-able table (``kind = "network"``, the prior as a sub-table).

        The activation is saved by name (``"tanh"``) or, for an expression, as the
        expression in ``u``.

        Returns
        -------
        dict
            Every field, exact; :meth:`from_state` rebuilds an equal spec.
        """
        act = self.activation
        return {"kind": self.kind,
                "activation": act.name if act.name != "custom" else act.expression,
                "prior": self.prior.to_state(), "beta": self.beta, "alpha": self.alpha,
                "gradient": self.gradient, "memory_tol": self.memory_tol}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], where: str = "network") -> NetworkSpec:
        """Rebuild a network from :meth:`to_state` or a configuration table.

        Parameters
        ----------
        state : Mapping
            Fields of :class:`NetworkSpec` (all optional); ``prior`` is a table of
            :class:`~limitsolver.prior.Prior` fields; optionally ``kind = "network"``.
        where : str
            Name of the table in error messages.

        Returns
        -------
        NetworkSpec
            The network.

        Raises
        ------
        ConfigError
            For an unknown key, a wrong kind or a value of the wrong type.
        ContractionError
            If the prior does not make the memory contract.
        """
        _check_kind(state, cls.kind, where)
        state = check_table(state, where)
        prior = state.get("prior", {})
        if not isinstance(prior, Prior):
            prior = Prior.from_state(check_table(prior, f"{where}.prior"), f"{where}.prior")
        try:
            return build(cls, state, where, skip=("prior",), extra={"prior": prior})
        except ActivationError as exc:
            raise ActivationError(f"`{where}.activation`: {exc}") from None

    def replace(self, **changes: Any) -> NetworkSpec:
        """Return a copy with the given fields changed.

        Parameters
        ----------
        **changes
            New values of fields (``activation``, ``prior``, ``beta``, ``alpha``,
            ``gradient``, ``memory_tol``), validated as in the constructor.

        Returns
        -------
        NetworkSpec
            The modified copy.
        """
        return replace(self, **changes)

    @property
    def gamma(self) -> float:
        r"""Contraction factor :math:`\gamma = b_{\max}\sup|\sigma'|`."""
        return self.prior.contraction_factor(self.activation)

    @property
    def depth(self) -> int:
        """Memory window length ``L`` (current state included) fixed by ``memory_tol``."""
        return self.prior.memory_depth(self.activation, self.memory_tol)

    def learning_rate(self, n_units: int) -> float:
        r"""Learning rate :math:`\alpha N^{2\beta-2}` of a network of width :math:`N`.

        Parameters
        ----------
        n_units : int
            Width :math:`N`.

        Returns
        -------
        float
            :math:`\alpha N^{2\beta-2}` (:math:`\alpha/N` at :math:`\beta = 1/2`).
        """
        return self.alpha * float(n_units) ** (2.0 * self.beta - 2.0)

    def output_scale(self, n_units: int) -> float:
        r"""Output scale :math:`N^{-\beta}` in :math:`f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1}`.

        Parameters
        ----------
        n_units : int
            Width :math:`N`.

        Returns
        -------
        float
            :math:`N^{-\beta}`.
        """
        return float(n_units) ** (-self.beta)

    @staticmethod
    def n_steps(n_units: int, horizon: float) -> int:
        r"""Number of training steps :math:`K = \lfloor N T\rfloor`.

        Parameters
        ----------
        n_units : int
            Width :math:`N`.
        horizon : float
            Training time :math:`T \ge 0`.

        Returns
        -------
        int
            :math:`\lfloor N T + 10^{-9}\rfloor`; the :math:`10^{-9}` keeps a product
            that rounds just below an integer (``100 * 0.29`` is ``28.999...``) at
            that integer.

        Raises
        ------
        ConfigError
            If ``horizon`` is negative or not finite.
        """
        if not (math.isfinite(horizon) and horizon >= 0):
            raise ConfigError(f"`horizon` must be non-negative and finite, got {horizon}.")
        return int(math.floor(n_units * horizon + 1e-9))
