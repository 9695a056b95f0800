r"""The hidden layer as a function of parameters, and the features of the kernels (:ref:`theory §3 <theory-limit>`, :ref:`§4.1 <theory-grid>`).

For a frozen parameter :math:`\theta = (w, b)` the memory of a unit driven by a
history is the fixed point of the random algebraic equation, truncated to the
window :math:`\xi = (X_k, X_{k-1}, \dots, X_{k-L+1})`:

.. math::

    S(\theta;\xi_{k-1}) = \Phi_{X_{k-1}}\circ\cdots\circ\Phi_{X_{k-L+1}}(0),\qquad
    \Phi_x(s) = \sigma(w\cdot x + b s),

which differs from the infinite-past fixed point by at most
:math:`\gamma^{L-1}\sup|\sigma|`, :math:`\gamma = b_{\max}\sup|\sigma'| < 1`.
Its parameter derivatives :math:`\partial_w S`, :math:`\partial_b S` are the
frozen-parameter RTRL sensitivities, computed exactly alongside (by
:func:`limitsolver.memory.memory_on_histories`). One more step with the current
input :math:`x = X_k` gives the features, with :math:`u = w\cdot x + b S`:

.. math::

    \varphi = \sigma(u),\quad
    \psi_w = \sigma'(u)(x + b\,\partial_w S),\quad
    \psi_b = \sigma'(u)(S + b\,\partial_b S),\quad
    \chi_w = \sigma'(u)\,x,\quad \chi_b = \sigma'(u)\,S.

:class:`HiddenLayer` stores :math:`\theta\mapsto S(\theta;\xi)` by its values and
exact sensitivities on the nodes of a :class:`~limitsolver.limit.quadrature.QuadratureRule`
(the Sobolev representation): finite-difference derivatives on tensor grids
(findiff, non-uniform coordinates), norms in :math:`H^m(\mu_0)` by quadrature
and values at off-grid parameters by interpolation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..activations import Activation, activation
from ..contraction import contraction_factor
from ..errors import DimensionError, DiscretisationError
from ..histories import Histories
from ..memory import MemoryState, memory_on_histories, memory_step
from .quadrature import QuadratureRule

__all__ = ["Features", "features", "HiddenLayer", "hidden_layer", "truncation_bound"]


def _as_histories(histories) -> Histories:
    if isinstance(histories, Histories):
        return histories
    return Histories.from_array(histories)


def _check(hist: Histories, rule: QuadratureRule, act: Activation) -> None:
    if hist.dim != rule.dim:
        raise DimensionError(
            f"`histories` have states of dimension {hist.dim} but `rule` has w of dimension "
            f"{rule.dim}; build the rule with dim = {hist.dim}."
        )
    rule.prior.check_contraction(act)


def truncation_bound(act: Activation | str, b_max: float, depth: int) -> float:
    r"""The memory-truncation bound :math:`\gamma^{L-1}\sup|\sigma|` for window length :math:`L`.

    :math:`\gamma = b_{\max}\sup|\sigma'|`; for unbounded :math:`\sigma` the scale
    :math:`\sup|\sigma|` is replaced by 1, as in :meth:`Prior.memory_depth`.
    It bounds :math:`|S_L(\theta;\xi) - S_\infty(\theta;\xi)|` uniformly over histories
    and parameters with :math:`|b| \le b_{\max}` when :math:`\gamma < 1`.

    Parameters
    ----------
    act : Activation or str
        :math:`\sigma`.
    b_max : float
        :math:`b_{\max}`, the half-width of the support of :math:`b`.
    depth : int
        Window length :math:`L` (current state included).

    Returns
    -------
    float
        :math:`\gamma^{L-1}\sup|\sigma|`.
    """
    act = activation(act)
    gamma = contraction_factor(b_max, act)
    scale = act.sup_sigma if math.isfinite(act.sup_sigma) else 1.0
    return float(gamma ** (depth - 1) * scale)


@dataclass(frozen=True, eq=False)
class Features:
    r"""Features of :ref:`theory §3 <theory-limit>` at each history (rows) and node (columns).

    Built by :func:`features` (or :attr:`HiddenLayer.features`).

    Parameters
    ----------
    phi : ndarray, shape (M, G)
        :math:`\varphi = \sigma(u)`, :math:`u = w\cdot x + b S`.
    psi_w : ndarray, shape (M, G, d)
        :math:`\psi_w = \sigma'(u)(x + b\,\partial_w S)` (true gradient).
    psi_b : ndarray, shape (M, G)
        :math:`\psi_b = \sigma'(u)(S + b\,\partial_b S)`.
    chi_w : ndarray, shape (M, G, d), or None
        :math:`\chi_w = \sigma'(u)\,x` (one-step truncated gradient); ``None`` when
        not computed (it is only needed in the training slot in truncated mode).
    chi_b : ndarray, shape (M, G), or None
        :math:`\chi_b = \sigma'(u)\,S`; ``None`` when not computed.
    """

    phi: np.ndarray
    psi_w: np.ndarray
    psi_b: np.ndarray
    chi_w: np.ndarray | None = None
    chi_b: np.ndarray | None = None

    @property
    def M(self) -> int:
        """Number of histories."""
        return int(self.phi.shape[0])

    @property
    def G(self) -> int:
        """Number of parameter nodes."""
        return int(self.phi.shape[1])


def _features_from_memory(mem: MemoryState, x: np.ndarray, rule: QuadratureRule,
                          act: Activation, *, chi: bool = True) -> Features:
    r"""One memory step from :math:`S(\theta;\xi_{k-1})` with :math:`x = X_k`: :math:`\varphi, \psi`
    and, if ``chi``, :math:`\chi_w = \sigma'(u)x`, :math:`\chi_b = \sigma'(u)S`.

    The memory step runs once; :math:`\chi` re-evaluates only :math:`\sigma'(u)`.
    """
    wx = x @ rule.w.T
    rtrl = memory_step(mem, x, rule.w, rule.b, act, "rtrl", wx=wx)
    if not chi:
        return Features(rtrl.s, rtrl.jw, rtrl.jb)
    du = act.dsigma(wx + rule.b * mem.s)
    return Features(rtrl.s, rtrl.jw, rtrl.jb, du[..., None] * x[:, None, :], du * mem.s)


def features(histories: Histories | np.ndarray, rule: QuadratureRule,
             act: Activation | str) -> Features:
    r"""Features :math:`\varphi, \psi, \chi` at every history and node of ``rule``.

    The memory :math:`S(\theta;\xi_{k-1})` and its exact sensitivities are run from
    zero over ``values[:, 1:]`` (:func:`~limitsolver.memory.memory_on_histories`);
    one :func:`~limitsolver.memory.memory_step` with :math:`x = X_k` then gives
    :math:`\varphi` and :math:`\psi` (rtrl) and :math:`\chi` (truncated).

    Parameters
    ----------
    histories : Histories or ndarray, shape (M, L, d)
        Histories :math:`\xi^{(m)}` with ``values[:, 0]`` :math:`= X_k` (an array gets
        equal weights).
    rule : QuadratureRule
        Nodes :math:`(w_g, b_g)`; its prior's ``b_max`` must make the memory contract.
    act : Activation or str
        :math:`\sigma`.

    Returns
    -------
    Features
        Arrays of shape (M, G) or (M, G, d) (history :math:`m`, node :math:`g`).

    Raises
    ------
    DimensionError
        If the state dimension of the histories differs from the rule's.
    ContractionError
        If :math:`b_{\max}\sup|\sigma'|\ge 1`.

    Notes
    -----
    Cost :math:`O(M G L d)` time, :math:`O(M G d)` memory (five feature arrays).
    """
    hist = _as_histories(histories)
    act = activation(act)
    _check(hist, rule, act)
    mem = memory_on_histories(hist.values, rule.w, rule.b, act)
    return _features_from_memory(mem, hist.values[:, 0, :], rule, act)


def _axis_index(rule: QuadratureRule, axis: str) -> int:
    d = rule.dim
    names = {"b": d}
    names.update({f"w{i + 1}": i for i in range(d)})
    if d == 1:
        names["w"] = 0
    if axis not in names:
        raise DimensionError(
            f"`axis` must be one of {sorted(names)} for d = {d}, got {axis!r}."
        )
    return names[axis]


class HiddenLayer:
    r"""The Sobolev representation of :math:`\theta\mapsto S(\theta;\xi)` on a parameter grid.

    Built by :func:`hidden_layer`. Values and exact sensitivities at the nodes
    :math:`\theta_g` of ``rule`` for each history :math:`\xi^{(m)}` (the memory
    *before* the current input, :math:`S(\theta;\xi_{k-1})`, run over
    ``values[m, 1:]``).

    Parameters
    ----------
    histories : Histories
        The histories :math:`\xi^{(m)}`.
    rule : QuadratureRule
        The parameter grid :math:`\{(\theta_g, q_g)\}`.
    act : Activation
        :math:`\sigma`.
    mem : MemoryState
        Memory and exact sensitivities on (history, node), as returned by
        :func:`~limitsolver.memory.memory_on_histories`.

    Attributes
    ----------
    S : ndarray, shape (M, G)
        :math:`S(\theta_g;\xi^{(m)}_{k-1})`.
    dS_dw : ndarray, shape (M, G, d)
        :math:`\partial_w S` (exact forward sensitivity).
    dS_db : ndarray, shape (M, G)
        :math:`\partial_b S`.
    rule : QuadratureRule
        The parameter grid.
    histories : Histories
        The histories.
    activation : Activation
        :math:`\sigma`.
    truncation_bound : float
        :math:`\gamma^{L-1}\sup|\sigma|`, a bound on
        :math:`|S_L - S_\infty|` uniform over histories and nodes.
    """

    def __init__(self, histories: Histories, rule: QuadratureRule, act: Activation,
                 mem: MemoryState):
        self.histories = histories
        self.rule = rule
        self.activation = act
        self.S = mem.s
        self.dS_dw = mem.jw
        self.dS_db = mem.jb
        self.truncation_bound = truncation_bound(act, rule.prior.b_max, histories.depth)
        for a in (self.S, self.dS_dw, self.dS_db):
            a.flags.writeable = False

    def __repr__(self) -> str:
        return (
            f"HiddenLayer(M={self.histories.M}, G={self.rule.G}, kind={self.rule.kind!r}, "
            f"truncation_bound={self.truncation_bound:.3g})"
        )

    @functools.cached_property
    def features(self) -> Features:
        """The features at the histories (one memory step with the current state)."""
        mem = MemoryState(self.S, self.dS_dw, self.dS_db)
        return _features_from_memory(mem, self.histories.values[:, 0, :], self.rule,
                                     self.activation)

    # ------------------------------------------------------------------------------------------
    # Finite differences

    def _require_tensor(self, what: str) -> tuple[int, ...]:
        if not self.rule.is_tensor:
            raise DiscretisationError(
                f"{what} needs a tensor grid; `rule` is of kind {self.rule.kind!r}; build it "
                f'with kind="uniform", "legendre" or "hermite".'
            )
        return self.rule.shape

    def _fd(self, values: np.ndarray, axis: int, order: int, acc: int) -> np.ndarray:
        shape = self._require_tensor("a finite-difference derivative")
        coords = self.rule.axes[axis]
        n_needed = order + acc
        if coords.size < n_needed:
            name = "b" if axis == self.rule.dim else f"w{axis + 1}"
            raise DiscretisationError(
                f"the `{name}` axis has {coords.size} node(s); a derivative of order {order} at "
                f"accuracy {acc} needs at least {n_needed}."
            )
        grid = values.reshape(values.shape[:1] + shape)
        from findiff import Diff  # imports sympy: only when a derivative is asked for

        op = Diff(axis + 1, coords, acc=acc) ** order if order > 1 else Diff(
            axis + 1, coords, acc=acc)
        return np.asarray(op(grid)).reshape(values.shape)

    def fd_derivative(self, axis: str = "b", order: int = 1, acc: int = 2) -> np.ndarray:
        r"""Finite-difference derivative :math:`\partial^{k}_{a} S` on the tensor grid.

        Uses findiff on the (possibly non-uniform) axis coordinates, centred in
        the interior and one-sided at the ends, with error :math:`O(h^{\rm acc})`
        on a uniform grid of spacing :math:`h`.

        Parameters
        ----------
        axis : str
            ``"b"``, ``"w"`` (when :math:`d = 1`), ``"w1"``, ``"w2"``.
        order : int
            Derivative order :math:`k \ge 1`.
        acc : int
            Accuracy order (even).

        Returns
        -------
        ndarray, shape (M, G)

        Raises
        ------
        DiscretisationError
            For a non-tensor rule or an axis with too few nodes.
        """
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise DiscretisationError(f"`order` must be a positive integer, got {order!r}.")
        if isinstance(acc, bool) or not isinstance(acc, int) or acc < 2 or acc % 2:
            raise DiscretisationError(f"`acc` must be an even integer >= 2, got {acc!r}.")
        return self._fd(self.S, _axis_index(self.rule, axis), order, acc)

    def _active_axes(self) -> list[int]:
        """Parameter axes along which :math:`\\mu_0` is not degenerate (b omitted if b_max = 0)."""
        d = self.rule.dim
        return list(range(d)) + ([d] if self.rule.prior.b_max > 0 else [])

    def _gradient(self) -> list[np.ndarray]:
        d = self.rule.dim
        return [self.dS_dw[..., i] if a < d else self.dS_db
                for i, a in enumerate(self._active_axes())]

    def sobolev_norm(self, m: int = 1, *, acc: int = 4) -> np.ndarray:
        r"""Norm :math:`\|S(\cdot;\xi)\|_{H^m(\mu_0)}` of each history, by quadrature.

        .. math::

            \|S\|_{H^m(\mu_0)}^2 = \sum_{|\alpha|\le m}\mathbb E_{\mu_0}\big[(\partial^\alpha_\theta S)^2\big]

        over the directions :math:`\theta = (w_1,\dots,w_d, b)` (``b`` omitted when
        :math:`b_{\max} = 0`, where :math:`\mu_0` does not extend in :math:`b`), with
        all :math:`d_\theta^{\,|\alpha|}` ordered derivatives of order :math:`|\alpha|`
        (so the order-2 term is the squared Frobenius norm of the Hessian).
        First derivatives are the exact sensitivities; second derivatives
        (``m = 2``) are finite differences of the exact sensitivities (accuracy
        ``acc``), symmetrised, and need a tensor rule.

        Parameters
        ----------
        m : {0, 1, 2}
        acc : int
            Finite-difference accuracy for ``m = 2``.

        Returns
        -------
        ndarray, shape (M,)
        """
        if m not in (0, 1, 2):
            raise DiscretisationError(f"`m` must be 0, 1 or 2, got {m!r}.")
        integrand = self.S**2
        if m >= 1:
            for g in self._gradient():
                integrand = integrand + g**2
        if m == 2:
            axes = self._active_axes()
            grads = self._gradient()
            for i, gi in enumerate(grads):
                for j in range(i, len(axes)):
                    hij = self._fd(gi, axes[j], 1, acc)
                    if j > i:
                        hji = self._fd(grads[j], axes[i], 1, acc)
                        integrand = integrand + 2.0 * (0.5 * (hij + hji)) ** 2
                    else:
                        integrand = integrand + hij**2
        return np.sqrt(self.rule.integrate(integrand))

    # ------------------------------------------------------------------------------------------
    # Interpolation

    def interpolate(self, w: ArrayLike, b: ArrayLike, *, method: str = "barycentric") -> np.ndarray:
        r"""Values :math:`S(\theta;\xi)` at off-grid parameters, shape (M, n_new).

        Parameters
        ----------
        w : array_like, shape (n_new, d) (or (n_new,) when d = 1)
            Input weights of the new parameters; inside the grid's box.
        b : array_like, shape (n_new,)
            Recurrence coefficients of the new parameters; inside the grid's box.
        method : {"barycentric", "cubic"}
            ``"barycentric"``: tensor product of 1-D Lagrange interpolants through
            all nodes of each axis (barycentric form, spectrally accurate on the
            Gauss--Legendre axes, unstable on fine uniform grids); ``"cubic"``: tensor
            product of not-a-knot cubic splines (``scipy.interpolate.make_interp_spline``,
            error :math:`O(h^4)`), for uniform grids.
            Axes with a single node (``b`` when :math:`b_{\max} = 0`) are constant.

        Returns
        -------
        ndarray, shape (M, n_new)
            The interpolant of :math:`S(\cdot;\xi^{(m)})` at :math:`(w_p, b_p)`.

        Raises
        ------
        DimensionError
            If the shapes of ``w`` and ``b`` disagree with each other or with :math:`d`.
        DiscretisationError
            For a non-tensor rule, an unknown method, or points outside the grid's box.

        Notes
        -----
        Barycentric cost :math:`O(n_{\rm new}\sum_a n_a + M G\, n_{\rm new})`.
        """
        shape = self._require_tensor("interpolation")
        d = self.rule.dim
        w = np.asarray(w, dtype=float)
        if w.ndim == 1 and d == 1:
            w = w[:, None]
        b = np.asarray(b, dtype=float).reshape(-1)
        if w.ndim != 2 or w.shape[1] != d or b.shape != (w.shape[0],):
            raise DimensionError(
                f"`w` must have shape (n_new, {d}) and `b` shape (n_new,), got {w.shape}, "
                f"{b.shape}."
            )
        pts = np.column_stack([w, b])
        for a, coords in enumerate(self.rule.axes):
            lo, hi = coords[0], coords[-1]
            if coords.size > 1 and (np.any(pts[:, a] < lo) or np.any(pts[:, a] > hi)):
                name = "b" if a == d else f"w{a + 1}"
                raise DiscretisationError(
                    f"interpolation points must lie in the grid's box; `{name}` range is "
                    f"[{lo:.6g}, {hi:.6g}]."
                )
        active = [a for a, n in enumerate(shape) if n > 1]
        grid = self.S.reshape((self.histories.M,) + shape)
        # drop single-node axes
        grid = grid.reshape((self.histories.M,) + tuple(shape[a] for a in active))
        if method == "barycentric":
            mats = [_lagrange_matrix(self.rule.axes[a], pts[:, a]) for a in active]
        elif method == "cubic":
            mats = [_spline_matrix(self.rule.axes[a], pts[:, a]) for a in active]
        else:
            raise DiscretisationError(
                f"`method` must be 'barycentric' or 'cubic', got {method!r}."
            )
        if not mats:  # a single node: S is constant in the parameters
            return np.repeat(grid.reshape(self.histories.M, 1), pts.shape[0], axis=1)
        # contract axes one by one, carrying the point index p as the last axis
        out = np.tensordot(grid, mats[0], axes=([1], [1]))  # (M, n_2, ..., P)
        for mat in mats[1:]:
            out = np.einsum("mj...p,pj->m...p", out, mat)
        return out


def _spline_matrix(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""Matrix :math:`L_{pj}` of the not-a-knot cubic spline through ``nodes`` (linear in the data)."""
    from scipy.interpolate import make_interp_spline

    k = min(3, nodes.size - 1)
    return make_interp_spline(nodes, np.eye(nodes.size), k=k)(x)


