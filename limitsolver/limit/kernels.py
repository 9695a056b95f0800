r"""The neural tangent kernel :math:`A` and the initial covariance :math:`\Sigma` (:ref:`theory §3 <theory-limit>`, :ref:`§4.3 <theory-kernels>`).

With the features of :mod:`~limitsolver.limit.hidden_layer` stored as matrices over
(history × node) and the quadrature weights :math:`Q = \operatorname{diag}(q)`,

.. math::

    \text{rtrl:}\qquad A = \Phi Q \Phi'^\top
        + \mathbb E[c^2]\,(\Psi_w Q \Psi_w'^\top + \Psi_b Q \Psi_b'^\top),

    \text{truncated:}\quad A = \Phi Q \Phi'^\top
        + \mathbb E[c^2]\,(\Psi_w Q X_w'^\top + \Psi_b Q X_b'^\top),

    \Sigma = \mathbb E[c^2]\,\Phi Q \Phi'^\top,

where unprimed factors are evaluated at the evaluation histories :math:`\xi` (rows)
and primed ones at the training histories :math:`\xi'` (columns); :math:`X = \chi`
is the one-step truncated gradient. In truncated mode the first slot carries the
true gradient :math:`\psi` (how the output changes) and the second the truncated
one :math:`\chi` (how training moves), so :math:`A` is not symmetric.

Both kernels are a single dense product of thin factors,
:math:`A = F(\xi) F'(\xi')^\top` with :math:`F = [\Phi, \sqrt{\mathbb E c^2}\Psi_w,
\sqrt{\mathbb E c^2}\Psi_b]\,Q^{1/2}` of :math:`r = (d+2)G` columns
(:func:`kernel_factor`); the same factors give the low-rank route of §4.4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DimensionError
from ..memory import check_mode

if TYPE_CHECKING:
    from .hidden_layer import Features
    from .quadrature import QuadratureRule

__all__ = ["kernel_factor", "kernel_factors", "tangent_kernel", "covariance_kernel"]


def _weights(rule) -> np.ndarray:
    q = np.asarray(getattr(rule, "weights", rule), dtype=float)
    if q.ndim != 1 or not np.all(q >= 0) or not np.all(np.isfinite(q)):
        raise DimensionError(
            "`rule` must carry non-negative finite quadrature weights of shape (G,), "
            f"got shape {q.shape}."
        )
    return q


def _check_c2(c2: float) -> float:
    c2 = float(c2)
    if not (np.isfinite(c2) and c2 >= 0):
        raise ValueError(f"`c2` (E[c^2]) must be non-negative and finite, got {c2}.")
    return c2


def kernel_factor(
    feat: Features,
    rule: QuadratureRule,
    c2: float,
    *,
    slot: Literal["eval", "train"] = "eval",
    mode: Literal["rtrl", "truncated"] = "rtrl",
    phi_only: bool = False,
) -> np.ndarray:
    r"""Thin factor :math:`F` of the kernels at a batch of histories.

    .. math::

        F = \bigl[\Phi Q^{1/2},\ \sqrt{\mathbb E c^2}\,G_w Q^{1/2},\
        \sqrt{\mathbb E c^2}\,G_b Q^{1/2}\bigr] \in \mathbb R^{M\times (d+2)G},

    with :math:`G = \Psi` in the evaluation slot (and in the training slot in rtrl
    mode) and :math:`G = \chi` in the training slot in truncated mode, so that
    :math:`A(\xi, \xi') = F_{\rm eval}(\xi) F_{\rm train}(\xi')^\top`.

    Parameters
    ----------
    feat : Features
        Features at ``M`` histories on ``G`` nodes.
    rule : QuadratureRule
        Quadrature rule (only ``rule.weights`` is used).
    c2 : float
        :math:`\mathbb E[c^2]`.
    slot : {"eval", "train"}
        Which slot of :math:`A` the factor is for.
    mode : {"rtrl", "truncated"}
        Gradient mode.
    phi_only : bool
        Return only :math:`\sqrt{\mathbb E c^2}\,\Phi Q^{1/2}` (the factor of
        :math:`\Sigma`), shape (M, G).

    Returns
    -------
    ndarray, shape (M, (d+2) G) or (M, G)
        Column blocks ordered :math:`\varphi`, :math:`w_1, \dots, w_d`, :math:`b`.

    Notes
    -----
    Cost :math:`O(M G d)`.
    """
    check_mode(mode)
    if slot not in ("eval", "train"):
        raise ValueError(f"`slot` must be 'eval' or 'train', got {slot!r}.")
    q = _weights(rule)
    c2 = _check_c2(c2)
    phi = np.asarray(feat.phi, dtype=float)
    if phi.ndim != 2 or phi.shape[1] != q.shape[0]:
        raise DimensionError(
            f"`feat.phi` must have shape (M, G) with G = {q.shape[0]} nodes of `rule`, "
            f"got {phi.shape}."
        )
    sq = np.sqrt(q)
    if phi_only:
        return np.sqrt(c2) * phi * sq
    if slot == "train" and mode == "truncated":
        gw, gb = feat.chi_w, feat.chi_b
        if gw is None or gb is None:
            raise DimensionError(
                "the training slot of the truncated kernel needs the features chi, but `feat` "
                "was computed without them; use FeatureMap.features(..., training=True) or "
                "`features`."
            )
    else:
        gw, gb = feat.psi_w, feat.psi_b
    gw = np.asarray(gw, dtype=float)
    gb = np.asarray(gb, dtype=float)
    M, G = phi.shape
    if gw.ndim != 3 or gw.shape[:2] != (M, G) or gb.shape != (M, G):
        raise DimensionError(
            f"gradient features must have shapes (M, G, d) and (M, G) with (M, G) = {(M, G)}; "
            f"got {gw.shape} and {gb.shape}."
        )
    d = gw.shape[2]
    sc = np.sqrt(c2) * sq
    out = np.empty((M, (d + 2) * G))
    out[:, :G] = phi * sq
    # block j+1 holds the w_j-derivatives of all nodes
    out[:, G:(d + 1) * G].reshape(M, d, G)[...] = np.swapaxes(gw, 1, 2) * sc
    out[:, (d + 1) * G:] = gb * sc
    return out


def kernel_factors(
    feat_eval: Features,
    feat_train: Features,
    rule: QuadratureRule,
    c2: float,
    mode: Literal["rtrl", "truncated"] = "rtrl",
    weights: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Thin factors ``(U, V)`` with :math:`A W = U V^\top` (§4.4).

    :math:`U = F_{\rm eval}` and :math:`V = W F_{\rm train}`, where ``W`` is
    ``diag(weights)`` (identity when ``weights`` is None, giving
    :math:`A = U V^\top`).

    Parameters
    ----------
    feat_eval, feat_train : Features
        Features at the evaluation and training histories.
    rule : QuadratureRule
        The rule whose weights :math:`q` replace :math:`\mu_0` (only ``rule.weights`` is used).
    c2 : float
        :math:`\mathbb E[c^2]`.
    mode : {"rtrl", "truncated"}
        Gradient mode: the training slot carries :math:`\psi` (rtrl) or :math:`\chi`
        (truncated).
    weights : array_like, shape (M_train,), optional
        History weights :math:`\omega`.

    Returns
    -------
    U : ndarray, shape (M_eval, r)
        Left factor :math:`F_{\rm eval}` (true-gradient slot).
    V : ndarray, shape (M_train, r)
        Right factor :math:`W F_{\rm train}`.
        With :math:`r = (d+2)G`. Cost :math:`O((M_{\rm eval}+M_{\rm train}) r)`.

    Raises
    ------
    DimensionError
        If ``weights`` does not have one entry per training history.
    """
    U = kernel_factor(feat_eval, rule, c2, slot="eval", mode=mode)
    V = kernel_factor(feat_train, rule, c2, slot="train", mode=mode)
    if weights is not None:
        om = np.asarray(weights, dtype=float)
        if om.shape != (V.shape[0],):
            raise DimensionError(
                f"`weights` must have shape ({V.shape[0]},) to match the training histories, "
                f"got {om.shape}."
            )
        V = V * om[:, None]
    return U, V


