r"""Rates of convergence: power-law fits with bootstrap intervals and observed orders.

A convergence study measures errors :math:`e_{n,s}` at sizes :math:`n` (width
:math:`N`, learning rate, nodes, ...) and seeds :math:`s` and fits

.. math::

    \log \bar e_n = \log C - p \log n, \qquad \bar e_n = \frac1{S_n}\sum_s e_{n,s},

by least squares. The confidence interval for :math:`p` is a percentile
bootstrap over seeds: the seeds of every size are resampled with replacement,
the means recomputed and the line refitted.

Every straight-line fit of the package (these rates, the rate models of the
best approximations, the growth of plateaus with memory, the SGD gaps) is one
ordinary least-squares fit, :func:`fit_line`:

.. math::

    y_i \approx a + b\,x_i, \qquad
    \operatorname{se}(b) = \Big(\frac{\sum_i r_i^2}{\max(n-2, 1)}
    \big[(X^\top X)^{-1}\big]_{22}\Big)^{1/2},

with residuals :math:`r_i` and design matrix :math:`X = [1, x]`.

Refinement studies of a discretisation parameter :math:`h` use observed orders
:math:`p_i = \log(e_i/e_{i+1})/\log(h_i/h_{i+1})` and, when only values are
available, Richardson's estimate from three successive refinements with ratio
:math:`r`: :math:`p = \log(|q_1-q_2|/|q_2-q_3|)/\log r`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._random import as_generator
from ..errors import ConfigError, DimensionError

if TYPE_CHECKING:
    from .._random import SeedLike

__all__ = ["LineFit", "fit_line", "PowerLawFit", "fit_power_law", "observed_orders",
           "richardson_order"]


@dataclass(frozen=True)
class LineFit:
    r"""Ordinary least-squares line :math:`y \approx a + b x` (built by :func:`fit_line`).

    Parameters
    ----------
    intercept : float
        :math:`a`.
    slope : float
        :math:`b`.
    slope_stderr : float
        :math:`\operatorname{se}(b)`, with :math:`\max(n - 2, 1)` degrees of freedom in
        the residual variance (``nan`` when not computed).
    rms_residual : float
        Root-mean-square residual :math:`(\tfrac1n\sum_i r_i^2)^{1/2}`.
    n_points : int
        Number of points :math:`n`.
    """

    intercept: float
    slope: float
    slope_stderr: float
    rms_residual: float
    n_points: int


def _line(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return X, coef


def fit_line(x: ArrayLike, y: ArrayLike, *, stderr: bool = True) -> LineFit:
    r"""Least-squares line :math:`y \approx a + b x` with the standard error of the slope.

    Solved by :func:`numpy.linalg.lstsq` on the design matrix :math:`X = [1, x]`;
    :math:`\operatorname{se}(b)^2 = s^2 [(X^\top X)^{-1}]_{22}`,
    :math:`s^2 = \sum_i r_i^2 / \max(n - 2, 1)`. Cost :math:`O(n)`.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Abscissae (at least two distinct) and ordinates, finite.
    stderr : bool, default True
        Compute the standard error and residuals (``False``: only the line, faster).

    Returns
    -------
    LineFit
        Intercept, slope, its standard error, the RMS residual and ``n``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    X, coef = _line(x, y)
    if not stderr:
        return LineFit(float(coef[0]), float(coef[1]), float("nan"), float("nan"), len(y))
    resid = y - X @ coef
    n = len(y)
    s2 = float(resid @ resid) / max(n - 2, 1)
    cov = s2 * np.linalg.inv(X.T @ X)
    return LineFit(float(coef[0]), float(coef[1]), float(np.sqrt(max(cov[1, 1], 0.0))),
                   float(np.sqrt(np.mean(resid**2))), n)


