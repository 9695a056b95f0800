r"""The feature map of a limit problem: histories to features, kernel factors and kernel rows.

A :class:`FeatureMap` fixes everything that turns histories into the objects of
:ref:`theory §3 <theory-limit>` and §4.3 — the parameter rule :math:`\{(\theta_g, q_g)\}`, the
activation :math:`\sigma`, the gradient mode, :math:`\mathbb E[c^2]` and the window
length the problem needs — and answers, at *any* histories,

* :meth:`FeatureMap.features` — :math:`\varphi, \psi` (and :math:`\chi` in truncated mode),
* :meth:`FeatureMap.factor` — the thin factor
  :math:`F = [\Phi, \sqrt{\mathbb E c^2}\,G_w, \sqrt{\mathbb E c^2}\,G_b]\,Q^{1/2}`,
  :math:`A(\xi,\xi') = F_{\rm eval}(\xi)F_{\rm train}(\xi')^\top`,
* :meth:`FeatureMap.kernel` — the tangent kernel :math:`A(\xi,\xi')` between two batches,
* :meth:`FeatureMap.covariance_factor` and :meth:`FeatureMap.sample_initial_output` —
  :math:`\Sigma = \mathbb E[c^2]\,\Phi Q\Phi'^\top` and a Gaussian draw of covariance :math:`\Sigma`.

:func:`~limitsolver.limit.solver.solve_limit` builds one (:meth:`FeatureMap.from_problem`)
and keeps it on the :class:`~limitsolver.limit.solution.LimitSolution` as
``feature_map``; evaluation at new histories, propagation and the refinement
studies ask it rather than rebuilding the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._docstrings import with_sections
from ..activations import Activation, activation
from ..budget import check_memory, check_work
from ..errors import DimensionError, DiscretisationError
from ..histories import Histories
from ..memory import check_mode, memory_on_histories
from .hidden_layer import Features, _check, _features_from_memory
from .kernels import covariance_kernel, kernel_factor, kernel_factors, tangent_kernel
from .quadrature import QuadratureRule

if TYPE_CHECKING:
    from ..problem import Problem

__all__ = ["FeatureMap", "as_histories"]


# The numpydoc sections of the kernels between two batches, ``kernel`` and ``covariance``.
_KERNEL_ROWS = """
Parameters
----------
features_eval, features_train : Features, Histories or array_like
    Row and column batches.

