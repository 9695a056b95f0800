r"""White-noise loss of a diagonal linear RNN and its gradient (:ref:`theory §6 <theory-memory>`).

With white-noise input the expected squared error of the RNN equals
``||rho_hat - rho||^2_{L^2(0, inf)}``; we use half of it as the loss.  For
``rho_hat(s) = sum_i b_i e^{-lam_i s}`` (``W = -diag(lam)``, ``b_i = c_i U_i``),

.. math::

    J(b, \lambda) = \tfrac12 \big( b^\top G b - 2 b^\top \ell(\lambda) + \|\rho\|^2 \big),
    \qquad G_{ij} = \frac{1}{\lambda_i + \lambda_j},
    \qquad \ell_i = \mathcal L\rho(\lambda_i) = \int_0^\infty e^{-\lambda_i t}\rho(t)\,dt,

with gradient

.. math::

    \partial_b J = G b - \ell, \qquad
    \partial_{\lambda_k} J = b_k \Big( T(\lambda_k)
        - \sum_j \frac{b_j}{(\lambda_k + \lambda_j)^2} \Big),
    \qquad T(\lambda) = \int_0^\infty t e^{-\lambda t}\rho(t)\,dt = -\mathcal L\rho'(\lambda).

The value is a difference of terms of size ``||rho||^2``: its absolute accuracy is
about ``1e-16 ||rho||^2``, so ``sqrt(2 J)`` is resolved down to about
``1e-8 ||rho||`` (see :data:`RELATIVE_ERROR_FLOOR`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, DimensionError
from .targets import MemoryKernel

__all__ = [
    "gram",
    "white_noise_loss",
    "loss_and_gradient",
    "optimal_coefficients",
    "RELATIVE_ERROR_FLOOR",
    "LOSS_CONVENTION",
    "ERROR_CONVENTION",
]

#: How the loss of the gradient flow and of the plateau study is normalised (stated in outputs).
LOSS_CONVENTION = "J = 1/2 ||rho_hat - rho||^2_{L^2(0,inf)} (with the factor 1/2)"
#: How the approximation study's errors are measured (stated in outputs).
ERROR_CONVENTION = "E_m = inf ||rho_hat - rho||_{L^2(0,inf)} (a norm: not squared, no 1/2)"

#: Smallest relative error ``||rho_hat - rho|| / ||rho||`` the Gram-metric formulas resolve.
RELATIVE_ERROR_FLOOR = 3e-8


def gram(lam: ArrayLike) -> np.ndarray:
    r"""Gram matrix ``G_ij = <e^{-lam_i s}, e^{-lam_j s}>_{L^2(0,inf)} = 1/(lam_i + lam_j)``.

    .. math:: G_{ij} = \int_0^\infty e^{-\lambda_i s} e^{-\lambda_j s}\,ds
        = \frac{1}{\lambda_i + \lambda_j}.

    Parameters
    ----------
    lam : (m,) array_like
        Positive decay rates (not checked here).

    Returns
    -------
    (m, m) numpy.ndarray
        The symmetric positive-definite Cauchy matrix ``G``.
    """
    lam = np.asarray(lam, dtype=float)
    return 1.0 / np.add.outer(lam, lam)


def _check(b, lam):
    b = np.asarray(b, dtype=float).ravel()
    lam = np.asarray(lam, dtype=float).ravel()
    if b.shape != lam.shape:
        raise DimensionError(
            f"`b` and `lam` must have the same length; got {b.size} and {lam.size}."
        )
    if np.any(~np.isfinite(lam)) or np.any(lam <= 0):
        raise ConfigError(
            "`lam` must be positive and finite (W = -diag(lam) must be Hurwitz)."
        )
    return b, lam


def white_noise_loss(b: ArrayLike, lam: ArrayLike, target: MemoryKernel) -> float:
    r"""``J = 1/2 ||sum_i b_i e^{-lam_i s} - rho||^2_{L^2(0,inf)}`` in closed form (``O(m^2)``).

    .. math:: J(b, \lambda) = \tfrac12 \big( b^\top G b - 2 b^\top \ell(\lambda)
        + \|\rho\|^2 \big),

    clipped at 0 (rounding can make the difference slightly negative).

    Parameters
    ----------
    b : (m,) array_like
        Coefficients ``b_i = c_i U_i`` of ``rho_hat(s) = sum_i b_i e^{-lam_i s}``.
    lam : (m,) array_like
        Positive, finite decay rates (``W = -diag(lam)``).
    target : MemoryKernel
        The target kernel ``rho`` (provides ``laplace``, ``laplace_moment``, ``norm2``).

    Returns
    -------
    float
        The loss ``J >= 0``.

    Raises
    ------
    DimensionError
        If ``b`` and ``lam`` differ in length.
    ConfigError
        If some ``lam_i`` is not positive and finite.
    """
    b, lam = _check(b, lam)
    val = 0.5 * (b @ gram(lam) @ b - 2.0 * b @ target.laplace(lam) + target.norm2)
    return float(max(val, 0.0))


def loss_and_gradient(b: ArrayLike, lam: ArrayLike,
                      target: MemoryKernel) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Return ``(J, dJ/db, dJ/dlam)`` for the white-noise loss (closed form, cost ``O(m^2)``).

    .. math::

        \partial_b J = G b - \ell, \qquad
        \partial_{\lambda_k} J = b_k \Big( T(\lambda_k)
            - \sum_j \frac{b_j}{(\lambda_k + \lambda_j)^2} \Big).

    Parameters
    ----------
    b : (m,) array_like
        Coefficients ``b_i = c_i U_i`` of ``rho_hat(s) = sum_i b_i e^{-lam_i s}``.
    lam : (m,) array_like
        Positive, finite decay rates (``W = -diag(lam)``).
    target : MemoryKernel
        The target kernel ``rho`` (provides ``laplace``, ``laplace_moment``, ``norm2``).

    Returns
    -------
    J : float
        The loss (clipped at 0), as in :func:`white_noise_loss`.
    grad_b : (m,) numpy.ndarray
        ``dJ/db``.
    grad_lam : (m,) numpy.ndarray
        ``dJ/dlam``.

    Raises
    ------
    DimensionError
        If ``b`` and ``lam`` differ in length.
    ConfigError
        If some ``lam_i`` is not positive and finite.
    """
    b, lam = _check(b, lam)
    G = gram(lam)
    ell = target.laplace(lam)
    Gb = G @ b
    J = 0.5 * (b @ Gb - 2.0 * b @ ell + target.norm2)
    g_b = Gb - ell
    g_lam = b * (target.laplace_moment(lam) - (G**2) @ b)
    return float(max(J, 0.0)), g_b, g_lam


