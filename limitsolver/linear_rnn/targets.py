r"""Target linear functionals for the curse-of-memory studies (:ref:`theory §6 <theory-memory>`): their memory kernels.

A target is the kernel ``rho`` of the linear functional

.. math:: y_t = \int_0^\infty \rho(s)\, x_{t-s}\, ds

(scalar input, ``d = 1``).  Every target provides

* ``rho(t)`` (also ``target(t)``), vectorised;
* its Laplace transform ``laplace(lam) = int_0^inf e^{-lam t} rho(t) dt`` and first
  moment ``laplace_moment(lam) = int_0^inf t e^{-lam t} rho(t) dt = -d laplace / d lam``,
  which enter the white-noise loss of a diagonal linear RNN;
* ``norm2 = int_0^inf rho(t)^2 dt``;
* ``memory``: the memory parameter of its family (``1/min mu`` for exponential
  sums, ``1/omega`` for power laws, the delay ``t0`` for delayed bumps and Airy
  kernels);
* :meth:`memory_time`: the time by which a fraction of ``int |rho|`` has passed.

Families and how their transforms are computed:

=======================  =======================================  ==============================
family                   ``rho(t)``                               Laplace transform
=======================  =======================================  ==============================
:class:`ExponentialSum`  ``sum_k a_k e^{-mu_k t}``                 ``sum_k a_k / (lam + mu_k)``
:class:`PowerLaw`        ``A (1 + t)^{-(1 + omega)}``              ``A e^lam E_{1+omega}(lam)``
:class:`DelayedBump`     ``A exp(-(t - t0)^2 / (2 w^2))``          erfcx closed form
:class:`ExponentialBump` ``a e^{-mu t}`` + a delayed bump            sum of the two closed forms
:class:`AiryTarget`      ``A Ai(s0 (t - t0))``                     composite Gauss--Legendre
:class:`CallableTarget`  user function                            Gauss--Legendre (mapped)
=======================  =======================================  ==============================

``E_nu`` is the generalised exponential integral; for the power law the moment
is ``A e^lam (E_omega(lam) - E_{1+omega}(lam))``.  For the bump, with
``z = (lam w^2 - t0) / (w sqrt 2)``, the transform is
``A w sqrt(pi/2) e^{-t0^2/(2 w^2)} erfcx(z)``.  For the Airy kernel,
``norm2 = A^2 (Ai'(x0)^2 - x0 Ai(x0)^2) / s0`` with ``x0 = -s0 t0`` (from the
antiderivative ``x Ai^2 - Ai'^2`` of ``Ai^2``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, optimize, special

from .._docstrings import with_sections
from ..errors import ConfigError, LimitSolverError
from ._special import gauss_legendre_halfline, gauss_legendre_panels, scaled_expint

__all__ = [
    "MemoryKernel",
    "ExponentialSum",
    "PowerLaw",
    "DelayedBump",
    "ExponentialBump",
    "AiryTarget",
    "CallableTarget",
    "memory_time",
    "target_from_dict",
    "TARGET_FAMILIES",
]


def __getattr__(name: str):
    if name == "Target":
        import warnings

        warnings.warn("`limitsolver.linear_rnn.Target` is deprecated; it is the memory kernel "
                      "of a target functional, now `MemoryKernel`.", DeprecationWarning,
                      stacklevel=2)
        return MemoryKernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The numpydoc sections shared by every family's ``rho``, ``laplace`` and ``laplace_moment``,
# written once and appended to each method's own summary and formula.
_METHOD = " " * 8  # indentation of a method's docstring
_RHO_SECTIONS = """
Parameters
----------
t : array_like
    Times ``t >= 0``.

Returns
-------
numpy.ndarray
    ``rho(t)``, same shape as ``t``.
"""

_RATE_SECTIONS = """
Parameters
----------
lam : array_like
    Positive, finite rates.

Returns
-------
numpy.ndarray
    ``{value}(lam)``, same shape as ``lam``.

Raises
------
ConfigError
    If some ``lam`` is not positive and finite.
