r"""The limit ODE on a finite set of histories and its exact solutions (:ref:`theory §4.4 <theory-ode>`).

On training histories :math:`\xi_1, \dots, \xi_M` with weights
:math:`W = \operatorname{diag}(\omega)` the limit equation is the linear ODE

.. math::

    \frac{dh}{dt} = \alpha A W (g - h), \qquad r_t = g - h_t,\qquad
    r_t = e^{-\alpha t A W} r_0,

and every route below returns the same object: the weighted time integral of
the residual, from which the output at *any* history follows by the Nyström
extension

.. math::

    h_t(\xi) = h_0(\xi) + \alpha A(\xi,\cdot)\, W \int_0^t r_s\,ds .

A flow is built once (its decomposition is the expensive part) and is affine in
:math:`h_0`: :meth:`coefficients` takes any initial residual :math:`r_0`.

Routes (classes):

:class:`SymmetricFlow`
    rtrl kernel, :math:`B = W^{1/2} A W^{1/2} = V\Lambda V^\top`:

    .. math::

        W^{1/2} r_t = V e^{-\alpha\Lambda t} V^\top W^{1/2} r_0,\qquad
        \alpha W^{1/2}\!\int_0^t r_s\,ds = V\,\operatorname{diag}
        \bigl(\alpha t\,\varphi_1(\alpha\lambda t)\bigr) V^\top W^{1/2} r_0,

    :math:`\varphi_1(x) = (1 - e^{-x})/x`. Built from the dense ``B``
    (:meth:`SymmetricFlow.from_kernel`, :math:`O(M^3)`) or, when
    :math:`A = F F^\top` with :math:`r < M` columns, from the thin SVD
    :math:`W^{1/2}F = U S Y^\top` (:meth:`SymmetricFlow.from_factor`,
    :math:`O(M r^2)`; :math:`\Lambda = S^2`, the other :math:`M - r`
    eigenvalues are exactly zero).
:class:`ExponentialFlow`
    Any kernel (the non-symmetric truncated one in particular): the integral
    :math:`z_t = \int_0^t e^{sY} v\,ds = t\,\varphi_1(-tY) v` of the linear system
    :math:`z' = v + Y z` is read off the augmented exponential
    :math:`\exp\bigl(t\,[\begin{smallmatrix}Y & v\\ 0 & 0\end{smallmatrix}]\bigr)`,
    stepped along the time grid. Dense: :math:`Y = -\alpha A W`, :math:`v = r_0`.
    Low rank (:math:`A W = U V^\top`): :math:`Y = -\alpha Z`, :math:`Z = V^\top U`
    (:math:`r\times r`), :math:`v = V^\top r_0`, so that
    :math:`e^{-\alpha t UV^\top} = I + U f_t(Z) V^\top`,
    :math:`f_t(Z) = (e^{-\alpha t Z} - I)Z^{-1}` (see :func:`lowrank_exponential`).
:class:`IVPFlow`
    Time stepping of :math:`(h, \int r)` with :func:`scipy.integrate.solve_ivp`,
    the cross-check.

Every flow derives from :class:`LimitFlow`, whose docstring is the implementer
contract (what a subclass provides, shapes, units, what is cached). Each flow's
:meth:`~LimitFlow.coefficients` returns :math:`a(t)` (n_times, k) and the output is
:math:`h_t(\xi) - h_0(\xi) = R(\xi)\,E\,a(t)`, with the *rows* :math:`R(\xi)` given
by the flow's row basis: :class:`KernelRows` (:math:`A(\xi,\cdot)W^{1/2}`) or
:class:`FactorRows` (the kernel factor :math:`F(\xi)`), and :math:`E` the flow's
``extension`` matrix. Times may include :math:`t = \infty`, the long-time limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp
from scipy.sparse.linalg import expm_multiply

from .._docstrings import with_sections
from ..errors import DimensionError, DiscretisationError, DivergenceError

if TYPE_CHECKING:
    from .feature_map import FeatureMap
    from .hidden_layer import Features

__all__ = [
    "check_times",
    "phi1",
    "lowrank_exponential",
    "FlowPath",
    "KernelRows",
    "FactorRows",
    "LimitFlow",
    "SymmetricFlow",
    "ExponentialFlow",
    "IVPFlow",
]

_DENSE_EXPM_MAX = 1500  # augmented systems up to this size use one expm per time step
_EIG_COND_MAX = 1e10  # largest eigenvector condition number accepted for t = inf


#: The numpydoc sections of every flow's ``solve`` (one initial output, all times).
SOLVE_SECTIONS = """
Parameters
----------
h0 : array_like, shape (M,)
    Initial output :math:`h_0(\\xi_i)`.
g : array_like, shape (M,)
    Target :math:`g(\\xi_i)`.
times : array_like, shape (n_times,)
    Non-decreasing times :math:`t \\ge 0` (``np.inf`` allowed).

Returns
-------
FlowPath
    ``(h, loss)`` of shapes (n_times, M) and (n_times,).

Raises
------
DivergenceError
    If the solution is not finite.
