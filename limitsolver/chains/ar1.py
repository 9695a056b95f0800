r"""The Gaussian AR(1) chain on :math:`\mathbb R^d` (:ref:`theory §1 <theory-data>`).

.. math::

    X_{k+1} = a X_k + \sqrt{1 - a^2}\, \xi_k, \qquad \xi_k \sim N(0, I_d)
    \text{ i.i.d.}, \qquad |a| < 1,

with transition kernel :math:`P(x, \cdot) = N(a x, (1 - a^2) I_d)` and
invariant law :math:`\pi_X = N(0, I_d)`. In stationarity every coordinate has
autocovariance :math:`\operatorname{Cov}(X_k^{(i)}, X_{k+\ell}^{(i)}) = a^{|\ell|}`
and the coordinates are independent. On :math:`L^2(\pi_X)` the kernel is
self-adjoint with eigenvalues :math:`a^m` on the Hermite polynomials of degree
:math:`m`, so the absolute spectral gap is :math:`1 - |a|`.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._deprecation import renamed_argument
from ..errors import DimensionError, NotErgodicError
from .base import SavedChain, _count, _prepare, _vector_start

if TYPE_CHECKING:
    from ..._random import SeedLike

__all__ = ["GaussianAR1"]


class GaussianAR1(SavedChain):
    r"""Gaussian AR(1): :math:`X_{k+1} = a X_k + \sqrt{1-a^2}\,\xi_k`, invariant law :math:`N(0, I_d)`.

    Parameters
    ----------
    a : float
        Autoregression coefficient, :math:`|a| < 1` (``a = 0`` gives i.i.d. draws).
    dim : int, optional
        Dimension :math:`d`.

    Attributes
    ----------
    a : float
    dim : int
    noise_scale : float
        :math:`\sqrt{1 - a^2}`.

    Raises
    ------
    NotErgodicError
        If :math:`|a| \ge 1` or ``a`` is not finite.
    DimensionError
        If ``dim`` is not a positive integer.
    """

    kind: str = "ar1"

    def __init__(self, a: float = 0.5, dim: int = 1):
        if not isinstance(a, numbers.Real) or not math.isfinite(a) or abs(a) >= 1.0:
            raise NotErgodicError(
                f"`a` must satisfy |a| < 1 for the AR(1) chain to be ergodic, got {a!r}."
            )
        self.a: float = float(a)
        self.dim: int = _count(dim, "dim")
        self.noise_scale: float = math.sqrt(1.0 - self.a**2)

    def __repr__(self) -> str:
        return f"GaussianAR1(a={self.a!r}, dim={self.dim})"

    def to_state(self) -> dict:
        """The chain as a JSON-able table (``kind = "ar1"`` and its parameters, exact).

        Returns
        -------
        dict
            ``{'kind': 'ar1', 'a': a, 'dim': dim}``; :meth:`from_state`
            rebuilds an equal chain.
        """
        return {"kind": self.kind, "a": self.a, "dim": self.dim}


    @property
    def spectral_gap(self) -> float:
        r"""Absolute spectral gap :math:`1 - |a|` of the kernel on :math:`L^2(\pi_X)`."""
        return 1.0 - abs(self.a)

    def autocovariance(self, lag: ArrayLike):
        r"""Stationary autocovariance per coordinate, :math:`a^{|\ell|}` (vectorised over ``lag``).

        .. math:: \operatorname{Cov}(X_k^{(i)}, X_{k+\ell}^{(i)}) = a^{|\ell|}.

        Parameters
        ----------
        lag : int or array_like of int
            The lag(s) :math:`\ell` (negative lags allowed).

        Returns
        -------
        float or numpy.ndarray
            :math:`a^{|\ell|}`; a float for a scalar ``lag``, else an array of its shape.

        Raises
        ------
        DimensionError
            If ``lag`` is not an integer or an array of integers.
        """
        lag = np.asarray(lag)
        if not np.issubdtype(lag.dtype, np.integer):
            raise DimensionError(f"`lag` must be an integer or an array of integers, got {lag!r}.")
        out = self.a ** np.abs(lag).astype(float)
        return float(out) if out.ndim == 0 else out

    @renamed_argument("rng", "seed")
    def sample(self, n_steps: int, seed: SeedLike, *, n_paths: int = 1,
               start: ArrayLike | None = None) -> np.ndarray:
        r"""Paths :math:`(X_0, \dots, X_{n\_steps-1})`, shape ``(n_paths, n_steps, d)``.

        Parameters
        ----------
        n_steps : int
            Number of states per path, :math:`X_0` included.
        seed : int, SeedSequence or Generator
            Source of randomness.
        n_paths : int, optional
            Number of independent paths.
        start : array_like, optional
            :math:`X_0` of shape ``(d,)`` or ``(n_paths, d)`` (for ``d = 1`` also a
            scalar or shape ``(n_paths,)``); ``None`` draws :math:`X_0 \sim N(0, I_d)`.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_paths, n_steps, d)``, chronological (index 0 is :math:`X_0`).

        Raises
        ------
        DimensionError
            If ``n_steps`` or ``n_paths`` is not a positive integer or ``start`` has
            the wrong shape.
        DivergenceError
            If ``start`` contains NaN or infinite values.
        """
        n_steps, gen, n_paths = _prepare(n_steps, seed, n_paths)
        d = self.dim
        out = np.empty((n_paths, n_steps, d))
        if start is None:
            out[:, 0] = gen.standard_normal((n_paths, d))
        else:
            out[:, 0] = _vector_start(start, n_paths, d)
        noise = gen.standard_normal((n_steps - 1, n_paths, d))
        for k in range(1, n_steps):
            out[:, k] = self.a * out[:, k - 1] + self.noise_scale * noise[k - 1]
        return out

    @renamed_argument("rng", "seed")
    def sample_stationary(self, n: int, seed: SeedLike) -> np.ndarray:
        r"""``n`` independent draws from :math:`N(0, I_d)`, shape ``(n, d)``.

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
        n, gen, _ = _prepare(n, seed, 1)
        return gen.standard_normal((n, self.dim))

    def _sq_norm(self, z: np.ndarray) -> np.ndarray:
        if self.dim == 1:
            return z**2
        if z.ndim == 0 or z.shape[-1] != self.dim:
            raise DimensionError(
                f"For dim = {self.dim} the last axis of `x` and `y` must have length {self.dim}, "
                f"got shape {z.shape}."
            )
        return np.sum(z**2, axis=-1)

    def transition_density(self, x: ArrayLike, y: ArrayLike) -> np.ndarray:
        r"""Density of :math:`X_{k+1} = y` given :math:`X_k = x`.

        .. math:: p(x, y) = (2\pi s^2)^{-d/2} \exp\!\big(-|y - a x|^2 / (2 s^2)\big),
                  \qquad s^2 = 1 - a^2.

        For ``d = 1`` the inputs are arrays of scalars of any broadcastable
        shapes, evaluated elementwise (pass ``path[..., 0]`` for a path array
        of shape ``(..., 1)``); for ``d > 1`` their last axis holds the
        coordinates and the result drops it.

        Parameters
        ----------
        x : array_like
            Current state(s) :math:`X_k`.
        y : array_like
            Next state(s) :math:`X_{k+1}`, broadcastable against ``x``.

        Returns
        -------
        numpy.ndarray
            :math:`p(x, y)`, with the broadcast shape (the coordinate axis dropped
            for ``d > 1``).

        Raises
        ------
        DimensionError
            If ``d > 1`` and the last axis of ``x`` or ``y`` does not have length ``d``.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        s2 = self.noise_scale**2
        r2 = self._sq_norm(y - self.a * x)
        return (2.0 * math.pi * s2) ** (-0.5 * self.dim) * np.exp(-0.5 * r2 / s2)

    def stationary_density(self, x: ArrayLike) -> np.ndarray:
        r"""Density of :math:`N(0, I_d)`, :math:`(2\pi)^{-d/2} e^{-|x|^2/2}` (same shape rules).

        Parameters
        ----------
        x : array_like
            State(s); for ``d > 1`` the last axis holds the coordinates.

        Returns
        -------
        numpy.ndarray
            The density at ``x`` (the coordinate axis dropped for ``d > 1``).

        Raises
        ------
        DimensionError
            If ``d > 1`` and the last axis of ``x`` does not have length ``d``.
        """
        x = np.asarray(x, dtype=float)
        return (2.0 * math.pi) ** (-0.5 * self.dim) * np.exp(-0.5 * self._sq_norm(x))
