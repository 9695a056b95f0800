"""Nyström solvers of the Poisson equation for chains with a continuous kernel.

Both chains of :ref:`theory §1 <theory-data>` with a continuous state space have a transition
density ``p(x, y)`` and an invariant density ``π(y)``; write the kernel as a
change of measure relative to the invariant law,

    (P V)(x) = ∫ V(y) p(x, y) dy = ∫ V(y) k(x, y) π(dy),   k(x, y) = p(x, y) / π(y),

and replace ``π`` by a quadrature rule ``{(x_j, w_j)}`` for ``π`` itself
(``Σ w_j = 1``). The Poisson equation ``V - P V = F_c``, ``π(V) = 0`` becomes the
bordered linear system on the nodes

    V_i - Σ_j w_j k(x_i, x_j) V_j + c = F_c(x_i),     Σ_j w_j V_j = 0,

with ``F_c = F - Σ_j w_j F(x_j)``. The multiplier ``c`` absorbs the quadrature's
failure to conserve mass (``Σ_j w_j k(x_i, x_j) ≠ 1``) and is reported; it is
spectrally small. Off the nodes ``V`` is given by the Nyström extension

    V(x) = F_c(x) - c + Σ_j w_j k(x, x_j) V_j,

which reproduces ``V_i`` at the nodes. The error decays like that of the
quadrature rule on ``y ↦ k(x, y) V(y)``, i.e. spectrally for these analytic
kernels.

**Gaussian AR(1)** (``d = 1``), ``X' = a X + sqrt(1 - a²) ξ``: ``π = N(0, 1)``,
the rule is Gauss–Hermite for the weight ``e^{-y²/2}`` (normalised), and

    k(x, y) = (1 - a²)^{-1/2} exp( y²/2 - (y - a x)² / (2 (1 - a²)) )
            = Σ_{n≥0} aⁿ Heₙ(x) Heₙ(y) / n!               (Mehler's formula).

**Circle walk** ``φ' = φ + κ ξ (mod 2π)``: ``π`` is uniform, the rule is the
trapezoid rule ``φ_j = 2π j / N``, ``w_j = 1/N`` (spectrally accurate for
periodic analytic integrands), and ``k(φ, ψ) = 2π p_κ(ψ - φ)`` with the wrapped
normal density ``p_κ(θ) = Σ_m exp(-(θ + 2πm)² / (2κ²)) / (κ sqrt(2π))``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.typing import ArrayLike

from ..errors import ConfigError, DimensionError, DiscretisationError
from .finite import _as_values, bordered_solve, check_poisson_solution
from .solution import PoissonSolution, pointwise

__all__ = [
    "mehler_kernel",
    "wrapped_normal_kernel",
    "solve_poisson_ar1",
    "solve_poisson_circle_walk",
]

#: largest admissible ratio of the π_N-weighted mass defect
#: Σ_i w_i |Σ_j w_j k(x_i, x_j) - 1| to the spectral gap of the chain
_MASS_TOL = 1e-3
#: largest admissible relative change of the Gauss–Hermite ``π(F²)`` from ``n`` to ``2n``
#: nodes; a larger change means ``F`` is not in ``L²(π)`` (or far from resolved)
L2_TOL = 1e-2
#: most Gauss–Hermite nodes numpy's ``hermegauss`` computes reliably (512 gives NaN weights)
_HERMITE_MAX = 256


def mehler_kernel(a: float, x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """``k(x, y) = p(x, y) / φ(y)`` of the AR(1) chain relative to ``N(0, 1)``.

    ``k(x, y) = (1 - a²)^{-1/2} exp(y²/2 - (y - a x)² / (2 (1 - a²)))``, broadcast
    over `x` and `y`; computed in log space (tiny values underflow to 0).

    Parameters
    ----------
    a : float
        Autoregression coefficient, ``|a| < 1``.
    x : array_like
        Current state(s) ``X_k``.
    y : array_like
        Next state(s) ``X_{k+1}``, broadcastable against ``x``.

    Returns
    -------
    numpy.ndarray
        ``k(x, y)``, with the broadcast shape of ``x`` and ``y``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    s2 = 1.0 - a * a
    return np.exp(0.5 * y * y - (y - a * x) ** 2 / (2.0 * s2) - 0.5 * np.log(s2))


