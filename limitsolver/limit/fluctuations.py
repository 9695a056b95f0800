r"""The finite-width error: fluctuations of order :math:`N^{-1/2}` around the limit (theory §8).

At :math:`\beta = 1/2` the distance between a finite network and the limit is not only a
rate: its size is predictable. On the training histories :math:`\{(\xi_i, \omega_i)\}`
(weights :math:`W = \operatorname{diag}(\omega)`) write

.. math::

    G_t = \sqrt N\,(h^N_t - h_t), \qquad r_s = g - h_s,

with :math:`h_s` started from :math:`h^N_0`. At leading order :math:`G` is a centred
Gaussian process with two independent sources.

**(K) kernel randomness at initialisation.** Unit :math:`\theta = (c, w, b)` contributes
:math:`a_\theta(\xi,\xi') = \varphi_\theta(\xi)\varphi_\theta(\xi') +
c^2\psi_\theta(\xi)\cdot\psi_\theta'(\xi')` (:math:`\chi` in the second slot in truncated
mode) and :math:`A = \mathbb E_\theta a_\theta`. The tangent kernel at :math:`t = 0` is the
mean of :math:`a_\theta` over :math:`n_{\rm ind}` independent draws (:math:`N`, or
:math:`N/2` pairs with doubled initialisation, whose members share :math:`a_\theta`), so
:math:`A^N_0 - A \approx n_{\rm ind}^{-1/2} Z` with :math:`\operatorname{Cov} Z =
\operatorname{Cov}_\theta(a_\theta)`, acting through the linear response

.. math::

    L_t[\delta A] = \alpha\int_0^t e^{-\alpha(t-s)AW}\,\delta A\,W r_s\,ds,\qquad
    K_t = \frac{N}{n_{\rm ind}}\,\mathbb E_\theta\|L_t[a_\theta - A]\|^2_{L^2(\pi)}.

**(D) data noise of online SGD.** On the lifted chain of histories, with
:math:`F_s(\xi') = A(\cdot,\xi')\,r_s(\xi')`, the asymptotic covariance
:math:`\Gamma_s = \sum_{j\in\mathbb Z}\operatorname{Cov}(F_s(\xi_0), F_s(\xi_j)) =
\mathbb E_\pi[\bar F\bar V^\top + \bar V\bar F^\top - \bar F\bar F^\top]` comes from the
Poisson equation :math:`V - P_{\rm lift}V = \bar F`; the noise enters as
:math:`dG = -\alpha AW G\,dt + \alpha\,dM_t`, :math:`d\langle M\rangle_t = \Gamma_t\,dt`, so

.. math::

    \frac{dC}{dt} = -\alpha AW C - C(\alpha AW)^\top + \alpha^2\Gamma_t,\quad C_0 = 0,\qquad
    D_t = \operatorname{tr}(W C_t),

and :math:`N\,\mathbb E\|h^N_t - h_t\|^2_{L^2(\pi)} \to K_t + D_t`.

How it is computed (rtrl mode)
------------------------------
Everything is written in the eigenbasis of :math:`B = W^{1/2}AW^{1/2} = U\Lambda U^\top`
(only the range of :math:`B` matters: every source of :math:`G` lies in it), in the
coordinates :math:`y = U^\top W^{1/2} G`, so that :math:`\|G\|_{L^2(\pi)} = \|y\|`.

* With the kernel factor :math:`A = FF^\top` of the quadrature rule (:math:`r = (d+2)G`
  columns, block :math:`b` of node :math:`g` being :math:`f_{gb} = \sqrt{q_g}\,\varphi_g` or
  :math:`\sqrt{q_g\mathbb E c^2}\,\psi_{g}`), put :math:`\hat f_{gb} = U^\top W^{1/2}f_{gb}`
  and :math:`\rho_0 = U^\top W^{1/2} r_0`. Each :math:`q_g a_g = \sum_b f_{gb}f_{gb}^\top` has
  rank :math:`\le d + 2`, and

  .. math::

      U^\top W^{1/2} L_t[q_g a_g] = \alpha\sum_b \hat f_{gb}\circ\bigl(E_t(\hat f_{gb}\circ
      \rho_0)\bigr),\qquad E_t[m,k] = \int_0^t e^{-\alpha\lambda_m(t-s)-\alpha\lambda_k s}ds,

  exactly in time (:func:`divided_exponential`). For Gaussian :math:`c`, :math:`c^2` varies
  from unit to unit and adds :math:`\operatorname{Var}(c^2)/(\mathbb E c^2)^2` times the
  gradient blocks' part; for Rademacher :math:`c` it adds nothing.
* The noise of a step at training history :math:`\xi_j` is
  :math:`U^\top W^{1/2}A(\cdot,\xi_j)\,r(\xi_j) = \Lambda U_{j\cdot}^\top r_j/\sqrt{\omega_j}`,
  so :math:`\hat\Gamma_s = \Lambda X_s^\top H X_s\Lambda`, :math:`X_s =
  \operatorname{diag}(r_s/\sqrt\omega)\,U`, where :math:`H = \Pi^\top(WZ + Z^\top W - W)\Pi`
  (:math:`Z = (I - P_{\rm lift} + 1\omega^\top)^{-1}`, :math:`\Pi = I - 1\omega^\top`) is the
  asymptotic-variance form of the lifted chain, :math:`f^\top H f = \sigma^2(f)`
  (:func:`asymptotic_covariance_form`). The Lyapunov equation is diagonal in the eigenbasis
  for the trace; it is integrated by the exponential midpoint rule on ``substeps``
  sub-intervals of each step of the time grid (second order; the exponential factors are
  exact).
* The law of :math:`G` jointly in time is sampled (``n_samples`` paths): one Gaussian
  random kernel per path for (K), and the exact Markov recursion of (D) with one Gaussian
  increment :math:`\alpha\,\mathrm{diag}(\sqrt{w})\Lambda X_s^\top L\,\zeta` per sub-interval
  (:math:`H = LL^\top`), whose variances match the quadrature of :math:`D_t` exactly. The
  constants of the metrics of :mod:`~limitsolver.studies.convergence` are Monte Carlo means
  over the paths, reported with their standard errors.

Truncated mode (non-symmetric kernel, :math:`\chi` in the training slot) replaces the
eigenbasis by the real time-stepping of the same equations on the histories with the
propagator :math:`e^{-\alpha\Delta AW}` (``method="stepping"``, exponential midpoint rule
for both sources, second order in the sub-step; see ``_stepping_engine``); in rtrl mode it
is the cross-check of the spectral route.

Cost, with :math:`M` histories, :math:`G` nodes, :math:`r = (d+2)G`, :math:`n_t` times,
:math:`n_s` sub-intervals in all and :math:`S` sample paths: the spectrum
:math:`O(M^2 r)`; (K) :math:`O(n_t(M^2 r + M r S))`; (D) the lifted chain's fundamental
matrix :math:`O(M^3)` once and :math:`O(n_s(M^3 + M^2 S))`; the stepping route adds
:math:`O(n_s M^2 r)` for (K). Memory :math:`O(M r + M^2 + MS)`. At the headline problem
(:math:`M = 1024`, :math:`G = 1024`, 6 times) the spectral route costs less than one finite
run at the study's largest width (the benchmark suite reports the ratio).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._random import spawn_generators
from ..errors import ConfigError, DimensionError, DiscretisationError, DivergenceError
from ..progress import progress as progress_bar
from .ode import phi1

if TYPE_CHECKING:
    from scipy.sparse import sparray, spmatrix

    from ..._random import SeedLike
    from ...chains import FiniteChain
    from ...histories import Histories
    from ...limit.quadrature import QuadratureRule
    from ...limit.solution import LimitSolution
    from ...problem import Problem

__all__ = [
    "FluctuationPrediction",
    "predict_fluctuations",
    "divided_exponential",
    "lifted_transition",
    "asymptotic_covariance_form",
    "FLUCTUATION_METRICS",
    "N_INITIAL_DRAWS",
    "gaussian_initial_outputs",
]

#: Metrics of the convergence study whose constant the prediction gives.
FLUCTUATION_METRICS = ("sup_l2", "loss_gap")


# -- building blocks ---------------------------------------------------------------------


def divided_exponential(lam_out: np.ndarray, lam_in: np.ndarray, t: float,
                        alpha: float = 1.0) -> np.ndarray:
    r""":math:`E_t[m,k] = \int_0^t e^{-\alpha\lambda_m(t-s)}e^{-\alpha\lambda_k s}\,ds` for all pairs.

    Computed as :math:`t\,e^{-\alpha\min(\lambda_m,\lambda_k)t}\,\varphi_1(\alpha|\lambda_m -
    \lambda_k|t)` with :math:`\varphi_1(x) = (1 - e^{-x})/x`, which is stable for equal,
    nearly equal and widely separated rates (no difference of exponentials).

    Parameters
    ----------
    lam_out, lam_in : ndarray, shape (m,) and (k,)
        Non-negative rates :math:`\lambda_m` (rows) and :math:`\lambda_k` (columns).
    t : float
        Time :math:`t \ge 0`.
    alpha : float
        Learning-rate constant :math:`\alpha > 0`.

    Returns
    -------
    ndarray, shape (m, k)
    """
    a = alpha * t * np.asarray(lam_out, dtype=float)[:, None]
    b = alpha * t * np.asarray(lam_in, dtype=float)[None, :]
    return t * np.exp(-np.minimum(a, b)) * phi1(np.abs(a - b))


def lifted_transition(histories: Histories, chain: FiniteChain) -> sp.csr_matrix:
    r"""Transition matrix of the lifted chain on a complete set of exact histories.

    The window :math:`(x_k, \dots, x_{k-L+1})` moves to :math:`(x', x_k, \dots, x_{k-L+2})`
    with probability :math:`P(x_k, x')`.

    Parameters
    ----------
    histories : Histories
        Exact histories of a finite chain (state indices set), closed under the shift.
    chain : FiniteChain
        The chain (its ``P``).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (M, M)

    Raises
    ------
    ConfigError
        If the histories carry no state indices (sampled or given arrays).
    ConfigError
        If a successor window is missing (the set is not the complete exact set).
    """
    idx = getattr(histories, "indices", None)
    P = getattr(chain, "P", None)
    if idx is None or P is None:
        raise ConfigError(
            "the data-noise term needs the exact histories of a finite chain (state indices "
            "and P); use `histories='exact'` with a FiniteChain, or `data_noise=False` for "
            "the kernel term alone."
        )
    P = np.asarray(P, dtype=float)
    n = P.shape[0]
    M, L = idx.shape
    radix = n ** np.arange(L - 1, -1, -1, dtype=np.int64)
    codes = idx.astype(np.int64) @ radix
    order = np.argsort(codes)
    sorted_codes = codes[order]
    rows, cols, vals = [], [], []
    shifted = idx[:, :-1].astype(np.int64) @ radix[1:]       # (x_k, ..., x_{k-L+2}) moved back
    for nxt in range(n):
        p = P[idx[:, 0], nxt]
        keep = p > 0
        code = nxt * radix[0] + shifted[keep]
        pos = np.searchsorted(sorted_codes, code)
        pos = np.minimum(pos, M - 1)
        if not np.all(sorted_codes[pos] == code):
            raise ConfigError(
                "a successor window of the lifted chain is missing from `histories`: the "
                "data-noise term needs the exact histories of a finite chain (the complete "
                "set, `histories='exact'`), or `terms=('kernel',)` for the kernel term alone."
            )
        rows.append(np.flatnonzero(keep))
        cols.append(order[pos])
        vals.append(p[keep])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(M, M))


def asymptotic_covariance_form(P_lift: ArrayLike | sparray | spmatrix,
                               weights: np.ndarray) -> np.ndarray:
    r"""The symmetric matrix :math:`H` with :math:`f^\top H f = \sigma^2(f)` for every :math:`f`.

    :math:`\sigma^2(f) = \sum_{j\in\mathbb Z}\operatorname{Cov}_\pi(f(\xi_0), f(\xi_j))` is
    the asymptotic variance of :math:`f` under the stationary chain. With the fundamental
    matrix :math:`Z = (I - P + 1\omega^\top)^{-1}` and :math:`\Pi = I - 1\omega^\top`, the
    Poisson solution of :math:`\bar f = \Pi f` is :math:`V = Z\bar f` and
    :math:`\sigma^2 = 2\,\omega^\top(\bar f\circ V) - \omega^\top\bar f^2`, so

    .. math::

        H = \Pi^\top\bigl(WZ + Z^\top W - W\bigr)\Pi,

    and :math:`\Gamma = X^\top H X` for a vector function with values :math:`X` (rows are
    states). Cost :math:`O(M^3)`.

    Parameters
    ----------
    P_lift : array_like or sparse, shape (M, M)
        Irreducible stochastic matrix.
    weights : ndarray, shape (M,)
        Its stationary law :math:`\omega`.

    Returns
    -------
    ndarray, shape (M, M)
        Symmetric positive semi-definite up to rounding.
    """
    P = P_lift.toarray() if sp.issparse(P_lift) else np.asarray(P_lift, dtype=float)
    om = np.asarray(weights, dtype=float)
    M = om.size
    Zinv = np.eye(M) - P + om[None, :]
    # W Z Pi = (Z^T W)^T Pi: solve Z^T y = W columns instead of forming Z
    ZtW = scipy.linalg.solve(Zinv.T, np.diag(om), check_finite=False)   # Z^T W
    core = ZtW.T + ZtW - np.diag(om)                                     # W Z + Z^T W - W
    # Pi^T core Pi with Pi = I - 1 om^T
    c1 = core - np.outer(core.sum(axis=1), om)                          # core Pi
    H = c1 - np.outer(om, c1.sum(axis=0))                               # Pi^T core Pi
    return 0.5 * (H + H.T)


# -- the result ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FluctuationPrediction:
    r"""The predicted law of :math:`G_t = \sqrt N(h^N_t - h_t)` at leading order.

    Built by :func:`predict_fluctuations`; the fields are stored as attributes of the same
    names. All quantities are for :math:`\sqrt N`-scaled errors: divide by :math:`\sqrt N`
    for the error at width :math:`N`.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Training times :math:`t`.
    kernel : ndarray, shape (n_times,)
        :math:`K_t`, the kernel-randomness part of :math:`N\,\mathbb E\|h^N_t - h_t\|^2`.
    data : ndarray, shape (n_times,)
        :math:`D_t = \operatorname{tr}(WC_t)`, the data-noise part (zeros when
        ``data_noise=False``).
    per_history : ndarray, shape (n_times, M)
        :math:`\operatorname{Var} G_t(\xi_i)` per training history (Monte Carlo over the
        sample paths; where in history space the error sits).
    constants : dict
        Predicted :math:`\lim\sqrt N\,\mathbb E[\text{metric}]` for the metrics of
        :data:`FLUCTUATION_METRICS`: ``sup_l2`` is :math:`\mathbb E\sup_t\|G_t\|`,
        ``loss_gap`` is :math:`\mathbb E\sup_t|\langle r_t, G_t\rangle_{L^2(\pi)}|` (the
        first-order term of :math:`L^N_t - L_t`), sup over ``times``.
    constants_se : dict
        Monte Carlo standard errors of ``constants``.
    draws_ratio : float
        :math:`N/n_{\rm ind}` (2 with doubled initialisation, 1 otherwise).
    weights : ndarray, shape (M,)
        History weights :math:`\omega`.
    problem : Problem
        The problem predicted.
    diagnostics : dict
        Mode, sizes, rank kept, number of samples and sub-steps, timings.
    """

    times: np.ndarray
    kernel: np.ndarray
    data: np.ndarray
    per_history: np.ndarray
    constants: dict
    constants_se: dict
    draws_ratio: float
    weights: np.ndarray
    problem: Any
    diagnostics: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        c = ", ".join(f"{k}={v:.4g}" for k, v in self.constants.items())
        return (f"FluctuationPrediction(n_times={self.times.size}, K_T={self.kernel[-1]:.4g}, "
                f"D_T={self.data[-1]:.4g}, {c})")

    @property
    def total(self) -> np.ndarray:
        r""":math:`K_t + D_t = \lim N\,\mathbb E\|h^N_t - h_t\|^2_{L^2(\pi)}`."""
        return self.kernel + self.data

    @property
    def rms(self) -> np.ndarray:
        r"""The predicted :math:`\sqrt N`-scaled root-mean-square error per time, :math:`\sqrt{K_t + D_t}`."""
        return np.sqrt(self.total)

    def _constant(self, metric: str) -> float:
        if metric == "rms":
            return float(self.rms.max())
        if metric not in self.constants:
            raise ConfigError(
                f"`metric` must be one of {tuple(self.constants) + ('rms',)}, got {metric!r}."
            )
        return float(self.constants[metric])

    def error(self, n_units: ArrayLike, metric: str = "sup_l2") -> float | np.ndarray:
        r"""The predicted mean error at width :math:`N`: ``constant / sqrt(N)``.

        Parameters
        ----------
        n_units : int or array_like
            Widths :math:`N`.
        metric : str
            ``"sup_l2"``, ``"loss_gap"`` or ``"rms"`` (:math:`\max_t\sqrt{K_t + D_t}`).

        Returns
        -------
        float or ndarray
            The predicted error (one per width for an array of widths).
        """
        n = np.asarray(n_units, dtype=float)
        if np.any(~np.isfinite(n)) or np.any(n <= 0):
            raise ConfigError(f"`n_units` must be positive widths, got {n_units!r}.")
        out = self._constant(metric) / np.sqrt(n)
        return float(out) if out.ndim == 0 else out

    def width_for(self, epsilon: float, metric: str = "sup_l2") -> int:
        r"""The smallest width :math:`N` whose predicted error is at most ``epsilon``.

        :math:`N = \lceil(C/\varepsilon)^2\rceil` with the constant :math:`C` of ``metric``
        (rounded up to an even number with doubled initialisation).

        Parameters
        ----------
        epsilon : float
            Target error, :math:`\varepsilon > 0`.
        metric : str
            ``"sup_l2"``, ``"loss_gap"`` or ``"rms"``.

        Returns
        -------
        int
            The width.
        """
        eps = float(epsilon)
        if not (math.isfinite(eps) and eps > 0):
            raise ConfigError(f"`epsilon` must be a positive finite error, got {epsilon!r}.")
        n = max(1, math.ceil((self._constant(metric) / eps) ** 2))
        if self.draws_ratio == 2.0 and n % 2:
            n += 1
        return int(n)

    def to_dict(self) -> dict:
        """Summary for :func:`limitsolver.io.write_json` (arrays included).

        Returns
        -------
        dict
            ``times``, ``kernel``, ``data``, ``total``, ``rms``, ``constants``,
            ``constants_se``, ``draws_ratio``, ``weights``, ``per_history`` and
            ``diagnostics``.
        """
        return {"times": self.times, "kernel": self.kernel, "data": self.data,
                "total": self.total, "rms": self.rms, "constants": self.constants,
                "constants_se": self.constants_se, "draws_ratio": self.draws_ratio,
                "weights": self.weights, "per_history": self.per_history,
                "diagnostics": self.diagnostics}


# -- the prediction ------------------------------------------------------------------------


def _c_moments(prior) -> tuple[float, float]:
    """:math:`\\mathbb E c^2` and :math:`\\operatorname{Var}(c^2)` of the prior's law of c."""
    c2 = prior.c_second_moment
    var = 2.0 * c2**2 if prior.c_law == "gaussian" else 0.0
    return c2, var


