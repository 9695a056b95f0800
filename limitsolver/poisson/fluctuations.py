"""Fluctuations of ergodic averages through the Poisson equation (:ref:`theory §5 <theory-poisson>`).

With ``V - P V = F_c``, ``F_c = F - π(F)``, every path satisfies the identity

    Σ_{k<n} F(X_k) - n π(F) = [V(X_0) - V(X_n)] + Σ_{k<n} D_k,
    D_k = V(X_{k+1}) - P V(X_k),

a boundary term plus a sum of martingale differences (``E[D_k | X_0..X_k] = 0``).
Consequences implemented here:

* the asymptotic variance ``σ²(F) = π(2 F_c V - F_c²) = lim n⁻¹ Var(Σ_{k<n} F(X_k))``;
* deviation bounds on ``|(1/n) Σ_{k<n} F(X_k) - π(F)|`` when ``V`` is bounded
  (:func:`deviation_bound`);
* an empirical check of ``σ²`` by batch means on a long simulated path
  (:func:`batch_means_check`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._random import SeedLike, as_generator
from ..chains import CircleWalk, FiniteChain, GaussianAR1
from ..errors import ConfigError, DimensionError
from .solution import PoissonSolution
from .solve import solve_poisson

__all__ = [
    "asymptotic_variance",
    "MartingaleDecomposition",
    "martingale_decomposition",
    "deviation_bound",
    "BatchMeansResult",
    "batch_means_check",
    "batch_means_power",
    "DEFAULT_N_BATCHES",
    "sample_path",
]


def asymptotic_variance(solution: PoissonSolution):
    """Asymptotic variance ``σ²(F)`` of the CLT for ergodic averages of ``F``.

    Discrete time ``σ²(F) = π(2 F_c V - F_c²)``; continuous time
    ``σ²(F) = 2 π(F_c V)``; integrals by the solution's quadrature weights.
    Equal to ``lim_n n⁻¹ Var_π(Σ_{k<n} F(X_k))`` (resp. ``lim_T T⁻¹ Var(∫_0^T F dt)``).

    Parameters
    ----------
    solution : PoissonSolution
        The solution ``V`` of ``V - P V = F - π(F)`` (or ``L V = -(F - π(F))``).

    Returns
    -------
    float or numpy.ndarray
        ``σ²(F)``; an array of shape ``(m,)`` when the solution holds ``m``
        right-hand sides.
    """
    return solution.asymptotic_variance


@dataclass(frozen=True, eq=False)
class MartingaleDecomposition:
    """Boundary + martingale split of ``Σ_{k<n} F(X_k) - n π(F)`` along paths.

    Parameters
    ----------
    centred_sum : ndarray, shape (n_paths,)
        ``S_n = Σ_{k<n} F(X_k) - n π(F)``.
    boundary : ndarray, shape (n_paths,)
        ``V(X_0) - V(X_n)``.
    increments : ndarray, shape (n_paths, n)
        Martingale differences ``D_k = V(X_{k+1}) - P V(X_k)``, ``k < n``.
    defect : float
        ``max |S_n - boundary - Σ_k D_k|`` over paths: rounding plus ``n`` times
        the solver's residual (zero in exact arithmetic).
    """

    centred_sum: np.ndarray
    boundary: np.ndarray
    increments: np.ndarray
    defect: float

    @property
    def martingale(self) -> np.ndarray:
        """``M_n = Σ_{k<n} D_k`` per path."""
        return self.increments.sum(axis=-1)


def martingale_decomposition(solution: PoissonSolution, path: ArrayLike) -> MartingaleDecomposition:
    """Split ``Σ_{k<n} F(X_k) - n π(F)`` into ``V(X_0) - V(X_n)`` plus martingale differences.

    Parameters
    ----------
    solution : PoissonSolution
        A discrete-time solution (finite, lifted, AR(1), circle walk).
    path : array_like, shape (n + 1,) or (n_paths, n + 1)
        ``X_0, ..., X_n`` in the solution's coordinates: state (or word)
        indices for finite and lifted chains, points ``x`` for AR(1), angles for
        the circle walk (see :func:`sample_path`).

    Returns
    -------
    MartingaleDecomposition
        ``P V(X_k)`` is the discrete kernel's own ``P V`` (finite chains) or its
        Nyström extension, so ``defect`` measures only rounding and residual.

    Raises
    ------
    ConfigError
        For a continuous-time (diffusion) solution.
    DimensionError
        If the path has fewer than two points or ``F`` has several columns.
    """
    if solution.time != "discrete":
        raise ConfigError(
            "`solution` must solve a discrete-time Poisson equation V - P V = F_c; for a "
            "diffusion the martingale is a stochastic integral."
        )
    if solution.values.ndim != 1:
        raise DimensionError("`solution` must be for a single function F (values of shape (n,)).")
    path = np.asarray(path)
    path = path[None, :] if path.ndim == 1 else path
    if path.ndim != 2 or path.shape[1] < 2:
        raise DimensionError(
            f"`path` must have shape (n + 1,) or (n_paths, n + 1) with n >= 1, got {path.shape}."
        )
    n = path.shape[1] - 1
    V = np.asarray(solution(path), dtype=float)
    PV = np.asarray(solution.PV(path[:, :-1]), dtype=float)
    F = np.asarray(solution.F(path[:, :-1]), dtype=float)
    centred_sum = F.sum(axis=1) - n * solution.pi_F
    boundary = V[:, 0] - V[:, -1]
    increments = V[:, 1:] - PV
    defect = float(np.max(np.abs(centred_sum - boundary - increments.sum(axis=1))))
    return MartingaleDecomposition(centred_sum, boundary, increments, defect)


def deviation_bound(solution: PoissonSolution, n: int, delta: float | None = None) -> float:
    """Bound on ``|(1/n) Σ_{k<n} F(X_k) - π(F)|`` from the oscillation of ``V``.

    Let ``osc V = sup V - inf V ≤ 2 sup|V|`` (taken over the nodes, which is
    the whole state space for finite chains). Each martingale difference
    ``D_k = V(X_{k+1}) - P V(X_k)`` lies, given the past, in an interval of
    length ``osc V``, and ``|V(X_0) - V(X_n)| ≤ osc V``. Hence, from any start:

    * with ``delta`` (Azuma–Hoeffding, ``P(|M_n| ≥ t) ≤ 2 exp(-2t² / (n osc²))``),
      with probability at least ``1 - δ``::

          |(1/n) Σ F(X_k) - π(F)| ≤ osc V / n + osc V · sqrt(log(2/δ) / (2n));

    * without ``delta`` (in expectation, ``E M_n² = Σ E D_k² ≤ n osc² / 4``)::

          E |(1/n) Σ F(X_k) - π(F)| ≤ osc V / n + osc V / (2 sqrt(n)).

    Parameters
    ----------
    solution : PoissonSolution
        A discrete-time solution on a compact state space (``bounded``).
    n : int
        Number of terms ``n ≥ 1``.
    delta : float in (0, 1), optional
        Failure probability; ``None`` gives the expectation bound.

    Returns
    -------
    float
        The bound (an array for several functions ``F``).

    Raises
    ------
    ConfigError
        For unbounded ``V`` (AR(1), OU) or a continuous-time solution.
    DimensionError
        If ``n < 1`` or ``delta`` is not in ``(0, 1)``.
    """
    if solution.time != "discrete" or not solution.bounded:
        raise ConfigError(
            "`solution` must be a discrete-time solution with bounded V (finite chain or "
            "circle walk); V is unbounded or the time is continuous here."
        )
    n = int(n)
    if n < 1:
        raise DimensionError(f"`n` must be a positive integer, got {n}.")
    osc = solution.oscillation_V
    if delta is None:
        bound = osc / n + osc / (2.0 * np.sqrt(n))
    else:
        delta = float(delta)
        if not 0.0 < delta < 1.0:
            raise DimensionError(f"`delta` must lie in (0, 1), got {delta}.")
        bound = osc / n + osc * np.sqrt(np.log(2.0 / delta) / (2.0 * n))
    return float(bound) if np.ndim(bound) == 0 else bound


def sample_path(chain: FiniteChain | GaussianAR1 | CircleWalk, n_steps: int, rng: SeedLike, *,
                n_paths: int = 1) -> np.ndarray:
    """A stationary path in the coordinates a :class:`PoissonSolution` of `chain` takes.

    State indices for a :class:`FiniteChain`, points ``x`` for a 1-d
    :class:`GaussianAR1`, angles for a :class:`CircleWalk`; shape ``(n_paths, n_steps)``,
    ``X_0`` drawn from the invariant law.

    Parameters
    ----------
    chain : FiniteChain, GaussianAR1 (d = 1) or CircleWalk
        The chain to simulate.
    n_steps : int
        Number of states per path, ``X_0`` included.
    rng : int, SeedSequence or Generator
        Source of randomness (same seed, same path).
    n_paths : int, optional
        Number of independent paths.

    Returns
    -------
    numpy.ndarray, shape (n_paths, n_steps)
        State indices, points or angles, chronological (index 0 is ``X_0``).

    Raises
    ------
    DimensionError
        If a :class:`GaussianAR1` has ``dim`` other than 1.
    ConfigError
        If ``chain`` is of another type.
    """
    gen = as_generator(rng)
    if isinstance(chain, FiniteChain):
        return chain.sample_indices(n_steps, gen, n_paths=n_paths)
    if isinstance(chain, GaussianAR1):
        if chain.dim != 1:
            raise DimensionError(f"`chain` must have `dim` = 1, got {chain.dim}.")
        return chain.sample(n_steps, gen, n_paths=n_paths)[..., 0]
    if isinstance(chain, CircleWalk):
        return chain.sample_angles(n_steps, gen, n_paths=n_paths)
    raise ConfigError(
        f"`chain` of type {type(chain).__name__} cannot be simulated here; use a FiniteChain, "
        "a GaussianAR1 with dim 1 or a CircleWalk."
    )


#: default number of batches of :func:`batch_means_check` and of ``limitsolver poisson``
DEFAULT_N_BATCHES = 1000
#: default two-sided level of the χ² test of :func:`batch_means_check`
DEFAULT_ALPHA = 1e-3


def _chi2_bounds(n_batches: int, alpha: float) -> tuple[float, float]:
    """Quantiles ``χ²_{B-1}(α/2)`` and ``χ²_{B-1}(1 - α/2)``."""
    from scipy import stats

    d = n_batches - 1
    return float(stats.chi2.ppf(0.5 * alpha, d)), float(stats.chi2.isf(0.5 * alpha, d))


@dataclass(frozen=True)
class BatchMeansResult:
    """Batch-means estimate of ``σ²(F)`` compared with the Poisson variance.

    With ``B`` batches of length ``b``, ``(B - 1) σ̂² / σ²`` is approximately
    ``χ²_{B-1}`` when the batch means are independent Gaussians (``b`` much
    longer than the mixing time); the check accepts ``σ²`` when
    ``χ²_{B-1}(α/2) ≤ (B - 1) σ̂² / σ² ≤ χ²_{B-1}(1 - α/2)``.

    Parameters
    ----------
    empirical_variance : float
        ``σ̂² = b · s²``, ``s²`` the sample variance (``ddof = 1``) of the ``B``
        batch means of length ``b``.
    standard_error : float
        ``σ̂² sqrt(2 / (B - 1))``, the (normal-approximation) standard error of ``σ̂²``.
    poisson_variance : float
        ``σ²(F)`` from the Poisson solution.
    z_score : float
        ``(σ̂² - σ²) / (σ² sqrt(2 / (B - 1)))``: the standardised discrepancy
        under the hypothesis that ``σ²`` is the true variance (reported; the
        decision uses the χ² interval).
    passed : bool
        ``σ̂² / σ²`` lies in ``interval``.
    alpha : float
        Two-sided level of the test: the probability of rejecting a correct ``σ²``.
    interval : tuple of float
        Acceptance interval ``(χ²_{B-1}(α/2), χ²_{B-1}(1 - α/2)) / (B - 1)`` of the
        ratio ``σ̂² / σ²``.
    empirical_mean, pi_F : float
        Path average of ``F`` and ``π(F)``.
    mean_z_score : float
        ``(empirical_mean - π(F)) / sqrt(σ² / (b B))``.
    n_batches, batch_length : int
        Number ``B`` of batches and their length ``b``.
    """

    empirical_variance: float
    standard_error: float
    poisson_variance: float
    z_score: float
    passed: bool
    alpha: float
    interval: tuple[float, float]
    empirical_mean: float
    pi_F: float
    mean_z_score: float
    n_batches: int
    batch_length: int

    def power(self, ratio: ArrayLike) -> float | np.ndarray:
        """Probability that the check rejects a variance off by the factor `ratio`.

        If the checked ``σ²`` equals ``ratio`` times the true asymptotic variance,
        ``(B - 1) σ̂² / σ² ~ χ²_{B-1} / ratio``, and the check rejects with probability

            P(χ²_{B-1} < ratio · q_lo) + P(χ²_{B-1} > ratio · q_hi),

        ``q_lo, q_hi`` the ``α/2`` and ``1 - α/2`` quantiles; ``power(1) = α``.

        Parameters
        ----------
        ratio : float or array_like
            Checked variance over true variance, positive (e.g.
            ``Var_π(F) / σ²(F)`` for the variance of independent draws).

        Returns
        -------
        float or numpy.ndarray
            The rejection probability, in ``[0, 1]``.

        Raises
        ------
        ConfigError
            If `ratio` is not positive and finite.
        """
        return batch_means_power(ratio, self.n_batches, self.alpha)


def batch_means_power(ratio: ArrayLike, n_batches: int = DEFAULT_N_BATCHES,
                      alpha: float = DEFAULT_ALPHA) -> float | np.ndarray:
    """Power of :func:`batch_means_check` against a variance off by the factor `ratio`.

    ``P(χ²_{B-1} < ratio · χ²_{B-1}(α/2)) + P(χ²_{B-1} > ratio · χ²_{B-1}(1 - α/2))``:
    the probability of rejecting a checked ``σ²`` equal to ``ratio`` times the
    true one, with ``B`` = `n_batches` independent Gaussian batch means.

    Parameters
    ----------
    ratio : float or array_like
        Checked over true variance, positive.
    n_batches : int
        Number of batches ``B ≥ 2``.
    alpha : float
        Two-sided level, in ``(0, 1)``.

    Returns
    -------
    float or numpy.ndarray
        Rejection probability (``alpha`` at ``ratio = 1``).

    Raises
    ------
    ConfigError
        If `ratio` is not positive and finite, `n_batches` < 2 or `alpha` not in (0, 1).
    """
    from scipy import stats

    r = np.asarray(ratio, dtype=float)
    if not np.all(np.isfinite(r) & (r > 0)):
        raise ConfigError(f"`ratio` must be positive and finite, got {ratio!r}.")
    n_batches, alpha = _check_test(n_batches, alpha)
    lo, hi = _chi2_bounds(n_batches, alpha)
    d = n_batches - 1
    p = stats.chi2.cdf(r * lo, d) + stats.chi2.sf(r * hi, d)
    return float(p) if p.ndim == 0 else p


def _check_test(n_batches, alpha) -> tuple[int, float]:
    if isinstance(n_batches, bool) or int(n_batches) != n_batches or int(n_batches) < 2:
        raise DimensionError(f"`n_batches` must be an integer of at least 2, got {n_batches!r}.")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"`alpha` must lie in (0, 1), got {alpha!r}; the default is "
                          f"{DEFAULT_ALPHA:g}.")
    return int(n_batches), alpha


def batch_means_check(
    chain: FiniteChain | GaussianAR1 | CircleWalk,
    F: ArrayLike | Callable[[np.ndarray], ArrayLike],
    n_steps: int,
    n_batches: int,
    rng: SeedLike,
    *,
    solution: PoissonSolution | None = None,
    alpha: float = DEFAULT_ALPHA,
    **solve_options: Any,
) -> BatchMeansResult:
    """Compare ``σ²(F)`` from the Poisson equation with batch means of a simulated path.

    One stationary path of ``n_steps`` states is cut into ``B`` = `n_batches`
    consecutive batches of length ``b = n_steps // B`` (a remainder is
    dropped). As ``b → ∞`` the batch sums are asymptotically independent
    ``N(b π(F), b σ²)``, so ``σ̂² = b · Var(batch means)`` estimates ``σ²``
    with ``(B - 1) σ̂² / σ² ≈ χ²_{B-1}`` and a bias ``O(1/b)``. The check
    passes when this statistic lies between the ``α/2`` and ``1 - α/2``
    quantiles of ``χ²_{B-1}``; :meth:`BatchMeansResult.power` gives the
    probability of rejecting a variance off by a given factor. With the
    defaults (``B = 1000``, ``α = 1e-3``) a variance off by 30 % is rejected
    with probability 0.995 (a factor 0.8 or 1.25 with 0.96 and 0.95) and a correct one with
    probability ``α``; many batches need ``b`` well above the mixing time for
    the bias to stay below the resolution ``sqrt(2/B)``. Cost: ``n_steps``
    transitions plus one Poisson solve.

    Parameters
    ----------
    chain : FiniteChain, GaussianAR1 (d = 1) or CircleWalk
        The chain to simulate and whose Poisson equation is solved.
    F : array_like or callable
        As for :func:`solve_poisson`; ignored when `solution` is given except
        through ``solution.F``.
    n_steps, n_batches : int
        Path length and number of batches (``B ≥ 2``, ``b ≥ 1``);
        ``limitsolver poisson`` uses ``200_000`` and ``DEFAULT_N_BATCHES = 1000``.
    rng : int, SeedSequence or Generator
        Source of randomness (same seed, same result).
    solution : PoissonSolution, optional
        A solution already computed for ``(chain, F)``.
    alpha : float
        Two-sided level of the χ² test (probability of rejecting a correct ``σ²``).
    **solve_options
        Passed to :func:`solve_poisson` when `solution` is None.

    Returns
    -------
    BatchMeansResult
        The two variance estimates, the test's decision, interval and power.

    Raises
    ------
    DimensionError
        If ``n_batches < 2`` or ``n_batches > n_steps``, or ``solution`` is not a
        discrete-time solution for a single ``F``.
    ConfigError
        If `alpha` is not in ``(0, 1)``.
    """
    n_steps, n_batches = int(n_steps), int(n_batches)
    if n_batches < 2 or n_steps // n_batches < 1:
        raise DimensionError(
            f"`n_batches` must be at least 2 and at most `n_steps`; got {n_batches} batches "
            f"for {n_steps} steps."
        )
    alpha = _check_test(n_batches, alpha)[1]
    if solution is None:
        solution = solve_poisson(chain, F, **solve_options)
    if solution.values.ndim != 1 or solution.time != "discrete":
        raise DimensionError("`solution` must be a discrete-time solution for a single F.")
    b = n_steps // n_batches
    path = sample_path(chain, b * n_batches, rng)[0]
    values = np.asarray(solution.F(path), dtype=float)
    means = values.reshape(n_batches, b).mean(axis=1)
    emp = float(b * means.var(ddof=1))
    rel = np.sqrt(2.0 / (n_batches - 1))
    sigma2 = float(solution.asymptotic_variance)
    lo, hi = (q / (n_batches - 1) for q in _chi2_bounds(n_batches, alpha))
    if sigma2 > 0:
        z = (emp - sigma2) / (sigma2 * rel)
        passed = lo <= emp / sigma2 <= hi
    else:
        z = 0.0 if emp == 0 else float("inf")
        passed = emp == 0
    mean = float(values.mean())
    pi_F = float(solution.pi_F)
    mean_z = (mean - pi_F) / np.sqrt(sigma2 / values.size) if sigma2 > 0 else 0.0
    return BatchMeansResult(
        empirical_variance=emp,
        standard_error=float(emp * rel),
        poisson_variance=sigma2,
        z_score=float(z),
        passed=bool(passed),
        alpha=alpha,
        interval=(lo, hi),
        empirical_mean=mean,
        pi_F=pi_F,
        mean_z_score=float(mean_z),
        n_batches=n_batches,
        batch_length=b,
    )
