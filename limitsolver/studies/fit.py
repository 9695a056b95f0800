r"""Rates of convergence: power-law fits with bootstrap intervals and observed orders.

A convergence study measures errors :math:`e_{n,s}` at sizes :math:`n` (width
:math:`N`, learning rate, nodes, ...) and seeds :math:`s` and fits

.. math::

    \log \bar e_n = \log C - p \log n, \qquad \bar e_n = \frac1{S_n}\sum_s e_{n,s},

by least squares. The confidence interval for :math:`p` is a percentile
bootstrap over seeds: the seeds of every size are resampled with replacement,
the means recomputed and the line refitted.

Refinement studies of a discretisation parameter :math:`h` use observed orders
:math:`p_i = \log(e_i/e_{i+1})/\log(h_i/h_{i+1})` and, when only values are
available, Richardson's estimate from three successive refinements with ratio
:math:`r`: :math:`p = \log(|q_1-q_2|/|q_2-q_3|)/\log r`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._random import as_generator

__all__ = ["PowerLawFit", "fit_power_law", "observed_orders", "richardson_order"]


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
    """

    rate: float
    constant: float
    ci: tuple[float, float]
    level: float
    sizes: np.ndarray
    mean_errors: np.ndarray
    standard_errors: np.ndarray
    n_boot: int

    def predict(self, n) -> np.ndarray:
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

    def band(self, n) -> tuple[np.ndarray, np.ndarray]:
        r"""Lines through the geometric centre of the data with the exponents at the ends of ``ci``.

        With :math:`\bar\ell = \operatorname{mean}_i \log n_i` and
        :math:`\log e_0 = \log C - p \bar\ell`, the lines are
        :math:`\log e = \log e_0 - p_\pm (\log n - \bar\ell)` for the two ends
        :math:`p_\pm` of ``ci``.

        Parameters
        ----------
        n : float or array_like
            Sizes at which to evaluate the band.

        Returns
        -------
        lower, upper : numpy.ndarray
            The pointwise lower and upper lines, with the shape of ``n``.
        """
        n = np.asarray(n, dtype=float)
        logn0 = np.mean(np.log(self.sizes))
        loge0 = np.log(self.constant) - self.rate * logn0
        lo = np.exp(loge0 - self.ci[1] * (np.log(n) - logn0))
        hi = np.exp(loge0 - self.ci[0] * (np.log(n) - logn0))
        return np.minimum(lo, hi), np.maximum(lo, hi)

    def __str__(self) -> str:
        pct = round(100 * self.level)
        return (f"error ~ {self.constant:.3g} n^(-{self.rate:.3f}),  "
                f"{pct}% CI for the rate [{self.ci[0]:.3f}, {self.ci[1]:.3f}]")


def _slope(logn: np.ndarray, loge: np.ndarray) -> tuple[float, float]:
    A = np.stack([np.ones_like(logn), -logn], axis=1)
    (logc, p), *_ = np.linalg.lstsq(A, loge, rcond=None)
    return float(p), float(logc)


def fit_power_law(sizes, errors, *, level: float = 0.95, n_boot: int = 2000,
                  rng=0) -> PowerLawFit:
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
    ValueError
        For fewer than two sizes, non-positive sizes or errors, or a size
        without any finite error.
    """
    n = np.asarray(sizes, dtype=float)
    e = np.asarray(errors, dtype=float)
    if e.ndim == 1:
        e = e[:, None]
    if n.ndim != 1 or e.shape[0] != n.size:
        raise ValueError(f"`errors` must have one row per size: sizes {n.shape}, errors {e.shape}.")
    if np.unique(n).size < 2:
        raise ValueError("`sizes` must contain at least two distinct values to fit a rate.")
    if np.any(~(n > 0)):
        raise ValueError(f"`sizes` must be positive, got {n}.")
    finite = np.isfinite(e)
    if np.any(e[finite] <= 0):
        raise ValueError("`errors` must be positive to be fitted on a log scale.")
    counts = finite.sum(axis=1)
    if np.any(counts == 0):
        raise ValueError(f"`errors` has no finite value at sizes {n[counts == 0]}.")
    if not 0 < level < 1:
        raise ValueError(f"`level` must lie in (0, 1), got {level}.")
    means = np.array([row[np.isfinite(row)].mean() for row in e])
    ses = np.array([row[np.isfinite(row)].std(ddof=1) / np.sqrt(c) if c > 1 else np.nan
                    for row, c in zip(e, counts, strict=True)])
    logn = np.log(n)
    p, logc = _slope(logn, np.log(means))
    gen = as_generator(rng)
    boots = np.empty(n_boot)
    rows = [row[np.isfinite(row)] for row in e]
    for i in range(n_boot):
        bm = np.array([r[gen.integers(0, r.size, r.size)].mean() for r in rows])
        boots[i] = _slope(logn, np.log(bm))[0]
    if n_boot:
        alpha = (1 - level) / 2
        ci = (float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha)))
    else:
        ci = (p, p)
    return PowerLawFit(rate=p, constant=float(np.exp(logc)), ci=ci, level=level, sizes=n,
                       mean_errors=means, standard_errors=ses, n_boot=n_boot)


def observed_orders(h, errors) -> np.ndarray:
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
    ValueError
        If ``h`` and ``errors`` are not 1-D of the same length, at least 2.
    """
    h = np.asarray(h, dtype=float)
    e = np.asarray(errors, dtype=float)
    if h.shape != e.shape or h.ndim != 1 or h.size < 2:
        raise ValueError("`h` and `errors` must be 1-D of the same length, at least 2.")
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
