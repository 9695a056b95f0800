r"""The result of a limit solve: :math:`h_t` on histories, the loss, the spectrum, the errors.

A :class:`LimitSolution` holds the solution of (:ref:`theory §3 <theory-limit>`, :ref:`§4.4 <theory-ode>`)

.. math::

    \partial_t h_t(\xi) = \alpha\sum_i A(\xi,\xi_i)\,\omega_i\,(g(\xi_i) - h_t(\xi_i)),
    \qquad L_t = \tfrac12\sum_i\omega_i (g(\xi_i) - h_t(\xi_i))^2,

on its training histories :math:`\{(\xi_i,\omega_i)\}` at the requested times,
and answers queries without re-solving:

* :meth:`LimitSolution.evaluate` — :math:`h_t` at new histories by the Nyström
  extension :math:`h_t(\xi) = h_0(\xi) + \alpha A(\xi,\cdot) W\int_0^t (g - h_s)\,ds`;
* :meth:`LimitSolution.propagate` — the solution for another :math:`h_0` (the
  flow is affine in :math:`h_0`; the decomposition is reused);
* :meth:`LimitSolution.loss_at` — :math:`L_t` at any :math:`t \ge 0` (also :math:`t = \infty`).

It keeps the decomposed flow (:class:`~limitsolver.limit.ode.LimitFlow`, attribute
``flow``), the feature map that built the kernel (``feature_map``) and the features at
the training histories (``training_features``), so none of these queries re-runs the
pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, DimensionError, DivergenceError
from .feature_map import FeatureMap
from .hidden_layer import Features
from .ode import LimitFlow, check_times

if TYPE_CHECKING:
    from ..histories import Histories

__all__ = ["LimitSolution"]


@dataclass(frozen=True, eq=False)
class LimitSolution:
    r"""Solution of the limit ODE on a set of training histories.

    Built by :func:`~limitsolver.limit.solver.solve_limit`; the fields below are
    stored as attributes of the same names.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Training times :math:`t` (time unit: :math:`t = k/N`).
    h : ndarray, shape (n_times, M)
        :math:`h_t(\xi_i)` on the training histories.
    loss : ndarray, shape (n_times,)
        :math:`L_t = \frac12\sum_i\omega_i(g_i - h_t(\xi_i))^2`.
    g : ndarray, shape (M,)
        Target :math:`g(\xi_i)`.
    h0 : ndarray, shape (M,)
        Initial output :math:`h_0(\xi_i)`.
    h0_kind : str
        ``"zero"``, ``"gp"`` (Gaussian-process sample of covariance
        :math:`\Sigma`), ``"array"`` or ``"callable"``.
    histories : Histories
        Training histories and their weights :math:`\omega`.
    grid : QuadratureRule
        The parameter-space rule replacing :math:`\mu_0`.
    problem : Problem
        The problem solved (chain, target, network, horizon).
    method : str
        ``"spectral"``, ``"dense"``, ``"lowrank"`` or ``"ivp"``.
    discretisation : dict
        Parameters used and error estimates: ``grid_kind``, ``grid_shape``,
        ``G``, ``depth``, ``M``, ``histories`` (``"exact"``/``"sampled"``/
        ``"given"``), ``memory_truncation_bound``
        (:math:`\gamma^{L-1}\sup|\sigma|`), ``quadrature_error`` (sup over the
        time grid of the :math:`L^2(\omega)` distance between :math:`h_t` with
        ``grid`` and with ``grid.refined()``; None when not estimated),
        ``monte_carlo_se`` (sampled histories only:
        :math:`\sup_t \mathrm{sd}_\omega(g - h_t)/\sqrt M`) and
        ``monte_carlo_se_loss`` (sup over :math:`t` of the standard error of the
        sample mean :math:`L_t`).
    diagnostics : dict
        Route of the solve, clipped eigenvalues, timings of each phase.
    flow : LimitFlow
        The decomposed flow (:class:`~limitsolver.limit.ode.SymmetricFlow`,
        :class:`~limitsolver.limit.ode.ExponentialFlow` or
        :class:`~limitsolver.limit.ode.IVPFlow`), reused by :meth:`evaluate`,
        :meth:`propagate`, :meth:`loss_at` and :attr:`spectrum`.
    feature_map : FeatureMap
        Features, kernel factors and kernel rows at any histories (rule, activation,
        gradient mode, :math:`\mathbb E[c^2]`, depth).
    training_features : Features or None
        The features at the training histories (for the kernel rows of new histories);
        None for a solution solved in chunks of histories (``solve_limit(chunk_size=...)``),
        whose flow recomputes its factor rows instead.
    _h0_fn : callable or None
        Internal: the initial output as a callable of history values when
        ``h0_kind == "callable"``.
    """

    times: np.ndarray
    h: np.ndarray
    loss: np.ndarray
    g: np.ndarray
    h0: np.ndarray | Callable
    h0_kind: str
    histories: Any
    grid: Any
    problem: Any
    method: str
    discretisation: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    flow: LimitFlow | None = field(default=None, repr=False)
    feature_map: FeatureMap | None = field(default=None, repr=False)
    training_features: Features | None = field(default=None, repr=False)
    _h0_fn: Callable | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (f"LimitSolution(M={self.M}, n_times={self.times.size}, method={self.method!r}, "
                f"loss[0]={self.loss[0]:.4g}, loss[-1]={self.loss[-1]:.4g})")

    @property
    def M(self) -> int:
        """Number of training histories."""
        return int(self.g.shape[0])

    @property
    def weights(self) -> np.ndarray:
        r"""History weights :math:`\omega`."""
        return self.histories.weights

    @cached_property
    def spectrum(self) -> np.ndarray:
        r"""Eigenvalues of :math:`W^{1/2}AW^{1/2}` (equivalently of :math:`AW`), in decreasing order.

        Real and non-negative in rtrl mode; possibly complex in truncated mode,
        where it is computed on first access (:math:`O(M^3)` or :math:`O(r^3)`).
        """
        return self.flow.spectrum

    def loss_at(self, t: ArrayLike) -> np.ndarray:
        r""":math:`L_t` at arbitrary times ``t >= 0`` (sorted), from the flow (no re-solve).

        .. math::

            L_t = \tfrac12\sum_i\omega_i (g(\xi_i) - h_t(\xi_i))^2.

        Parameters
        ----------
        t : float or array_like
            Non-decreasing times :math:`t \ge 0`; ``np.inf`` gives :math:`L_\infty`.

        Returns
        -------
        ndarray, shape (n_times,)
            :math:`L_t` at each time.

        Raises
        ------
        ValueError
            If the times are negative, NaN or not sorted.
        """
        t = check_times(t)
        return self.flow.loss(self.g - self.h0, t)

    def evaluate(self, histories_new: Histories | np.ndarray, times: ArrayLike | None = None,
                 h0_new: np.ndarray | None = None) -> np.ndarray:
        r""":math:`h_t(\xi)` at new histories by the Nyström extension.

        .. math::

            h_t(\xi) = h_0(\xi) + \alpha\sum_i A(\xi,\xi_i)\,\omega_i\int_0^t (g - h_s)(\xi_i)\,ds,

        with the time integral in closed form from the flow's decomposition.

        Parameters
        ----------
        histories_new : Histories or ndarray, shape (M_new, L, d)
            Histories with window length at least ``problem.depth``.
        times : array_like, optional
            Times (default: the solution's ``times``); ``np.inf`` gives the
            long-time limit :math:`h_\infty(\xi)`.
        h0_new : ndarray, shape (M_new,), optional
            :math:`h_0` at the new histories. Defaults: zero for ``h0_kind ==
            "zero"``; the callable for ``"callable"``; the stored ``h0`` when the
            new histories are the training ones. A Gaussian-process or array
            initial output is only known on the training histories, so other
            histories need ``h0_new`` (e.g. the finite network's initial output there).

        Returns
        -------
        ndarray, shape (n_times, M_new)
            :math:`h_t(\xi)` at each time (rows) and new history (columns).

        Raises
        ------
        ConfigError
            If ``h0_new`` is needed and missing.
        DimensionError
            If ``h0_new`` does not have shape (M_new,).
        DiscretisationError
            If the new histories are shorter than ``problem.depth``.
        DivergenceError
            If the extension produces non-finite values.
        """
        hist = self.feature_map.check(histories_new)
        t = self.times if times is None else check_times(times)
        h0n = self._initial_on(hist, h0_new)
        feat = self.feature_map.features(hist, training=False)
        coeffs = self.flow.coefficients(self.g - self.h0, t)
        rows = self.flow.rows(self.feature_map, feat, self.training_features)
        out = h0n[None, :] + self.flow.extend(rows, coeffs)
        if not np.all(np.isfinite(out)):
            raise DivergenceError("the Nyström extension produced NaN or infinite values.")
        return out

    def _initial_on(self, hist, h0_new) -> np.ndarray:
        if h0_new is not None:
            h0n = np.asarray(h0_new, dtype=float)
            if h0n.shape != (hist.M,):
                raise DimensionError(f"`h0_new` must have shape ({hist.M},), got {h0n.shape}.")
            return h0n
        if self.h0_kind == "zero":
            return np.zeros(hist.M)
        if self.h0_kind == "callable":
            return np.asarray(self._h0_fn(hist.values), dtype=float).reshape(hist.M)
        same = hist.values.shape == self.histories.values.shape and np.array_equal(
            hist.values, self.histories.values)
        if same:
            return self.h0.copy()
        raise ConfigError(
            f"`h0_new` is required: the initial output ({self.h0_kind}) is only known on the "
            "training histories; pass its values on the new histories."
        )

    def propagate(self, h0: np.ndarray | Callable) -> LimitSolution:
        r"""The solution for another initial output, reusing the flow's decomposition.

        :math:`h_t` is affine in :math:`h_0`: only the projection of
        :math:`g - h_0` changes. Error estimates are copied (they do not depend on
        :math:`h_0` beyond its size).

        Parameters
        ----------
        h0 : ndarray, shape (M,) or callable
            New :math:`h_0` on the training histories (or a callable of
            ``histories.values``).

        Returns
        -------
        LimitSolution
            A copy with the new ``h``, ``loss``, ``h0`` and ``h0_kind``
            (``"array"`` or ``"callable"``).

        Raises
        ------
        DimensionError
            If ``h0`` does not have shape (M,).
        DivergenceError
            If ``h0`` or the propagated solution is not finite.
        """
        if callable(h0):
            fn, kind = h0, "callable"
            h0 = fn(self.histories.values)
        else:
            fn, kind = None, "array"
        h0 = np.asarray(h0, dtype=float)
        if h0.shape != (self.M,):
            raise DimensionError(f"`h0` must have shape ({self.M},), got {h0.shape}.")
        if not np.all(np.isfinite(h0)):
            raise DivergenceError("`h0` contains NaN or infinite values.")
        h, loss = self.flow.solve(h0, self.g, self.times)
        return replace(self, h=h, loss=loss, h0=h0, h0_kind=kind, _h0_fn=fn)

    def to_dict(self) -> dict:
        """Summary for :func:`limitsolver.io.write_json` (arrays included, private state excluded).

        Returns
        -------
        dict
            ``times``, ``h``, ``loss``, ``g``, ``h0``, ``h0_kind``, ``weights``, ``method``,
            ``discretisation``, ``diagnostics`` and ``problem`` (its ``repr``).
        """
        return {
            "times": self.times, "h": self.h, "loss": self.loss, "g": self.g, "h0": self.h0,
            "h0_kind": self.h0_kind, "weights": self.weights, "method": self.method,
            "discretisation": self.discretisation, "diagnostics": self.diagnostics,
            "problem": repr(self.problem),
        }
