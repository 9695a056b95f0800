r"""Best ``m``-unit approximation of a target kernel by exponential sums (:ref:`theory §6 <theory-memory>`).

The best ``m``-unit error of a diagonal linear RNN is

.. math:: E_m = \inf_{b \in \mathbb R^m,\ \lambda \in (0,\infty)^m}
          \Big\| \sum_{i=1}^m b_i e^{-\lambda_i s} - \rho \Big\|_{L^2(0,\infty)} .

**Variable projection.**  For fixed rates the best coefficients solve the normal
equations in the Gram metric, ``G b = ell`` (``G_ij = 1/(lam_i + lam_j)``,
``ell_i = L rho(lam_i)``), leaving the reduced functional
``f(lam) = 1/2 (||rho||^2 - ell^T G^+ ell)``
(:func:`~limitsolver.linear_rnn.loss.optimal_coefficients`).
It is minimised over ``theta = log lam`` (box ``[log lam_min, log lam_max]``) with L-BFGS-B
and the exact gradient ``df/dtheta_k = lam_k dJ/dlam_k (b*, lam)`` (envelope theorem).

**Starts.**  For each ``m``: the optimum for ``m - 1`` extended by one new rate
(at ``lam_min``-side, ``lam_max``-side and the widest log-gap; as ``b_new = 0`` is
allowed, these starts are no worse than ``E_{m-1}``, so the computed ``E_m`` is
non-increasing in ``m`` like the true one), a log-uniform grid and ``n_starts``
random log-uniform draws from a Generator built from ``seed``.

**Rates.**  :func:`fit_rate` fits ``log E_m`` against ``log m`` (algebraic, ``E ~ m^{-p}``),
``m`` (exponential, ``E ~ e^{-c m}``) and ``sqrt m`` (``E ~ e^{-c sqrt m}``) by least
squares and reports the model with the smallest residual; nothing is assumed.
Errors below ``10 RELATIVE_ERROR_FLOOR ||rho||`` are excluded from fits (the
Gram-metric value cannot resolve them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from .._random import as_generator
from ..errors import ConfigError
from ..studies.fit import fit_line
from .loss import RELATIVE_ERROR_FLOOR, loss_and_gradient, optimal_coefficients
from .targets import MemoryKernel

if TYPE_CHECKING:
    from .._random import SeedLike

__all__ = [
    "BestApproximation",
    "ApproximationCurve",
    "RateFit",
    "best_approximation",
    "approximation_curve",
    "fit_rate",
    "RATE_MODELS",
]

#: Regressors of ``log E`` for each rate model.
RATE_MODELS = {
    "algebraic": lambda m: np.log(m),
    "exponential": lambda m: np.asarray(m, dtype=float),
    "root-exponential": lambda m: np.sqrt(m),
}


@dataclass(frozen=True)
class BestApproximation:
    """Result of :func:`best_approximation`.

    Parameters
    ----------
    m : int
        Number of units.
    b : (m,) numpy.ndarray
        Coefficients of ``rho_hat(s) = sum_i b_i e^{-lam_i s}``.
    lam : (m,) numpy.ndarray
        Rates of ``rho_hat``, sorted increasingly.
    error : float
        ``||rho_hat - rho||_{L^2(0, inf)}`` (``= E_m`` up to the optimiser).
    relative_error : float
        ``error / ||rho||``.
    n_starts : int
        Number of starting points tried.
    """

    m: int
    b: np.ndarray
    lam: np.ndarray
    error: float
    relative_error: float
    n_starts: int


@dataclass(frozen=True)
class RateFit:
    """Least-squares fit ``log E = a - slope * x(m)`` for one model of :data:`RATE_MODELS`.

    Parameters
    ----------
    model : str
        ``"algebraic"`` (``x = log m``; slope is ``p`` in ``E ~ m^{-p}``), ``"exponential"``
        (``x = m``, ``E ~ e^{-c m}``) or ``"root-exponential"`` (``x = sqrt m``,
        ``E ~ e^{-c sqrt m}``); ``"power"`` for the fits of :func:`~.sgd.sgd_vs_flow`,
        ``log gap = a + slope * log eta``.
    intercept : float
        The fitted ``a``.
    slope : float
        The fitted ``slope`` (the rate ``p`` or ``c``; positive when ``E`` decreases).
    slope_stderr : float
        OLS standard error of the slope.
    rms_residual : float
        Root-mean-square residual of ``log E``.
    n_points : int
        Number of ``(m, E_m)`` pairs used.
    """

    model: str
    intercept: float
    slope: float
    slope_stderr: float
    rms_residual: float
    n_points: int


_EPS = 1e-2 * RELATIVE_ERROR_FLOOR**2


def fit_rate(m_values: ArrayLike, errors: ArrayLike, floor: float = 0.0) -> dict[str, RateFit]:
    r"""Fit each rate model of :data:`RATE_MODELS` to ``(m, E_m)`` with ``E_m > floor``.

    Ordinary least squares of

    .. math:: \log E_m = a - \text{slope}\cdot x(m), \qquad
        x(m) \in \{\log m,\ m,\ \sqrt m\},

    over the pairs with ``E_m > floor``, ``E_m`` finite and ``m > 0``.

    Parameters
    ----------
    m_values : array_like
        Numbers of units ``m``.
    errors : array_like
        Errors ``E_m`` (absolute or relative), same length as ``m_values``.
    floor : float, default 0.0
        Errors at or below ``floor`` are excluded (unresolved by the Gram-metric formulas).

    Returns
    -------
    dict of str to RateFit
        Model name -> :class:`RateFit` (empty if fewer than 3 usable points).
    """
    m = np.asarray(m_values, dtype=float)
    e = np.asarray(errors, dtype=float)
    use = (e > floor) & np.isfinite(e) & (m > 0)
    if use.sum() < 3:
        return {}
    fits = {}
    for name, reg in RATE_MODELS.items():
        f = fit_line(reg(m[use]), np.log(e[use]))
        fits[name] = RateFit(name, f.intercept, -f.slope, f.slope_stderr, f.rms_residual,
                             int(use.sum()))
    return fits


def _reduced(theta, target, scale):
    """``log(f / scale + eps)`` and its gradient in ``theta``: relative progress at every scale."""
    lam = np.exp(theta)
    b, J = optimal_coefficients(lam, target)
    _, _, g_lam = loss_and_gradient(b, lam, target)
    f = J / scale + _EPS
    return math.log(f), lam * g_lam / (scale * f)


def _optimise(theta0, target, bounds, scale, maxiter):
    res = optimize.minimize(
        _reduced,
        theta0,
        args=(target, scale),
        jac=True,
        method="L-BFGS-B",
        bounds=[bounds] * len(theta0),
        options={"maxiter": maxiter, "ftol": 1e-11, "gtol": 1e-9},
    )
    return np.clip(res.x, *bounds), float(res.fun)


def best_approximation(
    target: MemoryKernel,
    m: int,
    seed: SeedLike = 0,
    n_starts: int = 4,
    rate_bounds: tuple[float, float] = (1e-4, 1e2),
    warm_start: ArrayLike | None = None,
    maxiter: int = 200,
) -> BestApproximation:
    r"""Best ``m``-unit approximation ``E_m`` of ``target`` by variable projection.

    .. math:: E_m = \inf_{b,\ \lambda} \Big\| \sum_{i=1}^m b_i e^{-\lambda_i s}
        - \rho \Big\|_{L^2(0,\infty)},

    minimising the reduced functional ``f(lam) = 1/2 (||rho||^2 - ell^T G^+ ell)`` over
    ``log lam`` with L-BFGS-B from several starts (see the module docstring).

    Parameters
    ----------
    target : MemoryKernel
        The kernel ``rho``.
    m : int
        Number of units (``>= 1``).
    seed : int, SeedSequence or Generator, default 0
        Seed of the random starts.
    n_starts : int, default 4
        Number of random log-uniform starts (in addition to the deterministic ones).
    rate_bounds : tuple of float, default (1e-4, 1e2)
        Box ``[lam_min, lam_max]`` for the rates.
    warm_start : array_like or None, default None
        Rates of an ``(m-1)``-unit solution to extend (see module docstring); ignored
        unless it has ``m - 1`` entries.
    maxiter : int, default 200
        L-BFGS-B iteration cap per start.

    Returns
    -------
    BestApproximation
        The best coefficients, rates and error found.

    Raises
    ------
    ConfigError
        If ``m`` is not a positive integer or ``rate_bounds`` is not ``0 < lo < hi < inf``.

    Notes
    -----
    Cost: ``(n_starts + 4) * maxiter`` evaluations of ``O(m^3)`` at most.
    """
    if int(m) != m or m < 1:
        raise ConfigError(f"`m` must be a positive integer; got {m}.")
    lo, hi = rate_bounds
    if not 0 < lo < hi < math.inf:
        raise ConfigError(
            f"`rate_bounds` must satisfy 0 < lam_min < lam_max < inf; got {rate_bounds}."
        )
    rng = as_generator(seed, "seed")
    bounds = (math.log(lo), math.log(hi))
    scale = 0.5 * target.norm2
    starts = []
    if warm_start is not None and len(warm_start) == m - 1:
        w = np.sort(np.log(np.asarray(warm_start, dtype=float)))
        cands = [w[0] - 1.0, w[-1] + 1.0] if m > 1 else []
        if m > 2:
            k = int(np.argmax(np.diff(w)))
            cands.append(0.5 * (w[k] + w[k + 1]))
        for cnd in cands:
            starts.append(np.clip(np.append(w, cnd), *bounds))
    centre = -math.log(max(target.memory, 1e-3)) if math.isfinite(target.memory) else 0.0
    grid = centre + np.linspace(-2.0, 2.0, m) if m > 1 else np.array([centre])
    starts.append(np.clip(grid, *bounds))
    for _ in range(n_starts):
        starts.append(np.sort(rng.uniform(*bounds, size=m)))
    best = None
    for th0 in starts:
        th, f = _optimise(th0, target, bounds, scale, maxiter)
        if best is None or f < best[1]:
            best = (th, f)
    lam = np.exp(best[0])
    order = np.argsort(lam)
    b, J = optimal_coefficients(lam[order], target)
    err = math.sqrt(2.0 * J)
    return BestApproximation(int(m), b, lam[order], err, err / math.sqrt(target.norm2), len(starts))


@dataclass(frozen=True)
class ApproximationCurve:
    """``E_m`` against ``m`` for one target, with its fitted rates.

    Parameters
    ----------
    target : MemoryKernel
        The target kernel.
    m_values : numpy.ndarray of int
        The numbers of units ``m``, increasing.
    errors : numpy.ndarray
        ``E_m`` for each ``m``.
    relative_errors : numpy.ndarray
        ``E_m / ||rho||``.
    fits : dict of str to RateFit
        Model name -> :class:`RateFit`, fitted to the relative errors above
        ``10 RELATIVE_ERROR_FLOOR``.
    best_model : str
        Name of the fit with the smallest residual (``""`` if too few points).
    approximations : tuple of BestApproximation
        The :class:`BestApproximation` for each ``m``.
    """

    target: MemoryKernel
    m_values: np.ndarray
    errors: np.ndarray
    relative_errors: np.ndarray
    fits: dict = field(default_factory=dict)
    best_model: str = ""
    approximations: tuple = ()

    @property
    def best_fit(self) -> RateFit | None:
        """The :class:`RateFit` with the smallest residual, or ``None``."""
        return self.fits.get(self.best_model)


def approximation_curve(
    target: MemoryKernel,
    m_values: Iterable[int],
    seed: SeedLike = 0,
    n_starts: int = 4,
    rate_bounds: tuple[float, float] = (1e-4, 1e2),
    show_progress: bool | None = False,
) -> ApproximationCurve:
    """``E_m`` for each ``m`` in ``m_values`` (increasing), warm-starting each from the previous.

    Every ``m`` from 1 to ``max(m_values)`` is solved by :func:`best_approximation`, each
    warm-started from the ``m - 1`` optimum (random starts only for the requested ``m``), so
    the computed ``E_m`` is non-increasing.  Each ``m`` gets its own child Generator of
    ``seed``, so results do not depend on which other ``m`` were requested.  The rates are
    fitted with :func:`fit_rate` to the relative errors above ``10 RELATIVE_ERROR_FLOOR``.

    Parameters
    ----------
    target : MemoryKernel
        The kernel ``rho``.
    m_values : iterable of int
        Numbers of units (positive; sorted internally).
    seed : int, SeedSequence or Generator, default 0
        Root seed; child ``m`` seeds the random starts of ``E_m``.
    n_starts : int, default 4
        Random starts per requested ``m``.
    rate_bounds : tuple of float, default (1e-4, 1e2)
        Box ``[lam_min, lam_max]`` for the rates.
    show_progress : bool or None, default False
        Show a progress bar over ``m`` (``None``: only when standard error is a terminal).

    Returns
    -------
    ApproximationCurve
        ``E_m``, ``E_m / ||rho||``, the rate fits and the best model.

    Raises
    ------
    ConfigError
        If ``m_values`` is empty or contains an ``m < 1``.
    """
    from .._random import spawn_generators
    from ..progress import progress

    m_values = np.asarray(sorted(int(v) for v in m_values))
    if m_values.size == 0 or m_values[0] < 1:
        raise ConfigError("`m_values` must be a non-empty list of positive integers.")
    gens = spawn_generators(seed, int(m_values[-1]) + 1, "seed")
    approx = []
    prev = None
    # every m from 1 to max(m_values) is solved so that warm starts are nested
    for m in progress(range(1, int(m_values[-1]) + 1), desc=target.family, show=show_progress):
        a = best_approximation(
            target,
            m,
            gens[m],
            n_starts=n_starts if m in m_values else 0,
            rate_bounds=rate_bounds,
            warm_start=None if prev is None else prev.lam,
        )
        if prev is not None and a.error > prev.error:  # cannot happen in exact arithmetic
            a = BestApproximation(
                m,
                np.append(prev.b, 0.0),
                np.append(prev.lam, prev.lam[-1]),
                prev.error,
                prev.relative_error,
                a.n_starts,
            )
        approx.append(a)
        prev = a
    chosen = [approx[m - 1] for m in m_values]
    errors = np.array([a.error for a in chosen])
    rel = np.array([a.relative_error for a in chosen])
    fits = fit_rate(m_values, rel, floor=10 * RELATIVE_ERROR_FLOOR)
    best = min(fits, key=lambda k: fits[k].rms_residual) if fits else ""
    return ApproximationCurve(target, m_values, errors, rel, fits, best, tuple(chosen))
