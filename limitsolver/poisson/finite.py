"""Poisson equation of a finite Markov chain (:ref:`theory §5 <theory-poisson>`).

For an irreducible stochastic matrix ``P`` (n×n) with invariant law ``π``
(``πᵀ P = πᵀ``, ``Σ π_i = 1``) and ``F ∈ R^n``, the solution of

    V - P V = F_c,   F_c = F - π(F) 1,   π(V) = 0

is ``V = (I - P + 1 πᵀ)^{-1} F_c``: the fundamental matrix
``Z = (I - P + 1 πᵀ)^{-1}`` exists for every irreducible ``P`` (periodic or
not), and multiplying ``(I - P + 1 πᵀ) V = F_c`` on the left by ``πᵀ`` gives
``π(V) = π(F_c) = 0``. Sparse matrices (e.g. lifted chains of histories) are
solved through the equivalent bordered system

    [[I - P, 1], [πᵀ, 0]] [V; c] = [F_c; 0],

whose multiplier ``c = π(F_c)`` vanishes; its sparse LU costs far less than the
dense inverse. The helpers here are shared by the Nyström and diffusion solvers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike

from ..errors import ConfigError, DimensionError, DivergenceError, NotErgodicError
from .solution import PoissonSolution

if TYPE_CHECKING:
    from scipy.sparse import sparray, spmatrix

if TYPE_CHECKING:
    from ..chains import FiniteChain

__all__ = ["solve_poisson_finite", "stationary_distribution"]

_STOCHASTIC_TOL = 1e-10

#: largest admissible condition number (LAPACK 1-norm estimate) of the fundamental
#: matrix or of the dense bordered system: rounding alone may cost ``cond · 2.2e-16``
#: of relative accuracy in ``V``, i.e. up to 1e-4 at the limit
COND_MAX = 1e12
#: largest admissible relative residual ``max|V - P V - F_c| / max|F_c|``
RESIDUAL_MAX = 1e-6
#: tolerance of a user-supplied ``pi``: ``max|πP - π|``, ``|Σπ - 1|`` and ``min π`` down to ``-PI_TOL``
PI_TOL = 1e-9


def _finite_chain(P) -> FiniteChain:
    """Validate a square row-stochastic matrix (dense or sparse) once, as a :class:`FiniteChain`.

    Its messages name the offending rows and entries; a sparse matrix stays
    sparse (validated on its stored entries).
    """
    from ..chains import FiniteChain

    if not sp.issparse(P):
        P = np.asarray(P, dtype=float)
    n = P.shape[0] if P.ndim == 2 else 1
    return FiniteChain(P, atol=_STOCHASTIC_TOL * n)


def _check_irreducible(chain: FiniteChain, name: str = "P") -> None:
    """Raise NotErgodicError unless the directed graph of ``P > 0`` is strongly connected."""
    if not chain.is_irreducible:
        first = next(c for c in chain.communication_classes if 0 in c)
        others = np.setdiff1d(np.arange(chain.n_states), first)
        shown = ", ".join(str(i) for i in others[:10]) + (", ..." if len(others) > 10 else "")
        raise NotErgodicError(
            f"`{name}` must be irreducible for the Poisson equation to have a unique "
            f"solution; states {{{shown}}} do not communicate with state 0."
        )


def _fix(P) -> str:
    """The fix for a nearly reducible ``P``, with its inverse spectral gap when cheap."""
    gap = ""
    if not sp.issparse(P) and P.shape[0] <= 500:
        lam = np.sort(np.abs(np.linalg.eigvals(P)))[::-1]
        if lam.size > 1:
            g = 1.0 - lam[1]
            gap = (f" (spectral gap 1 - |λ₂| = {g:.2e}, inverse gap "
                   f"{(1.0 / g if g > 0 else np.inf):.2e})")
    return (f"`P` is nearly reducible or does not mix{gap}: its weakly coupled blocks should "
            "be treated as separate chains, or the coupling made stronger.")


def _check_pi(P, pi: np.ndarray) -> None:
    """Refuse a user-supplied invariant law that is not one of ``P`` (:data:`PI_TOL`)."""
    if not np.all(np.isfinite(pi)) or pi.min() < -PI_TOL or abs(pi.sum() - 1.0) > PI_TOL:
        raise ConfigError(
            f"`pi` must be a probability vector (non-negative, finite, summing to 1); its "
            f"minimum is {np.nanmin(pi):.3g} and its sum {np.sum(pi):.12g}. Omit `pi` to have "
            "it computed from `P`."
        )
    defect = float(np.max(np.abs(pi @ P - pi)))
    if defect > PI_TOL:
        raise ConfigError(
            f"`pi` is not invariant for `P`: max|pi P - pi| = {defect:.2e} exceeds {PI_TOL:g}. "
            "Pass `FiniteChain(P).stationary` or omit `pi`."
        )


def stationary_distribution(P: ArrayLike | sparray | spmatrix) -> np.ndarray:
    """Invariant law ``π`` of an irreducible stochastic matrix: ``πᵀ P = πᵀ``, ``Σ π = 1``.

    :attr:`FiniteChain.stationary <limitsolver.chains.FiniteChain.stationary>`: the
    system ``(Pᵀ - I) π = 0`` with its last row replaced by the normalisation
    ``1ᵀ π = 1``, solved densely (``O(n³)``) or by sparse LU for sparse ``P``;
    rounding negatives are clipped to 0 and ``π`` renormalised.

    Parameters
    ----------
    P : array_like or scipy.sparse matrix, shape (n, n)
        Row-stochastic transition matrix, ``P[x, y] = P(x, y)``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The stationary distribution ``π`` (non-negative, summing to 1).

    Raises
    ------
    NotStochasticError
        If ``P`` is not square, non-negative and row-stochastic.
    NotErgodicError
        If ``P`` is reducible.
    """
    chain = _finite_chain(P)
    _check_irreducible(chain)
    return np.array(chain.stationary)


def _as_values(F, n: int, nodes, name: str = "F") -> np.ndarray:
    """Evaluate / validate the right-hand side: shape (n,) or (n, m), finite."""
    if callable(F):
        values = np.asarray(F(nodes), dtype=float)
    else:
        values = np.asarray(F, dtype=float)
    if values.ndim not in (1, 2) or values.shape[0] != n:
        raise DimensionError(
            f"`{name}` must have one value per state, shape ({n},) or ({n}, m); "
            f"got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        bad = np.flatnonzero(~np.isfinite(values.reshape(n, -1)).all(axis=1))
        raise DivergenceError(f"`{name}` must be finite; it is NaN or infinite at node {bad[0]}.")
    return values


def _text(fix: str | Callable[[], str]) -> str:
    """The fix as text: a callable (built only on the error path, e.g. an eigenvalue gap) or a str."""
    return fix() if callable(fix) else fix


def dense_solve(M: np.ndarray, rhs: np.ndarray, what: str, fix: str | Callable[[], str],
                error: type = NotErgodicError) -> np.ndarray:
    """Solve ``M x = rhs`` by LU (as ``scipy.linalg.solve``) and refuse ill-conditioned ``M``.

    Raises `error` when ``M`` is singular or its condition number (LAPACK 1-norm
    estimate from the same LU) exceeds :data:`COND_MAX`; the message states the
    condition number, `what` was solved and the `fix`.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        lu, piv = scipy.linalg.lu_factor(M, check_finite=False)
    diag = np.abs(np.diag(lu))
    if not np.all(np.isfinite(lu)) or diag.min() == 0.0:
        raise error(f"{what} is singular; {_text(fix)}")
    anorm = float(np.abs(M).sum(axis=0).max())
    rcond, _ = scipy.linalg.lapack.dgecon(lu, anorm, norm="1")
    cond = np.inf if rcond <= 0 else 1.0 / rcond
    if not cond <= COND_MAX:
        raise error(
            f"{what} is ill-conditioned: condition number {cond:.2e} exceeds {COND_MAX:.0e}, so "
            f"rounding alone could cost a relative error up to {cond * 2.2e-16:.1e} in V and "
            f"sigma^2; {_text(fix)}"
        )
    return scipy.linalg.lu_solve((lu, piv), rhs, check_finite=False)