def wrapped_normal_kernel(kappa: float, phi: ArrayLike, psi: ArrayLike) -> np.ndarray:
    """``k(φ, ψ) = 2π p_κ(ψ - φ)`` of the circle walk relative to the uniform law.

    The wrapped normal density is summed over the images ``|m| ≤ 1 + ⌈8κ/2π⌉``
    of ``θ = ψ - φ`` reduced to ``[-π, π)``, which truncates terms below
    ``exp(-32)`` relative to the largest.

    Parameters
    ----------
    kappa : float
        Step size ``κ > 0`` of the walk.
    phi : array_like
        Current angle(s) ``φ``.
    psi : array_like
        Next angle(s) ``ψ``, broadcastable against ``phi``.

    Returns
    -------
    numpy.ndarray
        ``k(φ, ψ)``, with the broadcast shape of ``phi`` and ``psi``.
    """
    theta = np.asarray(psi, dtype=float) - np.asarray(phi, dtype=float)
    theta = np.mod(theta + np.pi, 2.0 * np.pi) - np.pi
    n_images = 1 + int(np.ceil(8.0 * kappa / (2.0 * np.pi)))
    total = np.zeros_like(theta)
    for m in range(-n_images, n_images + 1):
        total += np.exp(-((theta + 2.0 * np.pi * m) ** 2) / (2.0 * kappa * kappa))
    return total * (2.0 * np.pi / (kappa * np.sqrt(2.0 * np.pi)))


def _nystrom(
    nodes: np.ndarray,
    weights: np.ndarray,
    kernel: Callable[[np.ndarray, np.ndarray], np.ndarray],
    F: Callable,
    discretisation: dict,
    bounded: bool,
    gap: float,
) -> PoissonSolution:
    """Solve the bordered Nyström system for a kernel given relative to π."""
    if not callable(F):
        raise DimensionError(
            "`F` must be a callable on points of the state space for a continuous-state "
            "chain (its values are needed off the quadrature nodes)."
        )
    n = nodes.shape[0]
    K = kernel(nodes[:, None], nodes[None, :]) * weights[None, :]
    mass = K.sum(axis=1)
    mass_defect = float(weights @ np.abs(mass - 1.0))
    if mass_defect > _MASS_TOL * gap:
        raise DiscretisationError(
            f"The quadrature with `n` = {n} nodes does not resolve the transition kernel "
            f"(π-weighted mass defect {mass_defect:.2e} exceeds {_MASS_TOL:g} times the "
            f"spectral gap {gap:.3g}); increase `n`."
        )
    F_values = _as_values(F, n, nodes)
    pi_F = weights @ F_values
    Fc = F_values - pi_F
    fix = "increase `n`, or check that F is square-integrable under the invariant law."
    V, c = bordered_solve(np.eye(n) - K, weights, Fc, fix=fix, error=DiscretisationError)
    PV = K @ V
    check_poisson_solution(V, PV, Fc, weights, f"The Nyström system with `n` = {n} nodes", fix,
                           DiscretisationError)
    residual = float(np.max(np.abs(V - PV - Fc)))
    discretisation = dict(discretisation, mass_defect=mass_defect)

    def evaluate_V(x):
        x = np.asarray(x, dtype=float)
        flat = x.reshape(-1)
        kx = kernel(flat[:, None], nodes[None, :]) * weights[None, :]
        Fx = np.asarray(F(flat), dtype=float).reshape((flat.size,) + F_values.shape[1:])
        out = Fx - pi_F - c + kx @ V
        return out.reshape(x.shape + F_values.shape[1:])

    evaluate_F = pointwise(F, F_values.shape[1:])

    return PoissonSolution(
        values=V,
        F_centred=Fc,
        weights=weights,
        nodes=nodes,
        pi_F=float(pi_F) if np.ndim(pi_F) == 0 else pi_F,
        residual=residual,
        constant_defect=c,
        time="discrete",
        bounded=bounded,
        discretisation=discretisation,
        PV_values=PV,
        _evaluate_V=evaluate_V,
        _evaluate_F=evaluate_F,
    )


