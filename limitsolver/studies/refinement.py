r"""Refinement studies of the limit solver's own discretisation (:ref:`theory §4.5 <theory-errors>`).

Each study solves the same :class:`~limitsolver.problem.Problem` at a sequence
of discretisation levels and measures the distance of each solution to the next
finer one (or to a reference), in the metric of the convergence studies,

.. math::

    e_\ell = \sup_{t\in\mathcal T} \|h^{(\ell)}_t - h^{(\mathrm{ref})}_t\|_{L^2(\pi)},

with observed orders :math:`\log(e_\ell/e_{\ell+1})/\log(h_\ell/h_{\ell+1})`.
Expected behaviour: quadrature nodes — spectral (orders that grow) for Gauss
rules and smooth :math:`\sigma`; memory depth — geometric, :math:`e_L\propto\gamma^L`;
Monte Carlo histories — :math:`M^{-1/2}`; time stepping — the integrator's
tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..problem import Problem
from .fit import PowerLawFit, fit_power_law, observed_orders

__all__ = ["RefinementResult", "refine_nodes", "refine_depth", "refine_histories",
           "refine_time_stepping"]


@dataclass(frozen=True)
class RefinementResult:
    """Errors of a sequence of discretisation levels.

    Built by the ``refine_*`` functions; the fields are:

    Parameters
    ----------
    parameter : str
        ``"nodes"``, ``"depth"``, ``"histories"`` or ``"rtol"``.
    levels : ndarray
        Values of the parameter (nodes per axis of ``w``, window length ``L``,
        number of histories ``M``, integrator tolerance).
    errors : ndarray
        :math:`e_\\ell` against the reference (the finest level, or the exact
        spectral solution for time stepping).
    orders : ndarray
        Observed orders between successive levels (``nodes``, ``histories``;
        for ``depth`` the ratios :math:`e_{L+1}/e_L`, an estimate of the
        contraction factor).
    fit : PowerLawFit or None
        Power-law fit where one is meaningful (``histories``: expect 1/2).
    """

    parameter: str
    levels: np.ndarray
    errors: np.ndarray
    orders: np.ndarray
    fit: PowerLawFit | None = None

    def table(self) -> str:
        """A text table: level | error | order (or ratio), then the fit if any.

        Returns
        -------
        str
            One line per level (the last levels have no order), and ``fit: ...``
            when :attr:`fit` is set.
        """
        lines = [f"{self.parameter:>10}  {'error':>11}  {'order/ratio':>11}"]
        for i, (lv, e) in enumerate(zip(self.levels, self.errors, strict=True)):
            o = f"{self.orders[i]:>11.3f}" if i < self.orders.size else f"{'':>11}"
            lines.append(f"{lv:>10.4g}  {e:>11.3e}  {o}")
        if self.fit is not None:
            lines.append(f"fit: {self.fit}")
        return "\n".join(lines)


def _sup_l2(h1: np.ndarray, h2: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sqrt(((h1 - h2) ** 2) @ weights).max())


def _times(problem: Problem, n_times: int) -> np.ndarray:
    return np.linspace(0.0, problem.horizon, n_times)


def _lookup(rows: np.ndarray, table: np.ndarray) -> np.ndarray | None:
    """Index in ``table`` of each row of ``rows`` (integer arrays), or None if one is missing."""
    def keys(a):
        a = np.ascontiguousarray(a, dtype=np.int64)
        return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()

    tk, rk = keys(table), keys(rows)
    order = np.argsort(tk, kind="stable")
    pos = np.searchsorted(tk[order], rk)
    pos = np.minimum(pos, tk.size - 1)
    idx = order[pos]
    return idx if np.array_equal(tk[idx], rk) else None


#: Largest :math:`\alpha\,\Delta t\,\|U\|_F\|V\|_F` for which :func:`_exact_outputs`
#: applies the exponential (beyond it the number of products makes a solve cheaper).
_EXPONENTIAL_SPAN = 10.0


def _exact_outputs(problem: Problem, rule, times: np.ndarray):
    r""":math:`h_t` of the limit from :math:`h_0 = 0` on the exact histories of ``problem``.

    On the :math:`M` exact histories, with the thin factors :math:`AW = UV^\top`
    of the kernel and the stationary weights, the residual :math:`r = g - h`
    obeys :math:`\dot r = -\alpha AW r`, so

    .. math::

        h_t = g - e^{-\alpha t\,AW} g,

    computed by the action of the exponential (:func:`scipy.sparse.linalg.expm_multiply`,
    truncated Taylor series to double precision) on the operator
    :math:`v\mapsto U(V^\top v)`: :math:`O(Mr)` per product, without forming the
    :math:`M\times M` kernel or diagonalising it (:math:`O(M^3)`). The same
    :math:`h_t` as :func:`~limitsolver.limit.solve_limit` to rounding. The number of
    products grows with :math:`\alpha t\|AW\|`, so the route is taken only where it
    is the cheaper one: :math:`M \le r` (where a solve diagonalises the
    :math:`M\times M` kernel) and :math:`\alpha (t_{\max} - t_{\min})
    \|U\|_F\|V\|_F \le 10` (:math:`\|AW\|_2 \le \|U\|_F\|V\|_F`; about 70
    products at the headline study, a few hundred at the bound).

    Parameters
    ----------
    problem : Problem
        The problem (its chain finite).
    rule : QuadratureRule
        The parameter rule.
    times : ndarray
        Equispaced times.

    Returns
    -------
    tuple (ndarray, Histories) or None
        :math:`h_t` with shape (len(times), M) and the exact histories; None when
        the times are not equispaced or a solve is the cheaper route.

    Raises
    ------
    DivergenceError
        If :math:`h_t` is not finite.
    """
    from scipy.sparse.linalg import LinearOperator, expm_multiply

    from ..errors import DivergenceError
    from ..histories import exact_histories
    from ..limit.feature_map import FeatureMap

    times = np.asarray(times, dtype=float)
    if times.size < 2 or not np.array_equal(np.linspace(times[0], times[-1], times.size), times):
        return None
    fmap = FeatureMap.from_problem(problem, rule)
    hist = exact_histories(problem.chain, fmap.depth)
    if hist.M > fmap.r:
        return None
    feat = fmap.features(hist)
    U, V = fmap.factors(feat, feat, weights=hist.weights)
    alpha = float(problem.network.alpha)
    if alpha * (times[-1] - times[0]) * np.linalg.norm(U) * np.linalg.norm(V) > _EXPONENTIAL_SPAN:
        return None
    g = np.asarray(problem.target(hist.values), dtype=float).reshape(-1)
    op = LinearOperator((hist.M, hist.M), dtype=float, matvec=lambda v: U @ (V.T @ v),
                        rmatvec=lambda v: V @ (U.T @ v))
    r = expm_multiply(-alpha * op, g, start=times[0], stop=times[-1], num=times.size,
                      endpoint=True, traceA=-alpha * float(np.einsum("ij,ij->", U, V)))
    h = g[None, :] - r
    if not np.all(np.isfinite(h)):
        raise DivergenceError("the limit on the exact histories is NaN or infinite.")
    return h, hist


def _on_deeper(sol, deep, times: np.ndarray) -> np.ndarray:
    r""":math:`h^{(L)}_t` of a solution of depth :math:`L` on deeper histories cut to :math:`L` states.

    For exact histories (and :math:`h_0 = 0`) every deep window cut to its ``L``
    most recent states is one of the solution's training histories, where the
    Nyström extension is the training value: it is read there by index.
    Otherwise the solution is Nyström-evaluated on the cut windows.

    Parameters
    ----------
    sol : LimitSolution
        The shallow solution.
    deep : Histories
        The deeper histories.
    times : ndarray
        The times of the values.

    Returns
    -------
    ndarray, shape (len(times), deep.M)
    """
    L = sol.histories.depth
    same_times = sol.times.shape == times.shape and np.array_equal(sol.times, times)
    if (same_times and sol.histories.indices is not None and deep.indices is not None
            and sol.h0_kind == "zero"):
        idx = _lookup(deep.indices[:, :L], sol.histories.indices)
        if idx is not None:
            return sol.h[:, idx]
    return sol.evaluate(deep.values[:, :L], times=times)


def refine_nodes(problem: Problem, n_w: Sequence[int] = (8, 16, 32, 64), *, n_b_ratio: float = 0.25,
                 kind: str = "legendre", histories: str | int = "exact",
                 n_times: int = 11,
                 seed: int = 0) -> RefinementResult:
    r"""Quadrature refinement: ``n_w`` nodes for ``w`` and ``n_b_ratio * n_w`` for ``b``.

    The error of level :math:`\ell` is
    :math:`e_\ell = \sup_t \|h^{(\ell)}_t - h^{(\mathrm{finest})}_t\|_{L^2(\pi)}`
    against the finest rule; orders are observed with :math:`h = 1/n_w`
    (spectral convergence shows as orders that grow). Cost: one limit solve
    per level.

    Parameters
    ----------
    problem : Problem
        The problem whose limit is solved.
    n_w : sequence of int, default (8, 16, 32, 64)
        Nodes per ``w`` axis at each level (sorted; at least two levels).
    n_b_ratio : float, default 0.25
        Nodes for ``b`` per node for ``w`` (at least 2 nodes).
    kind : {"legendre", "hermite", "sobol", "uniform"}, default "legendre"
        Quadrature rule, as for :func:`~limitsolver.limit.parameter_grid`.
    histories : "exact" or int, default "exact"
        Exact enumeration (finite chains) or that many Monte Carlo windows.
    n_times : int, default 11
        Points of the time grid :math:`\mathcal T` (equispaced in :math:`[0, T]`).
    seed : int, default 0
        Seed of the Monte Carlo histories (the same for every level).

    Returns
    -------
    RefinementResult
        ``parameter = "nodes"``; levels are all but the finest ``n_w``.

    Raises
    ------
    ConfigError
        If ``n_w`` has fewer than two levels.
    """
    from ..limit import solve_limit

    n_w = np.asarray(sorted(n_w), dtype=int)
    if n_w.size < 2:
        raise ConfigError("`n_w` needs at least two levels.")
    t = _times(problem, n_times)
    sols = [solve_limit(problem, histories=histories, times=t, seed=seed, error_estimate=False,
                        grid={"n_w": int(n), "n_b": max(2, int(round(n * n_b_ratio))),
                              "kind": kind})
            for n in n_w]
    ref = sols[-1]
    errors = np.array([_sup_l2(s.h, ref.h, ref.weights) for s in sols[:-1]])
    return RefinementResult("nodes", n_w[:-1], errors,
                            observed_orders(1.0 / n_w[:-1], errors) if errors.size > 1 else
                            np.array([]))


def refine_depth(problem: Problem, extra_levels: int = 4, *, n_times: int = 11,
                 grid: dict | None = None) -> RefinementResult:
    r"""Memory-depth refinement: windows ``L, L+1, ...`` against the deepest.

    Each shallow solution is read on the deepest histories truncated to its own
    window, so all errors are measured in the same :math:`L^2(\pi)`: by index
    among its training histories, where the Nyström extension is the training
    value (the histories are exact; Nyström-evaluated when :math:`h_0 \ne 0`).
    The ratios of successive errors estimate the geometric factor (at most
    :math:`\gamma`), since truncating the memory at depth :math:`L` errs by at
    most :math:`\gamma^L \sup|\sigma|`. Levels are obtained by multiplying the
    network's ``memory_tol`` by :math:`\gamma^k`, :math:`k = 0, \dots,`
    ``extra_levels``. Cost: ``extra_levels + 1`` exact limit solves, the deepest
    the most expensive (:math:`n^L` histories).

    Parameters
    ----------
    problem : Problem
        The problem whose limit is solved (its chain must be finite: histories
        are enumerated exactly).
    extra_levels : int, default 4
        Number of deeper levels beyond the problem's own depth.
    n_times : int, default 11
        Points of the time grid :math:`\mathcal T` (equispaced in :math:`[0, T]`).
    grid : dict, optional
        Keyword arguments of :func:`~limitsolver.limit.parameter_grid`; default
        that of :func:`~limitsolver.limit.solve_limit` (64 Legendre nodes for
        ``w``, 16 for ``b``).

    Returns
    -------
    RefinementResult
        ``parameter = "depth"``; levels are the window lengths :math:`L` of all but
        the deepest solve, orders the ratios :math:`e_{L+1}/e_L`.
    """
    from ..limit import solve_limit

    net = problem.network
    gamma = max(net.gamma, 1e-3)
    problems = [problem.replace(network=net.replace(memory_tol=net.memory_tol * gamma**k))
                for k in range(extra_levels + 1)]
    t = _times(problem, n_times)
    sols = [solve_limit(p, histories="exact", times=t, grid=grid, error_estimate=False)
            for p in problems]
    ref = sols[-1]
    errors = []
    for s in sols[:-1]:
        errors.append(_sup_l2(_on_deeper(s, ref.histories, t), ref.h, ref.histories.weights))
    errors = np.asarray(errors)
    depths = np.array([s.histories.depth for s in sols[:-1]])
    return RefinementResult("depth", depths, errors, errors[1:] / errors[:-1])


def refine_histories(problem: Problem, M: Sequence[int] = (256, 512, 1024, 2048), *,
                     seeds: Sequence[int] = (0, 1, 2, 3),
                     n_times: int = 11, grid: dict | None = None) -> RefinementResult:
    r"""Monte Carlo histories: the loss curve with ``M`` sampled windows against the exact one.

    The error is :math:`\sup_t |L^{(M)}_t - L_t|`, averaged over ``seeds``;
    the fitted rate should be close to 1/2. Needs a finite chain (for the exact
    reference).

    Parameters
    ----------
    problem : Problem
        The problem whose limit is solved.
    M : sequence of int, default (256, 512, 1024, 2048)
        Numbers of Monte Carlo histories (sorted).
    seeds : sequence of int, default (0, 1, 2, 3)
        Seeds of the Monte Carlo histories at each ``M``.
    n_times : int, default 11
        Points of the time grid :math:`\mathcal T` (equispaced in :math:`[0, T]`).
    grid : dict, optional
        Keyword arguments of :func:`~limitsolver.limit.parameter_grid`; default
        that of :func:`~limitsolver.limit.solve_limit` (64 Legendre nodes for
        ``w``, 16 for ``b``).

    Returns
    -------
    RefinementResult
        ``parameter = "histories"``; errors averaged over seeds, orders observed
        with :math:`h = 1/M`, and the power-law fit over seeds in :attr:`fit`.
    """
    from ..limit import solve_limit

    M = np.asarray(sorted(M), dtype=int)
    t = _times(problem, n_times)
    exact = solve_limit(problem, histories="exact", times=t, grid=grid, error_estimate=False)
    errs = np.array([[np.abs(solve_limit(problem, histories=int(m), times=t, grid=grid,
                                         seed=s, error_estimate=False).loss - exact.loss).max()
                      for s in seeds] for m in M])
    fit = fit_power_law(M, errs, n_boot=500)
    return RefinementResult("histories", M, errs.mean(axis=1),
                            observed_orders(M.astype(float) ** -1.0, errs.mean(axis=1)), fit)


def refine_time_stepping(problem: Problem, rtol: Sequence[float] = (1e-3, 1e-4, 1e-5, 1e-6), *,
                         n_times: int = 11,
                         grid: dict | None = None, method: str = "RK23") -> RefinementResult:
    r"""``solve_ivp`` (``method``) at decreasing tolerances against the exact spectral solution.

    The orders are those of the error against the tolerance (close to 1 when the
    integrator's error control is effective); a high-order method such as DOP853
    resolves these linear flows in a few steps at any tolerance.

    Each level integrates :math:`dh/dt = \alpha A W (g - h)` with
    ``rtol = r`` and ``atol = 1e-3 r`` on the exact histories; the error is
    :math:`\sup_t \|h^{(r)}_t - h_t\|_{L^2(\pi)}` against the eigendecomposition.

    Parameters
    ----------
    problem : Problem
        The problem whose limit is solved (finite chain: exact histories).
    rtol : sequence of float, default (1e-3, 1e-4, 1e-5, 1e-6)
        Relative tolerances of the integrator (sorted decreasing).
    n_times : int, default 11
        Points of the time grid :math:`\mathcal T` (equispaced in :math:`[0, T]`).
    grid : dict, optional
        Keyword arguments of :func:`~limitsolver.limit.parameter_grid`; default
        that of :func:`~limitsolver.limit.solve_limit` (64 Legendre nodes for
        ``w``, 16 for ``b``).
    method : str, default "RK23"
        Integration method of :func:`scipy.integrate.solve_ivp`.

    Returns
    -------
    RefinementResult
        ``parameter = "rtol"``; one level per tolerance, orders against ``rtol``.
    """
    from ..limit import IVPFlow, solve_limit

    t = _times(problem, n_times)
    exact = solve_limit(problem, histories="exact", times=t, grid=grid, error_estimate=False,
                        chunk_size=None)
    net = problem.network
    A = exact.feature_map.kernel(exact.training_features, exact.training_features)
    rtol = np.asarray(sorted(rtol, reverse=True), dtype=float)
    errors = []
    for r in rtol:
        flow = IVPFlow(A, exact.weights, net.alpha, rtol=float(r), atol=float(r) * 1e-3,
                       method=method)
        h, _ = flow.solve(exact.h0, exact.g, t)
        errors.append(_sup_l2(h, exact.h, exact.weights))
    errors = np.asarray(errors)
    return RefinementResult("rtol", rtol, errors, observed_orders(rtol, errors))