@dataclass(frozen=True)
class PowerLawFit:
    r"""Least-squares fit of :math:`e \approx C n^{-p}` with a bootstrap interval for :math:`p`.

    Built by :func:`fit_power_law`; the fields are:

    Parameters
    ----------
    rate : float
        The fitted exponent :math:`p` (positive when errors decrease).
    constant : float
        :math:`C`.
    ci : tuple of float
        Percentile bootstrap interval for :math:`p` at level ``level``.
    level : float
        Confidence level of ``ci``.
    sizes, mean_errors, standard_errors : ndarray
        The data the fit was made on (means and standard errors over seeds).
    n_boot : int
        Number of bootstrap resamples.
    boot_rates, boot_constants : ndarray, shape (n_boot,)
        The fitted :math:`p_b` and :math:`C_b` of every bootstrap resample (from which
        ``ci`` and :meth:`band` are percentiles).
    """

    rate: float
    constant: float
    ci: tuple[float, float]
    level: float
    sizes: np.ndarray
    mean_errors: np.ndarray
    standard_errors: np.ndarray
    n_boot: int
    boot_rates: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    boot_constants: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def predict(self, n: ArrayLike) -> np.ndarray:
        """Fitted error :math:`C n^{-p}` at sizes ``n``.

        Parameters
        ----------
        n : float or array_like
            Sizes at which to evaluate the fit.

        Returns
        -------
        numpy.ndarray
            :math:`C n^{-p}`, with the shape of ``n``.
        """
        return self.constant * np.asarray(n, dtype=float) ** (-self.rate)

    def contains(self, p: float) -> bool:
        """Whether the interval ``ci`` contains the exponent ``p``.

        Parameters
        ----------
        p : float
            A candidate exponent (e.g. the theoretical rate 1/2).

        Returns
        -------
        bool
            ``ci[0] <= p <= ci[1]``.
        """
        return bool(self.ci[0] <= p <= self.ci[1])

    def band(self, n: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        r"""Pointwise bootstrap confidence band of the fitted line :math:`C n^{-p}`.

        At each size :math:`n` the band runs between the :math:`(1 \mp \text{level})/2`
        quantiles of the bootstrap lines :math:`C_b n^{-p_b}` (the same resamples as
        ``ci``), so that at every :math:`n` a fraction ``level`` of them lies inside.
        With ``n_boot = 0`` both ends are the fitted line.

        Parameters
        ----------
        n : float or array_like
            Sizes at which to evaluate the band.

        Returns
        -------
        lower, upper : numpy.ndarray
            The pointwise lower and upper ends, with the shape of ``n``.
        """
        n = np.asarray(n, dtype=float)
        if self.boot_rates.size == 0:
            line = self.predict(n)
            return line, line.copy()
        logn = np.log(n)[..., None]
        lines = np.log(self.boot_constants) - self.boot_rates * logn
        alpha = (1 - self.level) / 2
        lo, hi = np.quantile(lines, [alpha, 1 - alpha], axis=-1)
        return np.exp(lo), np.exp(hi)

    def __str__(self) -> str:
        pct = round(100 * self.level)
        return (f"error ~ {self.constant:.3g} n^(-{self.rate:.3f}),  "
                f"{pct}% CI for the rate [{self.ci[0]:.3f}, {self.ci[1]:.3f}]")


def _slope(logn: np.ndarray, loge: np.ndarray) -> tuple[float, float]:
    # the line log e = log C + p (-log n): its slope is the rate p
    f = fit_line(-logn, loge, stderr=False)
    return f.slope, f.intercept


def fit_power_law(sizes: ArrayLike, errors: ArrayLike, *, level: float = 0.95, n_boot: int = 2000,
                  rng: SeedLike = 0) -> PowerLawFit:
    r"""Fit :math:`e \approx C n^{-p}` to errors over sizes and seeds.

    Parameters
    ----------
    sizes : array_like, shape (K,)
        Positive sizes :math:`n`, at least two distinct.
    errors : array_like, shape (K,) or (K, S)
        Positive errors; one row per size, one column per seed (NaN marks a
        missing run).
    level : float
        Confidence level of the bootstrap interval.
    n_boot : int
        Bootstrap resamples (0 gives a degenerate interval at the estimate).
    rng : int or Generator
        Seed of the bootstrap.

    Returns
    -------
    PowerLawFit

    Raises
    ------
    DimensionError
        If ``errors`` does not have one row per size.
    ConfigError
        For fewer than two distinct sizes, non-positive sizes or errors, a size
        without any finite error, or ``level`` outside :math:`(0, 1)`.
    """
    n = np.asarray(sizes, dtype=float)
    e = np.asarray(errors, dtype=float)
    if e.ndim == 1:
        e = e[:, None]
    if n.ndim != 1 or e.shape[0] != n.size:
        raise DimensionError(f"`errors` must have one row per size: sizes {n.shape}, errors {e.shape}.")
    if np.unique(n).size < 2:
        raise ConfigError("`sizes` must contain at least two distinct values to fit a rate.")
    if np.any(~(n > 0)):
        raise ConfigError(f"`sizes` must be positive, got {n}.")
    finite = np.isfinite(e)
    if np.any(e[finite] <= 0):
        raise ConfigError("`errors` must be positive to be fitted on a log scale.")
    counts = finite.sum(axis=1)
    if np.any(counts == 0):
        raise ConfigError(f"`errors` has no finite value at sizes {n[counts == 0]}.")
    if not 0 < level < 1:
        raise ConfigError(f"`level` must lie in (0, 1), got {level}.")
    means = np.array([row[np.isfinite(row)].mean() for row in e])
    ses = np.array([row[np.isfinite(row)].std(ddof=1) / np.sqrt(c) if c > 1 else np.nan
                    for row, c in zip(e, counts, strict=True)])
    logn = np.log(n)
    p, logc = _slope(logn, np.log(means))
    gen = as_generator(rng)
    boots = np.empty(n_boot)
    boot_logc = np.empty(n_boot)
    rows = [row[np.isfinite(row)] for row in e]
    for i in range(n_boot):
        bm = np.array([r[gen.integers(0, r.size, r.size)].mean() for r in rows])
        boots[i], boot_logc[i] = _slope(logn, np.log(bm))
    if n_boot:
        alpha = (1 - level) / 2
        ci = (float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha)))
    else:
        ci = (p, p)
    return PowerLawFit(rate=p, constant=float(np.exp(logc)), ci=ci, level=level, sizes=n,
                       mean_errors=means, standard_errors=ses, n_boot=n_boot,
                       boot_rates=boots, boot_constants=np.exp(boot_logc))


