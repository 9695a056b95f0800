"""Poisson equation of diffusions, by finite differences (:ref:`theory §5 <theory-poisson>`).

For an ergodic diffusion with generator ``L`` and invariant law ``π`` the
continuous-time Poisson equation is

    L V = -F_c,   F_c = F - π(F),   π(V) = 0,

and the central limit theorem ``T^{-1/2} ∫_0^T F_c(X_t) dt → N(0, σ²(F))`` holds
with

    σ²(F) = 2 π(F_c V) = 2 ∫_0^∞ Cov_π(F(X_0), F(X_t)) dt

(Itô's formula on ``V(X_t)`` splits ``∫_0^T F_c(X_t) dt`` into the boundary term
``V(X_0) - V(X_T)`` and a martingale whose quadratic variation grows like
``T · π(Γ(V)) = T · 2 π(F_c V)``, ``Γ`` the carré du champ).

Two diffusions are built in:

* **Ornstein–Uhlenbeck** ``dX = -θ X dt + sqrt(2θ) dW`` on ``R``:
  ``L V = θ V'' - θ x V'``, ``π = N(0, 1)``. Closed forms: ``F = x`` gives
  ``V = x / θ`` and ``σ² = 2 / θ``.
* **Brownian motion on the circle** ``dφ = sqrt(2D) dW (mod 2π)``:
  ``L V = D V''``, ``π`` uniform. ``F = cos φ`` gives ``V = cos φ / D``, ``σ² = 1 / D``.

Discretisation: the derivatives are the finite-difference matrices of
findiff (``Diff(0, h, acc=acc)``, order ``acc`` in the grid spacing ``h``);
the normalisation ``π_h(V) = 0`` uses the trapezoid rule for ``π`` on the grid
and is imposed through the bordered system
``[[-L_h, 1], [π_hᵀ, 0]] [V; c] = [F_c; 0]``.

*Boundary treatment for OU.* The real line is truncated to ``[-R, R]``
(`half_width`) and the process is reflected there: the first and last rows of
``L_h`` are replaced by the zero-flux condition ``V'(±R) = 0`` (one-sided
stencils of order ``acc``). Writing ``L V = θ φ⁻¹ (φ V')'`` (``φ`` the normal
density), the true solution has ``V'(x) = -(θ φ(x))⁻¹ ∫_{-∞}^x F_c φ dy`` and the
reflected one the same integral from ``-R``; they differ by
``(θ φ(x))⁻¹ ∫_{-∞}^{-R} F_c φ dy = O(poly(R) exp((x² - R²)/2))``: exponentially
small away from a boundary layer of width ``O(1/R)`` at ``±R``, where ``V`` is
wrong by ``O(|V'(R)| / R)``. π-weighted
quantities (``π(F)``, ``σ²``) are affected only at order ``exp(-R²/2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from findiff import Diff
from scipy.interpolate import make_interp_spline

from ..errors import DimensionError, DiscretisationError
from .finite import _as_values, bordered_solve, check_poisson_solution
from .solution import PoissonSolution, pointwise

__all__ = [
    "OrnsteinUhlenbeck",
    "CircleBrownianMotion",
    "solve_poisson_ou",
    "solve_poisson_circle_bm",
]


@dataclass(frozen=True)
class OrnsteinUhlenbeck:
    """Ornstein–Uhlenbeck diffusion ``dX = -θ X dt + sqrt(2θ) dW`` on ``R``.

    Generator ``L V = θ V'' - θ x V'``; invariant law ``N(0, 1)`` for every ``θ > 0``.

    Parameters
    ----------
    theta : float, default 1.0
        Mean-reversion rate ``θ > 0``.

    Raises
    ------
    DimensionError
        If ``theta`` is not positive.
    """

    theta: float = 1.0

    def __post_init__(self):
        if not float(self.theta) > 0.0:
            raise DimensionError(f"`theta` must be positive, got {self.theta}.")


@dataclass(frozen=True)
class CircleBrownianMotion:
    """Brownian motion on the circle ``dφ = sqrt(2D) dW (mod 2π)``.

    Generator ``L V = D V''``; invariant law uniform on ``[0, 2π)``.

    Parameters
    ----------
    D : float, default 1.0
        Diffusion coefficient ``D > 0``.

    Raises
    ------
    DimensionError
        If ``D`` is not positive.
    """

    D: float = 1.0

    def __post_init__(self):
        if not float(self.D) > 0.0:
            raise DimensionError(f"`D` must be positive, got {self.D}.")


def _require_callable(F):
    if not callable(F):
        raise DimensionError(
            "`F` must be a vectorised callable on the state space for a diffusion "
            "(its values are needed at the grid points)."
        )
    return F


def _check_acc(acc: int, n: int, minimum: int) -> int:
    acc = int(acc)
    if acc < 2 or acc % 2:
        raise DiscretisationError(f"`acc` must be a positive even integer, got {acc}.")
    if n < minimum:
        raise DiscretisationError(
            f"`n` = {n} grid points is too coarse for stencils of order `acc` = {acc}; "
            f"use n >= {minimum}."
        )
    return acc


def _solution(nodes, weights, A, Fc, F_values, pi_F, F, ones, spline, discretisation, bounded,
              residual_rows):
    fix = "increase `n` or `acc`, or check the parameters of the diffusion."
    V, c = bordered_solve(A, weights, Fc, ones=ones, fix=fix, error=DiscretisationError)
    LV = -(A @ V)
    res = LV + Fc
    # L V = -F_c written as V - (V + L V) = F_c for the shared residual / sign checks
    check_poisson_solution(V, V + LV, Fc, weights, "The finite-difference Poisson system", fix,
                           DiscretisationError, rows=residual_rows, discrete=False)
    residual = float(np.max(np.abs(res[residual_rows])))

    evaluate_F = pointwise(F, F_values.shape[1:])

    return PoissonSolution(
        values=V,
        F_centred=Fc,
        weights=weights,
        nodes=nodes,
        pi_F=float(pi_F) if np.ndim(pi_F) == 0 else pi_F,
        residual=residual,
        constant_defect=c,
        time="continuous",
        bounded=bounded,
        discretisation=discretisation,
        PV_values=None,
        _evaluate_V=spline(V),
        _evaluate_F=evaluate_F,
    )


def solve_poisson_ou(
    theta: float,
    F: Callable,
    *,
    n: int = 201,
    half_width: float = 8.0,
    acc: int = 4,
) -> PoissonSolution:
    """Solve ``θ V'' - θ x V' = -(F - π(F))``, ``π(V) = 0`` for the OU process.

    Finite differences of order `acc` on ``n`` equispaced points of
    ``[-R, R]`` (``R`` = `half_width`) with reflecting (zero-flux) boundary rows;
    see the module docstring for the boundary error. Cost: one sparse LU of a
    banded ``(n + 1) × (n + 1)`` system.

    Parameters
    ----------
    theta : float
        Mean-reversion rate ``θ > 0``.
    F : callable
        Vectorised ``F(x)``; ``π(F)`` (trapezoid rule against the normal
        density) is subtracted.
    n : int
        Number of grid points.
    half_width : float
        Truncation ``R`` of the real line.
    acc : int
        Accuracy order of the stencils (even).

    Returns
    -------
    PoissonSolution
        ``time = "continuous"``; evaluating it at ``x ∈ [-R, R]`` uses a quintic
        interpolating spline (order 6, so it does not limit ``acc ≤ 6``).

    Raises
    ------
    DiscretisationError
        If ``n`` is too small for the stencil, or the cell Péclet number
        ``h R / 2`` exceeds 1 (the drift is under-resolved near ``±R`` and the
        centred scheme oscillates).
    """
    theta = float(OrnsteinUhlenbeck(theta).theta)
    n = int(n)
    R = float(half_width)
    if not R > 0.0:
        raise DiscretisationError(f"`half_width` must be positive, got {half_width}.")
    acc = _check_acc(acc, n, acc + 3)
    x = np.linspace(-R, R, n)
    h = x[1] - x[0]
    peclet = h * R / 2.0
    if peclet > 1.0:
        raise DiscretisationError(
            f"The grid is too coarse for the OU drift: cell Péclet number h R / 2 = "
            f"{peclet:.3g} > 1; use `n` >= {int(np.ceil(R * R + 1))}."
        )
    D1 = Diff(0, h, acc=acc).matrix((n,))
    D2 = (Diff(0, h, acc=acc) ** 2).matrix((n,))
    L = theta * D2 - theta * sp.diags(x) @ D1
    A = (-L).tolil()
    A[0, :] = D1[0, :]
    A[n - 1, :] = D1[n - 1, :]
    A = A.tocsr()
    ones = np.ones(n)
    ones[[0, -1]] = 0.0
    dens = np.exp(-0.5 * x * x)
    w = h * dens
    w[[0, -1]] *= 0.5
    weights = w / w.sum()
    F_values = _as_values(_require_callable(F), n, x)
    pi_F = weights @ F_values
    Fc = F_values - pi_F
    rhs = Fc.copy()
    rhs[[0, -1]] = 0.0

    def spline(V):
        sp_ = make_interp_spline(x, V, k=5, axis=0)

        def evaluate(pts):
            pts = np.asarray(pts, dtype=float)
            if np.any(np.abs(pts) > R):
                raise DiscretisationError(
                    f"Points outside the truncated domain [-{R:g}, {R:g}]; increase `half_width`."
                )
            return sp_(pts)

        return evaluate

    sol = _solution(
        x, weights, A, rhs, F_values, pi_F, F, ones, spline,
        {"method": "finite differences (findiff)", "process": "OrnsteinUhlenbeck",
         "theta": theta, "n": n, "half_width": R, "acc": acc, "h": h,
         "boundary": "reflecting, V'(±R) = 0"},
        bounded=False,
        residual_rows=slice(1, n - 1),
    )
    return sol


def solve_poisson_circle_bm(D: float, F: Callable, *, n: int = 64, acc: int = 4) -> PoissonSolution:
    """Solve ``D V'' = -(F - π(F))``, ``π(V) = 0`` for Brownian motion on the circle.

    Periodic finite differences of order `acc` on ``φ_j = 2π j / n``; ``π`` is
    the trapezoid rule ``1/n``. Cost: one sparse LU of a banded-plus-corners
    ``(n + 1) × (n + 1)`` system.

    Parameters
    ----------
    D : float
        Diffusion coefficient ``D > 0``.
    F : callable
        Vectorised ``F(φ)`` of the angle.
    n : int
        Number of grid points.
    acc : int
        Accuracy order of the stencils (even).

    Returns
    -------
    PoissonSolution
        ``time = "continuous"``; evaluating it at angles uses a periodic quintic spline.

    Raises
    ------
    DiscretisationError
        If ``n`` is smaller than the stencil (``acc + 3`` points).
    """
    D = float(CircleBrownianMotion(D).D)
    n = int(n)
    acc = _check_acc(acc, n, acc + 3)
    phi = 2.0 * np.pi * np.arange(n) / n
    h = 2.0 * np.pi / n
    D2 = (Diff(0, h, periodic=True, acc=acc) ** 2).matrix((n,))
    A = (-D * D2).tocsr()
    weights = np.full(n, 1.0 / n)
    F_values = _as_values(_require_callable(F), n, phi)
    pi_F = weights @ F_values
    Fc = F_values - pi_F
    closed = np.append(phi, 2.0 * np.pi)

    def spline(V):
        sp_ = make_interp_spline(closed, np.concatenate([V, V[:1]]), k=5, axis=0,
                                 bc_type="periodic")
        return lambda pts: sp_(np.mod(np.asarray(pts, dtype=float), 2.0 * np.pi))

    return _solution(
        phi, weights, A, Fc, F_values, pi_F, F, None, spline,
        {"method": "finite differences (findiff), periodic", "process": "CircleBrownianMotion",
         "D": D, "n": n, "acc": acc, "h": h},
        bounded=True,
        residual_rows=slice(None),
    )