"""


def _check_positive(name: str, value: float, why: str = "") -> None:
    """Raise :class:`ConfigError` unless ``value`` is positive and finite (``why``: a reason)."""
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"`{name}` must be positive{why}; got {value}.")


def _check_delay(t0: float) -> None:
    """Raise :class:`ConfigError` unless the delay ``t0`` is non-negative and finite."""
    if not (t0 >= 0 and math.isfinite(t0)):
        raise ConfigError(f"`t0` must be a non-negative delay; got {t0}.")


def _rates(lam) -> np.ndarray:
    lam = np.asarray(lam, dtype=float)
    if np.any(~np.isfinite(lam)) or np.any(lam <= 0):
        raise ConfigError(
            "`lam` must be finite and positive (W = -diag(lam) must be Hurwitz); "
            f"got min {np.min(lam) if lam.size else 'n/a'}."
        )
    return lam


class MemoryKernel:
    """Base class of memory kernels ``rho`` of target functionals; subclasses are frozen dataclasses.

    (Called ``Target`` before; that name is kept as a deprecated alias. It is not
    :class:`limitsolver.targets.Target`, the target function of a kernel-limit problem.)

    Subclasses implement ``rho``, and either closed-form ``laplace`` /
    ``laplace_moment`` / ``norm2`` or a ``_rule`` (nodes, weights) on which those
    integrals are evaluated by quadrature.
    """

    family: str = "target"

    def __call__(self, t: ArrayLike) -> np.ndarray:
        return self.rho(t)

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        """The kernel ``rho(t)`` at times ``t`` (vectorised; implemented by each family).
        """
        raise NotImplementedError

    @property
    def memory(self) -> float:  # pragma: no cover - abstract
        """The memory parameter of the family (``1/min mu``, ``1/omega`` or ``t0``)."""
        raise NotImplementedError

    @property
    def support(self) -> float:
        """A time beyond which ``|rho|`` is negligible (``inf`` for heavy tails)."""
        return math.inf

    # quadrature fall-backs -------------------------------------------------
    @cached_property
    def _rule(self):
        raise NotImplementedError

    @cached_property
    def _weighted_rho(self):
        t, w = self._rule
        return t, w * self.rho(t)

    @with_sections(_RATE_SECTIONS, _METHOD, value="L")
    def laplace(self, lam: ArrayLike) -> np.ndarray:
        r"""``L(lam) = int_0^inf e^{-lam t} rho(t) dt`` (vectorised over ``lam > 0``).

        .. math:: \mathcal L\rho(\lambda) = \int_0^\infty e^{-\lambda t}\rho(t)\,dt,

        here by the quadrature rule of the family (cost ``O(len(lam) n_nodes)``).
        """
        lam = _rates(lam)
        t, wr = self._weighted_rho
        return np.exp(-np.multiply.outer(lam, t)) @ wr

    @with_sections(_RATE_SECTIONS, _METHOD, value="T")
    def laplace_moment(self, lam: ArrayLike) -> np.ndarray:
        r"""``T(lam) = int_0^inf t e^{-lam t} rho(t) dt = -L'(lam)`` (vectorised).

        .. math:: T(\lambda) = \int_0^\infty t e^{-\lambda t}\rho(t)\,dt
            = -\frac{d}{d\lambda}\mathcal L\rho(\lambda),

        here by the quadrature rule of the family (cost ``O(len(lam) n_nodes)``).
        """
        lam = _rates(lam)
        t, wr = self._weighted_rho
        return np.exp(-np.multiply.outer(lam, t)) @ (t * wr)

    @cached_property
    def norm2(self) -> float:
        """``||rho||^2_{L^2(0, inf)}``."""
        t, w = self._rule
        return float(np.sum(w * self.rho(t) ** 2))

    def memory_time(self, fraction: float = 0.9) -> float:
        """Time by which ``fraction`` of ``int_0^inf |rho|`` has passed; see :func:`memory_time`.

        Parameters
        ----------
        fraction : float, default 0.9
            Fraction in ``(0, 1)`` of the total mass ``int_0^inf |rho|``.

        Returns
        -------
        float
            The time ``T`` with ``int_0^T |rho| = fraction int_0^inf |rho|``.
        """
        return memory_time(self, fraction)

    def to_dict(self) -> dict[str, Any]:
        """Family name and parameters (JSON-ready).

        Returns
        -------
        dict
            ``{"family": name, **parameters}`` (tuples as lists); :func:`target_from_dict`
            rebuilds the target from it.
        """
        d = {"family": self.family}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
        return d

    @property
    def label(self) -> str:
        """Short human-readable description used in tables and plots."""
        params = ", ".join(f"{k}={v}" for k, v in self.to_dict().items() if k != "family")
        return f"{self.family}({params})"


@dataclass(frozen=True)
class ExponentialSum(MemoryKernel):
    """``rho(t) = sum_k a_k e^{-mu_k t}`` (short memory), ``mu_k > 0``.

    Closed forms: ``L(lam) = sum_k a_k/(lam + mu_k)``,
    ``T(lam) = sum_k a_k/(lam + mu_k)^2``, ``norm2 = sum_{k,l} a_k a_l/(mu_k + mu_l)``.
    ``memory = 1 / min mu``.

    Parameters
    ----------
    coefficients : tuple of float
        Amplitudes ``a_k``.
    rates : tuple of float
        Decay rates ``mu_k > 0``, as many as ``coefficients``.

    Raises
    ------
    ConfigError
        If the lengths differ, are zero, or some rate is not positive and finite.
    """

    coefficients: tuple[float, ...]
    rates: tuple[float, ...]
    family = "exponential_sum"

    def __post_init__(self):
        a = tuple(float(v) for v in np.atleast_1d(self.coefficients))
        mu = tuple(float(v) for v in np.atleast_1d(self.rates))
        if len(a) != len(mu) or not a:
            raise ConfigError(
                "`coefficients` and `rates` must be non-empty and of equal length; "
                f"got {len(a)} and {len(mu)}."
            )
        if any(not (m > 0 and math.isfinite(m)) for m in mu):
            raise ConfigError(
                f"`rates` must be positive and finite for rho to be in L^2; got {mu}."
            )
        object.__setattr__(self, "coefficients", a)
        object.__setattr__(self, "rates", mu)

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:
        r"""The kernel ``rho(t) = sum_k a_k e^{-mu_k t}`` at times ``t``.
        """
        t = np.asarray(t, dtype=float)
        a, mu = np.array(self.coefficients), np.array(self.rates)
        return np.exp(-np.multiply.outer(t, mu)) @ a

    @property
    def memory(self) -> float:
        return 1.0 / min(self.rates)

    @with_sections(_RATE_SECTIONS, _METHOD, value="L")
    def laplace(self, lam: ArrayLike) -> np.ndarray:
        r"""``L(lam) = int_0^inf e^{-lam t} rho(t) dt`` in closed form.

        .. math:: \mathcal L\rho(\lambda) = \sum_k \frac{a_k}{\lambda + \mu_k}.
        """
        lam = _rates(lam)
        return (1.0 / np.add.outer(lam, np.array(self.rates))) @ np.array(self.coefficients)

    @with_sections(_RATE_SECTIONS, _METHOD, value="T")
    def laplace_moment(self, lam: ArrayLike) -> np.ndarray:
        r"""``T(lam) = int_0^inf t e^{-lam t} rho(t) dt`` in closed form.

        .. math:: T(\lambda) = \sum_k \frac{a_k}{(\lambda + \mu_k)^2}.
        """
        lam = _rates(lam)
        return (1.0 / np.add.outer(lam, np.array(self.rates)) ** 2) @ np.array(self.coefficients)

    @cached_property
    def norm2(self) -> float:
        a, mu = np.array(self.coefficients), np.array(self.rates)
        return float(a @ (1.0 / np.add.outer(mu, mu)) @ a)


@dataclass(frozen=True)
class PowerLaw(MemoryKernel):
    """``rho(t) = A (1 + t)^{-(1 + omega)}``, ``omega > 0`` (long memory; smaller = longer).

    ``L(lam) = A e^lam E_{1+omega}(lam)``, ``T(lam) = A e^lam (E_omega(lam) - E_{1+omega}(lam))``,
    ``norm2 = A^2 / (1 + 2 omega)``, ``memory = 1 / omega``.

    Parameters
    ----------
    omega : float
        Decay exponent ``omega > 0``.
    amplitude : float, default 1.0
        Amplitude ``A``.

    Raises
    ------
    ConfigError
        If ``omega`` is not positive and finite.
    """

    omega: float
    amplitude: float = 1.0
    family = "power_law"

    def __post_init__(self):
        _check_positive("omega", self.omega, " for rho to be integrable")

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:
        r"""The kernel ``rho(t) = A (1 + t)^{-(1 + omega)}`` at times ``t``.
        """
        return self.amplitude * (1.0 + np.asarray(t, dtype=float)) ** (-(1.0 + self.omega))

    @property
    def memory(self) -> float:
        return 1.0 / self.omega

    @with_sections(_RATE_SECTIONS, _METHOD, value="L")
    def laplace(self, lam: ArrayLike) -> np.ndarray:
        r"""``L(lam) = int_0^inf e^{-lam t} rho(t) dt`` in closed form.

        .. math:: \mathcal L\rho(\lambda) = A e^{\lambda} E_{1+\omega}(\lambda),

        with ``E_nu`` the generalised exponential integral.
        """
        lam = _rates(lam)
        return self.amplitude * scaled_expint(1.0 + self.omega, lam)

    @with_sections(_RATE_SECTIONS, _METHOD, value="T")
    def laplace_moment(self, lam: ArrayLike) -> np.ndarray:
        r"""``T(lam) = int_0^inf t e^{-lam t} rho(t) dt`` in closed form.

        .. math:: T(\lambda) = A e^{\lambda} \big(E_{\omega}(\lambda) - E_{1+\omega}(\lambda)\big),

        with ``E_nu`` the generalised exponential integral.
        """
        lam = _rates(lam)
        return self.amplitude * (
            scaled_expint(self.omega, lam) - scaled_expint(1.0 + self.omega, lam)
        )

    @cached_property
    def norm2(self) -> float:
        return self.amplitude**2 / (1.0 + 2.0 * self.omega)


@dataclass(frozen=True)
class DelayedBump(MemoryKernel):
    """``rho(t) = A exp(-(t - t0)^2 / (2 w^2))``: memory concentrated at delay ``t0``.

    With ``z = (lam w^2 - t0)/(w sqrt 2)``:
    ``L(lam) = A w sqrt(pi/2) e^{-t0^2/(2w^2)} erfcx(z)``,
    ``T(lam) = -L'(lam) = -A w sqrt(pi/2) e^{-t0^2/(2w^2)} (w/sqrt 2) (2 z erfcx(z) - 2/sqrt(pi))``,
    ``norm2 = A^2 w sqrt(pi) erfc(-t0/w) / 2``, ``memory = t0``.

    Parameters
    ----------
    t0 : float
        Delay ``t0 >= 0`` (the memory parameter).
    width : float, default 1.0
        Width ``w > 0``.
    amplitude : float, default 1.0
        Amplitude ``A``.

    Raises
    ------
    ConfigError
        If ``width`` is not positive or ``t0`` is negative (or either is not finite).
    """

    t0: float
    width: float = 1.0
    amplitude: float = 1.0
    family = "delayed_bump"

    def __post_init__(self):
        _check_positive("width", self.width)
        _check_delay(self.t0)

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:
        r"""The kernel ``rho(t) = A exp(-(t - t0)^2 / (2 w^2))`` at times ``t``.
        """
        t = np.asarray(t, dtype=float)
        return self.amplitude * np.exp(-((t - self.t0) ** 2) / (2.0 * self.width**2))

    @property
    def memory(self) -> float:
        return self.t0

    @property
    def support(self) -> float:
        return self.t0 + 9.0 * self.width

    def _z(self, lam):
        return (lam * self.width**2 - self.t0) / (self.width * math.sqrt(2.0))

    @property
    def _prefactor(self) -> float:
        w = self.width
        return (
            self.amplitude * w * math.sqrt(math.pi / 2.0) * math.exp(-(self.t0**2) / (2.0 * w**2))
        )

    @with_sections(_RATE_SECTIONS, _METHOD, value="L")
    def laplace(self, lam: ArrayLike) -> np.ndarray:
        r"""``L(lam) = int_0^inf e^{-lam t} rho(t) dt`` in closed form.

        .. math:: \mathcal L\rho(\lambda) = A w \sqrt{\pi/2}\, e^{-t_0^2/(2w^2)}\,
            \operatorname{erfcx}(z), \qquad z = \frac{\lambda w^2 - t_0}{w\sqrt2}.
        """
        lam = _rates(lam)
        return self._prefactor * special.erfcx(self._z(lam))

    @with_sections(_RATE_SECTIONS, _METHOD, value="T")
    def laplace_moment(self, lam: ArrayLike) -> np.ndarray:
        r"""``T(lam) = int_0^inf t e^{-lam t} rho(t) dt`` in closed form.

        .. math:: T(\lambda) = -A w \sqrt{\pi/2}\, e^{-t_0^2/(2w^2)}\, \frac{w}{\sqrt2}
            \Big(2 z \operatorname{erfcx}(z) - \frac{2}{\sqrt\pi}\Big),
            \qquad z = \frac{\lambda w^2 - t_0}{w\sqrt2}.
        """
        lam = _rates(lam)
        z = self._z(lam)
        dz = self.width / math.sqrt(2.0)
        return -self._prefactor * dz * (2.0 * z * special.erfcx(z) - 2.0 / math.sqrt(math.pi))

    @cached_property
    def norm2(self) -> float:
        w = self.width
        return self.amplitude**2 * w * math.sqrt(math.pi) * special.erfc(-self.t0 / w) / 2.0


@dataclass(frozen=True)
class ExponentialBump(MemoryKernel):
    r"""``rho(t) = a e^{-mu t} + A exp(-(t - t0)^2 / (2 w^2))``: short memory plus a delayed bump.

    The target family of the plateau theorem: an exponential, which a linear RNN
    learns quickly, and a Gaussian bump at delay ``t0``, whose memory makes the
    gradient flow stall. The transforms add those of :class:`ExponentialSum` and
    :class:`DelayedBump`; with :math:`L_{\rm bump}` the bump's transform,

    .. math::

        \mathcal L\rho(\lambda) = \frac{a}{\lambda + \mu} + L_{\rm bump}(\lambda), \qquad
        T(\lambda) = \frac{a}{(\lambda + \mu)^2} + T_{\rm bump}(\lambda),

        \|\rho\|^2 = \frac{a^2}{2\mu} + \|\rho_{\rm bump}\|^2 + 2 a L_{\rm bump}(\mu),

    the cross term being :math:`2\int_0^\infty a e^{-\mu t}\rho_{\rm bump}(t)\,dt`.
    ``memory = t0``.

    Parameters
    ----------
    t0 : float
        Delay ``t0 >= 0`` of the bump (the memory parameter).
    width : float, default 1.0
        Width ``w > 0`` of the bump.
    amplitude : float, default 1.0
        Amplitude ``A`` of the bump.
    coefficient : float, default 1.0
        Amplitude ``a`` of the exponential.
    rate : float, default 1.0
        Decay rate ``mu > 0`` of the exponential.

    Raises
    ------
    ConfigError
        If ``width`` or ``rate`` is not positive, or ``t0`` is negative (or any is not finite).
    """

    t0: float
    width: float = 1.0
    amplitude: float = 1.0
    coefficient: float = 1.0
    rate: float = 1.0
    family = "exponential_bump"

    def __post_init__(self):
        _check_positive("rate", self.rate, " for rho to be in L^2")
        if not (math.isfinite(self.coefficient) and math.isfinite(self.amplitude)):
            raise ConfigError("`coefficient` and `amplitude` must be finite.")
        self._parts  # noqa: B018 -- validates `t0` and `width` through the bump

    @cached_property
    def _parts(self) -> tuple[ExponentialSum, DelayedBump]:
        return (ExponentialSum((self.coefficient,), (self.rate,)),
                DelayedBump(self.t0, self.width, self.amplitude))

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:
        r"""The kernel ``rho(t) = a e^{-mu t} + A exp(-(t - t0)^2 / (2 w^2))`` at times ``t``.
        """
        e, b = self._parts
        return e.rho(t) + b.rho(t)

    @property
    def memory(self) -> float:
        return self.t0

    @property
    def support(self) -> float:
        return max(self.t0 + 9.0 * self.width, 37.0 / self.rate)

    @with_sections(_RATE_SECTIONS, _METHOD, value="L")
    def laplace(self, lam: ArrayLike) -> np.ndarray:
        r"""``L(lam) = int_0^inf e^{-lam t} rho(t) dt`` in closed form.

        .. math:: \mathcal L\rho(\lambda) = \frac{a}{\lambda + \mu} + A w \sqrt{\pi/2}\,
            e^{-t_0^2/(2w^2)}\,\operatorname{erfcx}(z), \qquad z = \frac{\lambda w^2 - t_0}{w\sqrt2}.
        """
        e, b = self._parts
        return e.laplace(lam) + b.laplace(lam)

    @with_sections(_RATE_SECTIONS, _METHOD, value="T")
    def laplace_moment(self, lam: ArrayLike) -> np.ndarray:
        r"""``T(lam) = int_0^inf t e^{-lam t} rho(t) dt`` in closed form.

        .. math:: T(\lambda) = \frac{a}{(\lambda + \mu)^2} + T_{\rm bump}(\lambda)

        (:meth:`DelayedBump.laplace_moment`).
        """
        e, b = self._parts
        return e.laplace_moment(lam) + b.laplace_moment(lam)

    @cached_property
    def norm2(self) -> float:
        e, b = self._parts
        cross = 2.0 * self.coefficient * float(b.laplace(np.array([self.rate]))[0])
        return e.norm2 + b.norm2 + cross


@dataclass(frozen=True)
class AiryTarget(MemoryKernel):
    """``rho(t) = A Ai(s0 (t - t0))``: oscillatory memory with its mass at delay ``t0``.

    ``L`` and ``T`` by a composite 16-point Gauss--Legendre rule on ``[0, t0 + 14/s0]``
    (``|Ai(14)| < 1e-16``) with panels resolving the oscillations of ``Ai`` at
    ``-s0 t0`` and the decay of ``e^{-lam t}`` up to ``lam ~ 100``;
    ``norm2 = A^2 (Ai'(x0)^2 - x0 Ai(x0)^2)/s0`` with ``x0 = -s0 t0``; ``memory = t0``.

    Parameters
    ----------
    t0 : float
        Delay ``t0 >= 0`` (the memory parameter).
    s0 : float, default 1.0
        Time scale ``s0 > 0`` of the Airy function.
    amplitude : float, default 1.0
        Amplitude ``A``.

    Raises
    ------
    ConfigError
        If ``s0`` is not positive or ``t0`` is negative (or either is not finite).
    """

    t0: float
    s0: float = 1.0
    amplitude: float = 1.0
    family = "airy"

    def __post_init__(self):
        _check_positive("s0", self.s0)
        _check_delay(self.t0)

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:
        r"""The kernel ``rho(t) = A Ai(s0 (t - t0))`` at times ``t``.
        """
        t = np.asarray(t, dtype=float)
        return self.amplitude * special.airy(self.s0 * (t - self.t0))[0]

    @property
    def memory(self) -> float:
        return self.t0

    @property
    def support(self) -> float:
        return self.t0 + 14.0 / self.s0

    @cached_property
    def _rule(self):
        osc = self.s0 * math.sqrt(max(1.0, self.s0 * self.t0))
        h = min(0.25, 0.5 / osc)
        n_panels = max(8, int(math.ceil(self.support / h)))
        return gauss_legendre_panels(self.support, n_panels)

    @cached_property
    def norm2(self) -> float:
        x0 = -self.s0 * self.t0
        ai, aip, _, _ = special.airy(x0)
        return float(self.amplitude**2 * (aip**2 - x0 * ai**2) / self.s0)


@dataclass(frozen=True)
class CallableTarget(MemoryKernel):
    """A user kernel ``rho = func(t)`` (vectorised callable).

    ``support``: finite time beyond which ``rho`` vanishes (composite Gauss--Legendre on
    ``[0, support]`` with ``n_nodes`` nodes), or ``inf`` (Gauss--Legendre mapped by
    ``t = scale u/(1-u)``).  ``memory`` is the user's memory parameter (reported only).

    Parameters
    ----------
    func : callable
        Vectorised ``t -> rho(t)``.
    memory_parameter : float, default nan
        The user's memory parameter, reported as ``memory``.
    support_time : float, default inf
        Time beyond which ``rho`` vanishes (positive), or ``inf``.
    scale : float, default 1.0
        Scale of the map ``t = scale u/(1-u)`` used when ``support_time`` is infinite.
    n_nodes : int, default 800
        Number of quadrature nodes.
    name : str, default "callable"
        Name used in labels and :meth:`to_dict`.

    Raises
    ------
    ConfigError
        If ``func`` is not callable or ``support_time`` is not positive.
    """

    func: Callable[[np.ndarray], np.ndarray]
    memory_parameter: float = math.nan
    support_time: float = math.inf
    scale: float = 1.0
    n_nodes: int = 800
    name: str = "callable"
    family = "callable"

    def __post_init__(self):
        if not callable(self.func):
            raise ConfigError("`func` must be a callable t -> rho(t).")
        if not self.support_time > 0:
            raise ConfigError(f"`support_time` must be positive; got {self.support_time}.")

    @with_sections(_RHO_SECTIONS, _METHOD)
    def rho(self, t: ArrayLike) -> np.ndarray:
        r"""The kernel ``rho(t) = func(t)`` at times ``t``.
        """
        t = np.asarray(t, dtype=float)
        return np.broadcast_to(np.asarray(self.func(t), dtype=float), t.shape)

    @property
    def memory(self) -> float:
        return float(self.memory_parameter)

    @property
    def support(self) -> float:
        return float(self.support_time)

    @cached_property
    def _rule(self):
        if math.isfinite(self.support_time):
            return gauss_legendre_panels(self.support_time, max(1, self.n_nodes // 16))
        return gauss_legendre_halfline(self.scale, self.n_nodes)

    def to_dict(self) -> dict[str, Any]:
        """Family, name, memory parameter and support (JSON-ready; ``func`` is not stored).

        Returns
        -------
        dict
            ``{"family", "name", "memory_parameter", "support_time"}``; a callable target
            cannot be rebuilt by :func:`target_from_dict`.
        """
        return {
            "family": self.family,
            "name": self.name,
            "memory_parameter": self.memory_parameter,
            "support_time": self.support_time,
        }


def memory_time(target: MemoryKernel, fraction: float = 0.9) -> float:
    r"""Memory measure: the time ``T`` with ``int_0^T |rho| = fraction int_0^inf |rho|``.

    .. math:: \int_0^T |\rho(t)|\,dt = \text{fraction} \int_0^\infty |\rho(t)|\,dt.

    Closed form for power laws, ``T = (1 - fraction)^{-1/omega} - 1``; otherwise
    adaptive quadrature (:func:`scipy.integrate.quad`, on ``[0, target.support]`` for the
    total) and Brent's method.

    Parameters
    ----------
    target : MemoryKernel
        The kernel ``rho``.
    fraction : float, default 0.9
        Fraction in ``(0, 1)`` of the total mass.

    Returns
    -------
    float
        The memory time ``T``.

    Raises
    ------
    ConfigError
        If ``fraction`` is not in ``(0, 1)`` or ``rho`` is identically zero.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"`fraction` must lie in (0, 1); got {fraction}.")
    if isinstance(target, PowerLaw):
        return float((1.0 - fraction) ** (-1.0 / target.omega) - 1.0)

    def absrho(t):
        return float(abs(target.rho(np.array([t]))[0]))

    upper = target.support
    total = integrate.quad(absrho, 0.0, upper, limit=500)[0]
    if total == 0.0:
        raise ConfigError("`target` is identically zero; its memory time is undefined.")

    def excess(T):
        return integrate.quad(absrho, 0.0, T, limit=500)[0] - fraction * total

    hi = 1.0
    while excess(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-10, rtol=1e-10))