def _spectral_factor(F: np.ndarray, weights: np.ndarray):
    """Eigen-pairs of ``B = W^1/2 F F^T W^1/2`` in its range and ``U^T W^1/2 F``."""
    sw = np.sqrt(weights)
    WF = sw[:, None] * F
    M, r = WF.shape
    if M <= r:
        lam, U = np.linalg.eigh(WF @ WF.T)
        lam, U = lam[::-1], U[:, ::-1]
    else:
        U, S, _ = scipy.linalg.svd(WF, full_matrices=False, lapack_driver="gesdd")
        lam = S**2
    tol = 10.0 * max(M, r) * np.finfo(float).eps * max(float(lam[0]), np.finfo(float).tiny)
    if float(lam.min()) < -tol:
        raise DiscretisationError(
            f"the rtrl kernel must be positive semi-definite, but W^1/2 A W^1/2 has the "
            f"eigenvalue {lam.min():.3e} below the rounding level -{tol:.1e}."
        )
    keep = lam > tol
    lam, U = lam[keep], U[:, keep]
    return lam, U, U.T @ WF


def predict_fluctuations(
    source: LimitSolution | Problem,
    *,
    times: ArrayLike | None = None,
    histories: Histories | int | str | np.ndarray = "exact",
    grid: QuadratureRule | dict | None = None,
    terms: Sequence[str] = ("kernel", "data"),
    h0: np.ndarray | None = None,
    method: str = "auto",
    n_samples: int = 512,
    substeps: int = 2,
    seed: SeedLike = 0,
    progress: bool | None = None,
) -> FluctuationPrediction:
    r"""Predict the law of :math:`\sqrt N(h^N_t - h_t)` from the fluctuation theory (§8).

    Parameters
    ----------
    source : LimitSolution or Problem
        A solved limit (its histories, rule, times and :math:`h_0` are used; the limit
        starts from :math:`h^N_0` when its ``h0`` is a finite network's initial output), or
        a problem, solved here with ``histories``, ``grid``, ``times`` and
        :math:`h_0 = 0`.
    times : array_like, optional
        Times of the prediction; default the solution's times (a problem:
        ``linspace(0, T, 6)``). Must start at 0.
    histories, grid
        Passed to :func:`~limitsolver.limit.solve_limit` when ``source`` is a problem.
    terms : sequence of {"kernel", "data"}
        The sources included: ``"kernel"`` (:math:`K_t`, any histories) and ``"data"``
        (:math:`D_t`, which needs the exact histories of a finite chain). Leaving one out
        predicts the other alone (its entries are zeros).
    h0 : ndarray, shape (M,) or (n, M), optional
        Initial outputs :math:`h^N_0` on the training histories from which the limit
        starts (default: the solution's ``h0``; from a problem without doubling,
        :data:`N_INITIAL_DRAWS` draws of the Gaussian process of covariance :math:`\Sigma`).
        A stack averages the prediction over them: at :math:`\beta = 1/2` without doubling
        the error depends on the realised initial output, and a study's mean over seeds is
        the mean over its seeds' ones.
    method : {"auto", "spectral", "stepping"}
        ``"spectral"`` (rtrl only): exact in time in the eigenbasis of
        :math:`W^{1/2}AW^{1/2}` for (K), exponential midpoint rule with exact exponential
        weights for (D). ``"stepping"``: both sources stepped on the histories with the
        propagator :math:`e^{-\alpha\Delta AW}` (exponential midpoint rule, second order
        in the sub-step); the route for the non-symmetric kernel of truncated mode and the
        cross-check of the spectral route. ``"auto"``: spectral in rtrl mode, stepping in
        truncated mode.
    n_samples : int
        Sample paths (per initial output) of the Gaussian process for the constants of the sup metrics.
    substeps : int
        Sub-intervals of each step of ``times`` for the data-noise term.
    seed : int, SeedSequence or Generator
        Source of the sample paths.
    progress : bool, optional
        Progress bar over the time steps (None: only on a terminal).

    Returns
    -------
    FluctuationPrediction

    Raises
    ------
    ConfigError
        :math:`\beta \ne 1/2` (the prediction is the leading order at the kernel scaling),
        bad ``n_samples``/``substeps``/``times``/``terms``, or ``"data"`` with histories
        that are not the exact histories of a finite chain.

    Notes
    -----
    Cost (module docstring): at the default study (M = 1024 exact histories, 1024 nodes,
    6 times) a few seconds; the dense :math:`M\times M` steps make it :math:`O(M^3)`, so
    the data-noise term is meant for exact histories up to a few thousand windows.
    """
    from .solution import LimitSolution

    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 2:
        raise ConfigError(f"`n_samples` must be an integer >= 2, got {n_samples!r}.")
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) \
            or substeps < 1:
        raise ConfigError(f"`substeps` must be a positive integer, got {substeps!r}.")
    terms = (terms,) if isinstance(terms, str) else tuple(terms)
    unknown = [x for x in terms if x not in ("kernel", "data")]
    if unknown or not terms:
        raise ConfigError(
            f"`terms` must be a non-empty subset of ('kernel', 'data'), got {terms!r}."
        )
    kernel_noise, data_noise = "kernel" in terms, "data" in terms
    if isinstance(source, LimitSolution):
        sol = source
        problem = sol.problem
        if sol.training_features is None:
            raise ConfigError(
                "`source` was solved in chunks of histories and holds no training features, "
                "which the prediction needs: solve it in memory (solve_limit(..., "
                "chunk_size=None), with a larger `memory_budget` if needed), or pass the "
                "Problem."
            )
    else:
        problem = source
        if not hasattr(problem, "network"):
            raise ConfigError(
                f"`source` must be a LimitSolution or a Problem, got {type(source).__name__}."
            )
        from .solver import solve_limit

        t_solve = (np.linspace(0.0, float(problem.horizon), 6) if times is None
                   else np.asarray(times, dtype=float))
        sol = solve_limit(problem, histories=histories, grid=grid, times=t_solve, h0="zero",
                          error_estimate=False, progress=False, seed=0, chunk_size=None)
    net = problem.network
    if net.beta != 0.5:
        raise ConfigError(
            f"the fluctuation prediction is the leading order at beta = 1/2; the network has "
            f"beta = {net.beta:g} (there the initial output N^(1/2-beta) dominates)."
        )
    t = sol.times if times is None else np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size < 2 or t[0] != 0.0 or np.any(np.diff(t) <= 0) \
            or not np.all(np.isfinite(t)):
        raise ConfigError(
            "`times` must be finite, strictly increasing and start at 0 (the process starts "
            f"from G_0 = 0); got {t!r}."
        )
    if method not in ("auto", "spectral", "stepping"):
        raise ConfigError(f"`method` must be 'auto', 'spectral' or 'stepping', got {method!r}.")
    if method == "auto":
        method = "spectral" if net.gradient == "rtrl" else "stepping"
    if method == "spectral" and net.gradient != "rtrl":
        raise ConfigError(
            "`method='spectral'` needs the symmetric kernel of rtrl training; truncated mode "
            "uses method='stepping'."
        )
    timing: dict[str, float] = {}
    hist = sol.histories
    om = np.asarray(hist.weights, dtype=float)
    M = om.size
    alpha = float(net.alpha)
    prior = net.prior
    c2, var_c2 = _c_moments(prior)
    ratio = 2.0 if prior.doubled else 1.0
    rule = sol.grid
    G = rule.G
    sq = np.sqrt(np.asarray(rule.weights, dtype=float))
    # independent streams: the random kernels, the data noise, the initial outputs
    rng_k, rng_d, rng_h0 = spawn_generators(seed, 3, name="seed")
    if h0 is None and not isinstance(source, LimitSolution) and not prior.doubled:
        # from a problem without doubling the limit starts from the network's own h^N_0:
        # average over draws of the Gaussian process h_0 ~ N(0, Sigma)
        h0 = gaussian_initial_outputs(sol, N_INITIAL_DRAWS, rng_h0)
    h0s = _initial_outputs(sol, h0)
    S = int(n_samples)

    # (D) set-up: the lifted chain's asymptotic-variance form and its square root
    Lh = None
    if data_noise:
        t0 = _time.perf_counter()
        H = asymptotic_covariance_form(lifted_transition(hist, problem.chain), om)
        h_lam, h_vec = np.linalg.eigh(H)
        # the symmetric square root H^1/2 (H = Lh Lh^T): unique, so the sample paths do not
        # depend on how eigh picks bases of degenerate eigenspaces (which varies with BLAS
        # threads); only the law of the paths is fixed by H, their realisation by Lh
        Lh = (h_vec * np.sqrt(np.where(h_lam > 0, h_lam, 0.0))[None, :]) @ h_vec.T
        timing["lifted_chain"] = _time.perf_counter() - t0

    engine = _spectral_engine if method == "spectral" else _stepping_engine
    bar = progress_bar(total=(t.size - 1) * len(h0s), desc="fluctuation prediction",
                       show=progress, unit="time step")
    try:
        K, D, per_hist, sup_norm, sup_loss, rank = engine(
            sol, t, h0s, Lh, alpha=alpha, ratio=ratio, c2=c2, var_c2=var_c2, sq=sq,
            kernel_noise=kernel_noise, data_noise=data_noise, S=S, substeps=substeps,
            rng_k=rng_k, rng_d=rng_d, advance=bar.update, timing=timing)
    finally:
        bar.close()
    S = sup_norm.size
    root = math.sqrt(S)
    constants = {"sup_l2": float(sup_norm.mean()), "loss_gap": float(sup_loss.mean())}
    constants_se = {"sup_l2": float(sup_norm.std(ddof=1) / root),
                    "loss_gap": float(sup_loss.std(ddof=1) / root)}
    diag = {"mode": net.gradient, "method": method, "M": M, "G": G, "rank": rank,
            "n_samples": S,
            "substeps": substeps if data_noise else 0, "terms": terms,
            "c_second_moment": c2, "c2_variance": var_c2, "timing": timing}
    return FluctuationPrediction(times=t.copy(), kernel=K, data=D, per_history=per_hist,
                                 constants=constants, constants_se=constants_se,
                                 draws_ratio=ratio, weights=om, problem=problem,
                                 diagnostics=diag)