def optimal_coefficients(lam: ArrayLike, target: MemoryKernel,
                         rcond: float = 1e-13) -> tuple[np.ndarray, float]:
    """Best coefficients ``b* = G^+ ell`` for fixed rates and the reduced loss ``J(b*, lam)``.

    ``G`` (a Cauchy matrix, very ill-conditioned for nearby rates) is pseudo-inverted
    through its eigendecomposition, discarding eigenvalues below ``rcond * max eig``.
    ``J(b*, lam) = 1/2 (||rho||^2 - ell^T G^+ ell)``.  Cost ``O(m^3)``.

    Parameters
    ----------
    lam : (m,) array_like
        Positive, finite decay rates (``W = -diag(lam)``).
    target : MemoryKernel
        The target kernel ``rho``.
    rcond : float, default 1e-13
        Relative cut-off for the eigenvalues of ``G`` kept in the pseudo-inverse.

    Returns
    -------
    b : (m,) numpy.ndarray
        The minimising coefficients ``b* = G^+ ell``.
    J : float
        The reduced loss ``J(b*, lam) >= 0``.

    Raises
    ------
    ConfigError
        If some ``lam_i`` is not positive and finite.
    """
    lam = np.asarray(lam, dtype=float).ravel()
    _check(lam, lam)
    ell = target.laplace(lam)
    evals, V = np.linalg.eigh(gram(lam))
    keep = evals > rcond * evals.max()
    proj = V[:, keep].T @ ell
    b = V[:, keep] @ (proj / evals[keep])
    J = 0.5 * (target.norm2 - np.sum(proj**2 / evals[keep]))
    return b, float(max(J, 0.0))
