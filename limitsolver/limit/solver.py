r"""Solve the kernel limit of :ref:`theory §3 <theory-limit>` with the discretisation of §4.

:func:`solve_limit` walks the data path once:

1. histories :math:`\{(\xi_i,\omega_i)\}` (exact for finite chains, or Monte Carlo),
2. the parameter rule :math:`\{(\theta_g, q_g)\}` replacing :math:`\mu_0`,
3. the features :math:`\varphi,\psi,\chi` on histories × nodes,
4. the kernel :math:`A` (or its thin factor) and the initial output :math:`h_0`,
5. the exact solution of :math:`\dot h = \alpha A W(g - h)` at all times,

and returns a :class:`~limitsolver.limit.solution.LimitSolution` carrying the
discretisation parameters with their error estimates: the memory truncation bound
:math:`\gamma^{L-1}\sup|\sigma|`, a quadrature refinement estimate (the same solve
with ``grid.refined()``) and, for sampled histories, Monte Carlo standard errors.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._random import spawn_generators
from ..budget import memory_budget as budget_bytes
from ..errors import ConfigError, DimensionError, DiscretisationError, DivergenceError
from ..histories import Histories, exact_histories, sample_histories
from ..progress import PHASES
from ..progress import progress as progress_bar
from .feature_map import FeatureMap
from .hidden_layer import truncation_bound
from .ode import ExponentialFlow, IVPFlow, LimitFlow, SymmetricFlow, check_times
from .quadrature import QuadratureRule, parameter_grid
from .solution import LimitSolution
from .streaming import (
    FactorChunks,
    StreamedFlow,
    check_chunk_size,
    check_streamable,
    chunk_rows,
    in_memory_bytes,
)

if TYPE_CHECKING:
    from .._random import SeedLike
    from ..limit.hidden_layer import Features
    from ..problem import Problem

__all__ = ["solve_limit", "build_flow", "LIMIT_METHODS", "MIN_ESTIMABLE_GRID", "STREAM_FROM"]

#: Solution routes of :func:`solve_limit`.
LIMIT_METHODS = ("spectral", "dense", "lowrank", "ivp")


def _histories(problem, spec, rng, fmap: FeatureMap, memory_budget=None
               ) -> tuple[Histories, str]:
    depth = fmap.depth
    if isinstance(spec, str):
        if spec != "exact":
            raise ConfigError(
                f"`histories` must be 'exact', a number of samples, a Histories or an array; "
                f"got {spec!r}."
            )
        return exact_histories(problem.chain, depth), "exact"
    if isinstance(spec, Histories):
        return fmap.check(spec), "given"
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if rng is None:
            raise ConfigError(
                "`seed` is required to sample histories; pass e.g. `seed=0` or `histories='exact'`."
            )
        fmap.check_size(int(spec), depth, features=False, memory_budget=memory_budget)
        return sample_histories(problem.chain, depth, int(spec), rng), "sampled"
    if isinstance(spec, np.ndarray):
        return fmap.check(Histories.from_array(spec)), "given"
    raise ConfigError(
        "`histories` must be 'exact', an integer number of Monte Carlo histories, a Histories "
        f"or an (M, L, d) array; got {type(spec).__name__}."
    )


def _grid(problem, spec, rng) -> QuadratureRule:
    prior = problem.network.prior
    d = problem.dim
    if spec is None:
        return parameter_grid(prior, d, n_w=64, n_b=16, kind="legendre")
    if isinstance(spec, dict):
        kwargs = dict(spec)
        if kwargs.get("kind") == "sobol" and kwargs.get("rng") is None:
            if rng is None:
                raise ConfigError("`seed` is required for a Sobol `grid`; pass e.g. `seed=0`.")
            kwargs["rng"] = rng
        return parameter_grid(prior, d, **kwargs)
    if isinstance(spec, QuadratureRule):
        if spec.dim != d:
            raise DimensionError(f"`grid` has w of dimension {spec.dim}, the chain {d}.")
        gp = spec.prior
        if gp.sigma_w != prior.sigma_w or gp.b_max != prior.b_max:
            raise ConfigError(
                f"`grid` discretises a prior with sigma_w={gp.sigma_w:g}, b_max={gp.b_max:g} but "
                f"the network's has sigma_w={prior.sigma_w:g}, b_max={prior.b_max:g}; build it "
                "with parameter_grid(problem.network.prior, ...)."
            )
        return spec
    raise ConfigError(
        f"`grid` must be None, a dict of parameter_grid options or a QuadratureRule; got "
        f"{type(spec).__name__}."
    )


#: Fewest sampled or given histories solved in chunks by default (``chunk_size="auto"``);
#: exact histories share their suffixes, which only the in-memory route exploits.
STREAM_FROM = 8192

#: Smallest grids whose refinement estimate of the quadrature error is trusted: below
#: these the grid and its refinement can agree while both are far from the limit (a 1 x 1
#: Legendre grid reports 2e-4 for an error of 0.1 in the default problem).
MIN_ESTIMABLE_GRID = {"n_w": 4, "n_b": 2, "sobol": 16}


def _check_estimable(rule: QuadratureRule) -> None:
    if rule.kind == "sobol":
        if rule.G < MIN_ESTIMABLE_GRID["sobol"]:
            raise DiscretisationError(
                f"`grid` has {rule.G} Sobol points; its refinement estimate of the quadrature "
                f"error is only reliable from {MIN_ESTIMABLE_GRID['sobol']} points: use a finer "
                "grid or error_estimate=False."
            )
        return
    small_b = rule.prior.b_max > 0 and rule.n_b < MIN_ESTIMABLE_GRID["n_b"]
    if rule.n_w < MIN_ESTIMABLE_GRID["n_w"] or small_b:
        raise DiscretisationError(
            f"`grid` has n_w = {rule.n_w} nodes per w axis and n_b = {rule.n_b} for b; the "
            "refinement estimate of the quadrature error is only reliable from n_w >= "
            f"{MIN_ESTIMABLE_GRID['n_w']} and n_b >= {MIN_ESTIMABLE_GRID['n_b']} (coarser grids "
            "agree with their refinement while both are far from the limit): use a finer grid "
            "or error_estimate=False."
        )


def _initial_kind(problem, h0, rng) -> str | None:
    """``"zero"`` or ``"gp"`` for a named initial output ("auto" resolved), None otherwise."""
    if not isinstance(h0, str):
        return None
    net = problem.network
    if h0 == "auto":
        h0 = "zero" if (net.prior.doubled or net.beta > 0.5) else "gp"
    if h0 == "gp" and rng is None:
        raise ConfigError(
            "`seed` is required for a Gaussian-process initial output (h0='gp', the "
            "default at beta = 1/2 without doubling); pass e.g. `seed=0`, or h0='zero'."
        )
    if h0 not in ("zero", "gp"):
        raise ConfigError(f"`h0` must be 'auto', 'zero', 'gp', an array or a callable; got {h0!r}.")
    return h0


def _initial(problem, h0, hist: Histories, draw_gp: Callable[[], np.ndarray] | None, rng
             ) -> tuple[np.ndarray, str, Callable | None]:
    kind = _initial_kind(problem, h0, rng)
    if kind == "zero":
        return np.zeros(hist.M), "zero", None
    if kind == "gp":
        return draw_gp(), "gp", None
    fn = None
    kind = "array"
    if callable(h0):
        fn, kind = h0, "callable"
        h0 = fn(hist.values)
    h0 = np.asarray(h0, dtype=float)
    if h0.shape != (hist.M,):
        raise DimensionError(f"`h0` must have shape ({hist.M},) (one value per history), "
                             f"got {h0.shape}.")
    if not np.all(np.isfinite(h0)):
        raise DivergenceError("`h0` contains NaN or infinite values.")
    return h0, kind, fn


def build_flow(method: str, feature_map: FeatureMap, features: Features, weights: ArrayLike,
               alpha: float) -> LimitFlow:
    r"""The flow of :math:`\dot h = \alpha AW(g - h)` on training histories, by route.

    Parameters
    ----------
    method : {"spectral", "factor", "dense", "lowrank", "ivp"}
        ``"spectral"`` picks the cheapest exact route: rtrl, the thin SVD of the
        factor (``"factor"``) when :math:`r = (d+2)G < M`, the dense eigendecomposition
        otherwise; truncated, the :math:`r\times r` exponential (``"lowrank"``) when
        :math:`r < M`, the dense exponential otherwise. ``"dense"`` always builds the
        :math:`M\times M` kernel; ``"ivp"`` steps it with ``solve_ivp``.
    feature_map : FeatureMap
        Supplies the kernel, its factors and the gradient mode.
    features : Features
        Features at the training histories (with :math:`\chi` in truncated mode).
    weights : array_like, shape (M,)
        History weights :math:`\omega`.
    alpha : float
        :math:`\alpha > 0`.

    Returns
    -------
    LimitFlow
        A :class:`SymmetricFlow`, :class:`ExponentialFlow` or :class:`IVPFlow`.

    Raises
    ------
    ConfigError
        If ``method`` is unknown.
    """
    if method not in LIMIT_METHODS + ("factor",):
        raise ConfigError(f"`method` must be one of {LIMIT_METHODS}, got {method!r}.")
    mode = feature_map.gradient
    M = np.shape(weights)[0]
    r = feature_map.r
    if method == "spectral":
        method = "factor" if r < M else "dense"
        if mode == "truncated":
            method = "lowrank" if r < M else "dense"
    if method == "factor":
        return SymmetricFlow.from_factor(feature_map.factor(features, slot="eval"), weights,
                                         alpha)
    if method == "lowrank":
        U, V = feature_map.factors(features, features, weights=weights)
        return ExponentialFlow.from_factors(U, V, weights, alpha)
    A = feature_map.kernel(features, features)
    if method == "ivp":
        return IVPFlow(A, weights, alpha)
    if mode == "rtrl":
        return SymmetricFlow.from_kernel(A, weights, alpha)
    return ExponentialFlow.from_kernel(A, weights, alpha)


def solve_limit(
    problem: Problem,
    *,
    histories: Histories | int | str | np.ndarray = "exact",
    times: ArrayLike | None = None,
    grid: QuadratureRule | dict | None = None,
    h0: str | np.ndarray | Callable = "auto",
    seed: SeedLike | None = None,
    method: str = "spectral",
    error_estimate: bool = True,
    progress: bool | None = None,
    chunk_size: int | Literal["auto"] | None = "auto",
    memory_budget: float | str | None = None,
) -> LimitSolution:
    r"""Solve :math:`\partial_t h_t = \alpha\int A(\cdot,\xi')(g - h_t)(\xi')\,\pi(d\xi')` on histories.

    Parameters
    ----------
    problem : Problem
        Chain, target, network (activation, prior, :math:`\alpha`, gradient mode,
        memory tolerance) and horizon :math:`T`.
    histories : "exact", int, Histories or ndarray
        ``"exact"``: all windows of depth ``problem.depth`` of a finite chain with
        their stationary probabilities; an integer ``n``: ``n`` independent
        stationary windows (needs ``seed``); or given histories of depth at
        least ``problem.depth``.
    times : array_like, optional
        Sorted non-negative times; default ``linspace(0, T, 201)``. A trailing
        ``np.inf`` gives the long-time limit :math:`h_\infty` (in rtrl mode the
        :math:`W`-orthogonal projection of the residual off the kernel's range).
    grid : QuadratureRule or dict, optional
        Parameter rule, or options of
        :func:`~limitsolver.limit.quadrature.parameter_grid`; default
        ``parameter_grid(prior, d, n_w=64, n_b=16, kind="legendre")``.
    h0 : "auto", "zero", "gp", ndarray or callable
        Initial output on the histories. ``"auto"`` is ``"zero"`` with doubled
        initialisation or :math:`\beta > 1/2` and ``"gp"`` otherwise; ``"gp"``
        draws :math:`h_0 = \sqrt{\mathbb E c^2}\,\Phi Q^{1/2} z`,
        :math:`z\sim N(0, I_G)`, which has covariance exactly :math:`\Sigma` (needs
        ``seed``). An array gives :math:`h_0(\xi_i)` (e.g. a finite network's
        initial output); a callable is applied to ``histories.values``.
    seed : int, SeedSequence or Generator, optional
        Source of the Monte Carlo histories, the Gaussian-process sample and
        Sobol scrambling (independent streams spawned from it).
    method : {"spectral", "dense", "lowrank", "ivp"}
        ``"spectral"``: exact, cheapest representation (rtrl: eigen-decomposition
        of :math:`W^{1/2}AW^{1/2}` through the thin SVD of the factor when
        :math:`r = (d+2)G < M`, dense otherwise; truncated: matrix exponential of
        the smaller of :math:`V^\top U` and :math:`AW`). ``"dense"``: always the
        :math:`M\times M` route. ``"lowrank"``: always the :math:`r\times r`
        route. ``"ivp"``: ``solve_ivp`` (rtol 1e-10, atol 1e-12), the cross-check.
    error_estimate : bool
        Also solve with ``grid.refined()`` and report the difference (about
        doubles the cost per axis refined). Refused on grids below
        :data:`MIN_ESTIMABLE_GRID` (``n_w < 4``, ``n_b < 2``, fewer than 16 Sobol
        points), where the estimate is not reliable.
    progress : bool, optional
        Show a bar over the phases (None: only on a terminal).
    chunk_size : int, "auto" or None
        An integer: solve in chunks of this many histories
        (:mod:`limitsolver.limit.streaming`): the features and the factor are never
        held, only :math:`r\times r` Gram matrices, in two passes over the histories.
        ``None``: in memory (refused beyond ``memory_budget``). ``"auto"`` (default):
        in chunks sized from the budget (:func:`~limitsolver.limit.streaming.chunk_rows`)
        when the in-memory features and factors would exceed it
        (:func:`~limitsolver.limit.streaming.in_memory_bytes`), or for sampled or given
        histories with :math:`M \ge` :data:`STREAM_FROM` and :math:`r < M` (there the
        Gram route is 1.1-7 times faster than the thin SVD); in memory otherwise. Solutions
        in chunks agree with in-memory ones to rounding and answer the same queries
        except those that need the training features (``training_features`` is None,
        e.g. :func:`~limitsolver.limit.fluctuations.predict_fluctuations`).
    memory_budget : float or str, optional
        Bytes the solve may hold (e.g. ``"8GiB"``; default
        :func:`limitsolver.budget.memory_budget`).

    Returns
    -------
    LimitSolution

    Raises
    ------
    DiscretisationError
        Histories shorter than ``problem.depth``; a non-PSD rtrl kernel; a grid too
        coarse for ``error_estimate``; histories, grid or features beyond the memory or
        work budget (:mod:`limitsolver.budget`).
    ConfigError
        Unknown options, or a random choice requested without ``seed``.
    DivergenceError
        NaN or infinite values in the solution.

    Notes
    -----
    Cost with :math:`r = (d+2)G`: features :math:`O(MGLd)`; spectral route
    :math:`O(Mr^2 + n_t(M + r)r)` when :math:`r < M`; dense route
    :math:`O(M^2 r + M^3 + n_t M^2)`. In chunks: twice the features,
    :math:`O(Mr^2 + r^3 + n_t M r)`, memory :math:`O(n_t M + m r + r^2)` for chunks of
    :math:`m` histories.
    """
    if method not in LIMIT_METHODS:
        raise ConfigError(f"`method` must be one of {LIMIT_METHODS}, got {method!r}.")
    check_chunk_size(chunk_size)
    budget_bytes(memory_budget)  # a bad budget is named before any work
    t = np.linspace(0.0, float(problem.horizon), 201) if times is None else check_times(times)
    if seed is None:
        rng_hist = rng_h0 = rng_grid = None
    else:
        rng_hist, rng_h0, rng_grid = spawn_generators(seed, 3, name="seed")
    timing: dict[str, float] = {}
    n_phases = 5 + (1 if error_estimate else 0)
    bar = progress_bar(total=n_phases, desc="limit solve", show=progress, unit="phases",
                       bar_format=PHASES)
    try:
        with _phase(bar, timing, "histories", "histories"):
            rule = _grid(problem, grid, rng_grid)
            if error_estimate:
                _check_estimable(rule)
            fmap = FeatureMap.from_problem(problem, rule)
            hist, hist_kind = _histories(problem, histories, rng_hist, fmap, memory_budget)
            g = np.asarray(problem.target(hist.values), dtype=float).reshape(-1)
            if g.shape != (hist.M,) or not np.all(np.isfinite(g)):
                raise DivergenceError("the target must give one finite value per history.")
        if _in_chunks(chunk_size, fmap, hist, hist_kind, memory_budget):
            rows = (chunk_size if chunk_size != "auto"
                    else chunk_rows(fmap, hist.M, budget=memory_budget))
            solved = _solve_streamed(problem, fmap, hist, g, t, h0, rng_h0, method, rows,
                                     memory_budget, error_estimate, bar, timing)
        else:
            solved = _solve_in_memory(problem, fmap, hist, g, t, h0, rng_h0, method,
                                      memory_budget, error_estimate, bar, timing)
    finally:
        bar.close()
    return _solution(problem, rule, fmap, hist, hist_kind, g, t, solved, method, timing)


def _monte_carlo_se(g, h, loss, om) -> tuple[float, float]:
    r"""Largest standard errors over the times of :math:`h_t` (residual mean) and :math:`L_t`."""
    M = om.shape[0]
    res = g[None, :] - h
    mean = res @ om
    var = ((res - mean[:, None]) ** 2) @ om
    half = 0.5 * res**2
    var_l = ((half - loss[:, None]) ** 2) @ om
    return float(np.max(np.sqrt(var / M))), float(np.max(np.sqrt(var_l / M)))


@contextlib.contextmanager
def _phase(bar, timing: dict, key: str, label: str, steps: int = 1):
    """One phase of the solve: named on the bar, timed into ``timing[key]``, ``steps`` done."""
    t0 = time.perf_counter()
    bar.set_postfix_str(label)
    yield
    timing[key] = time.perf_counter() - t0
    bar.update(steps)


class _Solved(NamedTuple):
    h: np.ndarray
    loss: np.ndarray
    h0: np.ndarray
    h0_kind: str
    h0_fn: Callable | None
    flow: LimitFlow
    features: Features | None
    quadrature_error: float | None


def _in_chunks(chunk_size, fmap: FeatureMap, hist: Histories, hist_kind: str,
               memory_budget) -> bool:
    """Whether the solve runs in chunks of histories (see ``chunk_size`` of :func:`solve_limit`)."""
    if chunk_size != "auto":
        return chunk_size is not None
    if in_memory_bytes(fmap, hist.M) > budget_bytes(memory_budget):
        return True
    return hist_kind != "exact" and hist.M >= STREAM_FROM and fmap.r < hist.M


def _solve_in_memory(problem, fmap, hist, g, t, h0, rng_h0, method, memory_budget,
                     error_estimate, bar, timing):
    """Features held at once; the route of :func:`build_flow`."""
    net = problem.network
    with _phase(bar, timing, "features", f"features of {hist.M} histories x {fmap.rule.G} nodes"):
        feat = fmap.features(hist, memory_budget=memory_budget)
        h0v, h0_kind, h0_fn = _initial(problem, h0, hist,
                                       lambda: fmap.sample_initial_output(feat, rng_h0), rng_h0)

    with _phase(bar, timing, "kernel_and_decomposition", "kernel and its decomposition", steps=2):
        flow = build_flow(method, fmap, feat, hist.weights, net.alpha)

    with _phase(bar, timing, "times", f"h_t at {t.size} times"):
        h, loss = flow.solve(h0v, g, t)

    quad_err = None
    if error_estimate:
        with _phase(bar, timing, "refinement", "refined grid (error estimate)"):
            fine = fmap.refined()
            h_f, _ = build_flow(method, fine, fine.features(hist, memory_budget=memory_budget),
                                hist.weights,
                                net.alpha).solve(h0v, g, t)
            quad_err = float(np.max(np.sqrt((h - h_f) ** 2 @ hist.weights)))
    return _Solved(h, loss, h0v, h0_kind, h0_fn, flow, feat, quad_err)


def _solve_streamed(problem, fmap, hist, g, t, h0, rng_h0, method, rows, memory_budget,
                    error_estimate, bar, timing):
    """Chunks of histories: Gram matrices, two passes (:mod:`limitsolver.limit.streaming`)."""
    net = problem.network
    check_streamable(method, hist.M, t.size, fmap, rows, memory_budget)
    chunks = FactorChunks(fmap, hist, rows)
    n_chunks = len(range(0, hist.M, chunks.rows))
    kind = _initial_kind(problem, h0, rng_h0)
    if kind == "gp":
        z = rng_h0.standard_normal(fmap.rule.G)  # the draw of FeatureMap.sample_initial_output
        sc = np.sqrt(fmap.c2)
        h0v, h0_kind, h0_fn = np.empty(hist.M), "gp", None
    else:
        h0v, h0_kind, h0_fn = _initial(problem, h0, hist, None, rng_h0)

    def residual(sl, F):
        if kind == "gp":  # sqrt(E c^2) Phi Q^1/2 z; F[:, :G] = Phi Q^1/2
            h0v[sl] = sc * (F[:, :fmap.rule.G] @ z)
        return g[sl] - h0v[sl]

    with _phase(bar, timing, "features_and_gram", f"factor rows and Gram matrix of {hist.M} histories in {n_chunks} chunks", steps=3):
        flow = StreamedFlow.build(chunks, hist.weights, net.alpha, residual)

    with _phase(bar, timing, "times", f"h_t at {t.size} times, second pass over {n_chunks} chunks"):
        h, loss = flow.solve(h0v, g, t)

    quad_err = None
    if error_estimate:
        with _phase(bar, timing, "refinement", "refined grid (error estimate), in chunks"):
            fine = fmap.refined()
            rows_f = max(1, rows * fmap.r // fine.r)
            check_streamable(method, hist.M, t.size, fine, rows_f, memory_budget)
            r0 = g - h0v
            fine_flow = StreamedFlow.build(FactorChunks(fine, hist, rows_f), hist.weights, net.alpha,
                                           lambda sl, F: r0[sl])
            h_f, _ = fine_flow.solve(h0v, g, t)
            step = max(1, int(2**24 // hist.M))  # a few times at a time: no (n_t, M) temporaries
            quad_err = max(float(np.max(np.sqrt((h[k:k + step] - h_f[k:k + step]) ** 2
                                                @ hist.weights))) for k in range(0, t.size, step))
            del h_f
    return _Solved(h, loss, h0v, h0_kind, h0_fn, flow, None, quad_err)


def _solution(problem, rule, fmap, hist, hist_kind, g, t, solved: _Solved, method, timing
              ) -> LimitSolution:
    net = problem.network
    act = net.activation
    h, loss, h0v, h0_kind, h0_fn, flow, feat, quad_err = solved
    disc = {
        "grid_kind": rule.kind,
        "grid_shape": rule.shape,
        "G": rule.G,
        "depth": hist.depth,
        "M": hist.M,
        "histories": hist_kind,
        "memory_truncation_bound": truncation_bound(act, net.prior.b_max, hist.depth),
        "quadrature_error": quad_err,
        "monte_carlo_se": None,
        "monte_carlo_se_loss": None,
    }
    if hist_kind == "sampled":
        # in memory all times at once; in chunks a few times at a time (no (n_t, M) temporaries)
        step = t.size if feat is not None else max(1, int(2**24 // max(hist.M, 1)))
        se, se_loss = 0.0, 0.0
        for k in range(0, t.size, step):
            a, b = _monte_carlo_se(g, h[k:k + step], loss[k:k + step], hist.weights)
            se, se_loss = max(se, a), max(se_loss, b)
        disc["monte_carlo_se"], disc["monte_carlo_se_loss"] = se, se_loss
    diag = dict(flow.diagnostics)
    diag["timing"] = timing
    diag["mode"] = net.gradient
    return LimitSolution(
        times=t, h=h, loss=loss, g=g, h0=h0v, h0_kind=h0_kind, histories=hist, grid=rule,
        problem=problem, method=method, discretisation=disc, diagnostics=diag, flow=flow,
        feature_map=fmap, training_features=feat, _h0_fn=h0_fn,
    )
