"""The result of a Poisson solve: ``V`` on its nodes, and what it implies.

Every solver of :mod:`limitsolver.poisson` returns a :class:`PoissonSolution`
holding the solution of (:ref:`theory §5 <theory-poisson>`)

    discrete time:    V - P V = F_c,        π(V) = 0,
    continuous time:  L V = -F_c,           π(V) = 0,

with ``F_c = F - π(F)``, on the nodes of its discretisation (the states of a
finite chain, quadrature nodes, grid points) together with the invariant
weights ``π_N`` of those nodes, the mean ``π(F)`` that was subtracted, and the
asymptotic variance of the central limit theorem

    discrete time:    σ²(F) = π(2 F_c V - F_c²),
    continuous time:  σ²(F) = 2 π(F_c V)

(the variance of the limit law of ``n^{-1/2} Σ_{k<n} F_c(X_k)``, respectively of
``T^{-1/2} ∫_0^T F_c(X_t) dt``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PoissonSolution"]


@dataclass(frozen=True, eq=False)
class PoissonSolution:
    """Solution of a Poisson equation on the nodes of a discretisation.

    ``V`` solves ``V - P V = F - π(F)`` (discrete time) or ``L V = -(F - π(F))``
    (continuous time), normalised by ``π(V) = 0``. Built by the solvers, not by
    hand; the fields are:

    Parameters
    ----------
    values : ndarray, shape (n,) or (n, m)
        ``V`` at the nodes, normalised so that ``Σ_i weights_i V_i = 0``.
        With ``m`` right-hand sides (``F`` of shape ``(n, m)``) each column is
        solved separately.
    F_centred : ndarray, shape like `values`
        ``F_c = F - π(F)`` at the nodes.
    weights : ndarray, shape (n,)
        Invariant weights ``π_N`` of the nodes (sum one): the stationary law
        of a finite chain, or the quadrature rule for the invariant law.
    nodes : ndarray
        The nodes: state vectors ``(n, d)`` of a finite chain, histories
        ``(n, L, d)`` of a lifted chain, points ``x`` or angles ``φ``, shape ``(n,)``,
        of a continuous state space.
    pi_F : float or ndarray, shape (m,)
        The mean ``π(F)`` (quadrature ``Σ_i weights_i F(x_i)``) that was
        subtracted from ``F``.
    residual : float
        Max-norm of the discrete equation's residual, ``max_i |V - P_N V - F_c|``
        (discrete time) or ``max_i |L_h V + F_c|`` (continuous time); a few
        ulps times the condition number for a finite chain, the quadrature /
        finite-difference consistency error ``|c|`` otherwise (see
        `constant_defect`).
    constant_defect : float or ndarray
        The Lagrange multiplier ``c`` of the bordered system
        ``[[A, 1], [π_Nᵀ, 0]] [V; c] = [F_c; 0]`` (``A = I - P_N`` or ``-L_h``):
        the discrete equation actually solved is ``A V = F_c - c``. It is zero
        in exact arithmetic for a finite chain and measures the failure of the
        discretised kernel to conserve mass otherwise.
    time : {"discrete", "continuous"}
        Whether ``V`` solves ``V - P V = F_c`` (a Markov chain) or
        ``L V = -F_c`` (a diffusion with generator ``L``).
    bounded : bool
        Whether the state space is compact (finite chains, the circle), so that
        ``sup |V|`` over the nodes bounds ``V`` everywhere.
    discretisation : dict
        How the equation was discretised (method, number of nodes, accuracy
        order, truncation ...), JSON-ready.
    PV_values : ndarray or None
        ``P V`` at the nodes as computed by the discrete kernel (discrete time
        only); used by the martingale decomposition.
    _evaluate_V, _evaluate_F, _evaluate_PV : callable or None
        Private evaluators of ``V``, ``F`` and ``P V`` off the nodes, set by the
        solver (``None`` when the solution cannot be evaluated there).
    """

    values: np.ndarray
    F_centred: np.ndarray
    weights: np.ndarray
    nodes: np.ndarray
    pi_F: Any
    residual: float
    constant_defect: Any
    time: str
    bounded: bool
    discretisation: dict
    PV_values: np.ndarray | None = None
    _evaluate_V: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    _evaluate_F: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    _evaluate_PV: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``n``."""
        return int(self.values.shape[0])

    @cached_property
    def mean_V(self):
        """``π_N(V) = Σ_i weights_i V_i`` (zero up to rounding by construction)."""
        return self.weights @ self.values

    @cached_property
    def sup_V(self):
        """``max_i |V_i|`` over the nodes (per column for several right-hand sides)."""
        return np.max(np.abs(self.values), axis=0)

    @cached_property
    def oscillation_V(self):
        """``max_i V_i - min_i V_i`` over the nodes (at most ``2 sup|V|``)."""
        return np.max(self.values, axis=0) - np.min(self.values, axis=0)

    @cached_property
    def asymptotic_covariance(self) -> np.ndarray:
        """Asymptotic covariance matrix of the CLT, shape ``(m, m)``.

        Discrete time: ``Σ = π(F_c Vᵀ + V F_cᵀ - F_c F_cᵀ)``; continuous time:
        ``Σ = π(F_c Vᵀ + V F_cᵀ)``. Integrals are the quadrature with `weights`.
        """
        F = self.F_centred.reshape(self.n_nodes, -1)
        V = self.values.reshape(self.n_nodes, -1)
        FV = (F * self.weights[:, None]).T @ V
        cov = FV + FV.T
        if self.time == "discrete":
            cov = cov - (F * self.weights[:, None]).T @ F
        return cov

    @cached_property
    def asymptotic_variance(self):
        """Asymptotic variance ``σ²(F)`` of the Markov-chain CLT.

        ``π(2 F_c V - F_c²)`` in discrete time and ``2 π(F_c V)`` in continuous
        time; a float for a single ``F`` and an array ``(m,)`` (the diagonal of
        :attr:`asymptotic_covariance`) for several.
        """
        var = np.diag(self.asymptotic_covariance).copy()
        return float(var[0]) if self.values.ndim == 1 else var

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """Evaluate ``V`` at new points.

        Finite and lifted chains take state indices; the AR(1) chain takes
        points ``x`` and uses the Nyström extension; the circle takes angles;
        diffusions interpolate. See the solver that produced the solution.
        """
        if self._evaluate_V is None:
            raise NotImplementedError("this solution cannot be evaluated off its nodes.")
        return self._evaluate_V(x)

    def F(self, x: ArrayLike) -> np.ndarray:
        """Evaluate the (uncentred) ``F`` at points of the same kind as :meth:`__call__` takes.

        Parameters
        ----------
        x : array_like
            State indices, points or angles, as for :meth:`__call__`.

        Returns
        -------
        numpy.ndarray
            ``F(x)``, shape ``x.shape`` (plus ``(m,)`` for ``m`` right-hand sides).

        Raises
        ------
        NotImplementedError
            If the solution does not carry ``F`` off its nodes.
        """
        if self._evaluate_F is None:
            raise NotImplementedError("this solution does not carry `F` off its nodes.")
        return self._evaluate_F(x)

    def PV(self, x: ArrayLike) -> np.ndarray:
        """Evaluate ``P V = V - F_c + c`` at points (discrete time only).

        For a finite chain at state indices this is the row of `PV_values`
        computed by the kernel itself; elsewhere it follows from the discrete
        equation ``V - P_N V = F_c - c`` and its Nyström extension.

        Parameters
        ----------
        x : array_like
            State indices, points or angles, as for :meth:`__call__`.

        Returns
        -------
        numpy.ndarray
            ``(P V)(x)``, shape ``x.shape`` (plus ``(m,)`` for ``m`` right-hand sides).

        Raises
        ------
        NotImplementedError
            For a continuous-time solution, or one that cannot be evaluated off its nodes.
        """
        if self.time != "discrete":
            raise NotImplementedError("`P V` is defined for discrete-time chains only.")
        if self._evaluate_PV is not None:
            return self._evaluate_PV(x)
        return self(x) - (self.F(x) - self.pi_F) + self.constant_defect

    def summary(self) -> dict:
        """JSON-ready summary: mean, variance, residual and the discretisation.

        Returns
        -------
        dict
            Keys ``pi_F``, ``asymptotic_variance``, ``residual``, ``constant_defect``,
            ``mean_V``, ``sup_V``, ``time``, ``n_nodes`` and ``discretisation``.
        """
        return {
            "pi_F": np.asarray(self.pi_F).tolist(),
            "asymptotic_variance": np.asarray(self.asymptotic_variance).tolist(),
            "residual": float(self.residual),
            "constant_defect": np.asarray(self.constant_defect).tolist(),
            "mean_V": np.asarray(self.mean_V).tolist(),
            "sup_V": np.asarray(self.sup_V).tolist(),
            "time": self.time,
            "n_nodes": self.n_nodes,
            "discretisation": dict(self.discretisation),
        }


def pointwise(F: Callable, trailing: tuple = ()) -> Callable[[np.ndarray], np.ndarray]:
    """Evaluate a callable of a flat array of points on arrays of points of any shape.

    ``F`` maps ``(m,)`` points to ``(m,) + trailing`` values; the returned
    function maps ``x`` of any shape to ``x.shape + trailing``.
    """

    def evaluate(x):
        x = np.asarray(x, dtype=float)
        return np.asarray(F(x.reshape(-1)), dtype=float).reshape(x.shape + tuple(trailing))

    return evaluate
