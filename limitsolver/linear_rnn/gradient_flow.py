r"""Gradient flow of the white-noise loss and its plateaus (:ref:`theory §6 <theory-memory>`).

**Parametrisation.**  Scalar input (``d = 1``), diagonal ``W = -diag(lam)``, input
weights ``u`` and read-out ``c``:

.. math:: \hat\rho(s) = \sum_{i=1}^m c_i u_i e^{-\lambda_i s}, \qquad b_i = c_i u_i .

The trained parameters are ``p = (c, u, lam)`` (``factorised=True``, the RNN's own
``(c, W, U)``) or ``p = (b, lam)`` (``factorised=False``).  The flow is

.. math:: \dot p = -\nabla_p J(p), \qquad J = \tfrac12 \|\hat\rho - \rho\|^2_{L^2(0,\infty)},

with ``dJ/dc_i = u_i g_i``, ``dJ/du_i = c_i g_i``, ``g = G b - ell`` and
``dJ/dlam_k = b_k (T(lam_k) - sum_j b_j/(lam_k + lam_j)^2)`` (:mod:`.loss`).  It is
integrated by :func:`scipy.integrate.solve_ivp` with a stiff method (``"BDF"`` or
``"Radau"``; the Jacobian is formed by the solver by finite differences).  The
positivity of ``lam`` is kept by the loss itself (``J -> inf`` as ``lam_k -> 0`` with
``b_k != 0``); a terminal event stops the run if a rate drops below ``1e-8``.

**Plateaus.**  Along the flow ``dJ/dt = -|grad J|^2``, so the relative rate of decrease
``r(t) = -d log J / dt = |grad J|^2 / J`` is known exactly at every time.  A *plateau*
is a maximal time interval ``[t_a, t_b]`` with ``t >= t_min`` on which

* ``r(t) < rate_threshold * max_s r(s)`` (the loss is nearly stalled compared with its
  fastest decrease), and
* ``J(t) > loss_factor * J(t_end)`` (it stalls above the value it eventually reaches).

Intervals shorter than ``min_duration`` are discarded.  Rates are evaluated on the
solver's steps refined by its dense output; interval ends are located on that grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate

from .._random import as_generator
from ..errors import ConfigError, DimensionError, DivergenceError
from .loss import loss_and_gradient
from .targets import MemoryKernel

if TYPE_CHECKING:
    from .._random import SeedLike

__all__ = [
    "FlowSpec",
    "FlowResult",
    "Plateau",
    "initial_parameters",
    "gradient_flow",
    "detect_plateaus",
    "first_exit_time",
]


@dataclass(frozen=True)
class FlowSpec:
    """Specification of a gradient-flow run.

    Parameters
    ----------
    m : int, default 2
        Number of hidden units.
    init_scale : float, default 1e-2
        Standard deviation of the initial ``c`` and ``u`` (or ``b``): small initialisation.
    rate_range : tuple of float, default (0.5, 2.0)
        Initial rates are log-uniform on this interval ``[lo, hi]``, ``0 < lo <= hi``.
    t_max : float, default 1e5
        Final time of the flow (time is gradient-flow time, i.e. ``eta x`` SGD steps).
    factorised : bool, default True
        Train ``(c, u, lam)`` (True) or ``(b, lam)`` (False).
    method : {"BDF", "Radau"}, default "BDF"
        Stiff solver of :func:`scipy.integrate.solve_ivp`.
    rtol : float, default 1e-8
        Relative tolerance of the solver.
    atol : float, default 1e-10
        Absolute tolerance of the solver (multiplied by ``min(1, init_scale**2)``).
    refine : int, default 4
        Dense-output points inserted between consecutive solver steps.

    Raises
    ------
    ConfigError
        If ``m``, ``init_scale``, ``rate_range``, ``t_max`` or ``method`` is invalid.
    """

    m: int = 2
    init_scale: float = 1e-2
    rate_range: tuple[float, float] = (0.5, 2.0)
    t_max: float = 1e5
    factorised: bool = True
    method: str = "BDF"
    rtol: float = 1e-8
    atol: float = 1e-10
    refine: int = 4

    def __post_init__(self):
        if int(self.m) != self.m or self.m < 1:
            raise ConfigError(f"`m` must be a positive integer; got {self.m}.")
        if not self.init_scale > 0:
            raise ConfigError(f"`init_scale` must be positive; got {self.init_scale}.")
        lo, hi = self.rate_range
        if not 0 < lo <= hi:
            raise ConfigError(
                f"`rate_range` must satisfy 0 < lo <= hi; got {self.rate_range}."
            )
        if not self.t_max > 0:
            raise ConfigError(f"`t_max` must be positive; got {self.t_max}.")
        if self.method not in ("BDF", "Radau"):
            raise ConfigError(
                f"`method` must be a stiff solver, 'BDF' or 'Radau'; got {self.method!r}."
            )


@dataclass(frozen=True)
class Plateau:
    """A detected plateau ``[start, end]`` of the loss; ``loss`` is ``J`` at its midpoint.

    Parameters
    ----------
    start : float
        Flow time at which the plateau begins.
    end : float
        Flow time at which it ends.
    loss : float
        The loss ``J`` at (the grid point nearest after) the midpoint ``(start + end)/2``.
    """

    start: float
    end: float
    loss: float

    @property
    def duration(self) -> float:
        """``end - start``."""
        return self.end - self.start


def initial_parameters(spec: FlowSpec, seed: SeedLike) -> np.ndarray:
    """Draw the initial parameter vector ``p0`` for ``spec`` from a Generator built from ``seed``.

    ``c, u ~ N(0, init_scale^2)`` (or ``b``), ``log lam ~ U(log lo, log hi)`` sorted.
    Layout: ``(c, u, lam)`` or ``(b, lam)``.

    Parameters
    ----------
    spec : FlowSpec
        Gives ``m``, ``init_scale``, ``rate_range`` and ``factorised``.
    seed : int, SeedSequence or Generator
        Seed of the draw.

    Returns
    -------
    numpy.ndarray
        ``p0`` of length ``3 m`` (factorised) or ``2 m``.
    """
    rng = as_generator(seed, "seed")
    m = spec.m
    n_lin = 2 if spec.factorised else 1
    lin = spec.init_scale * rng.standard_normal(n_lin * m)
    lo, hi = spec.rate_range
    lam = np.sort(np.exp(rng.uniform(math.log(lo), math.log(hi), size=m)))
    return np.concatenate([lin, lam])


def _unpack(p, m, factorised):
    if factorised:
        c, u, lam = p[:m], p[m : 2 * m], p[2 * m :]
        return c, u, c * u, lam
    b, lam = p[:m], p[m:]
    return None, None, b, lam


def _loss_grad(p, loss_fn, m, factorised):
    c, u, b, lam = _unpack(p, m, factorised)
    J, g_b, g_lam = loss_fn(b, lam)
    if factorised:
        return J, np.concatenate([u * g_b, c * g_b, g_lam])
    return J, np.concatenate([g_b, g_lam])


@dataclass(frozen=True)
class FlowResult:
    """Result of :func:`gradient_flow`, on the refined solver time grid.

    Parameters
    ----------
    t : (n,) numpy.ndarray
        Flow times.
    params : numpy.ndarray
        Parameter vectors, shape ``(n, 3m)`` (``(c, u, lam)``) or ``(n, 2m)`` (``(b, lam)``).
    b : (n, m) numpy.ndarray
        Effective coefficients ``b = c u`` (or the trained ``b``).
    lam : (n, m) numpy.ndarray
        Rates.
    loss : (n,) numpy.ndarray
        ``J(t)``.
    rate : (n,) numpy.ndarray
        ``r(t) = |grad J|^2 / J = -d log J/dt`` (0 where ``J = 0``).
    status : int
        As :func:`scipy.integrate.solve_ivp`: 0 reached ``t_max``, 1 a rate fell below ``1e-8``.
    message : str
        The solver's message.
    success : bool
        Whether the solver succeeded.
    nfev : int
        Number of right-hand-side evaluations.
    njev : int
        Number of Jacobian evaluations.
    nlu : int
        Number of LU decompositions.
    spec : FlowSpec
        The specification of the run.
    target : MemoryKernel
        The target kernel ``rho``.
    """

    t: np.ndarray
    params: np.ndarray
    b: np.ndarray
    lam: np.ndarray
    loss: np.ndarray
    rate: np.ndarray
    status: int
    message: str
    success: bool
    nfev: int
    njev: int
    nlu: int
    spec: FlowSpec
    target: MemoryKernel = field(repr=False)

    def exit_time(self, delta: float) -> float:
        r"""First exit of the parameters from their start: :math:`\tau_0 = \inf\{t : |\theta_t - \theta_0| > \delta\}`.

        :math:`\theta` is the trained parameter vector (``params``: :math:`(c, u, \lambda)`,
        or :math:`(a, w) = (b, \lambda)` when not factorised), :math:`|\cdot|` the
        Euclidean norm; see :func:`first_exit_time`.

        Parameters
        ----------
        delta : float
            Radius :math:`\delta > 0`.

        Returns
        -------
        float
            :math:`\tau_0` (``inf`` if the run never leaves the ball).
        """
        return first_exit_time(self.t, self.params, delta)

    def loss_exit_time(self, delta: float) -> float:
        r"""First exit of the loss from its start: :math:`\tau_0' = \inf\{t : |J_t - J_0| > \delta\}`.

        Parameters
        ----------
        delta : float
            Threshold :math:`\delta > 0`.

        Returns
        -------
        float
            :math:`\tau_0'` (``inf`` if :math:`J` never moves by more than :math:`\delta`);
            see :func:`first_exit_time`.
        """
        return first_exit_time(self.t, self.loss, delta)

    def plateaus(
        self,
        rate_threshold: float = 0.05,
        loss_factor: float = 1.5,
        t_min: float = 0.0,
        min_duration: float = 0.0,
    ) -> list[Plateau]:
        """Plateaus of this run; see :func:`detect_plateaus`.

        Parameters
        ----------
        rate_threshold : float, default 0.05
            Stall threshold, relative to the fastest decrease ``max r``; in ``(0, 1)``.
        loss_factor : float, default 1.5
            A plateau must lie above ``loss_factor`` times the final loss; ``>= 1``.
        t_min : float, default 0.0
            Earlier times are ignored (e.g. the initial transient).
        min_duration : float, default 0.0
            Shorter intervals are discarded.

        Returns
        -------
        list of Plateau
            The plateaus of ``(t, loss, rate)``, in chronological order.
        """
        return detect_plateaus(
            self.t, self.loss, self.rate, rate_threshold, loss_factor, t_min, min_duration
        )


def detect_plateaus(
    t: ArrayLike,
    loss: ArrayLike,
    rate: ArrayLike,
    rate_threshold: float = 0.05,
    loss_factor: float = 1.5,
    t_min: float = 0.0,
    min_duration: float = 0.0,
) -> list[Plateau]:
    r"""Maximal intervals with ``rate < rate_threshold max(rate)``, ``loss > loss_factor loss[-1]``.

    A plateau is a maximal run of grid points with ``t >= t_min`` on which

    .. math:: r(t) < \theta \max_s r(s), \qquad J(t) > \kappa\, J(t_{\mathrm{end}}),

    where ``r = -d log J / dt``, ``theta = rate_threshold`` and ``kappa = loss_factor``.
    Intervals shorter than ``min_duration`` (or of a single point) are dropped.  Cost ``O(n)``.

    Parameters
    ----------
    t : (n,) array_like
        Increasing times.
    loss : (n,) array_like
        The loss ``J(t)``.
    rate : (n,) array_like
        The relative rate of decrease ``r(t) = |grad J|^2 / J``.
    rate_threshold : float, default 0.05
        Stall threshold, relative to the fastest decrease ``max r``; in ``(0, 1)``.
    loss_factor : float, default 1.5
        A plateau must lie above ``loss_factor`` times the final loss; ``>= 1``.
    t_min : float, default 0.0
        Earlier times are ignored (e.g. the initial transient).
    min_duration : float, default 0.0
        Shorter intervals are discarded.

    Returns
    -------
    list of Plateau
        The plateaus in chronological order.

    Raises
    ------
    DimensionError
        If the arrays are not 1-D of equal length.
    ConfigError
        If ``rate_threshold`` is not in ``(0, 1)`` or ``loss_factor < 1``.
    """
    t, loss, rate = (np.asarray(a, dtype=float) for a in (t, loss, rate))
    if not (t.shape == loss.shape == rate.shape) or t.ndim != 1:
        raise DimensionError("`t`, `loss` and `rate` must be 1-D arrays of the same length.")
    if not 0 < rate_threshold < 1:
        raise ConfigError(f"`rate_threshold` must lie in (0, 1); got {rate_threshold}.")
    if not loss_factor >= 1:
        raise ConfigError(f"`loss_factor` must be >= 1; got {loss_factor}.")
    flag = (t >= t_min) & (rate < rate_threshold * rate.max()) & (loss > loss_factor * loss[-1])
    out = []
    i, n = 0, len(t)
    while i < n:
        if flag[i]:
            j = i
            while j + 1 < n and flag[j + 1]:
                j += 1
            if t[j] - t[i] >= min_duration and j > i:
                mid = np.searchsorted(t, 0.5 * (t[i] + t[j]))
                out.append(Plateau(float(t[i]), float(t[j]), float(loss[min(mid, n - 1)])))
            i = j + 1
        else:
            i += 1
    return out


def first_exit_time(t: ArrayLike, values: ArrayLike, delta: float) -> float:
    r"""First time the values leave the ball of radius ``delta`` around their start.

    .. math:: \tau = \inf\{t : |v_t - v_0| > \delta\},

    with :math:`|\cdot|` the Euclidean norm over the last axis (the absolute value for
    scalars). Between grid points the distance :math:`|v_t - v_0|` is interpolated
    linearly, so :math:`\tau` is where the piecewise-linear distance first exceeds
    :math:`\delta` (exact for values linear in :math:`t` between grid points; on the
    refined grid of a flow the error is of the order of the squared step). Cost
    :math:`O(n)`.

    Parameters
    ----------
    t : (n,) array_like
        Increasing times.
    values : (n,) or (n, k) array_like
        The trajectory :math:`v_t` (e.g. a flow's ``loss`` or ``params``).
    delta : float
        Radius :math:`\delta > 0`.

    Returns
    -------
    float
        :math:`\tau`; ``inf`` if the distance never exceeds :math:`\delta` on the grid.

    Raises
    ------
    DimensionError
        If ``values`` does not have one row per time.
    ConfigError
        If ``delta`` is not positive and finite.
    """
    t = np.asarray(t, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.ndim != 1 or v.ndim not in (1, 2) or v.shape[0] != t.size:
        raise DimensionError(
            f"`values` must have one row per time, shape ({t.size},) or ({t.size}, k); "
            f"got {v.shape}."
        )
    if not (delta > 0 and math.isfinite(delta)):
        raise ConfigError(f"`delta` must be positive and finite; got {delta}.")
    d = v - v[0]
    dist = np.abs(d) if d.ndim == 1 else np.sqrt(np.sum(d * d, axis=1))
    out = np.flatnonzero(dist > delta)
    if out.size == 0:
        return math.inf
    k = int(out[0])  # k >= 1 since dist[0] = 0
    return float(t[k - 1] + (delta - dist[k - 1]) / (dist[k] - dist[k - 1]) * (t[k] - t[k - 1]))


def gradient_flow(
    target: MemoryKernel, spec: FlowSpec = FlowSpec(), seed: SeedLike = 0,
    p0: ArrayLike | None = None, loss_fn: Callable | None = None, t_eval: ArrayLike | None = None
) -> FlowResult:
    r"""Integrate ``dp/dt = -grad J(p)`` from a small initialisation with a stiff solver.

    .. math:: \dot p = -\nabla_p J(p), \qquad
        J = \tfrac12 \|\hat\rho - \rho\|^2_{L^2(0,\infty)},

    with ``p = (c, u, lam)`` or ``(b, lam)`` (see the module docstring).

    Parameters
    ----------
    target : MemoryKernel
        The kernel ``rho``.
    spec : FlowSpec, default FlowSpec()
        Size, initialisation, final time and solver settings.
    seed : int, SeedSequence or Generator, default 0
        Seeds :func:`initial_parameters` (ignored if ``p0`` is given).
    p0 : array_like or None, default None
        Explicit initial parameter vector (layout of :func:`initial_parameters`).
    loss_fn : callable or None, default None
        ``(b, lam) -> (J, dJ/db, dJ/dlam)``; default the white-noise loss
        :func:`~limitsolver.linear_rnn.loss.loss_and_gradient` against ``target`` (the
        SGD comparison passes the expected loss of its discretised input here).
    t_eval : array_like or None, default None
        If given, report the solution at these times (from the solver's dense output)
        instead of on the refined step grid.

    Returns
    -------
    FlowResult
        Times, parameters, loss ``J(t)``, rate ``r(t)`` and solver diagnostics.

    Raises
    ------
    DivergenceError
        If the solver fails or the loss becomes non-finite.
    DimensionError
        If ``p0`` has the wrong length.
    ConfigError
        If ``t_eval`` leaves the integrated span.
    """
    m, fac = spec.m, spec.factorised
    if loss_fn is None:

        def loss_fn(b, lam):
            return loss_and_gradient(b, lam, target)

    p0 = initial_parameters(spec, seed) if p0 is None else np.asarray(p0, dtype=float)
    if p0.shape != ((3 if fac else 2) * m,):
        raise DimensionError(f"`p0` must have length {(3 if fac else 2) * m}; got {p0.shape}.")

    def rhs(_t, p):
        return -_loss_grad(p, loss_fn, m, fac)[1]

    def low_rate(_t, p):
        return np.min(p[-m:]) - 1e-8

    low_rate.terminal = True
    atol = spec.atol * min(1.0, spec.init_scale**2)
    sol = integrate.solve_ivp(
        rhs,
        (0.0, spec.t_max),
        p0,
        method=spec.method,
        rtol=spec.rtol,
        atol=atol,
        dense_output=True,
        events=low_rate,
    )
    if sol.status == -1:
        raise DivergenceError(f"The gradient flow failed: {sol.message}")
    ts = sol.t
    if t_eval is not None:
        t = np.asarray(t_eval, dtype=float)
        if np.any(t < 0) or np.any(t > ts[-1]):
            raise ConfigError(
                f"`t_eval` must lie within [0, {ts[-1]:.6g}] (the integrated span)."
            )
        P = sol.sol(t).T
    elif spec.refine > 0 and len(ts) > 1:
        frac = np.arange(spec.refine + 1) / (spec.refine + 1)
        t = np.append((ts[:-1, None] + np.diff(ts)[:, None] * frac[None, :]).ravel(), ts[-1])
        P = sol.sol(t).T
        P[np.searchsorted(t, ts)] = sol.y.T
    else:
        t, P = ts, sol.y.T
    loss = np.empty(len(t))
    rate = np.empty(len(t))
    for k, p in enumerate(P):
        J, g = _loss_grad(p, loss_fn, m, fac)
        loss[k] = J
        rate[k] = float(g @ g) / J if J > 0 else 0.0
    if not np.all(np.isfinite(loss)):
        bad = int(np.argmax(~np.isfinite(loss)))
        raise DivergenceError(f"The loss became non-finite at t = {t[bad]:.4g}.", step=bad)
    _, _, b, lam = _unpack(P.T, m, fac)
    return FlowResult(
        t,
        P,
        b.T,
        lam.T,
        loss,
        rate,
        int(sol.status),
        str(sol.message),
        bool(sol.success),
        int(sol.nfev),
        int(sol.njev),
        int(sol.nlu),
        spec,
        target,
    )
