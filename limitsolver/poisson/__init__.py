"""Poisson equations of Markov chains and diffusions, and the fluctuations they control.

Implements :ref:`theory §5 <theory-poisson>`. For a chain with kernel ``P`` and invariant law ``π``
and a function ``F``, the Poisson equation

    V - P V = F - π(F),      π(V) = 0

(for a diffusion with generator ``L``: ``L V = -(F - π(F))``) yields the
boundary + martingale decomposition of ergodic sums,

    Σ_{k<n} F(X_k) - n π(F) = V(X_0) - V(X_n) + Σ_{k<n} [V(X_{k+1}) - P V(X_k)],

and the asymptotic variance of the Markov-chain CLT,
``σ²(F) = π(2 F_c V - F_c²)`` (continuous time: ``2 π(F_c V)``).

Modules
-------
:mod:`~limitsolver.poisson.solution`
    :class:`PoissonSolution`, the result every solver returns.
:mod:`~limitsolver.poisson.finite`
    Finite chains: the fundamental matrix ``(I - P + 1 πᵀ)^{-1}``.
:mod:`~limitsolver.poisson.nystrom`
    Gaussian AR(1) (Gauss–Hermite Nyström) and the circle walk (periodic trapezoid).
:mod:`~limitsolver.poisson.diffusion`
    Ornstein–Uhlenbeck and Brownian motion on the circle, by finite differences.
:mod:`~limitsolver.poisson.lifted`
    :class:`LiftedChain`, the chain of histories of depth ``L`` of a finite chain.
:mod:`~limitsolver.poisson.solve`
    :func:`solve_poisson`, dispatching on the chain type.
:mod:`~limitsolver.poisson.fluctuations`
    Asymptotic variance, martingale decomposition, deviation bounds, batch means.
"""

from .diffusion import (
    CircleBrownianMotion,
    OrnsteinUhlenbeck,
    solve_poisson_circle_bm,
    solve_poisson_ou,
)
from .finite import solve_poisson_finite, stationary_distribution
from .fluctuations import (
    BatchMeansResult,
    MartingaleDecomposition,
    asymptotic_variance,
    batch_means_check,
    batch_means_power,
    deviation_bound,
    martingale_decomposition,
    sample_path,
)
from .lifted import LiftedChain
from .nystrom import (
    mehler_kernel,
    solve_poisson_ar1,
    solve_poisson_circle_walk,
    wrapped_normal_kernel,
)
from .solution import PoissonSolution
from .solve import SUPPORTED_CHAINS, solve_poisson

__all__ = [
    "PoissonSolution",
    "solve_poisson",
    "SUPPORTED_CHAINS",
    "solve_poisson_finite",
    "stationary_distribution",
    "solve_poisson_ar1",
    "solve_poisson_circle_walk",
    "mehler_kernel",
    "wrapped_normal_kernel",
    "OrnsteinUhlenbeck",
    "CircleBrownianMotion",
    "solve_poisson_ou",
    "solve_poisson_circle_bm",
    "LiftedChain",
    "asymptotic_variance",
    "MartingaleDecomposition",
    "martingale_decomposition",
    "deviation_bound",
    "BatchMeansResult",
    "batch_means_check",
    "batch_means_power",
    "sample_path",
]
