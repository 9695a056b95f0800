r"""The limit ODE on a finite set of histories and its exact solutions (``THEORY.md`` §4.4).

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

Each flow's :meth:`coefficients` returns :math:`a(t)` (n_times, k) and the output is
:math:`h_t(\xi) - h_0(\xi) = R(\xi)\,E\,a(t)`, with the *rows* :math:`R(\xi)` either
:math:`A(\xi,\cdot)W^{1/2}` (``rows == "kernel"``) or the factor :math:`F(\xi)`
(``rows == "factor"``) and :math:`E` the flow's ``extension`` matrix.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import scipy.linalg
from scipy.integrate import solve_ivp
from scipy.sparse.linalg import expm_multiply

from ..errors import DimensionError, DiscretisationError, DivergenceError

__all__ = [
    "check_times",
    "phi1",
    "lowrank_exponential",
    "SymmetricFlow",
    "ExponentialFlow",
    "IVPFlow",
]

_DENSE_EXPM_MAX = 1500  # augmented systems up to this size use one expm per time step


def check_times(times) -> np.ndarray:
    r"""Validate a time grid: finite, non-negative, non-decreasing, one-dimensional.

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
        If the grid is empty, not finite, negative or not sorted.
    """
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"`times` must be a non-empty 1-D array, got shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise ValueError("`times` must be finite.")
    if t[0] < 0:
        raise ValueError(f"`times` must be non-negative, got {t[0]:g}.")
    if np.any(np.diff(t) < 0):
        k = int(np.flatnonzero(np.diff(t) < 0)[0])
        raise ValueError(
            f"`times` must be sorted in increasing order; times[{k + 1}] = {t[k + 1]:g} < "
            f"times[{k}] = {t[k]:g}."
        )
    return t


def phi1(x) -> np.ndarray:
    r""":math:`\varphi_1(x) = (1 - e^{-x})/x` for :math:`x \ge 0`, with :math:`\varphi_1(0) = 1`.

    Computed as ``-expm1(-x)/x``, accurate to a few ulps for all :math:`x \ge 0`.
    It gives the time integral :math:`\int_0^t e^{-\lambda s}\,ds = t\,\varphi_1(\lambda t)`.

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