Returns
-------
ndarray, shape (M_eval, M_train)
"""


def as_histories(histories: Histories | ArrayLike) -> Histories:
    """``histories`` as :class:`~limitsolver.histories.Histories` (an array gets equal weights).

    Parameters
    ----------
    histories : Histories or array_like, shape (M, L, d) or (M, L)
        Histories.

    Returns
    -------
    Histories
    """
    if isinstance(histories, Histories):
        return histories
    return Histories.from_array(histories)


@dataclass(frozen=True, eq=False)
class FeatureMap:
    r"""Histories :math:`\mapsto` features, kernel factors and kernel rows of one limit problem.

    Parameters
    ----------
    rule : QuadratureRule
        Parameter rule :math:`\{(\theta_g, q_g)\}` replacing :math:`\mu_0`.
    activation : Activation or str
        :math:`\sigma`.
    gradient : {"rtrl", "truncated"}
        Gradient mode: which features the training slot of :math:`A` carries
        (:math:`\psi` or :math:`\chi`).
    c2 : float
        :math:`\mathbb E[c^2]`.
    depth : int
        Window length :math:`L` the problem needs (memory tolerance and target
        window); shorter histories are refused.

    Raises
    ------
    ConfigError
        If ``gradient`` is unknown.
    ContractionError
        If :math:`b_{\max}\sup|\sigma'| \ge 1` for the rule's prior.

    Notes
    -----
    Immutable and cheap: it holds no features. Features at the training histories
    are computed once by the solver and kept on the solution
    (``LimitSolution.training_features``).
    """

    rule: QuadratureRule
    activation: Activation
    gradient: str = "rtrl"
    c2: float = 1.0
    depth: int = 1

    def __post_init__(self):
        object.__setattr__(self, "activation", activation(self.activation))
        check_mode(self.gradient)
        self.rule.prior.check_contraction(self.activation)
        object.__setattr__(self, "c2", float(self.c2))
        object.__setattr__(self, "depth", int(self.depth))

    @classmethod
    def from_problem(cls, problem: Problem, rule: QuadratureRule) -> FeatureMap:
        """The feature map of ``problem`` on the parameter rule ``rule``.

        Parameters
        ----------
        problem : Problem
            Supplies the activation, gradient mode, :math:`\\mathbb E[c^2]` and depth.
        rule : QuadratureRule
            The parameter rule.

        Returns
        -------
        FeatureMap
        """
        net = problem.network
        return cls(rule, net.activation, net.gradient, net.prior.c_second_moment,
                   int(problem.depth))

    def __repr__(self) -> str:
        return (f"FeatureMap(G={self.rule.G}, kind={self.rule.kind!r}, "
                f"activation={self.activation.name!r}, gradient={self.gradient!r}, "
                f"depth={self.depth})")

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return self.rule.dim

    @property
    def r(self) -> int:
        """Number of columns :math:`(d+2)G` of the kernel factor."""
        return (self.dim + 2) * self.rule.G

    def refined(self) -> FeatureMap:
        """The same map on ``rule.refined()`` (for the quadrature refinement estimate).

        Returns
        -------
        FeatureMap
        """
        return replace(self, rule=self.rule.refined())

    def check(self, histories: Histories | ArrayLike) -> Histories:
        """Validate histories against the problem: window length and state dimension.

        Parameters
        ----------
        histories : Histories or array_like, shape (M, L, d)
            Histories.

        Returns
        -------
        Histories

        Raises
        ------
        DiscretisationError
            If the windows are shorter than :attr:`depth`.
        DimensionError
            If the state dimension differs from the rule's.
        """
        hist = as_histories(histories)
        if hist.depth < self.depth:
            raise DiscretisationError(
                f"`histories` hold windows of length {hist.depth} but the problem needs depth "
                f"{self.depth} (memory tolerance and target window); pass histories of depth "
                f">= {self.depth}."
            )
        if hist.dim != self.dim:
            raise DimensionError(
                f"`histories` have states of dimension {hist.dim} but the chain has dimension "
                f"{self.dim}."
            )
        return hist

    def check_size(self, M: int, depth: int, *, training: bool = True, features: bool = True,
                   memory_budget: float | str | None = None,
                   work_budget: float | str | None = None) -> None:
        r"""Refuse, before any work, features too large for the memory or work budget.

        Memory: the memory state and the features, :math:`8MG(d+1)` bytes each, plus
        :math:`\chi` in truncated mode. Work: the memory recursion finds the distinct
        suffixes level by level, sorting
        :math:`M` keys of :math:`d + 1` numbers per level with a fixed cost of some
        numpy calls, about :math:`L(d+1)(M(\log_2 M + 1) + 2\cdot 10^3)` operations
        (windows of length :math:`7\cdot 10^5` take minutes even for one history); with
        ``features=False``, the windows alone, sampled or walked level by level, about
        :math:`Ld(M + 2\cdot 10^3)`. The steps themselves, :math:`O(MGLd)`, are not
        limited.

        Parameters
        ----------
        M, depth : int
            Number of histories and window length.
        training : bool
            Whether :math:`\chi` will be computed (truncated mode, training slot).
        features : bool
            Whether all the features will be held at once; ``False`` checks only the
            windows themselves, :math:`8MLd` bytes (a solve in chunks of histories).
        memory_budget, work_budget : optional
            Budgets (see :mod:`limitsolver.budget`).

        Raises
        ------
        DiscretisationError
            If an estimate exceeds its budget.
        """
        d, G = self.dim, self.rule.G
        n_arrays = 2 + (1 if training and self.gradient == "truncated" else 0)
        if features:
            nbytes = 8.0 * M * G * (d + 1) * n_arrays
            check_memory(nbytes, f"the features on {M} histories x {G} nodes",
                         budget=memory_budget, fix="use fewer histories or nodes")
        else:
            check_memory(8.0 * M * depth * d, f"{M} windows of length {depth}",
                         budget=memory_budget, fix="use fewer histories")
        if features:  # the suffix recursion of the features held in memory
            ops = depth * (d + 1) * (M * (np.log2(max(M, 1)) + 1) + 2e3)
        else:  # a loop over the levels, vectorised over the windows
            ops = depth * d * (M + 2e3)
        check_work(ops, f"the memory recursion over {M} windows of length {depth}",
                   budget=work_budget,
                   fix="raise the network's `memory_tol` or lower `b_max` (shallower windows)")

    def features(self, histories: Histories | ArrayLike, *, training: bool = True,
                 memory_budget: float | str | None = None) -> Features:
        r"""Features at histories: :math:`\varphi, \psi`, and :math:`\chi` when needed.

        The memory :math:`S(\theta;\xi_{k-1})` runs once over the past of each window
        and one memory step gives :math:`\varphi, \psi`; :math:`\chi` (only used in
        the training slot in truncated mode) is computed only when
        ``training`` and the gradient mode is truncated.

        Parameters
        ----------
        histories : Histories or array_like, shape (M, L, d)
            Histories of window length at least :attr:`depth`.
        training : bool
            Whether the features will fill the training slot of :math:`A`.
        memory_budget : float or str, optional
            Budget of :meth:`check_size` (default :func:`limitsolver.budget.memory_budget`).

        Returns
        -------
        Features

        Raises
        ------
        DiscretisationError
            If the windows are too short, or the features exceed the memory or work budget.
        DimensionError
            If the state dimension differs from the rule's.
        """
        hist = self.check(histories)
        _check(hist, self.rule, self.activation)
        self.check_size(hist.M, hist.depth, training=training, memory_budget=memory_budget)
        mem = memory_on_histories(hist.values, self.rule.w, self.rule.b, self.activation)
        return _features_from_memory(mem, hist.values[:, 0, :], self.rule, self.activation,
                                     chi=training and self.gradient == "truncated")

    def _feat(self, x, training: bool) -> Features:
        return x if isinstance(x, Features) else self.features(x, training=training)

    def _pair(self, x_eval, x_train, chi: bool) -> tuple[Features, Features]:
        """Features of the two slots (computed once when the same object fills both)."""
        if x_train is x_eval:
            fe = self._feat(x_eval, chi)
            return fe, fe
        return self._feat(x_eval, False), self._feat(x_train, chi)

    def factor(self, features: Features | Histories | ArrayLike, *,
               slot: str = "eval") -> np.ndarray:
        r"""Kernel factor rows :math:`F(\xi)` (M, (d+2)G) of one slot of :math:`A`.

        Parameters
        ----------
        features : Features, Histories or array_like
            Features, or histories to compute them at.
        slot : {"eval", "train"}
            ``"eval"``: :math:`\psi` (true gradient); ``"train"``: :math:`\psi` (rtrl)
            or :math:`\chi` (truncated).

        Returns
        -------
        ndarray, shape (M, (d+2) G)
        """
        feat = self._feat(features, slot == "train")
        return kernel_factor(feat, self.rule, self.c2, slot=slot, mode=self.gradient)

    def factors(self, features_eval: Features | Histories | ArrayLike,
                features_train: Features | Histories | ArrayLike,
                weights: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        r"""Thin factors ``(U, V)`` with :math:`AW = UV^\top` (see :func:`~.kernels.kernel_factors`).

        Parameters
        ----------
        features_eval, features_train : Features, Histories or array_like
            The evaluation and training batches.
        weights : array_like, shape (M_train,), optional
            :math:`\omega` (identity when omitted).

        Returns
        -------
        U, V : ndarray, shape (M_eval, r) and (M_train, r)
        """
        fe, ft = self._pair(features_eval, features_train, True)
        return kernel_factors(fe, ft, self.rule, self.c2, mode=self.gradient, weights=weights)

    @with_sections(_KERNEL_ROWS, " " * 8)
    def kernel(self, features_eval: Features | Histories | ArrayLike,
               features_train: Features | Histories | ArrayLike) -> np.ndarray:
        r"""Tangent kernel rows :math:`A(\xi,\xi')` (M_eval, M_train).

        Passing the same object twice gives the training kernel (exactly symmetric in
        rtrl mode).
        """
        fe, ft = self._pair(features_eval, features_train, True)
        return tangent_kernel(fe, ft, self.rule, self.c2, mode=self.gradient)

    @with_sections(_KERNEL_ROWS, " " * 8)
    def covariance(self, features_eval: Features | Histories | ArrayLike,
                   features_train: Features | Histories | ArrayLike) -> np.ndarray:
        r"""Initial-output covariance :math:`\Sigma(\xi,\xi')` (M_eval, M_train).
        """
        fe, ft = self._pair(features_eval, features_train, False)
        return covariance_kernel(fe, ft, self.rule, self.c2)

    def covariance_factor(self, features: Features | Histories | ArrayLike) -> np.ndarray:
        r"""Factor :math:`\sqrt{\mathbb E c^2}\,\Phi Q^{1/2}` of :math:`\Sigma`, shape (M, G).

        Parameters
        ----------
        features : Features, Histories or array_like
            Features, or histories to compute them at.

        Returns
        -------
        ndarray, shape (M, G)
        """
        return kernel_factor(self._feat(features, False), self.rule, self.c2, phi_only=True)

    def sample_initial_output(self, features: Features | Histories | ArrayLike,
                              rng: np.random.Generator) -> np.ndarray:
        r"""A draw :math:`h_0 = \sqrt{\mathbb E c^2}\,\Phi Q^{1/2} z`, :math:`z\sim N(0, I_G)`.

        Its covariance is exactly :math:`\Sigma` on the given histories.

        Parameters
        ----------
        features : Features, Histories or array_like
            Features, or histories to compute them at.
        rng : numpy.random.Generator
            Source of :math:`z` (``G`` standard normals).

        Returns
        -------
        ndarray, shape (M,)
        """
        F = self.covariance_factor(features)
        return F @ rng.standard_normal(F.shape[1])