def check_poisson_solution(V: np.ndarray, PV: np.ndarray, Fc: np.ndarray, weights: np.ndarray,
                           what: str, fix: str | Callable[[], str], error: type = NotErgodicError, *,
                           rows: slice | np.ndarray = slice(None), discrete: bool = True) -> None:
    """Refuse a solution whose residual or asymptotic variance betrays lost accuracy.

    Raises `error` if ``max|V - P V - F_c| > RESIDUAL_MAX · max|F_c|`` (on `rows`) or if
    ``σ² = π(2 F_c V - F_c²)`` (continuous time ``2 π(F_c V)``) is negative beyond
    rounding, ``σ² < -1e-9 π(|F_c| (2|V| + |F_c|))``.
    """
    F = Fc.reshape(Fc.shape[0], -1)
    Vm = V.reshape(F.shape)
    if not np.all(np.isfinite(Vm)):
        raise DivergenceError(f"{what} produced NaN or infinite values; {_text(fix)}")
    res = np.abs(Vm - PV.reshape(F.shape) - F)[rows]
    scale = np.abs(F[rows]).max(axis=0) if res.size else np.zeros(F.shape[1])
    rel = res.max(axis=0) / np.where(scale > 0, scale, 1.0) if res.size else np.zeros(1)
    if np.any(rel > RESIDUAL_MAX):
        raise error(
            f"{what} did not converge: relative residual max|V - PV - F_c| / max|F_c| = "
            f"{rel.max():.2e} exceeds {RESIDUAL_MAX:.0e}; {_text(fix)}"
        )
    var = weights @ (2.0 * F * Vm - (F * F if discrete else 0.0))
    size = weights @ (np.abs(F) * (2.0 * np.abs(Vm) + np.abs(F)))
    if np.any(var < -1e-9 * size):
        raise error(
            f"{what} gives a negative asymptotic variance sigma^2 = {var.min():.3e} (beyond "
            f"rounding, {1e-9 * size.max():.1e}); the solution is wrong: {_text(fix)}"
        )


