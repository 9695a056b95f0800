r"""Gradient flow of the white-noise loss and its plateaus (``THEORY.md`` §6).

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
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate

from .._random import as_generator
from ..errors import DivergenceError, LimitSolverError
from .loss import loss_and_gradient
from .targets import Target

__all__ = [
    "FlowSpec",
    "FlowResult",
    "Plateau",
    "initial_parameters",
    "gradient_flow",
    "detect_plateaus",
]


@dataclass(frozen=True)
class FlowSpec:
    """Specification of a gradient-flow run.

    Attributes
    ----------
    m : number of hidden units.
    init_scale : standard deviation of the initial ``c`` and ``u`` (or ``b``): small
        initialisation.
    rate_range : initial rates are log-uniform on this interval.
    t_max : final time of the flow (time is gradient-flow time, i.e. ``eta x`` SGD steps).
    factorised : train ``(c, u, lam)`` (True) or ``(b, lam)`` (False).
    method : ``"BDF"`` or ``"Radau"``.
    rtol, atol : solver tolerances (``atol`` is scaled by ``init_scale**2``).
    refine : dense-output points inserted between consecutive solver steps.
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
            raise LimitSolverError(f"`m` must be a positive integer; got {self.m}.")
        if not self.init_scale > 0:
            raise LimitSolverError(f"`init_scale` must be positive; got {self.init_scale}.")
        lo, hi = self.rate_range
        if not 0 < lo <= hi:
            raise LimitSolverError(
                f"`rate_range` must satisfy 0 < lo <= hi; got {self.rate_range}."
            )
        if not self.t_max > 0:
            raise LimitSolverError(f"`t_max` must be positive; got {self.t_max}.")
        if self.method not in ("BDF", "Radau"):
            raise LimitSolverError(
                f"`method` must be a stiff solver, 'BDF' or 'Radau'; got {self.method!r}."
            )


@dataclass(frozen=True)
class Plateau:
    """A detected plateau ``[start, end]`` of the loss; ``loss`` is ``J`` at its midpoint."""

    start: float
    end: float
    loss: float

    @property
    def duration(self) -> float:
        """``end - start``."""
        return self.end - self.start


def initial_parameters(spec: FlowSpec, seed) -> np.ndarray:
    """Draw the initial parameter vector ``p0`` for ``spec`` from a Generator built from ``seed``.

    ``c, u ~ N(0, init_scale^2)`` (or ``b``), ``log lam ~ U(log lo, log hi)`` sorted.
    Layout: ``(c, u, lam)`` or ``(b, lam)``.
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

    Attributes
    ----------
    t : times, shape ``(n,)``.
    params : parameter vectors, shape ``(n, 3m)`` (``(c, u, lam)``) or ``(n, 2m)`` (``(b, lam)``).
    b, lam : effective coefficients ``c u`` (or ``b``) and rates, shape ``(n, m)``.
    loss : ``J(t)``.
    rate : ``r(t) = |grad J|^2 / J = -d log J/dt``.
    status, message, success : as :func:`scipy.integrate.solve_ivp` (``status = 1`` when a
        rate fell below ``1e-8``).
    nfev, njev, nlu : solver counters.
    spec, target : what produced the run.
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
    target: Target = field(repr=False)

    def plateaus(
        self,
        rate_threshold: float = 0.05,
        loss_factor: float = 1.5,
        t_min: float = 0.0,
        min_duration: float = 0.0,
    ) -> list[Plateau]:
        """Plateaus of this run; see :func:`detect_plateaus`."""
        return detect_plateaus(
            self.t, self.loss, self.rate, rate_threshold, loss_factor, t_min, min_duration
        )


def detect_plateaus(
    t,
    loss,
    rate,
    rate_threshold: float = 0.05,
    loss_factor: float = 1.5,
    t_min: float = 0.0,
    min_duration: float = 0.0,
) -> list[Plateau]:
    """Maximal intervals with ``rate < rate_threshold max(rate)``, ``loss > loss_factor loss[-1]``.

    Only times ``t >= t_min`` are considered; intervals shorter than ``min_duration`` are
    dropped.  Returns a list of :class:`Plateau` in chronological order.
    """
    t, loss, rate = (np.asarray(a, dtype=float) for a in (t, loss, rate))
    if not (t.shape == loss.shape == rate.shape) or t.ndim != 1:
        raise LimitSolverError("`t`, `loss` and `rate` must be 1-D arrays of the same length.")
    if not 0 < rate_threshold < 1:
        raise LimitSolverError(f"`rate_threshold` must lie in (0, 1); got {rate_threshold}.")
    if not loss_factor >= 1:
        raise LimitSolverError(f"`loss_factor` must be >= 1; got {loss_factor}.")
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


def gradient_flow(
    target: Target, spec: FlowSpec = FlowSpec(), seed=0, p0=None, loss_fn=None, t_eval=None
) -> FlowResult:
    """Integrate ``dp/dt = -grad J(p)`` from a small initialisation with a stiff solver.

    Parameters
    ----------
    target : the kernel ``rho``.
    spec : :class:`FlowSpec`.
    seed : seeds :func:`initial_parameters` (ignored if ``p0`` is given).
    p0 : explicit initial parameter vector (layout of :func:`initial_parameters`).
    loss_fn : ``(b, lam) -> (J, dJ/db, dJ/dlam)``; default the white-noise loss
        :func:`~limitsolver.linear_rnn.loss.loss_and_gradient` against ``target`` (the
        SGD comparison passes the expected loss of its discretised input here).
    t_eval : if given, report the solution at these times (from the solver's dense output)
        instead of on the refined step grid.

    Returns
    -------
    FlowResult

    Raises
    ------
    DivergenceError
        If the solver fails or the loss becomes non-finite.
    """
    m, fac = spec.m, spec.factorised
    if loss_fn is None:

        def loss_fn(b, lam):
            return loss_and_gradient(b, lam, target)

    p0 = initial_parameters(spec, seed) if p0 is None else np.asarray(p0, dtype=float)
    if p0.shape != ((3 if fac else 2) * m,):
        raise LimitSolverError(f"`p0` must have length {(3 if fac else 2) * m}; got {p0.shape}.")

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
            raise LimitSolverError(
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