TARGET_FAMILIES: dict[str, type] = {
    "exponential_sum": ExponentialSum,
    "power_law": PowerLaw,
    "delayed_bump": DelayedBump,
    "exponential_bump": ExponentialBump,
    "airy": AiryTarget,
}


def target_from_dict(spec: dict[str, Any], key: str = "target") -> MemoryKernel:
    """Build a target from ``{"family": name, **parameters}`` (e.g. a TOML table).

    Inverse of :meth:`MemoryKernel.to_dict` for the families of ``TARGET_FAMILIES``
    (lists are turned into tuples).

    Parameters
    ----------
    spec : dict
        ``{"family": name, **parameters}``.
    key : str, default "target"
        Name of the table, used in error messages.

    Returns
    -------
    MemoryKernel
        The target of that family.

    Raises
    ------
    ConfigError
        Naming ``key`` when the family is unknown or a parameter is missing or invalid.
    """
    if not isinstance(spec, dict) or "family" not in spec:
        raise ConfigError(
            f"`{key}` must be a table with a `family` entry, one of {sorted(TARGET_FAMILIES)}."
        )
    params = {k: v for k, v in spec.items() if k != "family"}
    family = spec["family"]
    if family not in TARGET_FAMILIES:
        raise ConfigError(
            f"`{key}.family` must be one of {sorted(TARGET_FAMILIES)}; got {family!r}."
        )
    cls = TARGET_FAMILIES[family]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(params) - names
    if unknown:
        raise ConfigError(
            f"`{key}` has unknown parameters {sorted(unknown)} for family {family!r}; "
            f"allowed: {sorted(names)}."
        )
    try:
        for k, v in params.items():
            if isinstance(v, list):
                params[k] = tuple(v)
        return cls(**params)
    except (TypeError, LimitSolverError) as exc:
        raise ConfigError(f"`{key}` is not a valid {family!r} target: {exc}") from exc