def observed_orders(h: ArrayLike, errors: ArrayLike) -> np.ndarray:
    r"""Observed orders :math:`\log(e_i/e_{i+1})/\log(h_i/h_{i+1})` of successive refinements.

    Parameters
    ----------
    h : array_like, shape (k,)
        Discretisation parameters (step sizes, or sizes such as :math:`N`, in
        which case the orders come out negative for decreasing errors).
    errors : array_like, shape (k,)
        Errors :math:`e_i` at those parameters.

    Returns
    -------
    numpy.ndarray, shape (k - 1,)
        The observed order between each pair of successive refinements.

    Raises
    ------
    DimensionError
        If ``h`` and ``errors`` are not 1-D of the same length, at least 2.
    """
    h = np.asarray(h, dtype=float)
    e = np.asarray(errors, dtype=float)
    if h.shape != e.shape or h.ndim != 1 or h.size < 2:
        raise DimensionError("`h` and `errors` must be 1-D of the same length, at least 2.")
    return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])


def richardson_order(q1: float, q2: float, q3: float, ratio: float = 2.0) -> float:
    r"""Richardson's observed order from values at three refinements with ratio ``ratio``.

    :math:`p = \log(|q_1-q_2|/|q_2-q_3|)/\log r`.

    Parameters
    ----------
    q1, q2, q3 : float
        A quantity computed at three successively refined discretisations.
    ratio : float, default 2.0
        Refinement ratio :math:`r` between successive discretisations.

    Returns
    -------
    float
        The observed order :math:`p`; ``inf`` when two successive values coincide.
    """
    d1, d2 = abs(q1 - q2), abs(q2 - q3)
    if d2 == 0 or d1 == 0:
        return float("inf")
    return float(np.log(d1 / d2) / np.log(ratio))
