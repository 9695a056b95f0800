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

Each named activation is one :class:`ActivationSpec` in the registry
:data:`ACTIVATIONS`: its formula, these constants, its numpy forms of
:math:`\sigma, \sigma', \sigma''` and the fused :math:`(\sigma, \sigma')`, the
scalar source compiled into the numba step loop and the name of its SIMD form
(if any). Adding an activation is adding one entry there.

Any other expression in the variable ``u`` (a string, read by
:func:`limitsolver.expressions.parse_expression`, which never runs the text, or
a sympy expression) is differentiated symbolically; it must be smooth (no
``Abs``, ``Max``, ``Piecewise``, ...) with bounded :math:`\sigma'`. Its constants
are then computed numerically (grid search on :math:`[-60, 60]` refined by
bounded minimisation, the limits at :math:`\pm\infty` by sympy, and a check
that :math:`|\sigma'|` does not grow out to :math:`|u| = 10^6`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._docstrings import with_sections
from .errors import ActivationError

if TYPE_CHECKING:
    from sympy import Expr

if TYPE_CHECKING:  # sympy loads on first use of a formula, not with the package
    import sympy as sp


__all__ = ["Activation", "ActivationSpec", "activation", "activation_spec", "ACTIVATIONS",
           "NAMED_ACTIVATIONS"]

# The numpydoc sections of the elementwise functions sigma, sigma' and sigma'' of an activation.
_ELEMENTWISE = """
Parameters
----------
u : float or array_like
    Pre-activations.

Returns
-------
float or numpy.ndarray
    {value}, with the shape of ``u``.
"""


def _u():
    """The real symbol ``u`` of activation formulas (equal on every call)."""
    import sympy as sp

    return sp.Symbol("u", real=True)


def __getattr__(name: str):
    # ``U``, the symbol of formulas, without importing sympy with the module
    if name == "U":
        return _u()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ActivationSpec:
    r"""Everything the package knows about one named activation, in one place.

    Parameters
    ----------
    name : str
        The registered name.
    expression : str
        :math:`\sigma(u)` as a formula in ``u`` (read by
        :func:`limitsolver.expressions.parse_expression`).
    sup_dsigma : float
        :math:`\sup_u|\sigma'(u)|` in closed form (the contraction constant's factor).
    sup_sigma : float
        :math:`\sup_u|\sigma(u)|` (``inf`` when unbounded).
    sigma, dsigma, d2sigma : callable
        Numerically stable numpy forms of :math:`\sigma, \sigma', \sigma''` on float arrays.
    sigma_dsigma : callable
        The fused form ``u -> (sigma(u), sigma'(u))``, bit for bit the pair
        ``(sigma(u), dsigma(u))`` at the cost of one evaluation of the shared part.
    kernel_source : str
        The body of a scalar function ``sigma_dsigma(u)`` using :mod:`math` only,
        returning :math:`(\sigma(u), \sigma'(u))`; compiled into the numba step loop.
    simd : str or None
        The name of a branch-free (SIMD) form of ``sigma_dsigma`` in
        :mod:`limitsolver.simulation._simd` that the compiled loop uses instead
        of ``kernel_source`` (LLVM cannot vectorise the libm call), or ``None``.
    auto_numba : bool
        Whether ``backend="auto"`` always picks the compiled loop (faster at
        every width because it is SIMD code, measured by
        ``benchmarks/bench_simulator.py``).

    Notes
    -----
    To add an activation, add one entry to :data:`ACTIVATIONS`; tests compare
    every entry with its sympy expression (values, derivatives, constants and
    the compiled source).
    """

    name: str
    expression: str
    sup_dsigma: float
    sup_sigma: float
    sigma: Callable
    dsigma: Callable
    d2sigma: Callable
    sigma_dsigma: Callable
    kernel_source: str
    simd: str | None = None
    auto_numba: bool = False


# Numerically stable numpy forms of the named activations and their derivatives.
def _sigmoid(u):
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _erf(u):
    from scipy.special import erf

    return erf(u)


def _tanh_sd(u):
    t = np.tanh(u)
    return t, 1.0 - t**2


def _sigmoid_sd(u):
    t = _sigmoid(u)
    return t, t * (1.0 - t)


def _erf_d1(u):
    return (2.0 / math.sqrt(math.pi)) * np.exp(-np.square(u))


def _softplus(u):
    return np.logaddexp(0.0, u)


def _linear(u):
    return np.asarray(u, dtype=float) * 1.0


def _ones(u):
    return np.ones_like(np.asarray(u, dtype=float))


def _zeros(u):
    return np.zeros_like(np.asarray(u, dtype=float))


#: The registry of named activations: name -> :class:`ActivationSpec`.
ACTIVATIONS: Mapping[str, ActivationSpec] = MappingProxyType({spec.name: spec for spec in (
    ActivationSpec(
        "tanh", "tanh(u)", 1.0, 1.0,
        np.tanh, lambda u: 1.0 - np.tanh(u) ** 2,
        lambda u: -2.0 * np.tanh(u) * (1.0 - np.tanh(u) ** 2), _tanh_sd,
        "t = math.tanh(u)\n    return t, 1.0 - t * t", simd="tanh_sd", auto_numba=True),
    ActivationSpec(
        "sigmoid", "1/(1 + exp(-u))", 0.25, 1.0,
        _sigmoid, lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)),
        lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)) * (1.0 - 2.0 * _sigmoid(u)), _sigmoid_sd,
        "t = 0.5 * (1.0 + math.tanh(0.5 * u))\n    return t, t * (1.0 - t)", simd="sigmoid_sd",
        auto_numba=True),
    ActivationSpec(
        "erf", "erf(u)", 2.0 / math.sqrt(math.pi), 1.0,
        _erf, _erf_d1, lambda u: (-4.0 / math.sqrt(math.pi)) * u * np.exp(-np.square(u)),
        lambda u: (_erf(u), _erf_d1(u)),
        "return math.erf(u), 1.1283791670955126 * math.exp(-u * u)"),
    ActivationSpec(
        "softplus", "log(1 + exp(u))", 1.0, math.inf,
        _softplus, _sigmoid, lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)),
        lambda u: (_softplus(u), _sigmoid(u)),
        "sp = max(u, 0.0) + math.log1p(math.exp(-abs(u)))\n"
        "    return sp, 0.5 * (1.0 + math.tanh(0.5 * u))"),
    ActivationSpec(
        "linear", "u", 1.0, math.inf, _linear, _ones, _zeros,
        lambda u: (_linear(u), _ones(u)), "return u * 1.0, 1.0", auto_numba=True),
)})