def _spectral_engine(sol, t, h0s, Lh, *, alpha, ratio, c2, var_c2, sq, kernel_noise,
                     data_noise, S, substeps, rng_k, rng_d, advance, timing):
    """rtrl: (K) exact in time and (D) in the eigenbasis of W^1/2 A W^1/2 (module docstring)."""
    t0 = _time.perf_counter()
    om = np.asarray(sol.histories.weights, dtype=float)
    M, G = om.size, sq.size
    kappa = math.sqrt(var_c2) / c2 if var_c2 > 0 else 0.0
    F = sol.feature_map.factor(sol.training_features, slot="eval")   # A = F F^T (rtrl)
    lam, U, Fh = _spectral_factor(F, om)            # Fh: (k, (d+2) G)
    k = lam.size
    nb = Fh.shape[1] // G
    Fh = Fh.reshape(k, nb, G)
    timing["spectrum"] = _time.perf_counter() - t0
    n_t = t.size
    K = np.zeros(n_t)
    D = np.zeros(n_t)
    per_hist = np.zeros((n_t, M))
    sup_norm, sup_loss = [], []
    t_k = t_d = 0.0
    for h0v in h0s:
        r0 = sol.g - h0v
        rho0 = U.T @ (np.sqrt(om) * r0)
        null_r = np.sqrt(om) * r0 - U @ rho0              # W^1/2 r_0 off the range
        zeta = rng_k.standard_normal((G, S))
        zeta_c = rng_k.standard_normal((G, S)) if var_c2 > 0 else None
        yD = np.zeros((k, S))
        cD = np.zeros(k)                                  # diagonal of the (D) covariance
        sn, sl = np.zeros(S), np.zeros(S)
        for i in range(1, n_t):
            t1 = _time.perf_counter()
            if data_noise:
                cD, yD = _data_steps(cD, yD, U, Lh, lam, rho0, null_r, om, alpha,
                                     t[i - 1], t[i], substeps, rng_d)
            t_d += _time.perf_counter() - t1
            t1 = _time.perf_counter()
            yK = 0.0
            if kernel_noise:
                Ki, yK = _kernel_term(Fh, sq, lam, rho0, t[i], alpha, ratio, kappa, zeta,
                                      zeta_c)
                K[i] += Ki / len(h0s)
            t_k += _time.perf_counter() - t1
            D[i] += float(cD.sum()) / len(h0s)
            y = yK + yD
            sn = np.maximum(sn, np.sqrt(np.einsum("ij,ij->j", y, y)))
            sl = np.maximum(sl, np.abs((np.exp(-alpha * lam * t[i]) * rho0) @ y))
            g_hist = (U @ y) / np.sqrt(om)[:, None]              # G_t on the histories
            per_hist[i] += np.mean(g_hist**2, axis=1) / len(h0s)
            advance()
        sup_norm.append(sn)
        sup_loss.append(sl)
    timing["kernel_term"] = t_k
    timing["data_term"] = t_d
    return (K, D, per_hist, np.concatenate(sup_norm), np.concatenate(sup_loss), k)


