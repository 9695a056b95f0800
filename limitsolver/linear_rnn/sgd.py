r"""Online SGD on simulated inputs versus the gradient flow (:ref:`theory §6 <theory-memory>`, link to §3).

**Discretised system.**  Time step ``dt``, memory horizon ``L dt`` (lags
``s_j = j dt``, ``j = 0..L-1``).  With a stationary Gaussian input ``x_k`` of
autocovariance ``C(j) = E[x_k x_{k+j}]`` the target and model outputs are the Riemann sums

.. math:: y_k = dt \sum_j \rho(s_j) x_{k-j}, \qquad
          \hat y_k = dt \sum_j \hat\rho(s_j) x_{k-j},
          \qquad \hat\rho(s) = \sum_i b_i e^{-\lambda_i s},

and the expected loss is the quadratic form

.. math:: J_{dt}(b, \lambda) = \tfrac12 E(\hat y_k - y_k)^2 = \tfrac12 dt^2\, e^\top C e,
          \qquad e_j = \hat\rho(s_j) - \rho(s_j),\ C_{jl} = C(|j - l|).

Inputs (:class:`WhiteNoiseInput`, :class:`AR1Input`):

* discretised white noise, ``x_k ~ N(0, 1/dt)`` i.i.d. (``C(j) = delta_j / dt``, so
  ``J_dt -> 1/2 ||rho_hat - rho||^2`` as ``dt -> 0``);
* stationary Gaussian AR(1), ``x_k = phi x_{k-1} + sqrt(1 - phi^2) sigma dt^{-1/2} xi_k``,
  ``C(j) = sigma^2 phi^{|j|} / dt`` -- an ergodic Markov chain input.

**SGD.**  One step per input: ``p <- p - eta grad_p 1/2 (y_hat_k - y_k)^2`` with the
parameters of :mod:`.gradient_flow` (``(c, u, lam)`` or ``(b, lam)``).  Its mean drift is
``-eta grad J_dt``, so ``k`` SGD steps correspond to gradient-flow time ``t = k eta``.
:func:`sgd_vs_flow` measures ``sup_{t in grid} |J_dt(p_SGD(t)) - J_dt(p_GF(t))|`` and the
sup-norm parameter gap for several ``eta`` and fits ``gap ~ C eta^q``; the fluctuation
theory (:ref:`theory §5 <theory-poisson>`) predicts ``q = 1/2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from .._random import as_generator, spawn_generators
from ..chains import GaussianAR1
from ..errors import ConfigError, DivergenceError
from ..studies.fit import fit_line
from .approximation import RateFit
from .gradient_flow import FlowSpec, _unpack, gradient_flow, initial_parameters
from .targets import MemoryKernel

if TYPE_CHECKING:
    from .._random import SeedLike

__all__ = [
    "WhiteNoiseInput",
    "AR1Input",
    "DiscreteLoss",
    "SGDResult",
    "SGDComparison",
    "online_sgd",
    "sgd_vs_flow",
]


@dataclass(frozen=True)
class WhiteNoiseInput:
    """Discretised white noise ``x_k ~ N(0, 1/dt)`` i.i.d. (unit intensity).

    Parameters
    ----------
    dt : float, default 0.05
        Time step (positive); the autocovariance is ``C(j) = delta_j / dt``.

    Raises
    ------
    ConfigError
        If ``dt <= 0``.
    """

    dt: float = 0.05

    def __post_init__(self):
        if not self.dt > 0:
            raise ConfigError(f"`dt` must be positive; got {self.dt}.")

    def autocovariance(self, L: int) -> np.ndarray:
        """``C(j) = delta_j / dt``, ``j = 0..L-1``.

        Parameters
        ----------
        L : int
            Number of lags.

        Returns
        -------
        (L,) numpy.ndarray
            ``(1/dt, 0, ..., 0)``.
        """
        c = np.zeros(L)
        c[0] = 1.0 / self.dt
        return c

    def sample(self, n: int, seed: SeedLike) -> np.ndarray:
        """``n`` consecutive inputs from a Generator built from ``seed``.

        Parameters
        ----------
        n : int
            Number of inputs.
        seed : int, SeedSequence or Generator
            Seed of the Generator that draws the inputs.

        Returns
        -------
        (n,) numpy.ndarray
            I.i.d. ``N(0, 1/dt)`` draws.
        """
        return as_generator(seed, "seed").standard_normal(n) / math.sqrt(self.dt)


@dataclass(frozen=True)
class AR1Input:
    """Stationary AR(1) input ``x_k = phi x_{k-1} + sqrt(1 - phi^2) sigma dt^{-1/2} xi_k``.

    The scaled Gaussian AR(1) chain :class:`~limitsolver.chains.GaussianAR1` with
    ``a = phi``: ``x_k = sigma dt^{-1/2} X_k``. ``xi_k ~ N(0, 1)`` i.i.d.; the stationary
    law is ``N(0, sigma^2 / dt)`` and the autocovariance ``C(j) = sigma^2 phi^{|j|} / dt``.

    Parameters
    ----------
    dt : float, default 0.05
        Time step (positive).
    phi : float, default 0.5
        Autoregression coefficient, ``|phi| < 1``.
    sigma : float, default 1.0
        Stationary standard deviation at ``dt = 1``.

    Raises
    ------
    ConfigError
        If ``dt <= 0``.
    NotErgodicError
        If ``|phi| >= 1`` (the chain has no stationary law).
    """

    dt: float = 0.05
    phi: float = 0.5
    sigma: float = 1.0

    def __post_init__(self):
        if not self.dt > 0:
            raise ConfigError(f"`dt` must be positive; got {self.dt}.")
        GaussianAR1(self.phi)  # validates `phi`

    @property
    def chain(self) -> GaussianAR1:
        """The unscaled chain ``X_{k+1} = phi X_k + sqrt(1 - phi^2) xi_k``."""
        return GaussianAR1(self.phi)

    @property
    def scale(self) -> float:
        """``sigma / sqrt(dt)``: the input is ``scale * X_k``."""
        return self.sigma / math.sqrt(self.dt)

    def autocovariance(self, L: int) -> np.ndarray:
        """``C(j) = sigma^2 phi^j / dt``, ``j = 0..L-1``.

        Parameters
        ----------
        L : int
            Number of lags.

        Returns
        -------
        (L,) numpy.ndarray
            The autocovariances ``C(0), ..., C(L-1)``.
        """
        return self.sigma**2 * self.chain.autocovariance(np.arange(L)) / self.dt

    def sample(self, n: int, seed: SeedLike) -> np.ndarray:
        """``n`` consecutive inputs, started from the stationary law ``N(0, sigma^2/dt)``.

        Parameters
        ----------
        n : int
            Number of inputs.
        seed : int, SeedSequence or Generator
            Seed of the Generator that draws the inputs.

        Returns
        -------
        (n,) numpy.ndarray
            A stationary AR(1) path ``x_0, ..., x_{n-1}``.
        """
        return self.scale * self.chain.sample(n, as_generator(seed, "seed"))[0, :, 0]


class DiscreteLoss:
    """Expected loss ``J_dt(b, lam) = 1/2 dt^2 e^T C e`` of the discretised system and its gradient.

    ``dJ/db_i = dt^2 (C e) . e^{-lam_i s}``, ``dJ/dlam_i = -dt^2 b_i (C e) . (s e^{-lam_i s})``.
    Cost ``O(m L + L^2)`` per call (Toeplitz matrix formed once).  Calling the object with
    ``(b, lam)`` returns ``(J_dt, dJ/db, dJ/dlam)``, the ``loss_fn`` interface of
    :func:`~.gradient_flow.gradient_flow`.

    Parameters
    ----------
    target : MemoryKernel
        The kernel ``rho``, sampled at the lags ``s_j = j dt``.
    inputs : WhiteNoiseInput or AR1Input
        The input process; gives ``dt`` and the autocovariance ``C``.
    horizon : float
        Memory horizon; ``L = ceil(horizon / dt)`` lags are kept.

    Attributes
    ----------
    dt : float
        Time step of ``inputs``.
    L : int
        Number of lags.
    s : (L,) numpy.ndarray
        Lags ``j dt``.
    rho : (L,) numpy.ndarray
        ``rho(s_j)``.
    C : (L, L) numpy.ndarray
        Toeplitz autocovariance matrix ``C_{jl} = C(|j - l|)``.

    Raises
    ------
    ConfigError
        If ``horizon`` does not exceed ``dt`` (fewer than two lags).
    """

    def __init__(self, target: MemoryKernel, inputs: WhiteNoiseInput | AR1Input, horizon: float):
        self.dt = float(inputs.dt)
        self.L = int(math.ceil(horizon / self.dt))
        if self.L < 2:
            raise ConfigError(f"`horizon` must exceed `dt`; got {horizon} and {self.dt}.")
        self.s = self.dt * np.arange(self.L)
        self.rho = np.asarray(target.rho(self.s), dtype=float)
        self.C = linalg.toeplitz(inputs.autocovariance(self.L))

    def __call__(self, b: ArrayLike, lam: ArrayLike):
        b = np.asarray(b, dtype=float)
        lam = np.asarray(lam, dtype=float)
        E = np.exp(-np.multiply.outer(lam, self.s))  # (m, L)
        e = b @ E - self.rho
        Ce = self.C @ e
        dt2 = self.dt**2
        J = 0.5 * dt2 * float(e @ Ce)
        return J, dt2 * (E @ Ce), -dt2 * b * ((E * self.s) @ Ce)


@dataclass(frozen=True)
class SGDResult:
    """Trajectory of :func:`online_sgd` at the requested flow times.

    Parameters
    ----------
    t : numpy.ndarray
        Gradient-flow times ``k eta`` at which parameters were recorded.
    params : numpy.ndarray
        Parameter vectors, shape ``(len(t), n_params)``.
    loss : numpy.ndarray
        ``J_dt`` of the recorded parameters (expected loss, not the noisy instantaneous one).
    eta : float
        Learning rate.
    """

    t: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    eta: float


def online_sgd(
    target: MemoryKernel, inputs: WhiteNoiseInput | AR1Input, spec: FlowSpec, eta: float,
    t_grid: ArrayLike, p0: ArrayLike, seed: SeedLike, horizon: float = 10.0
) -> SGDResult:
    r"""Run online SGD, one step per input, and record the parameters at flow times ``t_grid``.

    Step ``k`` uses the window ``w_j = x_{k-j}``, ``j = 0..L-1``, and

    .. math:: p \leftarrow p - \eta\, \nabla_p \tfrac12 (\hat y_k - y_k)^2, \qquad
        \hat y_k - y_k = dt \sum_j (\hat\rho(s_j) - \rho(s_j))\, x_{k-j};

    the parameters after ``k`` steps are recorded at flow time ``t = k eta``.

    Parameters
    ----------
    target : MemoryKernel
        The target kernel ``rho``.
    inputs : WhiteNoiseInput or AR1Input
        The input process.
    spec : FlowSpec
        Parametrisation (``m``, ``factorised``) as in :mod:`.gradient_flow`.
    eta : float
        Learning rate (positive); the run has ``round(max(t_grid) / eta)`` steps.
    t_grid : array_like
        Flow times at which to record (each rounded to the nearest step ``k eta``).
    p0 : array_like
        Initial parameters (layout of :func:`~.gradient_flow.initial_parameters`).
    seed : int, SeedSequence or Generator
        Seeds the input sequence.
    horizon : float, default 10.0
        Memory horizon ``L dt`` of the discretised kernels.

    Returns
    -------
    SGDResult
        The recorded parameters and their expected losses ``J_dt``.

    Raises
    ------
    ConfigError
        If ``eta <= 0`` or ``horizon`` does not exceed ``inputs.dt``.
    DivergenceError
        If a parameter becomes non-finite (``eta`` too large).

    Notes
    -----
    Cost: ``O(n_steps m L)``.
    """
    if not eta > 0:
        raise ConfigError(f"`eta` must be positive; got {eta}.")
    loss = DiscreteLoss(target, inputs, horizon)
    t_grid = np.asarray(t_grid, dtype=float)
    steps = np.rint(t_grid / eta).astype(int)
    n = int(steps.max())
    L, dt, s, rho = loss.L, loss.dt, loss.s, loss.rho
    x = inputs.sample(n + L, seed)
    m, fac = spec.m, spec.factorised
    p = np.array(p0, dtype=float)
    rec = np.empty((len(t_grid), p.size))
    order = np.argsort(steps)
    j = 0
    for k in range(n + 1):
        while j < len(order) and steps[order[j]] == k:
            rec[order[j]] = p
            j += 1
        if k == n:
            break
        w = x[k : k + L][::-1]  # w_j = x_{k-j} (x is offset by L - 1)
        c, u, b, lam = _unpack(p, m, fac)
        E = np.exp(-np.multiply.outer(lam, s))
        Ew = E @ w
        r = dt * (b @ Ew - rho @ w)
        g_b = r * dt * Ew
        g_lam = -r * dt * b * ((E * s) @ w)
        if fac:
            g = np.concatenate([u * g_b, c * g_b, g_lam])
        else:
            g = np.concatenate([g_b, g_lam])
        p = p - eta * g
        if not np.all(np.isfinite(p)):
            raise DivergenceError(f"SGD diverged at step {k}; decrease `eta` (= {eta}).", step=k)
    Js = np.array([loss(*_unpack(q, m, fac)[2:])[0] for q in rec])
    return SGDResult(t_grid, rec, Js, float(eta))


@dataclass(frozen=True)
class SGDComparison:
    """Result of :func:`sgd_vs_flow`.

    Parameters
    ----------
    etas : numpy.ndarray
        Learning rates, decreasing.
    loss_gap : numpy.ndarray
        Mean over seeds of ``sup_t |J_dt(p_SGD(t)) - J_dt(p_GF(t))|``, shape ``(len(etas),)``.
    param_gap : numpy.ndarray
        Mean over seeds of ``sup_t |p_SGD(t) - p_GF(t)|_inf``, shape ``(len(etas),)``.
    loss_gap_per_seed : numpy.ndarray
        The loss gaps of each input sequence, shape ``(n_seeds, len(etas))``.
    param_gap_per_seed : numpy.ndarray
        The parameter gaps of each input sequence, shape ``(n_seeds, len(etas))``.
    loss_fit : RateFit
        Fit ``log gap = a + q log eta`` of the loss gaps over all seeds (model ``"power"``,
        ``slope = q``, positive when the gap shrinks with ``eta``).
    param_fit : RateFit
        The same fit for the parameter gaps.
    t_grid : numpy.ndarray
        Comparison times.
    flow_loss : numpy.ndarray
        ``J_dt`` along the gradient flow on ``t_grid``.
    """

    etas: np.ndarray
    loss_gap: np.ndarray
    param_gap: np.ndarray
    loss_gap_per_seed: np.ndarray
    param_gap_per_seed: np.ndarray
    loss_fit: RateFit
    param_fit: RateFit
    t_grid: np.ndarray
    flow_loss: np.ndarray


def _fit_power(etas, gaps) -> RateFit:
    f = fit_line(np.log(np.broadcast_to(etas, gaps.shape).ravel()), np.log(gaps.ravel()))
    return RateFit("power", f.intercept, f.slope, f.slope_stderr, f.rms_residual, f.n_points)


def sgd_vs_flow(
    target: MemoryKernel,
    inputs: WhiteNoiseInput | AR1Input,
    spec: FlowSpec,
    etas: ArrayLike,
    t_end: float,
    seed: SeedLike,
    n_seeds: int = 4,
    n_grid: int = 20,
    horizon: float = 10.0,
) -> SGDComparison:
    r"""Compare online SGD with the gradient flow of ``J_dt`` as ``eta -> 0``.

    The initial parameters are drawn once from ``seed`` (:func:`initial_parameters`); input
    sequences come from ``n_seeds`` child Generators, the same for every ``eta``.  The flow is
    integrated with ``spec.method`` at ``rtol = 1e-10`` and read from its dense output.
    The gaps are

    .. math:: \sup_{t \in \text{grid}} |J_{dt}(p_{\mathrm{SGD}}(t)) - J_{dt}(p_{\mathrm{GF}}(t))|,
        \qquad \sup_{t \in \text{grid}} \|p_{\mathrm{SGD}}(t) - p_{\mathrm{GF}}(t)\|_\infty,

    each fitted as ``gap ~ C eta^q`` (the fluctuation theory of :ref:`theory §5 <theory-poisson>` predicts
    ``q = 1/2``).

    Parameters
    ----------
    target : MemoryKernel
        The target kernel ``rho``.
    inputs : WhiteNoiseInput or AR1Input
        The input process.
    spec : FlowSpec
        Parametrisation, initialisation and stiff solver.
    etas : array_like
        At least two positive learning rates.
    t_end : float
        Final flow time of the comparison.
    seed : int, SeedSequence or Generator
        Root seed: child 0 draws ``p0``, children ``1..n_seeds`` the input sequences.
    n_seeds : int, default 4
        Number of input sequences.
    n_grid : int, default 20
        Number of comparison times ``t_end k / n_grid``, ``k = 1..n_grid``.
    horizon : float, default 10.0
        Memory horizon ``L dt`` of the discretised kernels.

    Returns
    -------
    SGDComparison
        Gaps per ``eta`` and seed, their power-law fits and the flow's loss.

    Raises
    ------
    ConfigError
        If ``etas`` holds fewer than two values or a non-positive one.
    DivergenceError
        If SGD or the gradient flow diverges.
    """
    etas = np.asarray(sorted(etas, reverse=True), dtype=float)
    if etas.size < 2 or np.any(etas <= 0):
        raise ConfigError("`etas` must hold at least two positive learning rates.")
    gens = spawn_generators(seed, n_seeds + 1, "seed")
    p0 = initial_parameters(spec, gens[0])
    loss = DiscreteLoss(target, inputs, horizon)
    flow_spec = FlowSpec(**{**spec.__dict__, "t_max": t_end, "rtol": 1e-10, "atol": 1e-12})
    t_grid = np.linspace(0.0, t_end, n_grid + 1)[1:]
    flow = gradient_flow(target, flow_spec, p0=p0, loss_fn=loss, t_eval=t_grid)
    P_gf = flow.params
    J_gf = np.array([loss(*_unpack(q, spec.m, spec.factorised)[2:])[0] for q in P_gf])
    lg = np.empty((n_seeds, etas.size))
    pg = np.empty((n_seeds, etas.size))
    for i in range(n_seeds):
        seq_seed = np.random.SeedSequence(int(gens[i + 1].integers(2**63)))
        for j, eta in enumerate(etas):
            r = online_sgd(
                target, inputs, spec, eta, t_grid, p0, np.random.default_rng(seq_seed), horizon
            )
            lg[i, j] = np.max(np.abs(r.loss - J_gf))
            pg[i, j] = np.max(np.abs(r.params - P_gf))
    fit_l = _fit_power(etas, lg)
    fit_p = _fit_power(etas, pg)
    return SGDComparison(etas, lg.mean(0), pg.mean(0), lg, pg, fit_l, fit_p, t_grid, J_gf)