def tangent_kernel(
    feat_eval: Features,
    feat_train: Features,
    rule: QuadratureRule,
    c2: float,
    mode: Literal["rtrl", "truncated"] = "rtrl",
) -> np.ndarray:
    r"""Neural tangent kernel :math:`A(\xi, \xi')` between two batches of histories.

    .. math::

        A(\xi,\xi') = \sum_g q_g\bigl[\varphi_g\varphi_g'
        + \mathbb E[c^2]\,(\psi_{w,g}\cdot G_{w,g}' + \psi_{b,g} G_{b,g}')\bigr],

    :math:`G' = \psi'` (rtrl) or :math:`\chi'` (truncated) at the training
    histories ``feat_train`` (second slot).

    Parameters
    ----------
    feat_eval : Features
        Features at the evaluation histories (rows).
    feat_train : Features
        Features at the training histories (columns). Pass the same object as
        ``feat_eval`` for the training kernel; in rtrl mode the result is then
        exactly symmetric.
    rule : QuadratureRule
        The rule whose weights :math:`q` replace :math:`\mu_0`.
    c2 : float
        :math:`\mathbb E[c^2]` (``prior.c_second_moment``).
    mode : {"rtrl", "truncated"}
        Gradient mode: the second slot carries :math:`\psi'` (rtrl) or :math:`\chi'`
        (truncated).

    Returns
    -------
    ndarray, shape (M_eval, M_train)
        :math:`A(\xi^{\rm eval}_i, \xi^{\rm train}_j)`.

    Notes
    -----
    One dense product of an (M_eval, r) and an (r, M_train) matrix,
    :math:`r = (d+2)G`: cost :math:`O(M_{\rm eval} M_{\rm train} r)`, memory
    :math:`O((M_{\rm eval}+M_{\rm train}) r + M_{\rm eval}M_{\rm train})`.
    """
    left = kernel_factor(feat_eval, rule, c2, slot="eval", mode=mode)
    if feat_train is feat_eval and mode == "rtrl":
        A = left @ left.T
        return _symmetrise(A)
    right = kernel_factor(feat_train, rule, c2, slot="train", mode=mode)
    return left @ right.T


def covariance_kernel(feat_eval: Features, feat_train: Features, rule: QuadratureRule,
                      c2: float) -> np.ndarray:
    r"""Initial-output covariance :math:`\Sigma(\xi,\xi') = \mathbb E[c^2]\sum_g q_g\varphi_g\varphi_g'`.

    Parameters
    ----------
    feat_eval, feat_train : Features
        Features at the row and column histories (the same object gives an
        exactly symmetric matrix).
    rule : QuadratureRule
        The rule whose weights :math:`q` replace :math:`\mu_0` (only ``rule.weights`` is used).
    c2 : float
        :math:`\mathbb E[c^2]`.

    Returns
    -------
    ndarray, shape (M_eval, M_train)
        Cost :math:`O(M_{\rm eval}M_{\rm train}G)`.
    """
    left = kernel_factor(feat_eval, rule, c2, phi_only=True)
    if feat_train is feat_eval:
        return _symmetrise(left @ left.T)
    right = kernel_factor(feat_train, rule, c2, phi_only=True)
    return left @ right.T


def _symmetrise(A: np.ndarray) -> np.ndarray:
    """Make a Gram matrix exactly symmetric (BLAS may round the two triangles differently)."""
    A += A.T
    A *= 0.5
    return A