def _stepping_engine(sol, t, h0s, Lh, *, alpha, ratio, c2, var_c2, sq, kernel_noise,
                     data_noise, S, substeps, rng_k, rng_d, advance, timing):
    r"""Both sources stepped on the histories with :math:`E = e^{-\alpha\Delta AW}`.

    With :math:`A = F_{\rm eval}F_{\rm train}^\top` (``\chi`` in the training slot in
    truncated mode), on each sub-interval :math:`[a, b]` of length :math:`\Delta` and
    midpoint :math:`m`, exponential midpoint rule (second order):

    * (K): the responses :math:`X_{gb}` to :math:`f_{gb}f'^\top_{gb}` (one column per
      block and node) obey :math:`\dot X = -\alpha AWX + \alpha f\,(f'^\top W r_t)`, so
      :math:`X_b = EX_a + \alpha\Delta E_{1/2}\,F_{\rm eval}\operatorname{diag}(F_{\rm
      train}^\top W r_m)`;
    * (D): :math:`C_b = EC_aE^\top + \alpha^2\Delta\,E_{1/2}\Gamma_mE_{1/2}^\top` and each
      path :math:`y_b = Ey_a + \alpha\sqrt\Delta\,E_{1/2}X_m^\top L\zeta`, with
      :math:`X_m^\top = A\operatorname{diag}(r_m)` and :math:`H = LL^\top`.

    Cost per sub-step :math:`O(M^2 r)` for (K) and :math:`O(M^3 + M^2S)` for (D).
    """
    om = np.asarray(sol.histories.weights, dtype=float)
    M, G = om.size, sq.size
    kappa = math.sqrt(var_c2) / c2 if var_c2 > 0 else 0.0
    fmap, feat = sol.feature_map, sol.training_features
    Fe = fmap.factor(feat, slot="eval")
    Ft = fmap.factor(feat, slot="train")
    A = Fe @ Ft.T
    AW = A * om[None, :]
    nb = Fe.shape[1] // G
    n_t = t.size
    K = np.zeros(n_t)
    D = np.zeros(n_t)
    per_hist = np.zeros((n_t, M))
    sup_norm, sup_loss = [], []
    props: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def propagators(dt):
        key = float(dt)
        if key not in props:
            props[key] = (scipy.linalg.expm(-alpha * dt * AW),
                          scipy.linalg.expm(-0.5 * alpha * dt * AW))
        return props[key]

    def norms(y):
        return np.sqrt(np.einsum("ij,ij,i->j", y, y, om))

    t_k = t_d = 0.0
    for h0v in h0s:
        r = sol.g - h0v
        zeta = rng_k.standard_normal((G, S))
        zeta_c = rng_k.standard_normal((G, S)) if var_c2 > 0 else None
        X = np.zeros((M, nb * G)) if kernel_noise else None
        C = np.zeros((M, M))
        yD = np.zeros((M, S))
        sn, sl = np.zeros(S), np.zeros(S)
        for i in range(1, n_t):
            dt = (t[i] - t[i - 1]) / substeps
            E, Eh = propagators(dt)
            for _ in range(substeps):
                rm = Eh @ r                                    # residual at the midpoint
                t1 = _time.perf_counter()
                if kernel_noise:
                    X = E @ X + (alpha * dt) * (Eh @ (Fe * (Ft.T @ (om * rm))[None, :]))
                t_k += _time.perf_counter() - t1
                t1 = _time.perf_counter()
                if data_noise:
                    Q = Eh @ ((A * rm[None, :]) @ Lh)          # E_1/2 X_m^T L
                    C = E @ C @ E.T + (alpha**2 * dt) * (Q @ Q.T)
                    yD = E @ yD + (alpha * math.sqrt(dt)) * (Q @ rng_d.standard_normal((M, S)))
                t_d += _time.perf_counter() - t1
                r = E @ r
            yK = 0.0
            if kernel_noise:
                blocks = X.reshape(M, nb, G)
                ell = blocks.sum(axis=1) / sq[None, :]          # sqrt(q_g) L_t[a_g]
                LA = blocks.sum(axis=(1, 2))                     # L_t[A]
                second = float(np.einsum("ig,ig,i->", ell, ell, om)) \
                    - (2.0 - float(sq @ sq)) * float(LA**2 @ om)
                yK = ell @ zeta - np.outer(LA, sq @ zeta)
                if zeta_c is not None:
                    ell_c = blocks[:, 1:, :].sum(axis=1) / sq[None, :]
                    second += kappa**2 * float(np.einsum("ig,ig,i->", ell_c, ell_c, om))
                    yK = yK + kappa * (ell_c @ zeta_c)
                K[i] += ratio * second / len(h0s)
                yK = math.sqrt(ratio) * yK
            D[i] += float(np.diag(C) @ om) / len(h0s)
            y = yK + yD
            sn = np.maximum(sn, norms(y))
            sl = np.maximum(sl, np.abs((om * r) @ y))
            per_hist[i] += np.mean(y**2, axis=1) / len(h0s)
            advance()
        sup_norm.append(sn)
        sup_loss.append(sl)
    timing["kernel_term"] = t_k
    timing["data_term"] = t_d
    return K, D, per_hist, np.concatenate(sup_norm), np.concatenate(sup_loss), M