class _Flow:
    """Common interface: ``coefficients``, ``increments``, ``extend``, ``loss``."""

    rows: str
    alpha: float
    weights: np.ndarray
    extension: np.ndarray | None
    training_rows: np.ndarray

    @property
    def M(self) -> int:
        return int(self.weights.shape[0])

    def coefficients(self, r0, times) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def extend(self, rows: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
        r"""Increments :math:`h_t(\xi) - h_0(\xi)` at new histories, shape (n_times, M_new).

        ``rows`` is :math:`A(\xi,\cdot)W^{1/2}` (M_new, M) when ``self.rows ==
        "kernel"`` and the factor :math:`F(\xi)` (M_new, r) when ``"factor"``.
        """
        rows = np.asarray(rows, dtype=float)
        right = coeffs if self.extension is None else coeffs @ self.extension.T
        if rows.ndim != 2 or rows.shape[1] != right.shape[1]:
            raise DimensionError(
                f"`rows` must have {right.shape[1]} columns for this flow, got shape {rows.shape}."
            )
        return right @ rows.T

    def increments(self, coeffs: np.ndarray) -> np.ndarray:
        r""":math:`h_t - h_0` on the training histories, shape (n_times, M)."""
        return self.extend(self.training_rows, coeffs)

    def loss(self, r0, times, increments: np.ndarray | None = None) -> np.ndarray:
        r""":math:`L_t = \tfrac12\sum_i\omega_i (g - h_t)_i^2` (from the increments)."""
        if increments is None:
            increments = self.increments(self.coefficients(r0, times))
        res = np.asarray(r0)[None, :] - increments
        return 0.5 * (res**2) @ self.weights

    def _spectrum_matrix(self) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

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


class SymmetricFlow(_Flow):
    r"""Exact spectral solution for a symmetric positive semi-definite kernel (rtrl mode).

    Build with :meth:`from_kernel` (dense :math:`B = W^{1/2}AW^{1/2}`) or
    :meth:`from_factor` (thin SVD of :math:`W^{1/2}F` for :math:`A = FF^\top`).

    Parameters
    ----------
    eigenvalues : ndarray, shape (k,)
        Eigenvalues :math:`\lambda` of :math:`B` kept in the basis (descending,
        tiny negative rounding clipped to zero).
    basis : ndarray, shape (M, k)
        Orthonormal eigenvectors :math:`V` of :math:`B`.
    weights : ndarray, shape (M,)
        History weights :math:`\omega` (the diagonal of :math:`W`).
    alpha : float
        Learning-rate constant :math:`\alpha > 0`.
    rows : {"kernel", "factor"}
        What the rows :math:`R(\xi)` passed to ``extend`` are:
        :math:`A(\xi,\cdot)W^{1/2}` or the factor :math:`F(\xi)`.
    extension : ndarray
        The matrix :math:`E` with :math:`h_t(\xi) - h_0(\xi) = R(\xi)\,E\,a(t)`
        (:math:`V` for ``"kernel"``, :math:`Y S` for ``"factor"``).
    training_rows : ndarray
        The rows :math:`R(\xi_i)` of the training histories.
    diagnostics : dict
        ``route``, ``rank_tolerance``, ``n_clipped`` (eigenvalues in
        :math:`[-\text{tol}, 0)` set to zero) and ``min_eigenvalue`` before clipping.

    Raises
    ------
    ValueError
        If ``alpha`` is not positive and finite.

    Notes
    -----
    The parameters are stored as attributes of the same names.
    """

    def __init__(self, eigenvalues, basis, weights, alpha, *, rows, extension, training_rows,
                 diagnostics):
        self.eigenvalues = eigenvalues
        self.basis = basis
        self.weights = weights
        self.sqrt_weights = np.sqrt(weights)
        self.alpha = _check_alpha(alpha)
        self.rows = rows
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
        neg = lam < 0
        lam = np.where(neg, 0.0, lam)
        return lam, {"rank_tolerance": tol, "n_clipped": int(neg.sum()), "min_eigenvalue": lam_min}

    @classmethod
    def from_kernel(cls, A, weights, alpha) -> SymmetricFlow:
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
            With all :math:`M` eigenpairs and ``rows == "kernel"``.

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
        return cls(lam, V, om, alpha, rows="kernel", extension=V, training_rows=A * sw[None, :],
                   diagnostics=diag)

    @classmethod
    def from_factor(cls, F, weights, alpha) -> SymmetricFlow:
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
            With :math:`\min(M, r)` eigenpairs and ``rows == "factor"``.

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
        return cls(lam, U, om, alpha, rows="factor", extension=Yt.T * S[None, :],
                   training_rows=F, diagnostics=diag)

    @property
    def spectrum(self) -> np.ndarray:
        """All ``M`` eigenvalues of :math:`B` (descending; zeros beyond the factor's rank)."""
        out = np.zeros(self.M)
        out[: self.eigenvalues.size] = self.eigenvalues
        return out

    def _projection(self, r0) -> tuple[np.ndarray, np.ndarray]:
        r0 = _check_residual(r0, self.M)
        v = self.sqrt_weights * r0
        return v, self.basis.T @ v

    def coefficients(self, r0, times) -> np.ndarray:
        r""":math:`a(t) = \operatorname{diag}(\alpha t\,\varphi_1(\alpha\lambda t)) V^\top W^{1/2} r_0`, (n_times, k).

        Then :math:`\alpha W^{1/2}\int_0^t r_s\,ds = V a(t)` and
        :math:`h_t(\xi) - h_0(\xi) = R(\xi)\,E\,a(t)`.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0` on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0`.

        Returns
        -------
        ndarray, shape (n_times, k)
            :math:`a(t)` at each time.
        """
        t = check_times(times)
        _, c = self._projection(r0)
        at = self.alpha * t[:, None]
        return at * phi1(at * self.eigenvalues[None, :]) * c[None, :]

    def loss(self, r0, times, increments=None) -> np.ndarray:
        r""":math:`L_t = \tfrac12\bigl(\sum_k e^{-2\alpha\lambda_k t}c_k^2 + \|(I - VV^\top)W^{1/2}r_0\|^2\bigr)`.

        Non-increasing in :math:`t` by construction (all :math:`\lambda_k \ge 0`).
        Here :math:`c = V^\top W^{1/2} r_0`.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0` on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0`.
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
        decay = np.exp(-2.0 * self.alpha * t[:, None] * self.eigenvalues[None, :])
        return 0.5 * (decay @ (c**2) + null)


def _affine_integral(Y: np.ndarray, v: np.ndarray, times: np.ndarray) -> np.ndarray:
    r""":math:`z(t_k) = \int_0^{t_k} e^{sY} v\,ds` for every time, shape (n_times, n).

    Uses :math:`\exp\bigl(\Delta\,[\begin{smallmatrix}Y & v\\0 & 0\end{smallmatrix}]\bigr)`
    applied to :math:`(z, 1)` over each step :math:`\Delta` of the grid (one dense
    ``expm`` per distinct step for small systems, ``expm_multiply`` otherwise).
    """
    n = Y.shape[0]
    aug = np.zeros((n + 1, n + 1))
    aug[:n, :n] = Y
    aug[:n, n] = v
    y = np.zeros(n + 1)
    y[n] = 1.0
    out = np.empty((times.size, n))
    cache: dict[float, np.ndarray] = {}
    prev = 0.0
    for k, tk in enumerate(times):
        dt = float(tk - prev)
        if dt > 0:
            if n + 1 <= _DENSE_EXPM_MAX:
                key = float(f"{dt:.13e}")
                E = cache.get(key)
                if E is None:
                    E = scipy.linalg.expm(dt * aug)
                    cache[key] = E
                y = E @ y
            else:
                y = expm_multiply(dt * aug, y)
        out[k] = y[:n]
        prev = float(tk)
    return out


class ExponentialFlow(_Flow):
    r"""Solution through the action of the matrix exponential (any kernel, e.g. truncated).

    Build with :meth:`from_kernel` (dense :math:`Y = -\alpha AW`) or
    :meth:`from_factors` (:math:`AW = UV^\top`, reduced :math:`Y = -\alpha V^\top U`).

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
    rows : {"kernel", "factor"}
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

    def __init__(self, Y, weights, alpha, *, project, rows, training_rows, diagnostics):
        self.Y = Y
        self.weights = weights
        self.alpha = _check_alpha(alpha)
        self._project = project
        self.rows = rows
        self.extension = None
        self.training_rows = training_rows
        self.diagnostics = diagnostics

    @classmethod
    def from_kernel(cls, A, weights, alpha) -> ExponentialFlow:
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
            With :math:`Y = -\alpha AW` and ``rows == "kernel"``.

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

        return cls(Y, om, alpha, project=project, rows="kernel", training_rows=A * sw[None, :],
                   diagnostics={"route": "augmented matrix exponential of -alpha A W",
                                "system_size": M})

    @classmethod
    def from_factors(cls, U, V, weights, alpha) -> ExponentialFlow:
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
            With :math:`Y = -\alpha V^\top U` and ``rows == "factor"``.

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

        return cls(-alpha * Z, om, alpha, project=project, rows="factor", training_rows=U,
                   diagnostics={"route": "augmented matrix exponential of -alpha V^T U",
                                "system_size": int(Z.shape[0])})

    def coefficients(self, r0, times) -> np.ndarray:
        r"""Coefficients :math:`a(t)` from the augmented exponential, stepped along ``times``.

        :math:`a(t) = \text{scale}\cdot z_t`, :math:`z_t = \int_0^t e^{sY}v\,ds`: dense,
        :math:`a(t) = \alpha W^{1/2}\int_0^t r_s\,ds`; low rank,
        :math:`a(t) = \alpha\,t\,\varphi_1(-\alpha t Z)\,V^\top r_0`.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0` on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0`.

        Returns
        -------
        ndarray, shape (n_times, k)
            :math:`a(t)` at each time (:math:`k = M` dense, :math:`r` low rank).

        Raises
        ------
        DimensionError
            If ``r0`` has the wrong shape.
        DivergenceError
            If ``r0`` is not finite.
        """
        t = check_times(times)
        r0 = _check_residual(r0, self.M)
        v, scale = self._project(r0)
        z = _affine_integral(self.Y, v, t)
        return z * scale

    def _spectrum_matrix(self) -> np.ndarray:
        return -self.Y / self.alpha


class IVPFlow(_Flow):
    r"""Time stepping of :math:`\dot h = \alpha AW(g-h)`, :math:`\dot J = g - h` with ``solve_ivp``.

    The cross-check of the exact routes (and the route for losses other than the
    square). :math:`a(t) = \alpha W^{1/2} J(t)`. Cost: the integrator's number of
    steps times :math:`O(M^2)`.

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

    def __init__(self, A, weights, alpha, *, rtol: float = 1e-10, atol: float = 1e-12,
                 method: str = "DOP853"):
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise DimensionError(f"`A` must be a square (M, M) kernel, got shape {A.shape}.")
        self.weights = _check_weights(weights, A.shape[0])
        self.alpha = _check_alpha(alpha)
        self.AW = A * self.weights[None, :]
        self.rows = "kernel"
        self.extension = None
        sw = np.sqrt(self.weights)
        self.training_rows = A * sw[None, :]
        self.rtol, self.atol, self.method = rtol, atol, method
        self.diagnostics = {"route": f"solve_ivp ({method}, rtol={rtol:g}, atol={atol:g})"}

    def coefficients(self, r0, times) -> np.ndarray:
        r"""Coefficients :math:`a(t) = \alpha W^{1/2} J(t)` by time stepping.

        Integrates :math:`\dot h = \alpha AW(r_0 - h)`, :math:`\dot J = r_0 - h` from
        :math:`h = J = 0` (here :math:`h` stands for :math:`h_t - h_0`), so that
        :math:`J(t) = \int_0^t r_s\,ds`; the error is of the order of ``rtol``,
        ``atol``.

        Parameters
        ----------
        r0 : array_like, shape (M,)
            Initial residual :math:`r_0 = g - h_0` on the training histories.
        times : array_like, shape (n_times,)
            Non-decreasing times :math:`t \ge 0`.

        Returns
        -------
        ndarray, shape (n_times, M)
            :math:`a(t)` at each time.

        Raises
        ------
        DimensionError
            If ``r0`` has the wrong shape.
        DivergenceError
            If ``r0`` is not finite or ``solve_ivp`` fails.
        """
        t = check_times(times)
        r0 = _check_residual(r0, self.M)
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

    def _spectrum_matrix(self) -> np.ndarray:
        return self.AW


def lowrank_exponential(U, V, t: float, alpha: float = 1.0) -> np.ndarray:
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
