r"""The random walk on the circle (:ref:`theory §1 <theory-data>`).

.. math::

    \varphi_{k+1} = \varphi_k + \kappa\, \xi_k \pmod{2\pi}, \qquad
    \xi_k \sim N(0, 1) \text{ i.i.d.}, \qquad
    X_k = (\cos\varphi_k, \sin\varphi_k) \in S^1 \subset \mathbb R^2,

with :math:`\kappa > 0`. The transition density of the angle is the wrapped normal

.. math::

    p(\varphi, \psi) = \sum_{m \in \mathbb Z} \frac{1}{\sqrt{2\pi}\kappa}
        \exp\!\Big(-\frac{(\psi - \varphi + 2\pi m)^2}{2\kappa^2}\Big)
    = \frac{1}{2\pi}\Big(1 + 2\sum_{m \ge 1} e^{-\kappa^2 m^2/2} \cos m(\psi - \varphi)\Big),

the invariant law is uniform on :math:`[0, 2\pi)`, and the kernel acts on the
Fourier mode :math:`e^{i m \varphi}` by the multiplier :math:`e^{-\kappa^2 m^2/2}`;
the absolute spectral gap is :math:`1 - e^{-\kappa^2/2}`. In particular
:math:`\mathbb E[\cos(\varphi_1 - \varphi_0)] = e^{-\kappa^2/2}`.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._deprecation import renamed_argument
from ..errors import DimensionError, DivergenceError, NotErgodicError
from .base import SavedChain, _prepare

if TYPE_CHECKING:
    from ..._random import SeedLike

__all__ = ["CircleWalk"]

_TWO_PI = 2.0 * math.pi
# exp(-z^2/2) < 1e-18 for z > 9.1: terms beyond this many standard deviations are negligible
_TAIL_Z = 9.2


def _wrap(phi: np.ndarray) -> np.ndarray:
    """Reduce angles to [0, 2 pi) (``np.mod`` may round up to exactly 2 pi)."""
    out = np.mod(phi, _TWO_PI)
    return np.where(out >= _TWO_PI, 0.0, out)


class CircleWalk(SavedChain):
    r"""Random walk on the circle: :math:`\varphi_{k+1} = \varphi_k + \kappa\xi_k \bmod 2\pi`.

    Observed as :math:`X_k = (\cos\varphi_k, \sin\varphi_k)`; invariant law uniform.

    Parameters
    ----------
    kappa : float
        Step size :math:`\kappa > 0` (standard deviation of an angular step).

    Attributes
    ----------
    kappa : float
    dim : int
        Always 2.

    Raises
    ------
    NotErgodicError
        If ``kappa`` is not a finite positive number (:math:`\kappa = 0` does not mix).
    """

    dim: int = 2
    kind: str = "circle"

    def __init__(self, kappa: float = 0.5):
        if not isinstance(kappa, numbers.Real) or not math.isfinite(kappa) or kappa <= 0:
            raise NotErgodicError(
                f"`kappa` must be a finite number > 0 for the circle walk to mix, got {kappa!r}."
            )
        self.kappa: float = float(kappa)

    def __repr__(self) -> str:
        return f"CircleWalk(kappa={self.kappa!r})"

    def to_state(self) -> dict:
        """The chain as a JSON-able table (``kind = "circle"`` and its parameters, exact).

        Returns
        -------
        dict
            ``{'kind': 'circle', 'kappa': kappa}``; :meth:`from_state`
            rebuilds an equal chain.
        """
        return {"kind": self.kind, "kappa": self.kappa}


    def fourier_multiplier(self, m: ArrayLike):
        r"""Eigenvalue :math:`e^{-\kappa^2 m^2/2}` of the kernel on the mode :math:`e^{im\varphi}`.

        Parameters
        ----------
        m : float or array_like
            Fourier mode number(s) :math:`m`.

        Returns
        -------
        float or numpy.ndarray
            :math:`e^{-\kappa^2 m^2/2}`; a float for a scalar ``m``, else an array of its shape.
        """
        m = np.asarray(m, dtype=float)
        out = np.exp(-0.5 * self.kappa**2 * m**2)
        return float(out) if out.ndim == 0 else out

    @property
    def spectral_gap(self) -> float:
        r"""Absolute spectral gap :math:`1 - e^{-\kappa^2/2}` on :math:`L^2` of the uniform law."""
        return -math.expm1(-0.5 * self.kappa**2)

    @staticmethod
    def to_states(angles: ArrayLike) -> np.ndarray:
        r"""Map angles to :math:`(\cos\varphi, \sin\varphi)`, shape ``angles.shape + (2,)``.

        Parameters
        ----------
        angles : float or array_like
            Angles :math:`\varphi` in radians.

        Returns
        -------
        numpy.ndarray
            Shape ``angles.shape + (2,)``; the last axis holds
            :math:`(\cos\varphi, \sin\varphi)`.
        """
        a = np.asarray(angles, dtype=float)
        return np.stack([np.cos(a), np.sin(a)], axis=-1)

    @renamed_argument("rng", "seed")
    def sample_angles(self, n_steps: int, seed: SeedLike, *, n_paths: int = 1,
                      start: ArrayLike | None = None) -> np.ndarray:
        r"""Angle paths :math:`(\varphi_0, \dots, \varphi_{n\_steps-1})` in :math:`[0, 2\pi)`.

        Parameters
        ----------
        n_steps : int
            Number of angles per path, :math:`\varphi_0` included.
        seed : int, SeedSequence or Generator
            Source of randomness.
        n_paths : int, optional
            Number of independent paths.
        start : float or array_like, optional
            :math:`\varphi_0` (one angle, or one per path; reduced mod :math:`2\pi`);
            ``None`` draws it uniformly.

        Returns
        -------
        numpy.ndarray, shape (n_paths, n_steps)
        """
        n_steps, gen, n_paths = _prepare(n_steps, seed, n_paths)
        if start is None:
            phi = gen.random(n_paths) * _TWO_PI
        else:
            s = np.asarray(start, dtype=float)
            if s.ndim > 1 or s.size not in (1, n_paths):
                raise DimensionError(
                    f"`start` must be an angle or an array of {n_paths} angles, "
                    f"got shape {s.shape}."
                )
            if not np.all(np.isfinite(s)):
                raise DivergenceError("`start` contains NaN or infinite angles.")
            phi = np.broadcast_to(s.reshape(-1), (n_paths,)).copy()
        out = np.empty((n_paths, n_steps))
        out[:, 0] = _wrap(phi)
        steps = gen.standard_normal((n_steps - 1, n_paths))
        for k in range(1, n_steps):
            out[:, k] = _wrap(out[:, k - 1] + self.kappa * steps[k - 1])
        return out

    @renamed_argument("rng", "seed")
    def sample(self, n_steps: int, seed: SeedLike, *, n_paths: int = 1,
               start: ArrayLike | None = None) -> np.ndarray:
        r"""Paths of :math:`X_k = (\cos\varphi_k, \sin\varphi_k)`, shape ``(n_paths, n_steps, 2)``.

        Here ``start`` is an ANGLE :math:`\varphi_0` (or one per path), not a
        point of :math:`\mathbb R^2`; see :meth:`sample_angles`.

        Parameters
        ----------
        n_steps : int
            Number of states per path, :math:`X_0` included.
        seed : int, SeedSequence or Generator
            Source of randomness.
        n_paths : int, optional
            Number of independent paths.
        start : float or array_like, optional
            The angle :math:`\varphi_0` (one angle, or one per path; reduced mod
            :math:`2\pi`); ``None`` draws it uniformly.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_paths, n_steps, 2)``, chronological (index 0 is :math:`X_0`).

        Raises
        ------
        DimensionError
            If ``n_steps`` or ``n_paths`` is not a positive integer or ``start`` has
            the wrong shape.
        DivergenceError
            If ``start`` contains NaN or infinite angles.
        """
        return self.to_states(self.sample_angles(n_steps, seed, n_paths=n_paths, start=start))

    @renamed_argument("rng", "seed")
    def sample_stationary(self, n: int, seed: SeedLike) -> np.ndarray:
        r"""``n`` independent uniform points on the unit circle, shape ``(n, 2)``.

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int, SeedSequence or Generator
            Source of randomness.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, 2)``.
        """
        n, gen, _ = _prepare(n, seed, 1)
        return self.to_states(gen.random(n) * _TWO_PI)

    def stationary_density(self, phi: ArrayLike) -> np.ndarray:
        r"""Density :math:`1/(2\pi)` of the uniform invariant law of the angle.

        Parameters
        ----------
        phi : float or array_like
            Angle(s) :math:`\varphi`.

        Returns
        -------
        numpy.ndarray
            :math:`1/(2\pi)`, with the shape of ``phi``.
        """
        return np.full(np.shape(phi), 1.0 / _TWO_PI)

    def transition_density(self, phi: ArrayLike, psi: ArrayLike,
                           n_images: int | None = None) -> np.ndarray:
        r"""Wrapped-normal density :math:`p(\varphi, \psi)` of :math:`\varphi_{k+1} = \psi` given :math:`\varphi_k = \varphi`.

        With ``n_images`` given, the sum over images
        :math:`m = -M, \dots, M` (``M = n_images``) of the Gaussian
        :math:`N(\delta + 2\pi m; 0, \kappa^2)`, :math:`\delta` the difference
        reduced to :math:`[-\pi, \pi)`. With ``None`` the series is truncated
        where its terms fall below :math:`10^{-18}` relative: the image sum
        for :math:`\kappa \le 2` (at most 4 images each side), the Fourier
        series :math:`\frac{1}{2\pi}(1 + 2\sum_{m\ge1} e^{-\kappa^2m^2/2}\cos m\delta)`
        for :math:`\kappa > 2` (at most 7 modes). Inputs broadcast.

        Parameters
        ----------
        phi : float or array_like
            Current angle(s) :math:`\varphi`.
        psi : float or array_like
            Next angle(s) :math:`\psi`, broadcastable against ``phi``.
        n_images : int, optional
            Number :math:`M` of images on each side in the image sum; ``None``
            chooses the series and its truncation as above.

        Returns
        -------
        numpy.ndarray
            :math:`p(\varphi, \psi)`, with the broadcast shape of ``phi`` and ``psi``.

        Raises
        ------
        DimensionError
            If ``n_images`` is not a non-negative integer.
        """
        phi = np.asarray(phi, dtype=float)
        psi = np.asarray(psi, dtype=float)
        delta = np.mod(psi - phi + math.pi, _TWO_PI) - math.pi
        k = self.kappa
        if n_images is None and k > 2.0:
            n_modes = math.ceil(_TAIL_Z / k)
            m = np.arange(1, n_modes + 1)
            terms = np.exp(-0.5 * k**2 * m**2) * np.cos(m * delta[..., None])
            return (1.0 + 2.0 * terms.sum(axis=-1)) / _TWO_PI
        if n_images is None:
            n_images = math.ceil((_TAIL_Z * k + math.pi) / _TWO_PI)
        if not isinstance(n_images, numbers.Integral) or n_images < 0:
            raise DimensionError(f"`n_images` must be a non-negative integer, got {n_images!r}.")
        m = np.arange(-int(n_images), int(n_images) + 1)
        z = (delta[..., None] + _TWO_PI * m) / k
        return np.exp(-0.5 * z**2).sum(axis=-1) / (math.sqrt(_TWO_PI) * k)