def _data_steps(cD, yD, U, Lh, lam, rho0, null_r, om, alpha, t_from, t_to, substeps, rng):
    r"""(D) from ``t_from`` to ``t_to``: the diagonal of :math:`\hat C` and the sample paths.

    Exponential midpoint rule on ``substeps`` sub-intervals :math:`[a, b]`: the covariance
    of mode :math:`m` gains :math:`\alpha^2 w_m\hat\Gamma_{mm}(\tfrac{a+b}2)` with
    :math:`w_m = \int_a^b e^{-2\alpha\lambda_m(b-s)}ds`, and each path gains
    :math:`\alpha\sqrt{w}\circ\Lambda X^\top L\zeta`, whose variances are the same.
    """
    edges = np.linspace(t_from, t_to, substeps + 1)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        dt = b - a
        decay = np.exp(-alpha * lam * dt)
        w = dt * phi1(2.0 * alpha * lam * dt)
        # r_s / sqrt(omega) = W^-1 (U rho_s + null part), at the midpoint
        rw = (U @ (np.exp(-alpha * lam * 0.5 * (a + b)) * rho0) + null_r) / om
        T = (rw[:, None] * U).T @ Lh                       # X_s^T L, shape (k, M)
        gam = lam**2 * np.einsum("ij,ij->i", T, T)         # diagonal of Gamma-hat
        cD = decay**2 * cD + alpha**2 * w * gam
        yD = decay[:, None] * yD + (alpha * np.sqrt(w) * lam)[:, None] * (
            T @ rng.standard_normal((om.size, yD.shape[1])))
    return cD, yD