def bordered_solve(A: np.ndarray | sparray | spmatrix, weights: np.ndarray, rhs: np.ndarray,
                   ones: np.ndarray | None = None, *, fix: str = "the chain must have a "
                   "single recurrent class and mix.", error: type = NotErgodicError):
    """Solve ``[[A, 1], [wᵀ, 0]] [V; c] = [rhs; 0]`` (dense or sparse ``A``).

    Returns ``(V, c)``; ``V`` has the shape of `rhs` and ``c`` one entry per column.
    `ones` replaces the column ``1`` (e.g. with zeros on boundary-condition rows).
    Raises `error` (NotErgodicError by default) when the system is singular
    (``A`` has a null space larger than the constants) or, dense, its condition
    number exceeds :data:`COND_MAX`; the message ends with `fix`.
    """
    n = rhs.shape[0]
    R = rhs.reshape(n, -1)
    m = R.shape[1]
    rhs_b = np.vstack([R, np.zeros((1, m))])
    col = np.ones(n) if ones is None else np.asarray(ones, dtype=float)
    if sp.issparse(A):
        ones_col = sp.csr_matrix(col[:, None])
        B = sp.bmat([[A, ones_col], [sp.csr_matrix(weights[None, :]), None]], format="csc")
        try:
            lu = spla.splu(B)
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise NotErgodicError(
                "The bordered Poisson system is singular; the chain must have a single "
                "recurrent class."
            ) from exc
        sol = lu.solve(rhs_b)
    else:
        B = np.zeros((n + 1, n + 1))
        B[:n, :n] = A
        B[:n, n] = col
        B[n, :n] = weights
        sol = dense_solve(B, rhs_b, "The bordered Poisson system", fix, error)
    if not np.all(np.isfinite(sol)):
        raise DivergenceError("The Poisson solve produced NaN or infinite values.")
    V = sol[:n].reshape(rhs.shape)
    c = sol[n]
    return V, (float(c[0]) if rhs.ndim == 1 else c)