def _lagrange_matrix(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""Matrix :math:`L_{pj} = \ell_j(x_p)` of the Lagrange basis through ``nodes`` (barycentric form)."""
    t = nodes
    diff = t[:, None] - t[None, :]
    np.fill_diagonal(diff, 1.0)
    scale = (t[-1] - t[0]) / 4.0 if t.size > 1 else 1.0
    lam = 1.0 / np.prod(diff / scale, axis=1)
    dx = x[:, None] - t[None, :]
    exact = dx == 0.0
    dx[exact] = 1.0
    terms = lam[None, :] / dx
    L = terms / terms.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    if hit.any():
        L[hit] = exact[hit].astype(float)
    return L


def hidden_layer(histories: Histories | np.ndarray, rule: QuadratureRule, act: Activation | str,
                 *, tol: float | None = None) -> HiddenLayer:
    r"""Compute :math:`S(\theta_g;\xi^{(m)})` and its exact sensitivities on the grid.

    Parameters
    ----------
    histories : Histories or ndarray, shape (M, L, d)
        Histories :math:`\xi^{(m)}`; the memory runs over ``values[:, 1:]`` (an array
        gets equal weights).
    rule : QuadratureRule
        The parameter grid :math:`\{(\theta_g, q_g)\}`; its prior's ``b_max`` must
        make the memory contract.
    act : Activation or str
        :math:`\sigma`.
    tol : float, optional
        Required accuracy of the memory truncation: if
        :math:`\gamma^{L-1}\sup|\sigma| >` ``tol`` for the window length :math:`L`
        of the histories, raise.

    Returns
    -------
    HiddenLayer
        :math:`S`, :math:`\partial_w S`, :math:`\partial_b S` on (history, node).

    Raises
    ------
    DimensionError
        If the state dimension of the histories differs from the rule's.
    ContractionError
        If :math:`\gamma = b_{\max}\sup|\sigma'| \ge 1` (the fixed point need not exist).
    DiscretisationError
        If the histories are too short for ``tol`` (the message names the depth needed).

    Notes
    -----
    Cost :math:`O(M G L d)`.
    """
    hist = _as_histories(histories)
    act = activation(act)
    _check(hist, rule, act)
    bound = truncation_bound(act, rule.prior.b_max, hist.depth)
    if tol is not None and bound > tol:
        needed = rule.prior.memory_depth(act, tol)
        raise DiscretisationError(
            f"histories of depth {hist.depth} bound the memory truncation error by "
            f"gamma^(L-1) sup|sigma| = {bound:.3g} > `tol` = {tol:g}; use depth >= {needed}."
        )
    mem = memory_on_histories(hist.values, rule.w, rule.b, act)
    return HiddenLayer(hist, rule, act, mem)