#: The registered names (the same mapping as :data:`ACTIVATIONS`).
NAMED_ACTIVATIONS = ACTIVATIONS


def activation_spec(name: str) -> ActivationSpec:
    """The registered :class:`ActivationSpec` called ``name`` (case and spaces ignored).

    Parameters
    ----------
    name : str
        A registered name, e.g. ``"tanh"``.

    Returns
    -------
    ActivationSpec

    Raises
    ------
    ActivationError
        If no activation of that name is registered; the message lists the names.
    """
    key = str(name).strip().lower()
    if key not in ACTIVATIONS:
        raise ActivationError(
            f"unknown activation {name!r}; registered: {', '.join(ACTIVATIONS)} (or write a "
            f"formula in `u`, e.g. 'u/sqrt(1+u**2)')."
        )
    return ACTIVATIONS[key]


def _check_smooth_expr(expr: sp.Expr, text: str, order: int = 0) -> None:
    """Raise unless ``expr`` (sigma or its derivative of ``order``) is free of non-smooth functions."""
    import sympy as sp

    # functions whose presence in sigma, sigma' or sigma'' means sigma is not (known to be) C^2
    _NONSMOOTH = (sp.Piecewise, sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta, sp.Max, sp.Min,
                  sp.floor, sp.ceiling, sp.frac, sp.Subs, sp.Derivative)
    bad = sorted({type(a).__name__ for a in expr.atoms(sp.Function, sp.Piecewise, sp.Max, sp.Min)
                  if isinstance(a, _NONSMOOTH)})
    if not bad:
        return
    which = "the expression" if order == 0 else f"its derivative of order {order} ({expr})"
    raise ActivationError(
        f"activation {text!r} is not twice differentiable: {which} contains {', '.join(bad)}; "
        f"the limit theory needs sigma in C^2 with bounded sigma'. Use a smooth expression "
        f"(e.g. 'log(1+exp(u))' instead of 'Max(0, u)')."
    )