"""


def check_times(times: ArrayLike) -> np.ndarray:
    r"""Validate a time grid: non-negative, non-decreasing, one-dimensional, no NaN.

    ``np.inf`` is allowed (at the end, the grid being sorted): it asks for the
    long-time limit :math:`t\to\infty`.

    Parameters
    ----------
    times : float or array_like
        Times :math:`t_0 \le t_1 \le \dots`, :math:`t_0 \ge 0` (a scalar is one time).

    Returns
    -------
    ndarray, shape (n_times,)
        The times as floats.

    Raises
    ------
    ValueError
        If the grid is empty, contains NaN or :math:`-\infty`, is negative or is not sorted.
    """
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"`times` must be a non-empty 1-D array, got shape {t.shape}.")
    if np.any(np.isnan(t)):
        raise ValueError("`times` must be finite or +inf (the long-time limit), got NaN.")
    if t[0] < 0:
        raise ValueError(f"`times` must be non-negative, got {t[0]:g}.")
    if np.any(np.diff(t) < 0):
        k = int(np.flatnonzero(np.diff(t) < 0)[0])
        raise ValueError(
            f"`times` must be sorted in increasing order; times[{k + 1}] = {t[k + 1]:g} < "
            f"times[{k}] = {t[k]:g}."
        )
    return t


def phi1(x: ArrayLike) -> np.ndarray:
    r""":math:`\varphi_1(x) = (1 - e^{-x})/x` for :math:`x \ge 0`, with :math:`\varphi_1(0) = 1`.

    Computed as ``-expm1(-x)/x``, accurate to a few ulps for all :math:`x \ge 0`
    (:math:`\varphi_1(\infty) = 0`). It gives the time integral
    :math:`\int_0^t e^{-\lambda s}\,ds = t\,\varphi_1(\lambda t)`.

    Parameters
    ----------
    x : array_like
        Arguments :math:`x \ge 0`.

    Returns
    -------
    ndarray
        :math:`\varphi_1(x)`, same shape as ``x``.
    """
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-300
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0, -np.expm1(-safe) / safe)


def _check_weights(weights, M: int) -> np.ndarray:
    om = np.asarray(weights, dtype=float)
    if om.shape != (M,):
        raise DimensionError(f"`weights` must have shape ({M},), got {om.shape}.")
    if not (np.all(np.isfinite(om)) and np.all(om >= 0)):
        raise ValueError("`weights` must be finite and non-negative.")
    return om


def _check_residual(r0, M: int) -> np.ndarray:
    r0 = np.asarray(r0, dtype=float)
    if r0.shape != (M,):
        raise DimensionError(
            f"the initial residual `g - h0` must have shape ({M},), got {r0.shape}."
        )
    if not np.all(np.isfinite(r0)):
        raise DivergenceError("the initial residual `g - h0` contains NaN or infinite values.")
    return r0


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"`alpha` must be positive and finite, got {alpha}.")
    return alpha


def _split_infinity(t: np.ndarray) -> tuple[np.ndarray, int]:
    """Finite part of a sorted time grid and the number of trailing ``inf``."""
    n_inf = int(np.count_nonzero(np.isinf(t)))
    return t[: t.size - n_inf], n_inf


class FlowPath(NamedTuple):
    r"""Output and loss of a flow on its training histories (returned by :meth:`LimitFlow.solve`).

    Parameters
    ----------
    h : ndarray, shape (n_times, M)
        :math:`h_t(\xi_i)`.
    loss : ndarray, shape (n_times,)
        :math:`L_t = \tfrac12\sum_i\omega_i (g_i - h_t(\xi_i))^2`.
    """

    h: np.ndarray
    loss: np.ndarray


class KernelRows:
    r"""Row basis :math:`R(\xi) = A(\xi,\cdot)\,W^{1/2}`: kernel rows against the training histories.

    Used by flows built from a dense kernel (``M`` columns).
    """

    name = "kernel"

    def __call__(self, flow: LimitFlow, feature_map: FeatureMap, features: Features,
                 training_features: Features) -> np.ndarray:
        r""":math:`A(\xi,\xi_j)\sqrt{\omega_j}` at new histories, shape (M_new, M).

        Parameters
        ----------
        flow : LimitFlow
            The flow (supplies :math:`\sqrt\omega`).
        feature_map : FeatureMap
            Supplies ``kernel(features_eval, features_train)``.
        features, training_features : Features
            Features at the new and at the training histories.

        Returns
        -------
        ndarray, shape (M_new, M)
        """
        return feature_map.kernel(features, training_features) * flow.sqrt_weights[None, :]


class FactorRows:
    r"""Row basis :math:`R(\xi) = F(\xi)`: the evaluation-slot kernel factor, :math:`r = (d+2)G` columns.

    Used by flows built from the thin factors (they never need the training features).
    """

    name = "factor"

    def __call__(self, flow: LimitFlow, feature_map: FeatureMap, features: Features,
                 training_features: Features) -> np.ndarray:
        r""":math:`F_{\rm eval}(\xi)` at new histories, shape (M_new, r).

        Parameters
        ----------
        flow : LimitFlow
            The flow (unused: the factor does not depend on the training histories).
        feature_map : FeatureMap
            Supplies ``factor(features, slot="eval")``.
        features, training_features : Features
            Features at the new histories (the training ones are not used).

        Returns
        -------
        ndarray, shape (M_new, r)
        """
        return feature_map.factor(features, slot="eval")


class LimitFlow:
    r"""Base class of the solutions of :math:`\dot h = \alpha A W (g - h)` on training histories.

    A flow is built once from the kernel on the training histories
    :math:`\xi_1,\dots,\xi_M` (weights :math:`W = \operatorname{diag}(\omega)`) — its
    decomposition is the expensive part, and it is kept — and then answers, for
    any initial residual :math:`r_0 = g - h_0` (the flow is affine in :math:`h_0`)
    and any sorted times, the coefficients :math:`a(t)` of

    .. math::

        h_t(\xi) - h_0(\xi) = \alpha A(\xi,\cdot)\,W\!\int_0^t r_s\,ds
        = R(\xi)\,E\,a(t),

    at the training histories (:meth:`increments`) and at any other history
    (:meth:`extend`, the Nyström extension), and the loss
    :math:`L_t = \tfrac12\sum_i\omega_i r_t(\xi_i)^2`.

    **Units.** Times are training times :math:`t = k/N`; the rate constant
    :math:`\alpha` multiplies the kernel, so only :math:`\alpha t` matters.
    :math:`t = \infty` (``np.inf``, at the end of a sorted grid) is the long-time
    limit: :math:`r_\infty` is the part of :math:`r_0` the flow never removes (for
    a symmetric kernel, the :math:`W`-orthogonal projection of :math:`r_0` off the
    range of :math:`AW`, computed exactly), and :math:`L_\infty` its loss.

    **What a subclass provides** (attributes set in ``__init__``):

    ``alpha`` : float
        :math:`\alpha > 0`.
    ``weights`` : ndarray (M,)
        :math:`\omega \ge 0`; ``sqrt_weights`` :math:`= \sqrt\omega`.
    ``row_basis`` : :class:`KernelRows` or :class:`FactorRows`
        What :math:`R(\xi)` is; :meth:`rows` builds it at new histories from a
        feature map (polymorphic: the solution never asks which one).
    ``training_rows`` : ndarray (M, n_rows)
        :math:`R(\xi_i)` at the training histories (cached at construction).
    ``extension`` : ndarray (n_rows, k) or None
        :math:`E`; ``None`` means the identity (``k = n_rows``).
    ``diagnostics`` : dict
        At least ``route`` (a sentence naming the decomposition).

    and methods:

    ``_coefficients(r0, t)``
        :math:`a(t)` at *finite* sorted times ``t`` (n_times, k), for a validated
        residual ``r0`` (M,).
    ``_coefficients_at_infinity(r0)``
        :math:`a(\infty)` (k,), or raise :class:`~limitsolver.errors.DivergenceError`
        when the limit does not exist.
    ``_spectrum_matrix()``
        A matrix whose eigenvalues are those of :math:`AW` (used by :attr:`spectrum`).

    It may override :meth:`loss` (a closed form; it must agree with the
    increments, also at :math:`t = \infty`). Symmetric flows also hold their
    eigendecomposition and apply the propagator :math:`e^{-\alpha tAW}` and the
    Duhamel integral to vectors (:meth:`SymmetricFlow.propagator`,
    :meth:`SymmetricFlow.duhamel`); other flows raise ``NotImplementedError``.

    **Caching.** The decomposition and ``training_rows`` are computed once;
    :attr:`spectrum` on first use; nothing depends on :math:`r_0` or the times.
    """

    alpha: float
    weights: np.ndarray
    sqrt_weights: np.ndarray
    row_basis: KernelRows | FactorRows
    training_rows: np.ndarray
    extension: np.ndarray | None
    diagnostics: dict

    @property
    def M(self) -> int:
        """Number of training histories."""
        return int(self.weights.shape[0])

    # ---- to be provided by subclasses --------------------------------------------------------
    def _coefficients(self, r0: np.ndarray, t: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _coefficients_at_infinity(self, r0: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _spectrum_matrix(self) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    # ---- provided ----------------------------------------------------------------------------
    def coefficients(self, r0: ArrayLike, times: ArrayLike) -> np.ndarray:
        r"""Coefficients :math:`a(t)`, shape (n_times, k), with :math:`h_t - h_0 = R\,E\,a(t)`.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0` on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0`; trailing ``np.inf`` gives the
            long-time limit.

        Returns
        -------
        ndarray, shape (n_times, k)
            :math:`a(t)` at each time.

        Raises
        ------
        DimensionError
            If ``r0`` has the wrong shape.
        DivergenceError
            If ``r0`` is not finite, or the long-time limit does not exist.
        """
        t = check_times(times)
        r0 = _check_residual(r0, self.M)
        finite, n_inf = _split_infinity(t)
        if n_inf == 0:
            return self._coefficients(r0, t)
        a_inf = self._coefficients_at_infinity(r0)
        head = self._coefficients(r0, finite) if finite.size else np.empty((0, a_inf.size))
        return np.concatenate([head, np.broadcast_to(a_inf, (n_inf, a_inf.size))], axis=0)

    def rows(self, feature_map: FeatureMap, features: Features,
             training_features: Features) -> np.ndarray:
        r"""The rows :math:`R(\xi)` of new histories for :meth:`extend` (from the row basis).

        Parameters
        ----------
        feature_map : FeatureMap
            The feature map that built the kernel of this flow.
        features : Features
            Features at the new histories.
        training_features : Features
            Features at the training histories (used by :class:`KernelRows`).

        Returns
        -------
        ndarray, shape (M_new, n_rows)
        """
        return self.row_basis(self, feature_map, features, training_features)

    def extend(self, rows: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
        r"""Increments :math:`h_t(\xi) - h_0(\xi) = R(\xi)\,E\,a(t)` at new histories, (n_times, M_new).

        Parameters
        ----------
        rows : ndarray, shape (M_new, n_rows)
            :math:`R(\xi)` (see :meth:`rows`): :math:`A(\xi,\cdot)W^{1/2}` for
            :class:`KernelRows`, the factor :math:`F(\xi)` for :class:`FactorRows`.
        coeffs : ndarray, shape (n_times, k)
            :math:`a(t)` from :meth:`coefficients`.

        Returns
        -------
        ndarray, shape (n_times, M_new)

        Raises
        ------
        DimensionError
            If ``rows`` does not have ``n_rows`` columns.
        """
        rows = np.asarray(rows, dtype=float)
        right = coeffs if self.extension is None else coeffs @ self.extension.T
        if rows.ndim != 2 or rows.shape[1] != right.shape[1]:
            raise DimensionError(
                f"`rows` must have {right.shape[1]} columns for this flow, got shape {rows.shape}."
            )
        return right @ rows.T

    def increments(self, coeffs: np.ndarray) -> np.ndarray:
        r""":math:`h_t - h_0` on the training histories, shape (n_times, M).

        Parameters
        ----------
        coeffs : ndarray, shape (n_times, k)
            :math:`a(t)` from :meth:`coefficients`.

        Returns
        -------
        ndarray, shape (n_times, M)
        """
        return self.extend(self.training_rows, coeffs)

    def loss(self, r0: ArrayLike, times: ArrayLike,
             increments: np.ndarray | None = None) -> np.ndarray:
        r""":math:`L_t = \tfrac12\sum_i\omega_i (g - h_t)_i^2`, from the increments.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0`.
        times : array_like, shape (n_times,)
            Non-decreasing times (``np.inf`` allowed).
        increments : ndarray, shape (n_times, M), optional
            :math:`h_t - h_0` if already computed.

        Returns
        -------
        ndarray, shape (n_times,)
        """
        if increments is None:
            increments = self.increments(self.coefficients(r0, times))
        res = np.asarray(r0)[None, :] - increments
        return 0.5 * (res**2) @ self.weights

    @with_sections(SOLVE_SECTIONS, " " * 8)
    def solve(self, h0: ArrayLike, g: ArrayLike, times: ArrayLike) -> FlowPath:
        r"""Output :math:`h_t` and loss :math:`L_t` on the training histories for one initial output.

        """
        h0 = np.asarray(h0, dtype=float)
        r0 = np.asarray(g, dtype=float) - h0
        t = check_times(times)
        inc = self.increments(self.coefficients(r0, t))
        h = h0[None, :] + inc
        loss = self.loss(r0, t, inc)
        ok_h = np.all(np.isfinite(h), axis=1)
        if not (np.all(ok_h) and np.all(np.isfinite(loss))):
            bad = int(np.flatnonzero(~ok_h)[0]) if not np.all(ok_h) else None
            raise DivergenceError("the limit solution contains NaN or infinite values; check the "
                                  "kernel scale (alpha, sigma_w) and the target.", step=bad)
        return FlowPath(h, loss)

    @cached_property
    def spectrum(self) -> np.ndarray:
        r"""Eigenvalues of :math:`AW` (complex in general; :math:`O(n^3)`, computed on first use).

        For the low-rank route the :math:`r` eigenvalues of :math:`Z` are padded
        with the :math:`M - r` zeros of :math:`AW` (or, when :math:`r > M`, the
        :math:`M` largest in modulus are kept); sorted by decreasing real part.
        """
        lam = np.linalg.eigvals(self._spectrum_matrix())
        if lam.size > self.M:  # r > M: Z has r - M extra zero eigenvalues
            lam = lam[np.argsort(-np.abs(lam), kind="stable")[: self.M]]
        out = np.zeros(self.M, dtype=complex)
        out[: lam.size] = lam
        out = out[np.argsort(-out.real, kind="stable")]
        return out.real if np.all(out.imag == 0) else out


def _exp_integral(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    r""":math:`\int_0^t e^{-a(t-s)}e^{-bs}\,ds = t\,e^{-\min(a,b)t}\varphi_1(|a-b|t)` (broadcast).

    Stable for :math:`a \approx b`; at :math:`t = \infty` the limit (0 when
    :math:`\min(a,b) > 0`, :math:`1/\max(a, b)` when one of them is zero, ``inf`` when both are).
    """
    a, b, t = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float),
                                  np.asarray(t, float))
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    with np.errstate(invalid="ignore", over="ignore"):
        fin = t * np.exp(-lo * t) * phi1((hi - lo) * t)
        at_inf = np.where(lo > 0, 0.0, np.where(hi > 0, 1.0 / np.where(hi > 0, hi, 1.0), np.inf))
    return np.where(np.isinf(t), at_inf, fin)


class SymmetricFlow(LimitFlow):
    r"""Exact spectral solution for a symmetric positive semi-definite kernel (rtrl mode).

    Build with :meth:`from_kernel` (dense :math:`B = W^{1/2}AW^{1/2}`) or
    :meth:`from_factor` (thin SVD of :math:`W^{1/2}F` for :math:`A = FF^\top`).

    The null space is handled exactly: eigenvalues within the rounding level
    ``diagnostics["rank_tolerance"]`` (:math:`10 M\epsilon\lambda_{\max}`) are set to
    zero, and their directions neither move the output (for a PSD kernel
    :math:`A(\xi,\cdot)W^{1/2}v = 0` whenever :math:`Bv = 0`) nor leave the loss, for
    every :math:`\alpha t` up to :math:`\infty`.

    Parameters
    ----------
    eigenvalues : ndarray, shape (k,)
        Eigenvalues :math:`\lambda` of :math:`B` kept in the basis (descending,
        those within the rounding level set to zero).
    basis : ndarray, shape (M, k)
        Orthonormal eigenvectors :math:`V` of :math:`B`.
    weights : ndarray, shape (M,)
        History weights :math:`\omega` (the diagonal of :math:`W`).
    alpha : float
        Learning-rate constant :math:`\alpha > 0`.
    row_basis : KernelRows or FactorRows
        What the rows :math:`R(\xi)` passed to ``extend`` are:
        :math:`A(\xi,\cdot)W^{1/2}` or the factor :math:`F(\xi)`.
    extension : ndarray
        The matrix :math:`E` with :math:`h_t(\xi) - h_0(\xi) = R(\xi)\,E\,a(t)`
        (:math:`V` for kernel rows, :math:`Y S` for factor rows), with zero columns in
        the null directions.
    training_rows : ndarray
        The rows :math:`R(\xi_i)` of the training histories.
    diagnostics : dict
        ``route``, ``rank_tolerance``, ``n_clipped`` (eigenvalues in
        :math:`[-\text{tol}, \text{tol}]` set to zero) and ``min_eigenvalue`` before clipping.

    Attributes
    ----------
    eigenvalues, basis, weights, sqrt_weights : ndarray
        The eigendecomposition :math:`B = V\Lambda V^\top` (plus the exactly zero
        eigenvalues outside the basis when :math:`k < M`), :math:`\omega` and
        :math:`\sqrt\omega`; :math:`AW = W^{-1/2}BW^{1/2}`.

    Raises
    ------
    ValueError
        If ``alpha`` is not positive and finite.
    """

    def __init__(self, eigenvalues: np.ndarray, basis: np.ndarray, weights: np.ndarray,
                 alpha: float, *, row_basis: KernelRows | FactorRows, extension: np.ndarray | None,
                 training_rows: np.ndarray, diagnostics: dict):
        self.eigenvalues = eigenvalues
        self.basis = basis
        self.weights = weights
        self.sqrt_weights = np.sqrt(weights)
        self.alpha = _check_alpha(alpha)
        self.row_basis = row_basis
        self.extension = extension
        self.training_rows = training_rows
        self.diagnostics = diagnostics

    @staticmethod
    def _clip(lam: np.ndarray, scale: float, M: int) -> tuple[np.ndarray, dict]:
        tol = 10.0 * M * np.finfo(float).eps * max(scale, np.finfo(float).tiny)
        lam_min = float(lam.min()) if lam.size else 0.0
        if lam_min < -tol:
            raise DiscretisationError(
                f"the rtrl kernel `A` must be positive semi-definite, but W^1/2 A W^1/2 has the "
                f"eigenvalue {lam_min:.3e}, below the rounding level -{tol:.1e}; check that the "
                "quadrature weights are non-negative and that both slots use the same features."
            )
        null = lam <= tol
        lam = np.where(null, 0.0, lam)
        return lam, {"rank_tolerance": tol, "n_clipped": int(null.sum()), "min_eigenvalue": lam_min}

    @classmethod
    def from_kernel(cls, A: ArrayLike, weights: ArrayLike, alpha: float) -> SymmetricFlow:
        r"""Eigendecompose :math:`B = W^{1/2}AW^{1/2}` densely (LAPACK ``syevd``), :math:`O(M^3)`.

        ``A`` must be symmetric; its rows :math:`A W^{1/2}` are kept for the
        training increments (memory :math:`O(M^2)`).

        Parameters
        ----------
        A : array_like, shape (M, M)
            The kernel :math:`A(\xi_i, \xi_j)` on the training histories.
        weights : array_like, shape (M,)
            History weights :math:`\omega \ge 0`.
        alpha : float
            Learning-rate constant :math:`\alpha > 0`.

        Returns
        -------
        SymmetricFlow
            With all :math:`M` eigenpairs and :class:`KernelRows`.

        Raises
        ------
        DimensionError
            If ``A`` is not square and symmetric, or ``weights`` has the wrong shape.
        DivergenceError
            If ``A`` is not finite.
        DiscretisationError
            If :math:`B` has an eigenvalue below the rounding level (not PSD).
        """
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise DimensionError(f"`A` must be a square (M, M) kernel, got shape {A.shape}.")
        M = A.shape[0]
        om = _check_weights(weights, M)
        if not np.all(np.isfinite(A)):
            raise DivergenceError("the kernel `A` contains NaN or infinite values.")
        asym = float(np.max(np.abs(A - A.T))) if M else 0.0
        scale = float(np.max(np.abs(A))) if M else 0.0
        if asym > 1e3 * np.finfo(float).eps * max(scale, 1e-300) * max(M, 1):
            raise DimensionError(
                f"`A` must be symmetric for the spectral route (max |A - A^T| = {asym:.2e}); "
                "use the exponential route for the truncated kernel."
            )
        sw = np.sqrt(om)
        B = sw[:, None] * A * sw[None, :]
        B = 0.5 * (B + B.T)
        lam, V = np.linalg.eigh(B)
        lam, V = lam[::-1], V[:, ::-1]
        lam, diag = cls._clip(lam, float(np.max(np.abs(lam))) if M else 0.0, M)
        diag["route"] = "dense eigh of W^1/2 A W^1/2"
        return cls(lam, V, om, alpha, row_basis=KernelRows(), extension=V * (lam > 0)[None, :],
                   training_rows=A * sw[None, :], diagnostics=diag)

    @classmethod
    def from_factor(cls, F: ArrayLike, weights: ArrayLike, alpha: float) -> SymmetricFlow:
        r"""Spectral solution for :math:`A = F F^\top` from the thin SVD of :math:`W^{1/2}F`.

        With :math:`W^{1/2}F = U S Y^\top`, the non-zero spectrum of
        :math:`B` is :math:`S^2` with eigenvectors :math:`U` and
        :math:`A(\xi,\cdot)W^{1/2}U = F(\xi) Y S`, so new histories only need
        their factor rows. Cost :math:`O(M r^2)` with ``r = F.shape[1]``.

        Parameters
        ----------
        F : array_like, shape (M, r)
            Factor of the kernel on the training histories, :math:`A = FF^\top`.
        weights : array_like, shape (M,)
            History weights :math:`\omega \ge 0`.
        alpha : float
            Learning-rate constant :math:`\alpha > 0`.

        Returns
        -------
        SymmetricFlow
            With :math:`\min(M, r)` eigenpairs and :class:`FactorRows`.

        Raises
        ------
        DimensionError
            If ``F`` is not two-dimensional or ``weights`` has the wrong shape.
        DivergenceError
            If ``F`` is not finite.
        """
        F = np.asarray(F, dtype=float)
        if F.ndim != 2:
            raise DimensionError(f"`F` must be an (M, r) factor, got shape {F.shape}.")
        M = F.shape[0]
        om = _check_weights(weights, M)
        if not np.all(np.isfinite(F)):
            raise DivergenceError("the kernel factor contains NaN or infinite values.")
        sw = np.sqrt(om)
        U, S, Yt = scipy.linalg.svd(sw[:, None] * F, full_matrices=False, lapack_driver="gesdd")
        lam, diag = cls._clip(S**2, float(S[0] ** 2) if S.size else 0.0, M)
        diag["route"] = "thin SVD of W^1/2 F"
        ext = Yt.T * np.where(lam > 0, S, 0.0)[None, :]
        return cls(lam, U, om, alpha, row_basis=FactorRows(), extension=ext,
                   training_rows=F, diagnostics=diag)

    @property
    def spectrum(self) -> np.ndarray:
        """All ``M`` eigenvalues of :math:`B` (descending; zeros beyond the factor's rank)."""
        out = np.zeros(self.M)
        out[: self.eigenvalues.size] = self.eigenvalues
        return out

    def project(self, x: ArrayLike) -> np.ndarray:
        r"""Coordinates :math:`c = V^\top W^{1/2} x` of vectors on the training histories.

        Parameters
        ----------
        x : array_like, shape (M,) or (M, n)
            Vectors on the training histories.

        Returns
        -------
        ndarray, shape (k,) or (k, n)
        """
        x = np.asarray(x, dtype=float)
        sw = self.sqrt_weights if x.ndim == 1 else self.sqrt_weights[:, None]
        return self.basis.T @ (sw * x)

    def _projection(self, r0) -> tuple[np.ndarray, np.ndarray]:
        r0 = _check_residual(r0, self.M)
        v = self.sqrt_weights * r0
        return v, self.basis.T @ v

    def _coefficients(self, r0, t) -> np.ndarray:
        r""":math:`a(t) = \operatorname{diag}(\alpha t\,\varphi_1(\alpha\lambda t)) V^\top W^{1/2} r_0`.

        Then :math:`\alpha W^{1/2}\int_0^t r_s\,ds = V a(t)`; the null directions
        (:math:`\lambda = 0`) grow like :math:`\alpha t c_k` but have zero columns in
        ``extension``: they do not move the output.
        """
        _, c = self._projection(r0)
        at = self.alpha * t[:, None]
        return at * phi1(at * self.eigenvalues[None, :]) * c[None, :]

    def _coefficients_at_infinity(self, r0) -> np.ndarray:
        r""":math:`a(\infty)_k = c_k/\lambda_k` (:math:`\lambda_k > 0`); 0 in the null directions.

        The null coordinates of :math:`\alpha W^{1/2}\int_0^\infty r_s\,ds` diverge; they
        are set to 0, which changes no output (their ``extension`` columns are zero).
        """
        _, c = self._projection(r0)
        pos = self.eigenvalues > 0
        return np.where(pos, c / np.where(pos, self.eigenvalues, 1.0), 0.0)

    def loss(self, r0: ArrayLike, times: ArrayLike,
             increments: np.ndarray | None = None) -> np.ndarray:
        r""":math:`L_t = \tfrac12\bigl(\sum_k e^{-2\alpha\lambda_k t}c_k^2 + \|(I - VV^\top)W^{1/2}r_0\|^2\bigr)`.

        Non-increasing in :math:`t` by construction (all :math:`\lambda_k \ge 0`).
        Here :math:`c = V^\top W^{1/2} r_0`; at :math:`t = \infty` only the null
        directions (:math:`\lambda_k = 0`) and the part outside the basis remain.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0` on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0` (``np.inf`` allowed).
        increments : ndarray, optional
            Not used: the loss is computed from the spectrum (accepted for the
            common flow interface).

        Returns
        -------
        ndarray, shape (n_times,)
            :math:`L_t = \tfrac12\sum_i\omega_i (g - h_t)_i^2` at each time.
        """
        t = check_times(times)
        v, c = self._projection(r0)
        null = float(np.sum((v - self.basis @ c) ** 2))
        with np.errstate(invalid="ignore"):
            decay = np.exp(-2.0 * self.alpha * t[:, None] * self.eigenvalues[None, :])
        decay = np.where(self.eigenvalues[None, :] > 0, decay, 1.0)
        return 0.5 * (decay @ (c**2) + null)

    # ---- linear response: the propagator and the Duhamel integral ----------------------------
    def _inverse_sqrt_weights(self) -> np.ndarray:
        if not np.all(self.weights > 0):
            raise DiscretisationError(
                "the propagator on the training histories needs positive `weights` (W is "
                "inverted); drop the histories of weight zero."
            )
        return 1.0 / self.sqrt_weights

    def propagator(self, x: ArrayLike, times: ArrayLike) -> np.ndarray:
        r"""Apply :math:`e^{-\alpha t AW}` to vectors on the training histories.

        .. math::

            e^{-\alpha tAW}x = W^{-1/2}\bigl(V e^{-\alpha\Lambda t}V^\top y
            + (y - VV^\top y)\bigr),\qquad y = W^{1/2}x,

        exact for every :math:`t` (null directions and the part outside the basis
        are left unchanged); at :math:`t = \infty` it is the :math:`W`-orthogonal
        projection of :math:`x` off the range of :math:`AW`. Cost
        :math:`O(Mk)` per vector and time.

        Parameters
        ----------
        x : array_like, shape (M,) or (M, n)
            Vectors (columns) on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0` (``np.inf`` allowed).

        Returns
        -------
        ndarray, shape (n_times, M) or (n_times, M, n)

        Raises
        ------
        DimensionError
            If ``x`` does not have ``M`` rows.
        DiscretisationError
            If some weight is zero (:math:`W^{-1/2}` does not exist).
        """
        t = check_times(times)
        x = np.asarray(x, dtype=float)
        if x.shape[:1] != (self.M,) or x.ndim > 2:
            raise DimensionError(f"`x` must have shape ({self.M},) or ({self.M}, n), got {x.shape}.")
        isw = self._inverse_sqrt_weights()
        X = x.reshape(self.M, -1)
        Y = self.sqrt_weights[:, None] * X
        C = self.basis.T @ Y
        rest = Y - self.basis @ C
        with np.errstate(invalid="ignore"):
            decay = np.exp(-self.alpha * t[:, None] * self.eigenvalues[None, :])
        decay = np.where(self.eigenvalues[None, :] > 0, decay, 1.0)
        out = np.matmul(self.basis, decay[:, :, None] * C[None]) + rest[None]
        out *= isw[None, :, None]
        return out.reshape((t.size,) + x.shape)

    def duhamel(self, u: ArrayLike, rates: ArrayLike, times: ArrayLike) -> np.ndarray:
        r"""The Duhamel integral :math:`\int_0^t e^{-\alpha(t-s)AW}v(s)\,ds` for an exponential sum.

        .. math::

            v(s) = \sum_j u_j\,e^{-\nu_j s},\qquad
            \int_0^t e^{-\alpha(t-s)AW}v(s)\,ds = W^{-1/2}\sum_j\Bigl(
            V\operatorname{diag}\bigl(I(\alpha\lambda,\nu_j,t)\bigr)V^\top y_j
            + I(0,\nu_j,t)\,(y_j - VV^\top y_j)\Bigr),

        :math:`y_j = W^{1/2}u_j`, :math:`I(a,b,t) = \int_0^t e^{-a(t-s)-bs}ds =
        t\,e^{-\min(a,b)t}\varphi_1(|a-b|t)` (stable when :math:`a\approx b`). The
        residual :math:`r_s = e^{-\alpha sAW}r_0` and the responses of §8 are such
        sums with :math:`\nu_j = \alpha\lambda_j`. At :math:`t = \infty` the limit
        (``inf`` where a component with :math:`\nu_j = 0` meets a null direction).

        Parameters
        ----------
        u : array_like, shape (M, J)
            The vectors :math:`u_j` (columns) on the training histories.
        rates : array_like, shape (J,)
            Decay rates :math:`\nu_j \ge 0` (in units of :math:`1/t`).
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0` (``np.inf`` allowed).

        Returns
        -------
        ndarray, shape (n_times, M)

        Raises
        ------
        DimensionError
            If ``u`` is not (M, J) or ``rates`` not (J,).
        DiscretisationError
            If some weight is zero.
        ValueError
            If a rate is negative or not finite.
        """
        t = check_times(times)
        u = np.asarray(u, dtype=float)
        nu = np.asarray(rates, dtype=float).reshape(-1)
        if u.ndim != 2 or u.shape[0] != self.M or nu.shape != (u.shape[1],):
            raise DimensionError(
                f"`u` must have shape ({self.M}, J) and `rates` shape (J,), got {u.shape} and "
                f"{np.shape(rates)}."
            )
        if not (np.all(np.isfinite(nu)) and np.all(nu >= 0)):
            raise ValueError("`rates` must be finite and non-negative.")
        isw = self._inverse_sqrt_weights()
        Y = self.sqrt_weights[:, None] * u
        C = self.basis.T @ Y  # (k, J)
        rest = Y - self.basis @ C  # (M, J)
        lam = self.alpha * self.eigenvalues
        Ik = _exp_integral(lam[None, :, None], nu[None, None, :], t[:, None, None])  # (T, k, J)
        I0 = _exp_integral(0.0, nu[None, :], t[:, None])  # (T, J)
        with np.errstate(invalid="ignore"):  # inf * 0 where a divergent part is absent
            inside = np.where(C[None] == 0, 0.0, Ik * C[None]).sum(axis=2) @ self.basis.T
            outside = np.where(rest[None] == 0, 0.0, I0[:, None, :] * rest[None]).sum(axis=2)
        return (inside + outside) * isw[None, :]


def _step_key(dt: float) -> float:
    return float(f"{dt:.13e}")


def _affine_integral(Y: np.ndarray, v: np.ndarray, times: np.ndarray, *,
                     dense_max: int = _DENSE_EXPM_MAX, max_distinct: int = 4) -> np.ndarray:
    r""":math:`z(t_k) = \int_0^{t_k} e^{sY} v\,ds` for every (finite) time, shape (n_times, n).

    Uses :math:`\exp\bigl(\Delta\,[\begin{smallmatrix}Y & v\\0 & 0\end{smallmatrix}]\bigr)`
    applied to :math:`(z, 1)` over each step :math:`\Delta` of the grid: one dense ``expm``
    per distinct step (cached) for systems up to ``dense_max`` and, beyond, whenever the
    grid has at most ``max_distinct`` distinct steps (an equispaced grid: one :math:`O(n^3)` exponential
    for all times instead of one ``expm_multiply`` per time); ``expm_multiply`` otherwise.
    """
    n = Y.shape[0]
    aug = np.zeros((n + 1, n + 1))
    aug[:n, :n] = Y
    aug[:n, n] = v
    y = np.zeros(n + 1)
    y[n] = 1.0
    out = np.empty((times.size, n))
    steps = np.diff(np.concatenate([[0.0], times]))
    n_distinct = len({_step_key(float(dt)) for dt in steps if dt > 0})
    dense = n + 1 <= dense_max or n_distinct <= max_distinct
    cache: dict[float, np.ndarray] = {}
    for k, dt in enumerate(steps):
        dt = float(dt)
        if dt > 0:
            if dense:
                key = _step_key(dt)
                E = cache.get(key)
                if E is None:
                    E = scipy.linalg.expm(dt * aug)
                    cache[key] = E
                y = E @ y
            else:
                y = expm_multiply(dt * aug, y)
        out[k] = y[:n]
    return out


def _integral_at_infinity(Y: np.ndarray, v: np.ndarray, out_rows: np.ndarray) -> np.ndarray:
    r""":math:`\lim_{t\to\infty}` of :math:`\int_0^t e^{sY}v\,ds` seen through ``out_rows``.

    With :math:`Y = X\operatorname{diag}(\mu)X^{-1}` (``eigh`` when :math:`Y` is symmetric):
    :math:`-v_\mu/\mu` along the modes with :math:`\operatorname{Re}\mu < 0` and 0 along
    the null modes (:math:`|\mu|` within the rounding level), which must not move the
    output ``out_rows @ z`` (checked against the output's rate at :math:`s = 0`). Raises
    when a mode grows beyond the rounding level or the eigenvectors are ill-conditioned.
    """
    n = Y.shape[0]
    scale_Y = float(np.max(np.abs(Y))) if Y.size else 0.0
    if np.max(np.abs(Y - Y.T), initial=0.0) <= 100 * np.finfo(float).eps * scale_Y:
        mu, X = np.linalg.eigh(0.5 * (Y + Y.T))
        cond = 1.0
        w = X.T @ v
    else:
        mu, X = scipy.linalg.eig(Y)
        cond = float(np.linalg.cond(X))
        if not np.isfinite(cond) or cond > _EIG_COND_MAX:
            raise DiscretisationError(
                f"the long-time limit of a non-symmetric flow needs a diagonalisable generator; "
                f"its eigenvectors have condition number {cond:.2e} > {_EIG_COND_MAX:.0e}; use "
                "large finite times instead of `np.inf`."
            )
        w = np.linalg.solve(X, v.astype(complex))
    scale = float(np.max(np.abs(mu))) if mu.size else 0.0
    tol = 10.0 * n * np.finfo(float).eps * max(scale, np.finfo(float).tiny) * cond
    null = np.abs(mu) <= tol
    if np.any(mu.real > tol):
        raise DivergenceError(
            f"the flow has a growing mode (an eigenvalue of A W with real part "
            f"{-float(mu.real.max()):.2e} < 0, beyond the rounding level {tol:.1e}): the "
            "long-time limit `t = inf` does not exist."
        )
    lim = np.where(null, 0.0, -w / np.where(null, 1.0, mu))
    if np.any(null):  # z grows like s * zn along the null modes: the output must not see it
        drift = float(np.max(np.abs(out_rows @ (X[:, null] @ w[null]))))
        rate = float(np.max(np.abs(out_rows @ v)))
        if drift > 1e-8 * cond * rate:
            raise DivergenceError(
                "the output drifts linearly along a null direction of the flow: the long-time "
                "limit `t = inf` does not exist for this initial residual."
            )
    return np.real(X @ lim)


class ExponentialFlow(LimitFlow):
    r"""Solution through the action of the matrix exponential (any kernel, e.g. truncated).

    Build with :meth:`from_kernel` (dense :math:`Y = -\alpha AW`) or
    :meth:`from_factors` (:math:`AW = UV^\top`, reduced :math:`Y = -\alpha V^\top U`).
    At :math:`t = \infty` the integral :math:`\int_0^\infty e^{sY}v\,ds` is taken from
    an eigendecomposition of :math:`Y` (refused when ill-conditioned, when a mode
    grows, or when the output would drift along a null mode).

    Parameters
    ----------
    Y : ndarray, shape (n, n)
        Generator of the exponentiated system :math:`z' = v + Yz`
        (:math:`-\alpha AW`, or :math:`-\alpha Z` for the low-rank route).
    weights : ndarray, shape (M,)
        History weights :math:`\omega`.
    alpha : float
        Learning-rate constant :math:`\alpha > 0`.
    project : callable
        Maps :math:`r_0` to ``(v, scale)``: the forcing :math:`v` of the system and
        the factor turning :math:`z_t` into :math:`a(t)`.
    row_basis : KernelRows or FactorRows
        What the rows :math:`R(\xi)` passed to ``extend`` are:
        :math:`A(\xi,\cdot)W^{1/2}` or the factor :math:`U(\xi)`.
    training_rows : ndarray
        The rows :math:`R(\xi_i)` of the training histories.
    diagnostics : dict
        ``route`` and the size of the exponentiated system.

    Raises
    ------
    ValueError
        If ``alpha`` is not positive and finite.

    Notes
    -----
    The parameters are stored as attributes of the same names (``project`` as
    ``_project``).
    """

    def __init__(self, Y: np.ndarray, weights: np.ndarray, alpha: float, *, project: Callable,
                 row_basis: KernelRows | FactorRows, training_rows: np.ndarray, diagnostics: dict):
        self.Y = Y
        self.weights = weights
        self.sqrt_weights = np.sqrt(weights)
        self.alpha = _check_alpha(alpha)
        self._project = project
        self.row_basis = row_basis
        self.extension = None
        self.training_rows = training_rows
        self.diagnostics = diagnostics

    @classmethod
    def from_kernel(cls, A: ArrayLike, weights: ArrayLike, alpha: float) -> ExponentialFlow:
        r"""Dense route: :math:`a(t) = \alpha W^{1/2}\int_0^t r_s ds`, :math:`\dot r = -\alpha A W r`.

        Cost :math:`O(M^3)` per distinct time step for :math:`M` up to 1500,
        :math:`O(M^2)` per matrix-vector product of ``expm_multiply`` beyond.

        Parameters
        ----------
        A : array_like, shape (M, M)
            The kernel :math:`A(\xi_i, \xi_j)` on the training histories.
        weights : array_like, shape (M,)
            History weights :math:`\omega \ge 0`.
        alpha : float
            Learning-rate constant :math:`\alpha > 0`.

        Returns
        -------
        ExponentialFlow
            With :math:`Y = -\alpha AW` and :class:`KernelRows`.

        Raises
        ------
        DimensionError
            If ``A`` is not square or ``weights`` has the wrong shape.
        DivergenceError
            If ``A`` is not finite.
        """
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise DimensionError(f"`A` must be a square (M, M) kernel, got shape {A.shape}.")
        M = A.shape[0]
        om = _check_weights(weights, M)
        if not np.all(np.isfinite(A)):
            raise DivergenceError("the kernel `A` contains NaN or infinite values.")
        alpha = _check_alpha(alpha)
        sw = np.sqrt(om)
        Y = -alpha * A * om[None, :]

        def project(r0):
            return r0, alpha * sw

        return cls(Y, om, alpha, project=project, row_basis=KernelRows(),
                   training_rows=A * sw[None, :],
                   diagnostics={"route": "augmented matrix exponential of -alpha A W",
                                "system_size": M})

    @classmethod
    def from_factors(cls, U: ArrayLike, V: ArrayLike, weights: ArrayLike,
                     alpha: float) -> ExponentialFlow:
        r"""Low-rank route for :math:`A = U R^\top`, ``V`` :math:`= WR`.

        :math:`a(t) = \alpha\,t\,\varphi_1(-\alpha t Z)\,V^\top r_0` with
        :math:`Z = V^\top U` (:math:`r\times r`); the output at a history is
        :math:`h_t(\xi) = h_0(\xi) + F(\xi)\,a(t)`. Cost :math:`O(M r^2)` plus
        :math:`O(r^3)` per distinct time step.

        Parameters
        ----------
        U : array_like, shape (M, r)
            Left factor, :math:`A W = U V^\top` (the rows of new histories are
            :math:`U(\xi)`).
        V : array_like, shape (M, r)
            Right factor, :math:`V = W R`.
        weights : array_like, shape (M,)
            History weights :math:`\omega \ge 0`.
        alpha : float
            Learning-rate constant :math:`\alpha > 0`.

        Returns
        -------
        ExponentialFlow
            With :math:`Y = -\alpha V^\top U` and :class:`FactorRows`.

        Raises
        ------
        DimensionError
            If ``U`` and ``V`` are not two-dimensional arrays of the same shape.
        DivergenceError
            If the factors are not finite.
        """
        U = np.asarray(U, dtype=float)
        V = np.asarray(V, dtype=float)
        if U.ndim != 2 or U.shape != V.shape:
            raise DimensionError(
                f"`U` and `V` must be (M, r) factors of the same shape, got {U.shape} and {V.shape}."
            )
        om = _check_weights(weights, U.shape[0])
        if not (np.all(np.isfinite(U)) and np.all(np.isfinite(V))):
            raise DivergenceError("the kernel factors contain NaN or infinite values.")
        alpha = _check_alpha(alpha)
        Z = V.T @ U

        def project(r0):
            return V.T @ r0, alpha

        return cls(-alpha * Z, om, alpha, project=project, row_basis=FactorRows(),
                   training_rows=U,
                   diagnostics={"route": "augmented matrix exponential of -alpha V^T U",
                                "system_size": int(Z.shape[0])})

    def _coefficients(self, r0, t) -> np.ndarray:
        r""":math:`a(t) = \text{scale}\cdot z_t`, :math:`z_t = \int_0^t e^{sY}v\,ds`.

        Dense: :math:`a(t) = \alpha W^{1/2}\int_0^t r_s\,ds`; low rank:
        :math:`a(t) = \alpha\,t\,\varphi_1(-\alpha t Z)\,V^\top r_0`.
        """
        v, scale = self._project(r0)
        z = _affine_integral(self.Y, v, t)
        return z * scale

    def _coefficients_at_infinity(self, r0) -> np.ndarray:
        v, scale = self._project(r0)
        return _integral_at_infinity(self.Y, v, self.training_rows * scale) * scale

    def _spectrum_matrix(self) -> np.ndarray:
        return -self.Y / self.alpha


class IVPFlow(LimitFlow):
    r"""Time stepping of :math:`\dot h = \alpha AW(g-h)`, :math:`\dot J = g - h` with ``solve_ivp``.

    The cross-check of the exact routes (and the route for losses other than the
    square). :math:`a(t) = \alpha W^{1/2} J(t)`. Cost: the integrator's number of
    steps times :math:`O(M^2)`. A trailing :math:`t = \infty` cannot be stepped to:
    it is taken, as for :class:`ExponentialFlow`, from an eigendecomposition of
    :math:`AW`.

    Parameters
    ----------
    A : array_like, shape (M, M)
        The kernel :math:`A(\xi_i, \xi_j)` on the training histories (any, symmetric
        or not).
    weights : array_like, shape (M,)
        History weights :math:`\omega \ge 0`.
    alpha : float
        Learning-rate constant :math:`\alpha > 0`.
    rtol, atol : float
        Relative and absolute tolerances of ``solve_ivp``.
    method : str
        Integrator of ``solve_ivp`` (default ``"DOP853"``, order 8).

    Raises
    ------
    DimensionError
        If ``A`` is not square or ``weights`` has the wrong shape.
    ValueError
        If ``alpha`` is not positive and finite.
    """

    def __init__(self, A: ArrayLike, weights: ArrayLike, alpha: float, *, rtol: float = 1e-10,
                 atol: float = 1e-12,
                 method: str = "DOP853"):
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise DimensionError(f"`A` must be a square (M, M) kernel, got shape {A.shape}.")
        self.weights = _check_weights(weights, A.shape[0])
        self.alpha = _check_alpha(alpha)
        self.AW = A * self.weights[None, :]
        self.row_basis = KernelRows()
        self.extension = None
        self.sqrt_weights = np.sqrt(self.weights)
        self.training_rows = A * self.sqrt_weights[None, :]
        self.rtol, self.atol, self.method = rtol, atol, method
        self.diagnostics = {"route": f"solve_ivp ({method}, rtol={rtol:g}, atol={atol:g})"}

    def _coefficients(self, r0, t) -> np.ndarray:
        r"""Coefficients :math:`a(t) = \alpha W^{1/2} J(t)` by time stepping.

        Integrates :math:`\dot h = \alpha AW(r_0 - h)`, :math:`\dot J = r_0 - h` from
        :math:`h = J = 0` (here :math:`h` stands for :math:`h_t - h_0`), so that
        :math:`J(t) = \int_0^t r_s\,ds`; the error is of the order of ``rtol``,
        ``atol``.
        """
        M, alpha, AW = self.M, self.alpha, self.AW

        def rhs(_, y):
            res = r0 - y[:M]  # y[:M] = h_t - h_0
            return np.concatenate([alpha * (AW @ res), res])

        if t[-1] == 0:
            return np.zeros((t.size, M))
        sol = solve_ivp(rhs, (0.0, float(t[-1])), np.zeros(2 * M), method=self.method,
                        t_eval=t, rtol=self.rtol, atol=self.atol)
        if not sol.success:
            raise DivergenceError(f"`solve_ivp` failed: {sol.message}")
        self.diagnostics["nfev"] = int(sol.nfev)
        return (sol.y[M:].T) * (alpha * np.sqrt(self.weights))[None, :]

    def _coefficients_at_infinity(self, r0) -> np.ndarray:
        scale = self.alpha * self.sqrt_weights
        return _integral_at_infinity(-self.alpha * self.AW, r0, self.training_rows * scale) * scale

    def _spectrum_matrix(self) -> np.ndarray:
        return self.AW


def lowrank_exponential(U: ArrayLike, V: ArrayLike, t: float, alpha: float = 1.0) -> np.ndarray:
    r""":math:`e^{-\alpha t UV^\top} = I + U f_t(V^\top U) V^\top` as a dense matrix.

    :math:`f_t(Z) = (e^{-\alpha tZ} - I)Z^{-1}` is computed stably, also for
    singular :math:`Z`, as :math:`-\alpha t` times the top-right block of
    :math:`\exp\bigl([\begin{smallmatrix}-\alpha tZ & I\\0 & 0\end{smallmatrix}]\bigr)`.
    Meant for checks and small problems (:math:`O(M^2 r + r^3)`).

    Parameters
    ----------
    U, V : array_like, shape (M, r)
        Thin factors of the generator :math:`UV^\top`.
    t : float
        Time :math:`t`.
    alpha : float
        Rate constant :math:`\alpha`.

    Returns
    -------
    ndarray, shape (M, M)
        :math:`e^{-\alpha t UV^\top}`.

    Raises
    ------
    DimensionError
        If ``U`` and ``V`` are not two-dimensional arrays of the same shape.
    """
    U = np.asarray(U, dtype=float)
    V = np.asarray(V, dtype=float)
    if U.ndim != 2 or U.shape != V.shape:
        raise DimensionError(f"`U` and `V` must have the same (M, r) shape, got {U.shape}, {V.shape}.")
    r = U.shape[1]
    Z = V.T @ U
    blk = np.zeros((2 * r, 2 * r))
    blk[:r, :r] = -alpha * t * Z
    blk[:r, r:] = np.eye(r)
    f = -alpha * t * scipy.linalg.expm(blk)[:r, r:]
    return np.eye(U.shape[0]) + U @ f @ V.T