def _check_square_integrable(F, nodes: np.ndarray, weights: np.ndarray) -> None:
    """Refuse ``F ∉ L²(N(0, 1))``: its Gauss–Hermite ``π(F²)`` must settle from ``n`` to ``2n`` nodes.

    (From ``n/2`` to ``n`` when ``2n`` exceeds 256 nodes.)

    For ``F² e^{-x²/2}`` integrable the two rules agree to within :data:`L2_TOL`
    (relative) once ``n`` resolves ``F``; for ``F = exp(x²)`` the sums grow without
    bound with the number of nodes, as ``F²`` outgrows the Gaussian weight.
    """
    if not callable(F):
        return
    n = nodes.shape[0]
    n2 = 2 * n if 2 * n <= _HERMITE_MAX else max(n // 2, 1)  # hermegauss breaks down past 256
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        nodes2, w2 = hermegauss(n2)
        f1 = np.asarray(F(nodes), dtype=float).reshape(n, -1)
        f2 = np.asarray(F(nodes2), dtype=float).reshape(n2, -1)
        m1 = weights @ (f1 * f1)
        m2 = (w2 / w2.sum()) @ (f2 * f2)
        if n2 < n:
            m1, m2 = m2, m1
    if not np.all(np.isfinite(f1)) or np.any(np.isnan(f2)):
        return  # reported by the solver's own check that `F` is finite on the nodes
    if not (np.all(np.isfinite(m1)) and np.all(np.isfinite(m2))):
        raise ConfigError(
            "`F` must be square-integrable under the invariant law N(0, 1) of the AR(1) chain; "
            f"F² overflows at the outermost Gauss-Hermite nodes of the {n}- or {n2}-point "
            "rule. Use an F with |F(x)|² e^{-x²/2} integrable."
        )
    change = np.abs(m2 - m1) / np.maximum(np.abs(m2), np.finfo(float).tiny)
    if np.any(change > L2_TOL):
        raise ConfigError(
            "`F` must be square-integrable under the invariant law N(0, 1) of the AR(1) chain: "
            f"the quadrature of π(F²) changes by a factor {np.max(m2 / np.maximum(m1, 1e-300)):.3g} "
            f"from {min(n, n2)} to {max(n, n2)} nodes ({m1.max():.3g} -> {m2.max():.3g}), so F² outgrows the "
            "Gaussian weight e^{-x²/2} or `n` is far too small for F. Use an F in L²(π) or "
            "increase `n`."
        )


def solve_poisson_ar1(a: float, F: Callable, *, n: int = 64) -> PoissonSolution:
    """Solve ``V - P V = F - π(F)``, ``π(V) = 0`` for the Gaussian AR(1) chain in ``d = 1``.

    Nyström discretisation with ``n`` Gauss–Hermite nodes for ``π = N(0, 1)``
    and the Mehler kernel (module docstring). Cost ``O(n³)``. The kernel's width
    ``sqrt(1 - a²)`` sets the resolution: ``a`` close to ±1 needs more nodes.

    Parameters
    ----------
    a : float
        Autoregression coefficient, ``|a| < 1``.
    F : callable
        Vectorised ``F(x)`` for ``x`` of shape ``(m,)``, returning ``(m,)`` (or
        ``(m, k)`` for several functions). ``π(F)`` is computed by the same
        quadrature and subtracted.
    n : int
        Number of Gauss–Hermite nodes.

    Returns
    -------
    PoissonSolution
        Nodes are the Gauss–Hermite points; calling it at ``x`` applies the
        Nyström extension. ``bounded`` is False: ``V`` typically grows at infinity.

    Raises
    ------
    DimensionError
        If ``|a| ≥ 1`` or `F` is not a callable with one value per point.
    ConfigError
        If ``F`` is not in ``L²(π)`` as far as can be seen: ``π(F²)`` by Gauss–Hermite with
        ``n`` and ``2n`` nodes differ by more than :data:`L2_TOL` (relative).
    DiscretisationError
        If ``n`` is too small for the quadrature to integrate the kernel to
        mass one within ``1e-3`` times the spectral gap ``1 - |a|`` (π-weighted):
        a coarse-grid detector, not an accuracy guarantee; or if the Nyström
        system is ill-conditioned (condition number above ``COND_MAX = 1e12``),
        leaves a relative residual above ``1e-6`` or a negative ``σ²``.
    """
    a = float(a)
    if not abs(a) < 1.0:
        raise DimensionError(f"`a` must satisfy |a| < 1 for the AR(1) chain to be ergodic, got {a}.")
    if int(n) < 2:
        raise DiscretisationError(f"`n` must be at least 2 Gauss-Hermite nodes, got {n}.")
    nodes, w = hermegauss(int(n))
    weights = w / w.sum()
    _check_square_integrable(F, nodes, weights)
    return _nystrom(
        nodes,
        weights,
        lambda x, y: mehler_kernel(a, x, y),
        F,
        {"method": "Nystrom Gauss-Hermite", "chain": "GaussianAR1", "a": a, "n": int(n)},
        bounded=False,
        gap=1.0 - abs(a),
    )


def solve_poisson_circle_walk(kappa: float, F: Callable, *, n: int = 64) -> PoissonSolution:
    """Solve ``V - P V = F - π(F)``, ``π(V) = 0`` for the random walk on the circle.

    Nyström discretisation on the periodic grid ``φ_j = 2π j / n`` with trapezoid
    weights ``1/n`` and the wrapped normal kernel (module docstring); the
    kernel matrix is circulant. Cost ``O(n³)``. Convergence is spectral once
    the grid resolves the step size: the error behaves like ``exp(-(n κ)² / 2)``
    for the kernel quadrature.

    Parameters
    ----------
    kappa : float
        Step standard deviation ``κ > 0`` of the angle.
    F : callable
        Vectorised ``F(φ)`` of the **angle** ``φ`` (shape ``(m,)``); a function of the
        observed state ``x = (cos φ, sin φ)`` is written ``lambda phi: G(cos(phi), sin(phi))``.
    n : int
        Number of grid points.

    Returns
    -------
    PoissonSolution
        Nodes are the angles; calling it at angles applies the Nyström extension.

    Raises
    ------
    DimensionError
        If ``κ ≤ 0`` or `F` is not a callable with one value per angle.
    DiscretisationError
        If the grid is too coarse for the kernel (π-weighted mass defect above
        ``1e-3`` times the spectral gap ``1 - exp(-κ²/2)``).
    """
    kappa = float(kappa)
    if not kappa > 0.0:
        raise DimensionError(f"`kappa` must be positive, got {kappa}.")
    if int(n) < 2:
        raise DiscretisationError(f"`n` must be at least 2 grid points, got {n}.")
    nodes = 2.0 * np.pi * np.arange(int(n)) / int(n)
    weights = np.full(int(n), 1.0 / int(n))
    return _nystrom(
        nodes,
        weights,
        lambda phi, psi: wrapped_normal_kernel(kappa, phi, psi),
        F,
        {"method": "Nystrom periodic trapezoid", "chain": "CircleWalk", "kappa": kappa,
         "n": int(n)},
        bounded=True,
        gap=-np.expm1(-0.5 * kappa * kappa),
    )