def _parse(expression) -> sp.Expr:
    import sympy as sp

    U = _u()
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
        import sympy as sp

        U = _u()
        d1 = sp.diff(self.sympy_expr, U)
        d2 = sp.diff(d1, U)
        _check_smooth_expr(self.sympy_expr, self.expression)
        for order, d in ((1, d1), (2, d2)):
            _check_smooth_expr(d, self.expression, order)
        return d1, d2

    # -- what is registered about it ----------------------------------------
    @property
    def spec(self) -> ActivationSpec | None:
        """The registry entry of a named activation (:data:`ACTIVATIONS`), ``None`` for a formula."""
        return ACTIVATIONS.get(self.name)

    @functools.cached_property
    def kernel_source(self) -> str:
        r"""Body of a scalar ``sigma_dsigma(u) -> (sigma(u), sigma'(u))`` using :mod:`math` only.

        Named activations use hand-written stable forms (the formulas of their
        numpy forms); a formula is printed by :func:`sympy.printing.pycode.pycode`
        from the parsed expression and its derivative, never copied from the
        user's text.
        """
        if self.spec is not None:
            return self.spec.kernel_source
        from sympy.printing.pycode import pycode

        d1 = self._derivatives[0]
        return f"return float({pycode(self.sympy_expr)}), float({pycode(d1)})"

    @property
    def simd(self) -> str | None:
        """Name of the branch-free (SIMD) kernel form in :mod:`limitsolver.simulation._simd`, if any."""
        return None if self.spec is None else self.spec.simd

    @property
    def auto_numba(self) -> bool:
        """Whether ``backend="auto"`` always compiles the step loop for this activation."""
        return False if self.spec is None else self.spec.auto_numba

    # -- numeric ------------------------------------------------------------
    @functools.cached_property
    def _numpy(self) -> tuple[Callable, Callable, Callable, Callable]:
        if self.spec is not None:
            sp_ = self.spec
            return tuple(_float_input(f) for f in (sp_.sigma, sp_.dsigma, sp_.d2sigma,
                                                   sp_.sigma_dsigma))  # type: ignore[return-value]
        d1, d2 = self._derivatives
        import sympy as sp

        U = _u()
        modules = ["scipy", "numpy"]
        fs = tuple(
            _broadcasting(sp.lambdify(U, e, modules=modules)) for e in (self.sympy_expr, d1, d2)
        )

        def fused(u):
            return fs[0](u), fs[1](u)

        return (*fs, fused)  # type: ignore[return-value]

    def sigma_dsigma(self, u: ArrayLike):
        r"""The pair :math:`(\sigma(u), \sigma'(u))`, elementwise, in one pass.

        Bit for bit ``(self.sigma(u), self.dsigma(u))``; the shared part (e.g.
        :math:`\tanh u`) is evaluated once.

        Parameters
        ----------
        u : float or array_like
            Pre-activations.

        Returns
        -------
        tuple of (float or numpy.ndarray)
            :math:`\sigma(u)` and :math:`\sigma'(u)`, each with the shape of ``u``.
        """
        return self._numpy[3](u)

    def __call__(self, u: ArrayLike):
        r""":math:`\sigma(u)`, elementwise."""
        return self._numpy[0](u)

    def derivative(self, u: ArrayLike, order: int = 1):
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

    @with_sections(_ELEMENTWISE, " " * 8, value=r":math:`\sigma(u)`")
    def sigma(self, u: ArrayLike):
        r""":math:`\sigma(u)`, elementwise."""
        return self._numpy[0](u)

    @with_sections(_ELEMENTWISE, " " * 8, value=r":math:`\sigma'(u)`")
    def dsigma(self, u: ArrayLike):
        r""":math:`\sigma'(u)`, elementwise."""
        return self._numpy[1](u)

    @with_sections(_ELEMENTWISE, " " * 8, value=r":math:`\sigma''(u)`")
    def d2sigma(self, u: ArrayLike):
        r""":math:`\sigma''(u)`, elementwise."""
        return self._numpy[2](u)

    @functools.cached_property
    def sup_dsigma(self) -> float:
        r""":math:`\sup_u |\sigma'(u)|`, the Lipschitz constant used for contraction checks."""
        if self.spec is not None:
            return self.spec.sup_dsigma
        return _sup_abs(self.sympy_expr, self._derivatives[0], self.dsigma, "sigma'", self.expression)

    @functools.cached_property
    def sup_sigma(self) -> float:
        r""":math:`\sup_u |\sigma(u)|` (``inf`` for unbounded activations)."""
        if self.spec is not None:
            return self.spec.sup_sigma
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
    import sympy as sp
    from scipy.optimize import minimize_scalar

    U = _u()
    tails = []
    for direction in (sp.oo, -sp.oo):
        try:
            lim = sp.limit(d, U, direction)
        except Exception:  # pragma: no cover - sympy cannot always decide
            lim = sp.nan
        if lim.is_finite is False or (isinstance(lim, sp.Basic)
                                      and lim.has(sp.oo, -sp.oo, sp.zoo)):
            raise ActivationError(
                f"activation {text!r} has unbounded {label} (limit {lim} as u -> {direction}); "
                f"the limit theory needs bounded derivatives."
            )
        if isinstance(lim, sp.AccumBounds):
            tails.append(float(max(abs(lim.min), abs(lim.max))))
        elif lim.is_real and lim.is_finite:
            tails.append(abs(float(lim)))
    tails.append(_far_sup(f, label, text))
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