def solve_poisson_finite(
    P: ArrayLike | sparray | spmatrix,
    F: np.ndarray | Callable[[np.ndarray], np.ndarray],
    *,
    pi: np.ndarray | None = None,
    states: np.ndarray | None = None,
    check: bool = True,
    discretisation: dict | None = None,
) -> PoissonSolution:
    """Solve ``V - P V = F - π(F)``, ``π(V) = 0`` for a finite chain.

    Dense ``P``: ``V = (I - P + 1 πᵀ)^{-1} F_c`` (LU of the fundamental matrix,
    ``O(n³)``). Sparse ``P``: the bordered system of the module docstring
    (sparse LU, ``O(nnz)`` fill-dependent). Several right-hand sides are solved
    with one factorisation.

    Parameters
    ----------
    P : (n, n) array_like or scipy.sparse matrix
        Row-stochastic, irreducible transition matrix.
    F : array_like (n,) or (n, m), or callable
        Values of ``F`` on the states, or a callable mapping the state array
        `states` (``(n, d)``; the indices ``0..n-1`` when `states` is None) to
        them. ``π(F)`` need not vanish: it is subtracted and reported.
    pi : (n,) array_like, optional
        The invariant law, if already known (e.g. ``FiniteChain.stationary``);
        computed by :func:`stationary_distribution` otherwise.
    states : (n, d) array_like, optional
        State vectors stored as the solution's nodes and passed to a callable `F`.
    check : bool
        Validate stochasticity and irreducibility of ``P`` (``O(nnz)``).
    discretisation : dict, optional
        Extra entries recorded in the solution's ``discretisation``.

    Returns
    -------
    PoissonSolution
        Nodes are `states` (or indices); evaluating the solution at integer
        state indices returns ``V`` there. ``residual = max |V - P V - F_c|``.

    Raises
    ------
    NotStochasticError
        If ``P`` is not a stochastic matrix.
    NotErgodicError
        If ``P`` is reducible.
    DimensionError
        If ``F`` or `pi` do not have one entry per state.
    DivergenceError
        If ``F`` contains NaN or infinite values.
    """
    chain = None
    if check:
        chain = _finite_chain(P)
        _check_irreducible(chain)
        P = chain.P
    elif not sp.issparse(P):
        P = np.asarray(P, dtype=float)
    n = P.shape[0]
    nodes = np.arange(n) if states is None else np.asarray(states, dtype=float)
    if nodes.shape[0] != n:
        raise DimensionError(f"`states` must have {n} rows (one per state), got {nodes.shape[0]}.")
    F_values = _as_values(F, n, nodes)
    if pi is None:
        pi = np.array((chain or _finite_chain(P)).stationary)
    else:
        pi = np.asarray(pi, dtype=float)
        if pi.shape != (n,):
            raise DimensionError(f"`pi` must have shape ({n},), got {pi.shape}.")
        _check_pi(P, pi)
    pi_F = pi @ F_values
    Fc = F_values - pi_F
    if sp.issparse(P):
        A = sp.identity(n, format="csr") - P
        V, c = bordered_solve(A, pi, Fc)
        method = "bordered sparse LU"
        PV = P @ V
    else:
        Z = np.eye(n) - P + np.outer(np.ones(n), pi)
        V = dense_solve(Z, Fc, "The fundamental matrix I - P + 1 piᵀ of `P`", lambda: _fix(P))
        c = np.zeros(Fc.shape[1:]) if Fc.ndim == 2 else 0.0
        method = "fundamental matrix"
        PV = P @ V
    check_poisson_solution(V, PV, Fc, pi, "The Poisson solve of `P`", lambda: _fix(P))
    residual = float(np.max(np.abs(V - PV - Fc)))

    def evaluate_V(idx):
        return V[np.asarray(idx, dtype=np.intp)]

    def evaluate_F(idx):
        idx = np.asarray(idx, dtype=np.intp)
        return F_values[idx]

    return PoissonSolution(
        values=V,
        F_centred=Fc,
        weights=pi,
        nodes=nodes,
        pi_F=float(pi_F) if np.ndim(pi_F) == 0 else pi_F,
        residual=residual,
        constant_defect=c,
        time="discrete",
        bounded=True,
        discretisation={"method": method, "n_states": n, "F_callable": callable(F),
                        **(discretisation or {})},
        PV_values=PV,
        _evaluate_V=evaluate_V,
        _evaluate_F=evaluate_F,
        _evaluate_PV=lambda idx: PV[np.asarray(idx, dtype=np.intp)],
    )
