r"""The parameter prior :math:`\mu_0` of the hidden units.

Unit :math:`i` carries :math:`\theta^i = (c^i, w^i, b^i) \in \mathbb R\times\mathbb R^d\times\mathbb R`
drawn i.i.d. from

.. math::

    \mu_0 = \operatorname{law}(c)\otimes\mathcal N(0, \sigma_w^2 I_d)\otimes
    \operatorname{Uniform}(-b_{\max}, b_{\max}),

with :math:`\mathbb E c = 0`: :math:`c = \pm\sigma_c` with equal probability
(Rademacher, the default) or :math:`c\sim\mathcal N(0,\sigma_c^2)`. The memory
recursion contracts when :math:`\gamma = b_{\max}\sup|\sigma'| < 1`.

With ``doubled=True`` units come in pairs :math:`(c, w, b), (-c, w, b)`, so the
initial output vanishes exactly while every kernel is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import numpy as np

from ._deprecation import renamed_argument
from ._random import as_generator
from ._schema import build, check_fields
from .activations import Activation, activation
from .contraction import contraction_factor
from .errors import ConfigError, ContractionError, DimensionError

if TYPE_CHECKING:
    from ._random import SeedLike

__all__ = ["Prior", "UnitParameters"]


def _check_kind(state, kind: str, where: str) -> None:
    if isinstance(state, dict) and state.get("kind", kind) != kind:
        raise ConfigError(f"`{where}.kind` must be {kind!r}, got {state['kind']!r}.")


class UnitParameters(NamedTuple):
    r"""Parameters of a batch of networks: ``c`` (..., N), ``w`` (..., N, d), ``b`` (..., N).

    Unit :math:`i` carries :math:`\theta^i = (c^i, w^i, b^i) \in \mathbb R \times
    \mathbb R^d \times \mathbb R`.

    Parameters
    ----------
    c : numpy.ndarray, shape (..., N)
        Output weights :math:`c^i`.
    w : numpy.ndarray, shape (..., N, d)
        Input weights :math:`w^i`.
    b : numpy.ndarray, shape (..., N)
        Self-recurrences :math:`b^i` (the diagonal of the recurrent matrix).
    """

    c: np.ndarray
    w: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class Prior:
    r"""The prior :math:`\mu_0` over unit parameters :math:`(c, w, b)`.

    Parameters
    ----------
    sigma_w : float
        Standard deviation of each coordinate of :math:`w`.
    b_max : float
        Half-width of the uniform law of the self-recurrence :math:`b`.
    c_law : {"rademacher", "gaussian"}
        Law of the output weight :math:`c` (scaled by ``sigma_c``).
    sigma_c : float
        Scale of :math:`c`; :math:`\mathbb E[c^2] = \sigma_c^2` for both laws.
    doubled : bool
        Draw units in antisymmetric pairs so that :math:`f^N_0 \equiv 0`.

    Raises
    ------
    ConfigError
        If a field has the wrong type (``doubled="no"``, ``sigma_w="1"``),
        ``sigma_w`` or ``sigma_c`` is not positive and finite, ``b_max`` is
        negative or not finite, ``c_law`` is unknown, or ``sigma_c`` is so
        large that :math:`\sigma_c^2` overflows.
    """

    sigma_w: float = 1.0
    b_max: float = 0.5
    c_law: Literal["rademacher", "gaussian"] = "rademacher"
    sigma_c: float = 1.0
    doubled: bool = False

    kind: ClassVar[str] = "prior"

    def __post_init__(self):
        if self.c_law not in ("rademacher", "gaussian"):
            raise ConfigError(f"`c_law` must be 'rademacher' or 'gaussian', got {self.c_law!r}.")
        check_fields(self)
        if not (np.isfinite(self.sigma_w) and self.sigma_w > 0):
            raise ConfigError(f"`sigma_w` must be positive and finite, got {self.sigma_w}.")
        if not (np.isfinite(self.b_max) and self.b_max >= 0):
            raise ConfigError(f"`b_max` must be non-negative and finite, got {self.b_max}.")
        if not (np.isfinite(self.sigma_c) and self.sigma_c > 0):
            raise ConfigError(f"`sigma_c` must be positive and finite, got {self.sigma_c}.")
        if self.sigma_c >= 1e150:
            # kernels carry sigma_c^2 times sums of O(1) terms: keep a margin below overflow
            raise ConfigError(
                f"`sigma_c` must be below 1e150 (sigma_c^2 would overflow floating point), "
                f"got {self.sigma_c:g}; rescale the target or `alpha` instead."
            )

    def replace(self, **changes: Any) -> Prior:
        """Return a copy with the given fields changed.

        Parameters
        ----------
        **changes
            New values of fields (``sigma_w``, ``b_max``, ``c_law``, ``sigma_c``,
            ``doubled``), validated as in the constructor.

        Returns
        -------
        Prior
            The modified copy.
        """
        return replace(self, **changes)

    def to_state(self) -> dict[str, Any]:
        """The prior as a JSON-able table (``kind = "prior"`` and every field, exact).

        Returns
        -------
        dict
            ``{"kind": "prior", "sigma_w": ..., "b_max": ..., "c_law": ...,
            "sigma_c": ..., "doubled": ...}``; :meth:`from_state` rebuilds an equal prior.
        """
        return {"kind": self.kind, "sigma_w": self.sigma_w, "b_max": self.b_max,
                "c_law": self.c_law, "sigma_c": self.sigma_c, "doubled": self.doubled}

    @classmethod
    def from_state(cls, state: dict[str, Any], where: str = "prior") -> Prior:
        """Rebuild a prior from :meth:`to_state` (or a configuration table of its fields).

        Parameters
        ----------
        state : dict
            Fields ``sigma_w``, ``b_max``, ``c_law``, ``sigma_c``, ``doubled`` (all
            optional) and optionally ``kind = "prior"``.
        where : str
            Name of the table in error messages.

        Returns
        -------
        Prior
            The prior.

        Raises
        ------
        ConfigError
            For an unknown key, a wrong kind or a value of the wrong type.
        """
        _check_kind(state, cls.kind, where)
        return build(cls, state, where)

    @property
    def c_second_moment(self) -> float:
        r""":math:`\mathbb E[c^2] = \sigma_c^2`."""
        return float(self.sigma_c**2)

    def contraction_factor(self, act: Activation | str) -> float:
        r""":math:`\gamma = b_{\max}\sup_u|\sigma'(u)|`, the contraction factor of the memory.

        Parameters
        ----------
        act : Activation or str
            The activation :math:`\sigma` (anything :func:`activation` accepts).

        Returns
        -------
        float
            :math:`\gamma`; the memory recursion contracts when :math:`\gamma < 1`.
        """
        return contraction_factor(self.b_max, act)

    def check_contraction(self, act: Activation | str) -> float:
        r"""Return :math:`\gamma` or raise :class:`ContractionError` when :math:`\gamma \ge 1`.

        Parameters
        ----------
        act : Activation or str
            The activation :math:`\sigma` (anything :func:`activation` accepts).

        Returns
        -------
        float
            :math:`\gamma = b_{\max}\sup_u|\sigma'(u)| < 1`.

        Raises
        ------
        ContractionError
            If :math:`\gamma \ge 1` (the memory need not forget its start).
        """
        act = activation(act)
        gamma = self.contraction_factor(act)
        if not gamma < 1.0:
            raise ContractionError(
                f"the memory recursion does not contract: `b_max` * sup|sigma'| = {self.b_max:g} * "
                f"{act.sup_dsigma:g} = {gamma:g} >= 1; choose `b_max` < {1.0 / act.sup_dsigma:g}."
            )
        return gamma

    @renamed_argument("rng", "seed")
    def sample(self, n_units: int, dim: int, seed: SeedLike,
               n_networks: int | None = None) -> UnitParameters:
        r"""Draw the parameters of ``n_networks`` independent networks of ``n_units`` units.

        Returns arrays with a leading axis of length ``n_networks`` (omitted when
        ``None``). With ``doubled=True`` the second half of the units mirrors the
        first with ``c`` negated, so ``n_units`` must be even.

        :math:`c` is :math:`\pm\sigma_c` with equal probability (``rademacher``) or
        :math:`N(0, \sigma_c^2)`, :math:`w \sim N(0, \sigma_w^2 I_d)`,
        :math:`b \sim \mathrm{Uniform}(-b_{\max}, b_{\max})`, all independent.

        Parameters
        ----------
        n_units : int
            Number of units :math:`N` per network.
        dim : int
            Dimension :math:`d` of the inputs (and of :math:`w`).
        seed : int, SeedSequence or Generator
            Source of randomness (same seed, same parameters).
        n_networks : int, optional
            Number of independent networks; ``None`` for a single one without
            a leading axis.

        Returns
        -------
        UnitParameters
            ``c`` of shape ``(n_networks, N)``, ``w`` of shape ``(n_networks, N, d)``
            and ``b`` of shape ``(n_networks, N)`` (without the leading axis when
            ``n_networks`` is ``None``).

        Raises
        ------
        ConfigError
            If ``n_units`` is not a positive integer, or is odd with ``doubled=True``.
        DimensionError
            If ``dim`` is not a positive integer.
        """
        if int(n_units) != n_units or n_units < 1:
            raise ConfigError(f"`n_units` must be a positive integer, got {n_units}.")
        if int(dim) != dim or dim < 1:
            raise DimensionError(f"`dim` must be a positive integer, got {dim}.")
        if self.doubled and n_units % 2:
            raise ConfigError(
                f"`n_units` must be even with doubled initialisation (units come in pairs), got {n_units}."
            )
        rng = as_generator(seed, "seed")
        lead = () if n_networks is None else (int(n_networks),)
        n_draw = n_units // 2 if self.doubled else n_units
        if self.c_law == "rademacher":
            c = self.sigma_c * (2.0 * rng.integers(0, 2, size=lead + (n_draw,)) - 1.0)
        else:
            c = self.sigma_c * rng.standard_normal(lead + (n_draw,))
        w = self.sigma_w * rng.standard_normal(lead + (n_draw, dim))
        b = rng.uniform(-self.b_max, self.b_max, size=lead + (n_draw,))
        if self.doubled:
            c = np.concatenate([c, -c], axis=-1)
            w = np.concatenate([w, w], axis=-2)
            b = np.concatenate([b, b], axis=-1)
        return UnitParameters(c, w, b)

    def memory_depth(self, act: Activation | str, tol: float) -> int:
        r"""Window length :math:`L` with :math:`\gamma^{L-1}\sup|\sigma| \le` ``tol``.

        The memory after ``L - 1`` past inputs, started from zero, differs from the
        infinite-past fixed point by at most :math:`\gamma^{L-1}\sup|\sigma|`
        (for unbounded :math:`\sigma` the bound uses 1 as a scale). The window
        also holds the current state, hence ``L = depth + 1``.

        Parameters
        ----------
        act : Activation or str
            The activation :math:`\sigma` (anything :func:`activation` accepts).
        tol : float
            Tolerance on the memory-truncation error, in :math:`(0, 1)`.

        Returns
        -------
        int
            The smallest window length :math:`L \ge 2` with
            :math:`\gamma^{L-1}\sup|\sigma| \le` ``tol`` (2 when :math:`\gamma = 0`).

        Raises
        ------
        ContractionError
            If :math:`\gamma \ge 1`.
        ConfigError
            If ``tol`` is not in :math:`(0, 1)`.
        """
        act = activation(act)
        gamma = self.check_contraction(act)
        if not (0 < tol < 1):
            raise ConfigError(f"`tol` must lie in (0, 1), got {tol}.")
        if gamma == 0.0:
            return 2
        scale = act.sup_sigma if math.isfinite(act.sup_sigma) else 1.0
        depth = max(1, math.ceil(math.log(tol / scale) / math.log(gamma)))
        # the logarithms round: make depth the smallest integer with gamma^depth scale <= tol
        while depth > 1 and gamma ** (depth - 1) * scale <= tol:
            depth -= 1
        while gamma**depth * scale > tol:
            depth += 1
        return depth + 1
