r"""Curse-of-memory studies (:ref:`theory §6 <theory-memory>` and :ref:`§7 <theory-convergence>`): approximation rates and training plateaus.

* :func:`approximation_study`: for each target, the best ``m``-unit error ``E_m``
  (:mod:`.approximation`) on a range of ``m`` and the observed rate (algebraic,
  exponential or ``exp(-c sqrt m)``, chosen by residual).
* :func:`plateau_study`: for a family and a range of memory parameters ``M``
  (``t0`` for delayed bumps and Airy kernels, ``1/omega`` for power laws), the
  gradient flow from small initialisation (:mod:`.gradient_flow`), its plateaus and
  their duration ``D(M)``; the fit ``log D = a + b M`` by least squares over all
  seeds, with the standard error of ``b``, the one-sided ``t``-statistic for
  ``b > 0`` and its p-value (exponential growth is the claim being checked).

Both return results; ``limitsolver memory`` (:mod:`limitsolver.cli.memory`) writes
their tables, CSV, JSON, NPZ and figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .._random import spawn_generators
from ..errors import ConfigError, DimensionError
from ..studies.fit import fit_line
from .approximation import ApproximationCurve, approximation_curve
from .gradient_flow import FlowResult, FlowSpec, Plateau, gradient_flow
from .loss import ERROR_CONVENTION, LOSS_CONVENTION
from .targets import AiryTarget, DelayedBump, ExponentialBump, MemoryKernel, PowerLaw

__all__ = [
    "ApproximationConfig",
    "ApproximationStudyResult",
    "approximation_study",
    "PlateauConfig",
    "PlateauFit",
    "PlateauStudyResult",
    "plateau_study",
    "target_with_memory",
    "MEMORY_FAMILIES",
]

#: Families with a scalar memory parameter, and how the parameter enters.
MEMORY_FAMILIES = {"delayed_bump": "t0", "exponential_bump": "t0", "airy": "t0",
                   "power_law": "1/omega"}


def target_with_memory(family: str, memory: float, **params: Any) -> MemoryKernel:
    """MemoryKernel of ``family`` with memory parameter ``memory`` (``t0``, or ``omega = 1/memory``).

    Parameters
    ----------
    family : {"delayed_bump", "airy", "power_law"}
        A family of :data:`MEMORY_FAMILIES`.
    memory : float
        The memory parameter ``M > 0``: the delay ``t0`` of a delayed bump or Airy kernel,
        ``1/omega`` of a power law.
    **params
        Further parameters of the family (``width``, ``s0``, ``amplitude``).

    Returns
    -------
    MemoryKernel
        :class:`DelayedBump`, :class:`AiryTarget` or :class:`PowerLaw`.

    Raises
    ------
    ConfigError
        If ``family`` is unknown or ``memory <= 0``.
    TypeError
        If ``params`` holds a parameter the family does not have.
    """
    if family not in MEMORY_FAMILIES:
        raise ConfigError(
            f"`family` must be one of {sorted(MEMORY_FAMILIES)}; got {family!r}."
        )
    if not memory > 0:
        raise ConfigError(f"`memory` must be positive; got {memory}.")
    if family == "power_law":
        return PowerLaw(omega=1.0 / memory, **params)
    cls = {"delayed_bump": DelayedBump, "exponential_bump": ExponentialBump,
           "airy": AiryTarget}[family]
    return cls(t0=float(memory), **params)


# --------------------------------------------------------------------------- approximation
@dataclass(frozen=True)
class ApproximationConfig:
    """Approximation study: ``targets``, ``m_values``, random starts per ``m``, rate box, seed.

    Parameters
    ----------
    targets : tuple of MemoryKernel
        The kernels ``rho`` to approximate (at least one).
    m_values : tuple of int, default (1, 2, 3, 4, 5, 6)
        Numbers of units ``m`` (positive).
    n_starts : int, default 2
        Random starts per ``m`` (see :func:`~.approximation.best_approximation`).
    rate_bounds : tuple of float, default (1e-4, 1e2)
        Box ``[lam_min, lam_max]`` for the rates.
    seed : int, default 0
        Root seed; target ``i`` uses child ``i``.

    Raises
    ------
    ConfigError
        If ``targets`` is empty or ``m_values`` is empty or holds an ``m < 1``.
    """

    targets: tuple[MemoryKernel, ...]
    m_values: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    n_starts: int = 2
    rate_bounds: tuple[float, float] = (1e-4, 1e2)
    seed: int = 0

    def __post_init__(self):
        if not self.targets:
            raise ConfigError("`targets` must hold at least one target.")
        if not self.m_values or min(self.m_values) < 1:
            raise ConfigError("`m_values` must be a non-empty list of positive integers.")


@dataclass(frozen=True)
class ApproximationStudyResult:
    """Result of :func:`approximation_study`: one :class:`ApproximationCurve` per target.

    Parameters
    ----------
    config : ApproximationConfig
        The study specification.
    curves : tuple of ApproximationCurve
        ``E_m`` against ``m`` and the rate fits, one per target of ``config.targets``.
    """

    config: ApproximationConfig
    curves: tuple[ApproximationCurve, ...]

    def rows(self) -> list[dict]:
        """One row per (target, m): label, m, E_m, E_m/||rho||.

        Returns
        -------
        list of dict
            Rows with keys ``target``, ``m``, ``error``, ``relative_error`` and
            ``error_convention`` (:data:`~.loss.ERROR_CONVENTION`).
        """
        return [
            {"target": c.target.label, "m": int(m), "error": float(e), "relative_error": float(r),
             "error_convention": ERROR_CONVENTION}
            for c in self.curves
            for m, e, r in zip(c.m_values, c.errors, c.relative_errors, strict=True)
        ]

    def table(self) -> str:
        """Plain-text table of relative errors and the best rate fit per target.

        Returns
        -------
        str
            One line per target: ``E_m / ||rho||`` for each ``m`` and the best rate model
            with its slope and standard error.
        """
        ms = self.curves[0].m_values
        lines = [
            f"E_m / ||rho|| (best m-unit relative error; {ERROR_CONVENTION})",
            f"{'target':<48}" + "".join(f"{'m=' + str(m):>11}" for m in ms) + "  best rate",
        ]
        for c in self.curves:
            f = c.best_fit
            rate = f"{f.model} slope {f.slope:.3g} +- {f.slope_stderr:.2g}" if f else "n/a"
            lines.append(
                f"{c.target.label[:47]:<48}"
                + "".join(f"{r:>11.3e}" for r in c.relative_errors)
                + "  "
                + rate
            )
        return "\n".join(lines)

    def summary(self) -> dict:
        """JSON-ready summary: config, per-target errors and all rate fits.

        Returns
        -------
        dict
            ``study``, ``config`` and one ``results`` entry per target (errors, fits, and the
            rates and coefficients of every best approximation); arrays are left as arrays
            for :func:`~limitsolver.io.write_json` to convert.
        """
        return {
            "study": "approximation",
            "error_convention": ERROR_CONVENTION,
            "config": {
                "targets": [t.to_dict() for t in self.config.targets],
                "m_values": list(self.config.m_values),
                "n_starts": self.config.n_starts,
                "rate_bounds": list(self.config.rate_bounds),
                "seed": self.config.seed,
            },
            "results": [
                {
                    "target": c.target.to_dict(),
                    "label": c.target.label,
                    "m_values": c.m_values,
                    "errors": c.errors,
                    "relative_errors": c.relative_errors,
                    "best_model": c.best_model,
                    "fits": {k: v for k, v in c.fits.items()},
                    "rates": [a.lam for a in c.approximations],
                    "coefficients": [a.b for a in c.approximations],
                }
                for c in self.curves
            ],
        }


def approximation_study(
    config: ApproximationConfig, show_progress: bool | None = False
) -> ApproximationStudyResult:
    r"""Run the approximation study (``limitsolver memory`` writes its files and figures).

    For each target, :func:`~.approximation.approximation_curve` computes

    .. math:: E_m = \inf_{b,\ \lambda} \Big\| \sum_{i=1}^m b_i e^{-\lambda_i s}
        - \rho \Big\|_{L^2(0,\infty)}

    on ``config.m_values`` and fits its rate.  Each target gets its own child seed of
    ``config.seed``.  Cost: dominated by ``len(targets) * max(m) * (n_starts + 4)``
    L-BFGS-B runs.

    Parameters
    ----------
    config : ApproximationConfig
        Targets, ``m`` values, starts, rate box and seed.
    show_progress : bool or None, default False
        Show a progress bar (``None``: only when standard error is a terminal).

    Returns
    -------
    ApproximationStudyResult
        One :class:`~.approximation.ApproximationCurve` per target.
    """
    gens = spawn_generators(config.seed, len(config.targets), "seed")
    curves = tuple(
        approximation_curve(
            t, config.m_values, g, config.n_starts, config.rate_bounds, show_progress=show_progress
        )
        for t, g in zip(config.targets, gens, strict=True)
    )
    return ApproximationStudyResult(config, curves)


# --------------------------------------------------------------------------- plateaus
@dataclass(frozen=True)
class PlateauConfig:
    r"""Plateau study specification.

    Parameters
    ----------
    family : str, default "delayed_bump"
        One of :data:`MEMORY_FAMILIES`.
    memory_values : tuple of float, default (1.0, 2.0, 3.0, 4.0)
        Memory parameters ``M`` (``t0`` or ``1/omega``), at least two, positive, increasing.
    target_params : dict, default {"width": 1.0}
        Fixed parameters of the family.
    flow : FlowSpec, default FlowSpec(m=2, init_scale=1e-2, t_max=200.0)
        :class:`~.gradient_flow.FlowSpec` of every run.
    n_seeds : int, default 1
        Initialisations per memory value (the same ``n_seeds`` initialisations are
        used for every ``M``: common random numbers).
    rate_threshold : float, default 0.05
        Plateau criterion ``r < rate_threshold max r`` (:func:`~.gradient_flow.detect_plateaus`).
    loss_factor : float, default 1.2
        Plateau criterion ``J > loss_factor J(t_end)``.
    t_min : float, default 0.0
        Plateaus are sought at times ``t >= t_min`` only.
    duration : {"first", "total", "longest"}, default "first"
        Duration ``D`` of a run: the first plateau's, the sum of all, or the longest.
    seed : int, default 0
        Master seed.
    initial_point : tuple of two sequences, optional
        The plateau theorem's explicit start :math:`(a_0, w_0)`: the flow starts from
        :math:`\hat\rho_0(t) = \sum_i a_{0,i} e^{-w_{0,i} t}` with the trained parameters
        :math:`(a, w)` (``flow.factorised`` must be False; ``len(a_0) = len(w_0) = flow.m``,
        ``w_0 > 0``; one run per memory value, so ``n_seeds`` must be 1). Default: random
        small initialisations drawn from ``seed``.
    exit_delta : float, optional
        If given, every run records the first-exit times
        :math:`\tau_0 = \inf\{t : |\theta_t - \theta_0| > \delta\}` and
        :math:`\tau_0' = \inf\{t : |J_t - J_0| > \delta\}`
        (:func:`~.gradient_flow.first_exit_time`) for :math:`\delta` = ``exit_delta``.

    Notes
    -----
    The loss is :data:`~.loss.LOSS_CONVENTION`:
    :math:`J = \tfrac12\|\hat\rho - \rho\|^2_{L^2(0,\infty)}`, with the factor 1/2.

    Raises
    ------
    ConfigError
        If ``family``, ``memory_values``, ``duration``, ``n_seeds``, ``initial_point`` or
        ``exit_delta`` is invalid.
    DimensionError
        If ``initial_point`` does not hold ``flow.m`` coefficients and rates.
    """

    family: str = "delayed_bump"
    memory_values: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
    target_params: dict = field(default_factory=lambda: {"width": 1.0})
    flow: FlowSpec = FlowSpec(m=2, init_scale=1e-2, t_max=200.0)
    n_seeds: int = 1
    rate_threshold: float = 0.05
    loss_factor: float = 1.2
    t_min: float = 0.0
    duration: str = "first"
    seed: int = 0
    initial_point: tuple | None = None
    exit_delta: float | None = None

    def __post_init__(self):
        if self.family not in MEMORY_FAMILIES:
            raise ConfigError(
                f"`family` must be one of {sorted(MEMORY_FAMILIES)}; got {self.family!r}."
            )
        if len(self.memory_values) < 2 or min(self.memory_values) <= 0:
            raise ConfigError("`memory_values` must hold at least two positive values.")
        if self.duration not in ("total", "first", "longest"):
            raise ConfigError(
                f"`duration` must be 'total', 'first' or 'longest'; got {self.duration!r}."
            )
        if int(self.n_seeds) != self.n_seeds or self.n_seeds < 1:
            raise ConfigError(f"`n_seeds` must be a positive integer; got {self.n_seeds}.")
        if self.initial_point is not None:
            object.__setattr__(self, "initial_point", self._check_point(self.initial_point))
        if self.exit_delta is not None and not (
                isinstance(self.exit_delta, (int, float)) and math.isfinite(self.exit_delta)
                and self.exit_delta > 0):
            raise ConfigError(f"`exit_delta` must be positive and finite; got {self.exit_delta!r}.")

    def _check_point(self, point) -> tuple[tuple[float, ...], tuple[float, ...]]:
        try:
            a0, w0 = point
            a0 = tuple(float(v) for v in np.atleast_1d(a0))
            w0 = tuple(float(v) for v in np.atleast_1d(w0))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"`initial_point` must be a pair (a0, w0) of sequences of numbers; got {point!r}."
            ) from exc
        if self.flow.factorised:
            raise ConfigError(
                "`initial_point` (a0, w0) sets the coefficients a and rates w of "
                "rho_hat = sum_i a_i e^{-w_i t}; train them directly with "
                "`flow = FlowSpec(..., factorised=False)`."
            )
        if len(a0) != self.flow.m or len(w0) != self.flow.m:
            raise DimensionError(
                f"`initial_point` must hold m = {self.flow.m} coefficients and rates; got "
                f"{len(a0)} and {len(w0)}."
            )
        if not all(math.isfinite(v) for v in a0 + w0) or min(w0) <= 0:
            raise ConfigError(f"`initial_point` must be finite with rates w0 > 0; got {w0}.")
        if self.n_seeds != 1:
            raise ConfigError(
                f"`n_seeds` must be 1 with an explicit `initial_point` (every seed would run "
                f"the same flow); got {self.n_seeds}."
            )
        return a0, w0


@dataclass(frozen=True)
class PlateauFit:
    """Least-squares fit ``log D = intercept + slope * M`` over all runs with ``D > 0``.

    ``t_statistic = slope / slope_stderr``; ``p_value`` is the one-sided p-value of
    ``slope > 0`` (Student ``t`` with ``n_points - 2`` degrees of freedom; ``nan`` if
    ``n_points < 3``); ``significant`` is ``p_value < 0.05``.

    Parameters
    ----------
    intercept : float
        Fitted ``a`` of ``log D = a + b M`` (``nan`` with fewer than 2 points or one ``M``).
    slope : float
        Fitted growth rate ``b``.
    slope_stderr : float
        OLS standard error of ``b``.
    t_statistic : float
        ``slope / slope_stderr``.
    p_value : float
        One-sided p-value of ``b > 0``.
    n_points : int
        Number of runs with ``D > 0`` used in the fit.
    """

    intercept: float
    slope: float
    slope_stderr: float
    t_statistic: float
    p_value: float
    n_points: int

    @property
    def significant(self) -> bool:
        """Whether ``p_value < 0.05`` (exponential growth of ``D`` detected at the 5% level)."""
        return bool(self.p_value < 0.05)


def _fit_growth(memory, durations) -> PlateauFit:
    M = np.asarray(memory, dtype=float).ravel()
    D = np.asarray(durations, dtype=float).ravel()
    ok = D > 0
    M, y = M[ok], np.log(D[ok])
    n = len(y)
    if n < 2 or np.ptp(M) == 0:
        return PlateauFit(math.nan, math.nan, math.nan, math.nan, math.nan, n)
    f = fit_line(M, y, stderr=n >= 3)
    if n < 3:
        return PlateauFit(f.intercept, f.slope, math.nan, math.nan, math.nan, n)
    se = f.slope_stderr
    tstat = f.slope / se if se > 0 else math.copysign(math.inf, f.slope)
    p = float(stats.t.sf(tstat, n - 2))
    return PlateauFit(f.intercept, f.slope, se, float(tstat), p, n)


@dataclass(frozen=True)
class PlateauStudyResult:
    r"""Result of :func:`plateau_study`.

    Parameters
    ----------
    config : PlateauConfig
        The study specification.
    memory_values : numpy.ndarray
        Memory parameters ``M``, shape ``(n_mem,)``.
    durations : numpy.ndarray
        Plateau duration ``D``, shape ``(n_seeds, n_mem)`` (0 when none detected).
    plateaus : tuple
        ``plateaus[s][k]`` is the list of :class:`~.gradient_flow.Plateau` of run ``(s, k)``.
    final_loss : numpy.ndarray
        ``J(t_end)`` of each run, shape ``(n_seeds, n_mem)``.
    initial_loss : numpy.ndarray
        ``J(0)`` of each run, shape ``(n_seeds, n_mem)``.
    fit : PlateauFit
        Fit of ``log D`` against ``M``.
    flows : tuple
        The :class:`~.gradient_flow.FlowResult` of each run, ``flows[s][k]``.
    exit_times : numpy.ndarray or None
        :math:`\tau_0 = \inf\{t : |\theta_t - \theta_0| > \delta\}` of each run, shape
        ``(n_seeds, n_mem)`` (``inf`` if never; None without ``config.exit_delta``).
    loss_exit_times : numpy.ndarray or None
        :math:`\tau_0' = \inf\{t : |J_t - J_0| > \delta\}` of each run, likewise.
    loss_convention : str
        :data:`~.loss.LOSS_CONVENTION`, written into every output.
    """

    config: PlateauConfig
    memory_values: np.ndarray
    durations: np.ndarray
    plateaus: tuple
    final_loss: np.ndarray
    initial_loss: np.ndarray
    fit: PlateauFit
    flows: tuple = field(repr=False)
    exit_times: np.ndarray | None = None
    loss_exit_times: np.ndarray | None = None
    loss_convention: str = LOSS_CONVENTION

    def rows(self) -> list[dict]:
        """One row per run: seed index, memory, duration, number of plateaus, losses.

        Returns
        -------
        list of dict
            Rows with keys ``seed``, ``memory``, ``duration``, ``n_plateaus``,
            ``initial_loss``, ``final_loss`` (then ``tau0`` and ``tau0_loss`` when exit
            times were recorded) and ``loss_convention``.
        """
        rows = []
        for s in range(self.durations.shape[0]):
            for k, M in enumerate(self.memory_values):
                row = {
                    "seed": s,
                    "memory": float(M),
                    "duration": float(self.durations[s, k]),
                    "n_plateaus": len(self.plateaus[s][k]),
                    "initial_loss": float(self.initial_loss[s, k]),
                    "final_loss": float(self.final_loss[s, k]),
                }
                if self.exit_times is not None:
                    row["tau0"] = float(self.exit_times[s, k])
                    row["tau0_loss"] = float(self.loss_exit_times[s, k])
                row["loss_convention"] = self.loss_convention
                rows.append(row)
        return rows

    def table(self) -> str:
        """Plain-text table of durations and the growth fit.

        Returns
        -------
        str
            One line per run and a last line with the fit of ``log D = a + b M``.
        """
        f = self.fit
        exits = self.exit_times is not None
        lines = [
            f"plateau durations, family {self.config.family} "
            f"(memory = {MEMORY_FAMILIES[self.config.family]}); loss {self.loss_convention}",
            f"{'seed':>4} {'memory':>8} {'duration':>11} {'plateaus':>8} "
            f"{'J(0)':>10} {'J(end)':>10}"
            + (f" {'tau0':>10} {'tau0_J':>10}" if exits else ""),
        ]
        for r in self.rows():
            lines.append(
                f"{r['seed']:>4} {r['memory']:>8.3g} {r['duration']:>11.4g} "
                f"{r['n_plateaus']:>8d} {r['initial_loss']:>10.4g} {r['final_loss']:>10.4g}"
                + (f" {r['tau0']:>10.4g} {r['tau0_loss']:>10.4g}" if exits else "")
            )
        if exits:
            lines.append(f"tau0 = first t with |theta_t - theta_0| > delta, tau0_J = first t "
                         f"with |J_t - J_0| > delta, delta = {self.config.exit_delta:g}")
        lines.append(
            f"fit log D = a + b M: b = {f.slope:.4g} +- {f.slope_stderr:.2g} "
            f"(t = {f.t_statistic:.3g}, one-sided p = {f.p_value:.3g}, n = {f.n_points})"
        )
        return "\n".join(lines)

    def summary(self) -> dict:
        """JSON-ready summary.

        Returns
        -------
        dict
            ``study``, ``config``, memory values, durations, plateaus, losses and the fit
            (with ``significant``); arrays are left for :func:`~limitsolver.io.write_json`
            to convert.
        """
        c = self.config
        return {
            "study": "plateau",
            "config": {
                "family": c.family,
                "memory_values": list(c.memory_values),
                "target_params": c.target_params,
                "flow": c.flow,
                "n_seeds": c.n_seeds,
                "rate_threshold": c.rate_threshold,
                "loss_factor": c.loss_factor,
                "t_min": c.t_min,
                "duration": c.duration,
                "seed": c.seed,
                "initial_point": None if c.initial_point is None else
                {"a0": list(c.initial_point[0]), "w0": list(c.initial_point[1])},
                "exit_delta": c.exit_delta,
            },
            "loss_convention": self.loss_convention,
            "memory_values": self.memory_values,
            "durations": self.durations,
            "plateaus": [
                [
                    [{"start": p.start, "end": p.end, "loss": p.loss} for p in run]
                    for run in seed_runs
                ]
                for seed_runs in self.plateaus
            ],
            "initial_loss": self.initial_loss,
            "final_loss": self.final_loss,
            "fit": {**self.fit.__dict__, "significant": self.fit.significant},
            "exit_times": self.exit_times,
            "loss_exit_times": self.loss_exit_times,
        }


def _duration(pl: list[Plateau], how: str) -> float:
    if not pl:
        return 0.0
    if how == "first":
        return pl[0].duration
    if how == "longest":
        return max(p.duration for p in pl)
    return float(sum(p.duration for p in pl))


def plateau_study(
    config: PlateauConfig, show_progress: bool | None = False
) -> PlateauStudyResult:
    r"""Run the plateau study (``limitsolver memory`` writes its files and figures).

    For each memory parameter ``M`` and initialisation, the gradient flow
    ``dp/dt = -grad J(p)`` of the white-noise loss against the target of memory ``M``
    (:func:`target_with_memory`) is integrated from small initialisation, its plateaus are
    detected and their duration ``D`` recorded; then

    .. math:: \log D = a + b M

    is fitted by least squares over all runs with ``D > 0`` (exponential growth of the
    plateaus with the memory is the claim: ``b > 0``).

    Parameters
    ----------
    config : PlateauConfig
        Family, memory values, flow specification, plateau criterion and seeds.
    show_progress : bool or None, default False
        Show a progress bar (``None``: only when standard error is a terminal).

    Returns
    -------
    PlateauStudyResult
        Durations, plateaus, losses, the growth fit and every flow.

    Raises
    ------
    ConfigError
        If ``config.target_params`` do not fit the family.
    DivergenceError
        If a gradient flow fails.

    Notes
    -----
    Cost: ``n_seeds * len(memory_values)`` stiff gradient-flow solves.
    """
    from ..progress import progress

    try:
        targets = [
            target_with_memory(config.family, M, **config.target_params)
            for M in config.memory_values
        ]
    except TypeError as exc:
        raise ConfigError(f"`target_params` do not fit family {config.family!r}: {exc}") from exc
    gens = spawn_generators(config.seed, config.n_seeds, "seed")
    init_seeds = [int(g.integers(2**63)) for g in gens]
    p0 = None if config.initial_point is None else np.concatenate(config.initial_point)
    n_s, n_m = config.n_seeds, len(targets)
    D = np.zeros((n_s, n_m))
    J0 = np.zeros((n_s, n_m))
    J1 = np.zeros((n_s, n_m))
    tau = np.full((n_s, n_m), np.nan)
    tau_J = np.full((n_s, n_m), np.nan)
    plateaus, flows = [], []
    bar = progress(total=n_s * n_m, desc="plateau study", show=show_progress)
    for s in range(n_s):
        pls, fls = [], []
        for k, tgt in enumerate(targets):
            fr: FlowResult = gradient_flow(tgt, config.flow, seed=init_seeds[s], p0=p0)
            pl = fr.plateaus(config.rate_threshold, config.loss_factor, config.t_min)
            D[s, k] = _duration(pl, config.duration)
            J0[s, k], J1[s, k] = fr.loss[0], fr.loss[-1]
            if config.exit_delta is not None:
                tau[s, k] = fr.exit_time(config.exit_delta)
                tau_J[s, k] = fr.loss_exit_time(config.exit_delta)
            pls.append(pl)
            fls.append(fr)
            bar.update(1)
        plateaus.append(tuple(pls))
        flows.append(tuple(fls))
    bar.close()
    mem = np.asarray(config.memory_values, dtype=float)
    fit = _fit_growth(np.broadcast_to(mem, D.shape), D)
    exits = config.exit_delta is not None
    return PlateauStudyResult(config, mem, D, tuple(plateaus), J1, J0, fit, tuple(flows),
                              tau if exits else None, tau_J if exits else None)
