r"""Continuous-time linear RNNs and their memory kernels (:ref:`theory §6 <theory-memory>`).

A linear RNN with ``m`` hidden units, ``d``-dimensional input and scalar output,

.. math:: \dot h_t = W h_t + U x_t, \qquad \hat y_t = c^\top h_t,

started in the infinite past, represents the linear functional
``y_hat_t = int_0^inf rho_hat(s)^T x_{t-s} ds`` with kernel

.. math:: \hat\rho(s)^\top = c^\top e^{W s} U \qquad (W \text{ Hurwitz}).

For diagonal ``W = -diag(lam)`` and ``d = 1`` the kernel is an exponential sum
``rho_hat(s) = sum_i b_i e^{-lam_i s}`` with ``b_i = c_i U_i``; this is the form
every loss, optimiser and flow in :mod:`limitsolver.linear_rnn` works with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from ..errors import ConfigError, DimensionError

__all__ = ["LinearRNN", "diagonal_kernel"]


def diagonal_kernel(b: ArrayLike, lam: ArrayLike, s: ArrayLike) -> np.ndarray:
    r"""``rho_hat(s) = sum_i b_i e^{-lam_i s}`` on an array of times ``s`` (shape of ``s``).

    The kernel of the diagonal RNN ``W = -diag(lam)``, ``U = 1``, ``c = b``:

    .. math:: \hat\rho(s) = \sum_{i=1}^m b_i e^{-\lambda_i s}.

    Cost ``O(len(s) m)``.

    Parameters
    ----------
    b : (m,) array_like
        Output coefficients ``b_i = c_i U_i``.
    lam : (m,) array_like
        Decay rates ``lambda_i`` (positive for a decaying kernel; not checked here).
    s : array_like
        Times ``s >= 0`` at which to evaluate the kernel.

    Returns
    -------
    numpy.ndarray
        ``rho_hat(s)``, same shape as ``s``.
    """
    b = np.asarray(b, dtype=float)
    lam = np.asarray(lam, dtype=float)
    s = np.asarray(s, dtype=float)
    return np.exp(-np.multiply.outer(s, lam)) @ b


@dataclass(frozen=True, eq=False)
class LinearRNN:
    """Linear RNN ``(W, U, c)`` with kernel ``rho_hat(s)^T = c^T e^{W s} U``.

    Parameters
    ----------
    W : (m, m) array_like
        Recurrent matrix; must be Hurwitz (all eigenvalues with negative real part).
    U : (m, d) array_like
        Input matrix (a 1-D array is read as ``d = 1``).
    c : (m,) array_like
        Readout vector, ``y_hat_t = c^T h_t``.

    Raises
    ------
    DimensionError
        If the shapes are incompatible.
    ConfigError
        If ``W`` is not Hurwitz (the kernel would not decay).
    """

    W: np.ndarray
    U: np.ndarray
    c: np.ndarray

    def __post_init__(self):
        W = np.atleast_2d(np.asarray(self.W, dtype=float))
        U = np.asarray(self.U, dtype=float)
        U = U[:, None] if U.ndim == 1 else U
        c = np.asarray(self.c, dtype=float).ravel()
        m = W.shape[0]
        if W.shape != (m, m) or U.shape[0] != m or c.shape != (m,):
            raise DimensionError(
                f"`W` must be (m, m), `U` (m, d) and `c` (m,); got {W.shape}, {U.shape}, {c.shape}."
            )
        if np.max(np.linalg.eigvals(W).real) >= 0:
            raise ConfigError(
                "`W` must be Hurwitz (every eigenvalue with negative real part) for the kernel "
                f"c^T e^(W s) U to decay; max real part is {np.max(np.linalg.eigvals(W).real):.3g}."
            )
        for name, v in (("W", W), ("U", U), ("c", c)):
            v.setflags(write=False)
            object.__setattr__(self, name, v)

    @classmethod
    def diagonal(cls, b: ArrayLike, lam: ArrayLike) -> LinearRNN:
        """The RNN ``W = -diag(lam)``, ``U = 1``, ``c = b`` (kernel ``sum b_i e^{-lam_i s}``).

        Parameters
        ----------
        b : (m,) array_like
            Readout coefficients ``c = b``.
        lam : (m,) array_like
            Positive decay rates, ``W = -diag(lam)``.

        Returns
        -------
        LinearRNN
            The diagonal RNN with scalar input (``d = 1``).

        Raises
        ------
        ConfigError
            If some ``lam_i <= 0`` (``W`` not Hurwitz).
        """
        lam = np.asarray(lam, dtype=float)
        return cls(-np.diag(lam), np.ones((lam.size, 1)), np.asarray(b, dtype=float))

    @property
    def m(self) -> int:
        """Number of hidden units."""
        return self.W.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.U.shape[1]

    @cached_property
    def _eig(self):
        evals, V = np.linalg.eig(self.W)
        return evals, V, np.linalg.solve(V, self.U.astype(complex))

    def kernel(self, s: ArrayLike, method: str = "eig") -> np.ndarray:
        r"""``rho_hat(s)``, shape ``s.shape + (d,)``.

        .. math:: \hat\rho(s)^\top = c^\top e^{W s} U.

        ``method="eig"`` uses ``W = V diag(mu) V^{-1}`` (cost ``O(m^3 + len(s) m d)``, exact for
        diagonalisable ``W``); ``method="expm"`` calls :func:`scipy.linalg.expm` at every ``s``
        (cost ``O(len(s) m^3)``, any ``W``).

        Parameters
        ----------
        s : array_like
            Times ``s >= 0``.
        method : {"eig", "expm"}, default "eig"
            How ``e^{W s}`` is evaluated (see above).

        Returns
        -------
        numpy.ndarray
            ``rho_hat(s)`` of shape ``s.shape + (d,)``.

        Raises
        ------
        ConfigError
            If ``method`` is not ``"eig"`` or ``"expm"``.
        """
        s = np.asarray(s, dtype=float)
        if method == "expm":
            out = np.array([self.c @ linalg.expm(self.W * si) @ self.U for si in s.ravel()])
            return out.reshape(s.shape + (self.d,))
        if method != "eig":
            raise ConfigError(f"`method` must be 'eig' or 'expm'; got {method!r}.")
        evals, V, VinvU = self._eig
        left = self.c @ V  # (m,)
        E = np.exp(np.multiply.outer(s, evals))  # s.shape + (m,)
        return np.real((E * left) @ VinvU)

    def to_diagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(b, lam)`` with ``rho_hat(s) = sum_i b_i e^{-lam_i s}`` (``d = 1``, real W).

        ``lam = -eig(W)``, ``b_i = (V^T c)_i (V^{-1} U)_i``.

        Returns
        -------
        b : (m,) numpy.ndarray
            Coefficients of the exponential sum.
        lam : (m,) numpy.ndarray
            Decay rates (positive, since ``W`` is Hurwitz).

        Raises
        ------
        DimensionError
            If ``d != 1``.
        ConfigError
            If ``W`` has non-real eigenvalues (the kernel oscillates and is not an exponential sum).
        """
        if self.d != 1:
            raise DimensionError(
                f"`U` must have one column (scalar input) for an exponential sum; d = {self.d}."
            )
        evals, V, VinvU = self._eig
        scale = np.maximum(np.abs(evals), 1.0)
        if np.any(np.abs(evals.imag) > 1e-12 * scale):
            raise ConfigError("`W` must have a real spectrum to be written as W = -diag(lam).")
        b = (self.c @ V) * VinvU[:, 0]
        return np.real(b), -np.real(evals)
