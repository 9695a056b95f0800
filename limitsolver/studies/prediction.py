r"""Measured finite-width errors against the fluctuation prediction (theory §8).

A convergence study measures :math:`e_N = \mathbb E[\text{metric}]` at each width; the
fluctuation limit predicts :math:`\sqrt N\, e_N \to C` with the constant :math:`C` of
:class:`~limitsolver.limit.fluctuations.FluctuationPrediction`. This module compares the
two per width:

* :math:`\sqrt N\,\bar e_N` with its standard error over seeds;
* the ratio :math:`R_N = \sqrt N\,\bar e_N / C` with a 95 % interval from the delta method,
  :math:`R_N\,(1 \pm 1.96\sqrt{(s_N/\bar e_N)^2 + (s_C/C)^2})`, where :math:`s_C` is the
  Monte Carlo error of :math:`C`.

A ratio tending to 1 as :math:`N` grows is the check of the theory; its distance from 1 at
small :math:`N` shows where the leading order stops being accurate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .convergence import TABLE_COLUMNS, Column

if TYPE_CHECKING:
    from ..._random import SeedLike
    from ...limit.fluctuations import FluctuationPrediction
    from ...studies.convergence import ConvergenceResult, ConvergenceStudy

__all__ = ["PredictedErrors", "compare_with_prediction", "prediction_columns",
           "predict_study", "prediction_applies", "PREDICTION_Z"]

#: Normal quantile of the ratio's two-sided 95 % interval.
PREDICTION_Z = 1.959963984540054


@dataclass(frozen=True)
class PredictedErrors:
    r"""One metric of a study next to its prediction, per width.

    Parameters
    ----------
    metric : str
        The metric (``"sup_l2"`` or ``"loss_gap"``).
    n_units : ndarray, shape (n,)
        Widths :math:`N`.
    scaled : ndarray, shape (n,)
        :math:`\sqrt N\,\bar e_N`.
    scaled_se : ndarray, shape (n,)
        Its standard error over seeds.
    constant : float
        The predicted :math:`C`.
    constant_se : float
        Its Monte Carlo standard error.
    ratio, ratio_low, ratio_high : ndarray, shape (n,)
        :math:`R_N` and its 95 % interval.
    """

    metric: str
    n_units: np.ndarray
    scaled: np.ndarray
    scaled_se: np.ndarray
    constant: float
    constant_se: float
    ratio: np.ndarray
    ratio_low: np.ndarray
    ratio_high: np.ndarray

    def to_dict(self) -> dict:
        """Fields as a JSON-able dictionary.

        Returns
        -------
        dict
            The fields of the dataclass.
        """
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def compare_with_prediction(result: ConvergenceResult, prediction: FluctuationPrediction,
                            metric: str = "sup_l2") -> PredictedErrors:
    r"""Ratios of measured to predicted errors for one metric of a study.

    Parameters
    ----------
    result : ConvergenceResult
        The study.
    prediction : FluctuationPrediction
        The prediction on the study's histories and time grid.
    metric : str
        A metric of both (``"sup_l2"``, ``"loss_gap"``).

    Returns
    -------
    PredictedErrors

    Raises
    ------
    ConfigError
        If the metric is not predicted or not measured.
    """
    if metric not in prediction.constants or metric not in result.fits:
        raise ConfigError(
            f"`metric` must be measured and predicted: {sorted(set(prediction.constants) & set(result.fits))}; "
            f"got {metric!r}."
        )
    fit = result.fits[metric]
    n = np.asarray(result.study.n_units, dtype=float)
    root = np.sqrt(n)
    mean = np.asarray(fit.mean_errors, dtype=float)
    se = np.asarray(fit.standard_errors, dtype=float)
    C = float(prediction.constants[metric])
    sC = float(prediction.constants_se[metric])
    ratio = root * mean / C
    rel = np.sqrt((se / mean) ** 2 + (sC / C) ** 2)
    return PredictedErrors(metric=metric, n_units=n.astype(int), scaled=root * mean,
                           scaled_se=root * se, constant=C, constant_se=sC, ratio=ratio,
                           ratio_low=ratio * (1 - PREDICTION_Z * rel),
                           ratio_high=ratio * (1 + PREDICTION_Z * rel))


def prediction_columns(prediction: FluctuationPrediction) -> tuple[Column, ...]:
    r"""The study table's columns with the prediction: :math:`\sqrt N e`, predicted, ratio.

    Parameters
    ----------
    prediction : FluctuationPrediction
        The prediction on the study's histories and time grid.

    Returns
    -------
    tuple of Column
        :data:`~limitsolver.studies.convergence.TABLE_COLUMNS` with, before the seed count,
        ``sqrtN*err`` (:math:`\sqrt N\,\bar e_N`), ``predicted`` (:math:`C`) and ``ratio
        [95% CI]`` (measured / predicted) for the metrics the prediction covers (blank for
        the others).
    """

    def cmp(r, m):
        return compare_with_prediction(r, prediction, m) if m in prediction.constants else None

    def scaled(r, m):
        c = cmp(r, m)
        return c.scaled if c is not None else [np.nan] * len(r.study.n_units)

    def predicted(r, m):
        c = cmp(r, m)
        return [c.constant if c is not None else np.nan] * len(r.study.n_units)

    def ratio(r, m):
        c = cmp(r, m)
        if c is None:
            return ["-"] * len(r.study.n_units)
        return [f"{v:.2f} [{lo:.2f}, {hi:.2f}]"
                for v, lo, hi in zip(c.ratio, c.ratio_low, c.ratio_high, strict=True)]

    extra = (Column("sqrtN*err", scaled, ">9.4f"), Column("predicted", predicted, ">9.4f"),
             Column("ratio [95% CI]", ratio, ">18s"))
    cut = next(i for i, c in enumerate(TABLE_COLUMNS) if c.header == "seeds")
    return TABLE_COLUMNS[:cut] + extra + TABLE_COLUMNS[cut:]


def predict_study(study: ConvergenceStudy, result: ConvergenceResult | None = None, *,
                  n_samples: int = 512, seed: SeedLike = 0,
                  progress: bool | None = None, blas_threads: int | None = 1):
    r"""The fluctuation prediction for a convergence study, or None where it does not apply.

    It applies at :math:`\beta = 1/2` on the exact histories of a finite chain (rtrl or
    truncated training).
    With doubled initialisation the limit starts from :math:`h_0 = 0`; without, each seed's
    limit starts from its network's :math:`h^N_0`, and the prediction is averaged over the
    initial outputs of the seeds at the largest width (from ``result``). The limit is
    the one ``result`` holds when it belongs to this study (:attr:`ConvergenceResult.limit
    <limitsolver.studies.convergence.ConvergenceResult.limit>`), solved otherwise.

    Parameters
    ----------
    study : ConvergenceStudy
        The study.
    result : ConvergenceResult, optional
        Its result (needed without doubling, for the seeds' initial outputs).
    n_samples : int
        Sample paths per initial output.
    seed : int, SeedSequence or Generator
        Source of the sample paths.
    progress : bool, optional
        Progress bar (None: only on a terminal).
    blas_threads : int or None, default 1
        BLAS threads while predicting (as in
        :func:`~limitsolver.studies.convergence.run_convergence`; None: leave the
        library's setting). Its eigendecompositions of :math:`M\times M` matrices wait
        for a busy core with more than one.

    Returns
    -------
    FluctuationPrediction or None
        None where it does not apply (:func:`prediction_applies` says why).
    """
    from ..limit.fluctuations import predict_fluctuations
    from .executors import blas_threads as _blas

    reason = prediction_applies(study)
    if reason:
        return None
    net = study.problem.network
    h0 = None
    if not net.prior.doubled:
        if result is None or result.finite_h is None:
            return None
        h0 = result.finite_h[-1, :, 0, :]                     # seeds' h^N_0 at the largest N
    source = getattr(result, "limit", None)
    if source is None or result.study.fingerprint() != study.fingerprint():
        source = study.problem            # solved by predict_fluctuations
    with _blas(blas_threads):
        return predict_fluctuations(source, times=study.times, histories=study.histories,
                                    grid=dict(study.grid), h0=h0, n_samples=n_samples,
                                    seed=seed, progress=progress)


def prediction_applies(study: ConvergenceStudy) -> str:
    """Why the fluctuation prediction does not apply to a study ('' when it does).

    Parameters
    ----------
    study : ConvergenceStudy
        The study.

    Returns
    -------
    str
        Empty, or one sentence naming the setting that rules it out.
    """
    net = study.problem.network
    if net.beta != 0.5:
        return f"the prediction is the leading order at beta = 1/2 (beta = {net.beta:g})"
    if study.histories != "exact" or not hasattr(study.problem.chain, "P"):
        return "the data-noise term needs the exact histories of a finite chain"
    return ""