def _far_sup(f: Callable, label: str, text: str) -> float:
    """max |f| on 60 <= |u| <= 1e6, refusing ``f`` when it grows there (unbounded)."""
    decades = []
    for k in range(2, 6):  # |u| in [10^k, 10^(k+1)], both signs, 5000 points each
        u = np.geomspace(10.0**k, 10.0 ** (k + 1), 5000)
        with np.errstate(all="ignore"):
            vals = np.abs(np.concatenate([f(u), f(-u)]))
        if not np.all(np.isfinite(vals)):
            raise ActivationError(
                f"activation {text!r}: {label} is not finite for |u| near {10.0**k:g}; use an "
                f"expression with bounded derivatives on the whole real line.")
        decades.append(float(vals.max()))
    if decades[-1] > 2.0 * decades[1] and decades[-1] > 1e-12:
        raise ActivationError(
            f"activation {text!r} has unbounded {label}: max|{label}| is {decades[1]:.3g} for "
            f"|u| in [1e3, 1e4] but {decades[-1]:.3g} for |u| in [1e5, 1e6]; the limit theory "
            f"needs bounded derivatives.")
    return max(decades[0], decades[1], decades[2], decades[3], 0.0)


def activation(spec: str | Expr | Activation = "tanh") -> Activation:
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
        If ``spec`` is a name that is not registered (the message lists the
        registered ones), or the expression cannot be parsed, depends on symbols
        other than ``u``, or is not twice differentiable with bounded first
        derivative.

    Examples
    --------
    >>> act = activation("tanh")
    >>> float(act.dsigma(0.0)), act.sup_dsigma
    (1.0, 1.0)
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        from .expressions import is_identifier

        name = spec.strip().lower()
        if name in ACTIVATIONS:
            return Activation(name, ACTIVATIONS[name].expression)
        if is_identifier(spec) and spec.strip() != "u":
            activation_spec(spec)  # raises, listing the registered names
    expr = _parse(spec)
    _check_smooth_expr(expr, str(spec) if isinstance(spec, str) else str(expr))
    act = Activation("custom", str(expr))
    act.check_smooth()
    return act
