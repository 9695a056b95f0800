r"""Activation functions :math:`\sigma` and their derivatives.

The memory recursion :math:`s_{k+1} = \sigma(w\cdot x_k + b s_k)` needs
:math:`\sigma`, :math:`\sigma'` (sensitivities and kernels) and
:math:`\sigma''` (parameter derivatives of the sensitivities), all vectorised,
and the constant :math:`\sup_u|\sigma'(u)|` that decides whether the recursion
contracts: :math:`|b|\sup|\sigma'| \le \gamma < 1`.

Named activations carry their constants in closed form:

============  ================================  =====================  ====================
name          :math:`\sigma(u)`                 :math:`\sup|\sigma'|`  :math:`\sup|\sigma|`
============  ================================  =====================  ====================
``tanh``      :math:`\tanh u`                   1                      1
``sigmoid``   :math:`1/(1+e^{-u})`              1/4                    1
``erf``       :math:`\operatorname{erf}(u)`     :math:`2/\sqrt\pi`     1
``softplus``  :math:`\log(1+e^{u})`             1                      :math:`\infty`
``linear``    :math:`u`                         1                      :math:`\infty`
============  ================================  =====================  ====================

Any other expression in the variable ``u`` (a string or a sympy expression) is
differentiated symbolically; its constants are then computed numerically
(grid search refined by bounded minimisation, and the limits at
:math:`\pm\infty` by sympy).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .errors import ActivationError

__all__ = ["Activation", "activation", "NAMED_ACTIVATIONS"]

U = sp.Symbol("u", real=True)

# name -> (expression, sup|sigma'|, sup|sigma|)
NAMED_ACTIVATIONS: dict[str, tuple[str, float, float]] = {
    "tanh": ("tanh(u)", 1.0, 1.0),
    "sigmoid": ("1/(1 + exp(-u))", 0.25, 1.0),
    "erf": ("erf(u)", 2.0 / math.sqrt(math.pi), 1.0),
    "softplus": ("log(1 + exp(u))", 1.0, math.inf),
    "linear": ("u", 1.0, math.inf),
}

# Numerically stable numpy forms of the named activations and their derivatives.
def _sigmoid(u):
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _erf(u):
    from scipy.special import erf

    return erf(u)


_NUMPY_FORMS: dict[str, tuple[Callable, Callable, Callable]] = {
    "tanh": (
        np.tanh,
        lambda u: 1.0 - np.tanh(u) ** 2,
        lambda u: -2.0 * np.tanh(u) * (1.0 - np.tanh(u) ** 2),
    ),
    "sigmoid": (
        _sigmoid,
        lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)),
        lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)) * (1.0 - 2.0 * _sigmoid(u)),
    ),
    "erf": (
        _erf,
        lambda u: (2.0 / math.sqrt(math.pi)) * np.exp(-np.square(u)),
        lambda u: (-4.0 / math.sqrt(math.pi)) * u * np.exp(-np.square(u)),
    ),
    "softplus": (
        lambda u: np.logaddexp(0.0, u),
        _sigmoid,
        lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)),
    ),
    "linear": (
        lambda u: np.asarray(u, dtype=float) * 1.0,
        lambda u: np.ones_like(np.asarray(u, dtype=float)),
        lambda u: np.zeros_like(np.asarray(u, dtype=float)),
    ),
}

_FORBIDDEN = (sp.DiracDelta, sp.Heaviside, sp.sign, sp.Subs, sp.Derivative)


def _parse(expression) -> sp.Expr:
    if isinstance(expression, sp.Basic):
        expr = expression
        # accept a user's own symbol named u, whatever its assumptions
        expr = expr.subs({s: U for s in expr.free_symbols if s.name == "u"})
    elif isinstance(expression, str):
        from .expressions import parse_expression

        expr = parse_expression(expression, {"u": U}, argument="expression",
                                accept=lambda name: True, error=ActivationError)
    else:
        raise ActivationError(
            f"`expression` must be a name, a string or a sympy expression, got {type(expression).__name__}."
        )
    if not isinstance(expr, sp.Expr):
        raise ActivationError(f"`expression` {expression!r} is not a scalar expression.")
    extra = {s.name for s in expr.free_symbols} - {"u"}
    if extra:
        raise ActivationError(
            f"`expression` {expression!r} may only depend on `u`; it also uses {sorted(extra)}."
        )
    return expr


@dataclass(frozen=True)
class Activation:
    r"""A smooth activation :math:`\sigma` with vectorised :math:`\sigma, \sigma', \sigma''`.

    Build one with :func:`activation`. Instances are immutable, hashable,
    picklable and compare by their expression.

    Parameters
    ----------
    name : str
        The registered name (``"tanh"`` ...) or ``"custom"``.
    expression : str
        The expression in ``u`` as sympy prints it.
    """

    name: str
    expression: str

    def __reduce__(self):
        return (Activation, (self.name, self.expression))

    # -- symbolic -----------------------------------------------------------
    @functools.cached_property
    def sympy_expr(self) -> sp.Expr:
        """The expression :math:`\\sigma(u)` as a sympy object."""
        return _parse(self.expression)

    @functools.cached_property
    def _derivatives(self) -> tuple[sp.Expr, sp.Expr]:
        d1 = sp.diff(self.sympy_expr, U)
        d2 = sp.diff(d1, U)
        for order, d in ((1, d1), (2, d2)):
            bad = [f for f in _FORBIDDEN if d.has(f)]
            if bad:
                raise ActivationError(
                    f"activation {self.expression!r} is not twice differentiable: its derivative "
                    f"of order {order} is {d}. Use a smooth expression (e.g. 'log(1+exp(u))' "
                    f"instead of 'Max(0, u)')."
                )
        return d1, d2

    # -- numeric ------------------------------------------------------------
    @functools.cached_property
    def _numpy(self) -> tuple[Callable, Callable, Callable]:
        if self.name in _NUMPY_FORMS:
            return tuple(_float_input(f) for f in _NUMPY_FORMS[self.name])  # type: ignore[return-value]
        d1, d2 = self._derivatives
        modules = ["scipy", "numpy"]
        fs = tuple(
            _broadcasting(sp.lambdify(U, e, modules=modules)) for e in (self.sympy_expr, d1, d2)
        )
        return fs  # type: ignore[return-value]

    def __call__(self, u):
        r""":math:`\sigma(u)`, elementwise."""
        return self._numpy[0](u)

    def derivative(self, u, order: int = 1):
        r"""The derivative :math:`\sigma^{(order)}(u)` for ``order`` in 0, 1, 2, elementwise.

        Parameters
        ----------
        u : float or array_like
            Pre-activations.
        order : int, default 1
            Order of the derivative: 0 (:math:`\sigma`), 1 (:math:`\sigma'`) or
            2 (:math:`\sigma''`).

        Returns
        -------
        float or numpy.ndarray
            :math:`\sigma^{(order)}(u)`, with the shape of ``u``.

        Raises
        ------
        ValueError
            If ``order`` is not 0, 1 or 2.
        """
        if order not in (0, 1, 2):
            raise ValueError(f"`order` must be 0, 1 or 2, got {order}.")
        return self._numpy[order](u)

    def sigma(self, u):
        r""":math:`\sigma(u)`, elementwise.

        Parameters
        ----------
        u : float or array_like
            Pre-activations.

        Returns
        -------
        float or numpy.ndarray
            :math:`\sigma(u)`, with the shape of ``u``.
        """
        return self._numpy[0](u)

    def dsigma(self, u):
        r""":math:`\sigma'(u)`, elementwise.

        Parameters
        ----------
        u : float or array_like
            Pre-activations.

        Returns
        -------
        float or numpy.ndarray
            :math:`\sigma'(u)`, with the shape of ``u``.
        """
        return self._numpy[1](u)

    def d2sigma(self, u):
        r""":math:`\sigma''(u)`, elementwise.

        Parameters
        ----------
        u : float or array_like
            Pre-activations.

        Returns
        -------
        float or numpy.ndarray
            :math:`\sigma''(u)`, with the shape of ``u``.
        """
        return self._numpy[2](u)

    @functools.cached_property
    def sup_dsigma(self) -> float:
        r""":math:`\sup_u |\sigma'(u)|`, the Lipschitz constant used for contraction checks."""
        if self.name in NAMED_ACTIVATIONS:
            return NAMED_ACTIVATIONS[self.name][1]
        return _sup_abs(self.sympy_expr, self._derivatives[0], self.dsigma, "sigma'", self.expression)

    @functools.cached_property
    def sup_sigma(self) -> float:
        r""":math:`\sup_u |\sigma(u)|` (``inf`` for unbounded activations)."""
        if self.name in NAMED_ACTIVATIONS:
            return NAMED_ACTIVATIONS[self.name][2]
        try:
            return _sup_abs(self.sympy_expr, self.sympy_expr, self.sigma, "sigma", self.expression)
        except ActivationError:
            return math.inf

    def check_smooth(self) -> None:
        """Raise :class:`ActivationError` unless sigma', sigma'' exist and sigma' is bounded."""
        self._derivatives  # noqa: B018 - raises when not differentiable
        self.sup_dsigma  # noqa: B018 - raises when unbounded
        _sup_abs(self.sympy_expr, self._derivatives[1], self.d2sigma, "sigma''", self.expression)

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, {self.expression!r})"


def _float_input(f: Callable) -> Callable:
    """Let a numpy form accept lists and integers as well as arrays and scalars."""

    def g(u):
        return f(np.asarray(u, dtype=float))

    return g


def _broadcasting(f: Callable) -> Callable:
    def g(u):
        u = np.asarray(u, dtype=float)
        return np.broadcast_to(np.asarray(f(u), dtype=float), u.shape).copy() if u.ndim else float(f(u))

    return g


def _sup_abs(expr: sp.Expr, d: sp.Expr, f: Callable, label: str, text: str) -> float:
    """sup |d(u)| over the real line: sympy limits at +-oo, then a grid refined by minimisation."""
    from scipy.optimize import minimize_scalar

    tails = []
    for direction in (sp.oo, -sp.oo):
        try:
            lim = sp.limit(d, U, direction)
        except Exception:  # pragma: no cover - sympy cannot always decide
            lim = sp.nan
        if lim.is_finite is False or lim in (sp.oo, -sp.oo, sp.zoo):
            raise ActivationError(
                f"activation {text!r} has unbounded {label} (limit {lim} as u -> {direction}); "
                f"the limit theory needs bounded derivatives."
            )
        if isinstance(lim, sp.AccumBounds):
            tails.append(float(max(abs(lim.min), abs(lim.max))))
        elif lim.is_real and lim.is_finite:
            tails.append(abs(float(lim)))
    grid = np.linspace(-60.0, 60.0, 240_001)
    with np.errstate(all="ignore"):
        vals = np.abs(f(grid))
    if not np.all(np.isfinite(vals)):
        bad = grid[~np.isfinite(vals)][0]
        raise ActivationError(
            f"activation {text!r}: {label} is not finite at u = {bad:g}; use an expression "
            f"defined on the whole real line."
        )
    i = int(np.argmax(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(lambda v: -abs(float(f(np.asarray(v)))), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12})
    return float(max(vals[i], -res.fun, *tails))


def activation(spec="tanh") -> Activation:
    """Return the activation named ``spec`` or defined by the expression ``spec`` in ``u``.

    Parameters
    ----------
    spec : str, sympy.Expr or Activation
        One of ``tanh``, ``sigmoid``, ``erf``, ``softplus``, ``linear``, or an
        expression in ``u`` such as ``"u/sqrt(1+u**2)"``.

    Returns
    -------
    Activation
        The activation; ``spec`` itself if it already is one.

    Raises
    ------
    ActivationError
        If the expression cannot be parsed, depends on symbols other than ``u``,
        or is not twice differentiable with bounded first derivative.

    Examples
    --------
    >>> act = activation("tanh")
    >>> float(act.dsigma(0.0)), act.sup_dsigma
    (1.0, 1.0)
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec.strip().lower() in NAMED_ACTIVATIONS:
        name = spec.strip().lower()
        return Activation(name, NAMED_ACTIVATIONS[name][0])
    expr = _parse(spec)
    act = Activation("custom", str(expr))
    act.check_smooth()
    return act
