r"""Quadrature rules for the parameter prior :math:`\mu_0` over :math:`(w, b)` (:ref:`theory §4.1 <theory-grid>`).

Every expectation of the limit, :math:`\mathbb E_{w,b}[F(w, b)]` with
:math:`w\sim\mathcal N(0,\sigma_w^2 I_d)` and :math:`b\sim\mathrm U(-b_{\max}, b_{\max})`,
is replaced by a rule

.. math::

    \mathbb E_{\mu_0}[F] \approx \sum_{g=1}^G q_g\, F(w_g, b_g),\qquad q_g > 0,\quad
    \sum_g q_g = 1,

(the output weight :math:`c` is integrated out exactly through :math:`\mathbb E[c^2]`).
Kinds:

``"legendre"`` (default)
    Tensor product over :math:`(w_1,\dots,w_d, b)`, :math:`d\le 2`. Each :math:`w`
    axis: Gauss--Legendre nodes :math:`x_i = \tau\sigma_w t_i` on the truncated range
    :math:`[-\tau\sigma_w, \tau\sigma_w]` (:math:`\tau` = ``truncation``, 8 by default)
    with weights :math:`\lambda_i\tau\sigma_w\,\varphi_{\sigma_w}(x_i)`, renormalised
    to sum to one; the renormalisation absorbs the Gaussian tail mass beyond
    :math:`\tau` standard deviations (:math:`1.2\times10^{-15}` at :math:`\tau = 8`).
    This rule suits integrands such as :math:`\tanh(w x + \cdot)^2` whose analytic
    continuation has poles near the real axis.
``"hermite"``
    Same tensor structure; :math:`w` axes use probabilists' Gauss--Hermite nodes
    scaled by :math:`\sigma_w` with weights divided by :math:`\sqrt{2\pi}`: exact for
    polynomials of degree :math:`2n-1` in each :math:`w_i`, but only
    :math:`\exp(-c\sqrt n)` convergent for tanh-type integrands.
``"sobol"``
    Scrambled Sobol points :math:`u\in(0,1)^{d+1}` (``scipy.stats.qmc.Sobol``) mapped
    through the inverse CDFs, :math:`w = \sigma_w\Phi^{-1}(u_{1..d})`,
    :math:`b = b_{\max}(2u_{d+1} - 1)`, with equal weights; any :math:`d`, error close
    to :math:`G^{-1}` for smooth integrands.
``"uniform"``
    Equispaced tensor grid (trapezoid weights times the density on
    :math:`[-\tau\sigma_w,\tau\sigma_w]`, trapezoid on :math:`[-b_{\max}, b_{\max}]`),
    renormalised; second-order accurate, meant for finite differences.

In every kind, :math:`b\sim\mathrm U(-b_{\max}, b_{\max})` uses Gauss--Legendre nodes
:math:`b_{\max} t_j` with weights :math:`\lambda_j/2` (except ``"uniform"``/``"sobol"``);
``b_max = 0`` (no memory) gives a single node :math:`b = 0`.

Tensor nodes are listed in C order over the axes :math:`(w_1,\dots,w_d, b)` (the
:math:`b` index varies fastest), so values on the grid reshape to ``rule.shape``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from numpy.typing import ArrayLike

from .._random import SeedLike, as_generator
from ..budget import check_memory
from ..errors import DimensionError, DiscretisationError
from ..prior import Prior

__all__ = ["QuadratureRule", "parameter_grid", "QUADRATURE_KINDS"]

QUADRATURE_KINDS = ("legendre", "hermite", "sobol", "uniform")
_TENSOR_KINDS = ("legendre", "hermite", "uniform")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=float)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class QuadratureRule:
    r"""A positive quadrature rule :math:`\{(w_g, b_g), q_g\}_{g<G}` for :math:`\mu_0` over :math:`(w, b)`.

    It replaces :math:`\mathbb E_{\mu_0}[F] \approx \sum_{g=1}^G q_g F(w_g, b_g)`. Build
    one with :func:`parameter_grid`.

    Parameters
    ----------
    w : ndarray, shape (G, d)
        Input-weight nodes :math:`w_g`.
    b : ndarray, shape (G,)
        Recurrence nodes :math:`b_g`.
    weights : ndarray, shape (G,)
        Probability weights :math:`q_g > 0`, :math:`\sum_g q_g = 1`.
    kind : str
        One of ``"legendre"``, ``"hermite"``, ``"sobol"``, ``"uniform"``.
    axes : tuple of ndarray or None
        For tensor rules, the 1-D nodes of each axis :math:`(w_1,\dots,w_d, b)`;
        ``None`` for Sobol points.
    prior : Prior
        The prior the rule discretises (``sigma_w``, ``b_max``).
    truncation : float
        :math:`\tau`, half-width of the :math:`w` range in standard deviations
        (``"legendre"``, ``"uniform"``).
    n_w, n_b : int
        Nodes per :math:`w` axis and on the :math:`b` axis (Sobol: ``n_w`` is the
        number of points).
    seed : int or None
        Scrambling seed of Sobol rules (drawn once from the caller's generator, so
        that :meth:`refined` extends the same sequence).

    Raises
    ------
    DimensionError
        If the shapes of ``w``, ``b``, ``weights`` or ``axes`` disagree.
    DiscretisationError
        If the nodes or weights are not finite, or the weights are negative or do not
        sum to one.
    """

    w: np.ndarray
    b: np.ndarray
    weights: np.ndarray
    kind: str
    axes: tuple[np.ndarray, ...] | None = None
    prior: Prior = field(default_factory=Prior)
    truncation: float = 8.0
    n_w: int = 0
    n_b: int = 0
    seed: int | None = None

    def __post_init__(self):
        w = np.asarray(self.w, dtype=float)
        if w.ndim == 1:
            w = w[:, None]
        b = np.asarray(self.b, dtype=float)
        q = np.asarray(self.weights, dtype=float)
        if w.ndim != 2 or b.shape != (w.shape[0],) or q.shape != (w.shape[0],):
            raise DimensionError(
                f"`w` must have shape (G, d), `b` and `weights` shape (G,); got w {w.shape}, "
                f"b {b.shape}, weights {q.shape}."
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b)) and np.all(np.isfinite(q))):
            raise DiscretisationError("`w`, `b` and `weights` of a quadrature rule must be finite.")
        if np.any(q < 0) or abs(q.sum() - 1.0) > 1e-12 * max(1, q.size):
            raise DiscretisationError(
                f"`weights` must be non-negative and sum to 1, got sum {q.sum():.17g} and "
                f"minimum {q.min():.3g}."
            )
        object.__setattr__(self, "w", _readonly(w))
        object.__setattr__(self, "b", _readonly(b))
        object.__setattr__(self, "weights", _readonly(q))
        if self.axes is not None:
            axes = tuple(_readonly(a) for a in self.axes)
            if len(axes) != w.shape[1] + 1 or math.prod(a.size for a in axes) != w.shape[0]:
                raise DimensionError(
                    f"`axes` must hold d + 1 = {w.shape[1] + 1} 1-D node arrays whose sizes "
                    f"multiply to G = {w.shape[0]}."
                )
            object.__setattr__(self, "axes", axes)

    def __repr__(self) -> str:
        return (
            f"QuadratureRule(kind={self.kind!r}, G={self.G}, dim={self.dim}, "
            f"shape={self.shape})"
        )

    @property
    def G(self) -> int:
        """Number of nodes :math:`G`."""
        return int(self.b.shape[0])

    @property
    def dim(self) -> int:
        """Dimension :math:`d` of :math:`w`."""
        return int(self.w.shape[1])

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Axis lengths ``(n_w, ..., n_w, n_b)`` of a tensor rule, ``None`` otherwise."""
        if self.axes is None:
            return None
        return tuple(int(a.size) for a in self.axes)

    @property
    def is_tensor(self) -> bool:
        """Whether the nodes form a tensor grid (``axes`` is set)."""
        return self.axes is not None

    def integrate(self, values: ArrayLike) -> np.ndarray:
        r""":math:`\sum_g q_g F_g`: contract the last axis (of length :math:`G`) with the weights.

        Parameters
        ----------
        values : array_like, shape (..., G)
            Values :math:`F(w_g, b_g)`.

        Returns
        -------
        ndarray, shape (...)
        """
        values = np.asarray(values)
        if values.shape[-1:] != (self.G,):
            raise DimensionError(
                f"`values` must have last axis of length G = {self.G}, got shape {values.shape}."
            )
        return values @ self.weights

    def refined(self) -> QuadratureRule:
        r"""The next finer rule of the same kind: twice the nodes per axis (Sobol: twice the points).

        A Sobol rule keeps its scrambling seed, so its refinement contains the
        original points. Used for the refinement estimate of the quadrature error.

        Returns
        -------
        QuadratureRule
            Same kind, prior and truncation with ``2 n_w`` nodes per :math:`w` axis and
            ``2 n_b`` on the :math:`b` axis (one node when :math:`b_{\max} = 0`); Sobol:
            ``2 n_w`` points.
        """
        n_b = 1 if self.prior.b_max == 0 else 2 * self.n_b
        return parameter_grid(
            self.prior,
            self.dim,
            n_w=2 * self.n_w,
            n_b=n_b,
            kind=self.kind,
            truncation=self.truncation,
            rng=None,
            _seed=self.seed,
        )