#: Draws of the initial output a problem without doubling is averaged over.
N_INITIAL_DRAWS = 8


def gaussian_initial_outputs(sol: LimitSolution, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""``n`` draws of the Gaussian-process initial output on the solution's histories.

    :math:`h_0 = \sqrt{\mathbb E c^2}\,\Phi Q^{1/2} z`, :math:`z \sim N(0, I_G)`, which has
    covariance exactly :math:`\Sigma` on the histories (as ``h0="gp"`` of the solver).

    Parameters
    ----------
    sol : LimitSolution
        The solution (its feature map, training features and rule).
    n : int
        Number of draws.
    rng : numpy.random.Generator
        Source of :math:`z`.

    Returns
    -------
    ndarray, shape (n, M)
    """
    from .kernels import kernel_factor

    factor = kernel_factor(sol.training_features, sol.grid, sol.feature_map.c2, phi_only=True)
    return (factor @ rng.standard_normal((factor.shape[1], int(n)))).T


def _initial_outputs(sol, h0) -> list[np.ndarray]:
    """The initial outputs to average over: the solution's, one array, or a stack of them."""
    if h0 is None:
        return [np.asarray(sol.h0, dtype=float)]
    arr = np.asarray(h0, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != sol.M or arr.shape[0] < 1:
        raise DimensionError(
            f"`h0` must have shape ({sol.M},) or (n, {sol.M}) (initial outputs on the "
            f"training histories), got {np.shape(h0)}."
        )
    if not np.all(np.isfinite(arr)):
        raise DivergenceError("`h0` contains NaN or infinite values.")
    return list(arr)


def _kernel_term(Fh, sq, lam, rho0, t, alpha, ratio, kappa, zeta, zeta_c):
    r"""(K) at time ``t``: :math:`K_t` and the sample paths' kernel part, shape (k, S).

    ``Fh`` is the projected factor, shape (k, d + 2, G); ``sq`` the square roots of the
    quadrature weights; ``zeta`` (and ``zeta_c`` for Gaussian :math:`c`) the standard
    normal draws of the random kernel, shape (G, S).
    """
    E = divided_exponential(lam, lam, t, alpha)
    nb = Fh.shape[1]
    ell_phi = alpha * Fh[:, 0, :] * (E @ (Fh[:, 0, :] * rho0[:, None]))
    ell_psi = np.zeros_like(ell_phi)
    for blk in range(1, nb):
        ell_psi += alpha * Fh[:, blk, :] * (E @ (Fh[:, blk, :] * rho0[:, None]))
    ell = (ell_phi + ell_psi) / sq[None, :]              # sqrt(q_g) L_t[a_g]
    LA = alpha * lam * t * np.exp(-alpha * lam * t) * rho0  # L_t[A] = sum_g L_t[q_g a_g]
    sumq = float(sq @ sq)
    # sum_g q_g |L_t[a_g] - L_t[A]|^2 with sum_g sqrt(q_g) ell_g = L_t[A]
    second = float(np.sum(ell**2)) - (2.0 - sumq) * float(LA @ LA)
    yK = ell @ zeta - np.outer(LA, sq @ zeta)
    if zeta_c is not None:
        ell_c = ell_psi / sq[None, :]
        second += kappa**2 * float(np.sum(ell_c**2))
        yK += kappa * (ell_c @ zeta_c)
    return ratio * second, math.sqrt(ratio) * yK