# ----------------------------------------------------------------------------------------------
# One-dimensional rules (probability weights).


def _w_axis(kind: str, n: int, sigma_w: float, truncation: float) -> tuple[np.ndarray, np.ndarray]:
    if kind == "hermite":
        x, lam = hermegauss(n)
        return sigma_w * x, lam / lam.sum()  # lam.sum() = sqrt(2 pi) up to rounding
    half = truncation * sigma_w
    if kind == "legendre":
        t, lam = leggauss(n)
        x = half * t
        q = lam * np.exp(-0.5 * (x / sigma_w) ** 2)
    else:  # uniform: trapezoid times density
        if n < 2:
            raise DiscretisationError(f"`n_w` must be at least 2 for a uniform grid, got {n}.")
        x = np.linspace(-half, half, n)
        q = np.full(n, 1.0)
        q[[0, -1]] = 0.5
        q = q * np.exp(-0.5 * (x / sigma_w) ** 2)
    return x, q / q.sum()


def _b_axis(kind: str, n: int, b_max: float) -> tuple[np.ndarray, np.ndarray]:
    if b_max == 0:
        return np.zeros(1), np.ones(1)
    if kind == "uniform":
        if n < 2:
            raise DiscretisationError(f"`n_b` must be at least 2 for a uniform grid, got {n}.")
        x = np.linspace(-b_max, b_max, n)
        q = np.full(n, 1.0 / (n - 1))
        q[[0, -1]] *= 0.5
        return x, q / q.sum()
    t, lam = leggauss(n)
    return b_max * t, lam / lam.sum()


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DiscretisationError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def parameter_grid(
    prior: Prior,
    dim: int,
    *,
    n_w: int = 64,
    n_b: int = 16,
    kind: str = "legendre",
    truncation: float = 8.0,
    rng: SeedLike | None = None,
    memory_budget: float | str | None = None,
    _seed: int | None = None,
) -> QuadratureRule:
    r"""A quadrature rule for :math:`\mu_0` over :math:`(w, b)\in\mathbb R^d\times\mathbb R`.

    Parameters
    ----------
    prior : Prior
        Supplies :math:`\sigma_w` and :math:`b_{\max}`.
    dim : int
        Dimension :math:`d` of :math:`w`; tensor kinds need :math:`d\le 2`.
    n_w : int
        Nodes per :math:`w` axis (tensor kinds) or number of Sobol points (a power of 2).
    n_b : int
        Nodes on the :math:`b` axis (ignored when ``b_max = 0``: one node :math:`b=0`).
    kind : {"legendre", "hermite", "sobol", "uniform"}
        See the module docstring.
    truncation : float
        :math:`\tau`: the :math:`w` range of ``"legendre"`` and ``"uniform"`` is
        :math:`[-\tau\sigma_w, \tau\sigma_w]`.
    rng : int, SeedSequence or Generator
        Required for ``"sobol"`` (scrambling); ignored otherwise.
    memory_budget : int or str, optional
        Refuse, before building, rules whose node arrays (about :math:`8G(3d + 6)`
        bytes) exceed this many bytes (default: :func:`limitsolver.budget.memory_budget`).
    _seed : int, optional
        Internal: a Sobol scrambling seed to reuse instead of drawing one from ``rng``
        (set by :meth:`QuadratureRule.refined`); not part of the public interface.

    Returns
    -------
    QuadratureRule
        :math:`G = n_w^d n_b` nodes for tensor kinds, ``n_w`` for Sobol.

    Raises
    ------
    DimensionError
        If ``dim > 2`` with a tensor kind (use ``kind="sobol"``).
    DiscretisationError
        For non-positive node counts, a Sobol size that is not a power of 2, or a rule
        larger than the memory budget.

    Notes
    -----
    Cost :math:`O(G d)`; the 1-D Gauss rules cost :math:`O(n^2)` to build.
    """
    if not isinstance(prior, Prior):
        raise TypeError(f"`prior` must be a limitsolver.Prior, got {type(prior).__name__}.")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise DimensionError(f"`dim` must be a positive integer, got {dim!r}.")
    dim = int(dim)
    if kind not in QUADRATURE_KINDS:
        raise DiscretisationError(f"`kind` must be one of {QUADRATURE_KINDS}, got {kind!r}.")
    n_w = _count(n_w, "n_w")
    n_b = 1 if prior.b_max == 0 else _count(n_b, "n_b")
    if not (math.isfinite(truncation) and truncation > 0):
        raise DiscretisationError(f"`truncation` must be positive and finite, got {truncation}.")
    sigma_w, b_max = float(prior.sigma_w), float(prior.b_max)
    G = n_w if kind == "sobol" else n_w**dim * n_b
    check_memory(8.0 * G * (3 * dim + 6), f"a {kind} rule of {G} nodes (n_w = {n_w}, n_b = {n_b})",
                 budget=memory_budget, fix="use fewer nodes")

    if kind == "sobol":
        if n_w & (n_w - 1):
            raise DiscretisationError(
                f"`n_w` must be a power of 2 for a Sobol rule (balance properties), got {n_w}; "
                f"use {1 << (n_w.bit_length() - 1)} or {1 << n_w.bit_length()}."
            )
        if _seed is None:
            if rng is None:
                raise DiscretisationError(
                    '`rng` is required for kind="sobol" (scrambling); pass e.g. `rng=0`.'
                )
            _seed = int(as_generator(rng).integers(0, 2**63 - 1))
        from scipy.stats import norm, qmc  # here: scipy.stats is slow to import

        n_dim = dim + (1 if b_max > 0 else 0)
        u = qmc.Sobol(n_dim, scramble=True, seed=np.random.default_rng(_seed)).random(n_w)
        tiny = np.finfo(float).eps
        u = np.clip(u, tiny, 1.0 - tiny)
        w = sigma_w * norm.ppf(u[:, :dim])
        b = b_max * (2.0 * u[:, dim] - 1.0) if b_max > 0 else np.zeros(n_w)
        return QuadratureRule(
            w, b, np.full(n_w, 1.0 / n_w), kind, None, prior, float(truncation), n_w, n_b, _seed
        )

    if dim > 2:
        raise DimensionError(
            f'tensor rules (`kind`={kind!r}) support `dim` <= 2 ({n_w}^{dim} nodes would be '
            f'needed for d = {dim}); use kind="sobol" for higher dimensions.'
        )
    xw, qw = _w_axis(kind, n_w, sigma_w, float(truncation))
    xb, qb = _b_axis(kind, n_b, b_max)
    axes = (xw,) * dim + (xb,)
    qaxes = (qw,) * dim + (qb,)
    mesh = np.meshgrid(*axes, indexing="ij")
    nodes = np.stack([m.ravel() for m in mesh], axis=1)
    q = qaxes[0]
    for qa in qaxes[1:]:
        q = np.multiply.outer(q, qa)
    q = q.ravel()
    q = q / q.sum()
    return QuadratureRule(
        nodes[:, :dim], nodes[:, dim], q, kind, axes, prior, float(truncation), n_w, n_b, None
    )
