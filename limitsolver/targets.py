r"""Targets: causal functionals :math:`Y_k = g(\xi_k)` of the history (``THEORY.md`` §1).

A history is :math:`\xi_k = (X_k, X_{k-1}, \dots)`. A target reads the
``window`` most recent states of it (``window = 1``: the current state only)
and is evaluated in two ways:

* on a batch of histories ``(M, L, d)`` with ``hist[:, j] = X_{k-j}`` and
  ``L >= window`` (``target(histories) -> (M,)``), as the limit solver needs;
* along chain paths ``(n_paths, n_steps, d)`` (``target.along_path(path) ->
  (n_paths, n_steps)``), giving :math:`Y_k` for every :math:`k`, as the
  simulator of the finite network needs. States before :math:`X_0` count as
  zero, and the memory of a teacher network starts at :math:`s_0 = 0`.

Built-in families:

=======================  ==========================================================  ============
class                    :math:`Y_k`                                                  ``window``
=======================  ==========================================================  ============
:class:`StateFunction`   :math:`g(X_k)`                                               1
:class:`LinearMemory`    :math:`\sum_{j<J} \rho_j\cdot X_{k-j}`                       :math:`J`
:class:`TeacherRNN`      :math:`a\sum_i c^i s^i_{k+1}`,
                         :math:`s^i_{k+1} = \sigma(w^i\cdot X_k + b^i s^i_k)`          from tol
:class:`WindowFunction`  :math:`f(X_k, X_{k-1}, \dots, X_{k-L+1})`                    :math:`L`
=======================  ==========================================================  ============

For the teacher, :math:`\gamma = \max_i|b^i|\sup|\sigma'| < 1` is required and the
window :math:`L` is the smallest with :math:`\gamma^{L-1}\sup|\sigma| \le`
``memory_tol`` (as :meth:`limitsolver.prior.Prior.memory_depth`): on a window the
memory :math:`S = \Phi_{X_{k-1}}\circ\cdots\circ\Phi_{X_{k-L+1}}(0)`,
:math:`\Phi_x(s) = \sigma(w\cdot x + b s)`, is within
:math:`\gamma^{L-1}\sup|\sigma|` of the infinite-past fixed point, so
:math:`|Y^{\rm window}_k - Y_k| \le a\sum_i |c^i|\,\gamma\,` ``memory_tol``.
``along_path`` runs the exact recursion from :math:`s_0 = 0`.

:func:`make_target` builds a target from a configuration dictionary.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import sympy as sp

from ._random import as_generator
from .activations import Activation, activation
from .contraction import contraction_factor
from .errors import ConfigError, ContractionError, DimensionError, DivergenceError
from .memory import MemoryState, memory_on_histories, memory_step
from .prior import Prior

__all__ = [
    "Target",
    "StateFunction",
    "LinearMemory",
    "TeacherRNN",
    "WindowFunction",
    "make_target",
    "TARGET_KINDS",
]

# Histories of one chunk processed at once by WindowFunction.along_path (floats).
_CHUNK_FLOATS = 1 << 22


@runtime_checkable
class Target(Protocol):
    r"""The protocol of a target functional :math:`Y_k = g(\xi_k)`.

    Any object with the attributes ``dim`` and ``window`` and the methods
    ``__call__`` (values on histories) and ``along_path`` (values along paths)
    is a target; the protocol itself is not instantiated.

    Parameters
    ----------
    *args, **kwargs
        Not used: a protocol class cannot be instantiated (``isinstance`` checks
        the attributes and methods above).

    Attributes
    ----------
    dim : int or None
        Dimension :math:`d` of the states it reads (``None``: any).
    window : int
        Number of most recent states it reads (1 = the current state only).
    """

    dim: int | None
    window: int

    def __call__(self, histories: np.ndarray) -> np.ndarray:
        """Values on histories ``(M, L, d)``, ``L >= window``, ``hist[:, j] = X_{k-j}``; shape (M,)."""
        ...

    def along_path(self, path: np.ndarray) -> np.ndarray:
        """Values :math:`Y_k` along paths ``(n_paths, n_steps, d)``; shape (n_paths, n_steps).

        Parameters
        ----------
        path : ndarray, shape (n_paths, n_steps, d)
            Chain paths in chronological order (index 0 is :math:`X_0`).

        Returns
        -------
        ndarray, shape (n_paths, n_steps)
            :math:`Y_k` at every step :math:`k` of every path (states before
            :math:`X_0` count as zero).
        """
        ...


# -- validation helpers ---------------------------------------------------------------------


def _check_histories(histories, window: int, dim: int | None, name: str) -> np.ndarray:
    h = np.asarray(histories, dtype=float)
    if h.ndim != 3:
        raise DimensionError(
            f"`histories` must have shape (M, L, d) for {name}, got shape {h.shape}."
        )
    if h.shape[1] < window:
        raise DimensionError(
            f"`histories` of shape {h.shape} hold {h.shape[1]} states but {name} reads a window "
            f"of {window}; pass histories of shape (M, L >= {window}, d)."
        )
    if dim is not None and h.shape[2] != dim:
        raise DimensionError(
            f"`histories` of shape {h.shape} have states of dimension {h.shape[2]} but {name} "
            f"reads states of dimension {dim}."
        )
    return h


def _check_path(path, dim: int | None, name: str) -> np.ndarray:
    p = np.asarray(path, dtype=float)
    if p.ndim != 3:
        raise DimensionError(
            f"`path` must have shape (n_paths, n_steps, d) for {name}, got shape {p.shape}."
        )
    if dim is not None and p.shape[2] != dim:
        raise DimensionError(
            f"`path` of shape {p.shape} has states of dimension {p.shape[2]} but {name} reads "
            f"states of dimension {dim}."
        )
    return p


def _check_values(y, shape: tuple[int, ...], name: str) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.shape != shape:
        try:
            y = np.broadcast_to(y, shape).copy()
        except ValueError:
            raise DimensionError(
                f"{name} returned values of shape {y.shape}; expected shape {shape}."
            ) from None
    if not np.all(np.isfinite(y)):
        raise DivergenceError(
            f"{name} returned non-finite values ({int(np.sum(~np.isfinite(y)))} of {y.size}); "
            f"check the target for overflow or inputs outside its domain."
        )
    return y


def _check_dim(dim) -> int | None:
    if dim is None:
        return None
    if isinstance(dim, bool) or int(dim) != dim or dim < 1:
        raise DimensionError(f"`dim` must be a positive integer or None, got {dim!r}.")
    return int(dim)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.setflags(write=False)
    return a


def _windows(path: np.ndarray, window: int) -> np.ndarray:
    """Zero-padded histories of every step: (n_paths, n_steps, window, d), index 0 = current."""
    n_paths, n_steps, d = path.shape
    padded = np.concatenate([np.zeros((n_paths, window - 1, d)), path], axis=1)
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)  # (P, n, d, window)
    return np.moveaxis(win[..., ::-1], -1, 2)


# -- state functions -----------------------------------------------------------------------

_XJ = re.compile(r"^x([1-9][0-9]*)$")


def _lambdify_state(expression: str, dim: int | None) -> tuple[Callable, int]:
    """Parse ``expression`` in ``x`` (d = 1) or ``x1..xd``; return a function of (..., d) and d."""
    x = sp.Symbol("x", real=True)
    names = {"x": x}
    if dim is not None:
        names.update({f"x{j}": sp.Symbol(f"x{j}", real=True) for j in range(1, dim + 1)})
    try:
        expr = sp.parse_expr(expression, local_dict=names)
    except Exception as exc:  # sympy raises many kinds here
        raise ConfigError(
            f"`f` {expression!r} could not be parsed as an expression in `x` (d = 1) or "
            f"`x1, ..., xd`: {exc}"
        ) from exc
    if not isinstance(expr, sp.Expr):
        raise ConfigError(f"`f` {expression!r} is not a scalar expression.")
    used = {s.name for s in expr.free_symbols}
    indexed = sorted(int(m.group(1)) for n in used if (m := _XJ.match(n)))
    others = sorted(n for n in used if n != "x" and not _XJ.match(n))
    if others:
        raise ConfigError(
            f"`f` {expression!r} may only use `x` (d = 1) or `x1, ..., xd`; it also uses {others}."
        )
    if indexed and dim is None:
        raise DimensionError(
            f"`f` {expression!r} uses indexed coordinates {[f'x{j}' for j in indexed]}; pass "
            f"`dim` (the state dimension) to StateFunction."
        )
    if dim is not None and indexed and indexed[-1] > dim:
        raise DimensionError(
            f"`f` {expression!r} uses x{indexed[-1]} but `dim` = {dim}."
        )
    if "x" in used and dim not in (None, 1):
        raise DimensionError(
            f"`f` {expression!r} uses the scalar `x` but `dim` = {dim}; write it in "
            f"`x1, ..., x{dim}`."
        )
    d = 1 if dim is None else dim
    symbols = [sp.Symbol(f"x{j}", real=True) for j in range(1, d + 1)]
    if d == 1:
        expr = expr.subs(x, symbols[0])
    fn = sp.lambdify(symbols, expr, modules=["scipy", "numpy"])

    def g(states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=float)
        out = fn(*(states[..., j] for j in range(d)))
        return np.broadcast_to(np.asarray(out, dtype=float), states.shape[:-1])

    return g, d


@dataclass(frozen=True, eq=False)
class StateFunction:
    r"""A function of the current state: :math:`Y_k = g(X_k)`; ``window = 1``.

    Parameters
    ----------
    f : callable or str
        Either a vectorised callable mapping states ``(..., d)`` to ``(...)``, or an
        expression parsed by sympy in ``x`` (``d = 1``) or ``x1, ..., xd`` (``dim``
        given), e.g. ``"sin(2*x)"`` or ``"x1*x2"``, turned into numpy code.
    dim : int, optional
        State dimension; ``None`` means any for a callable and 1 for an expression
        in ``x``.

    Raises
    ------
    ConfigError
        If the expression cannot be parsed or uses other symbols.
    DimensionError
        If the coordinates it uses do not match ``dim``.

    Examples
    --------
    >>> import numpy as np
    >>> g = StateFunction("x**2")
    >>> g.along_path(np.array([[[1.0], [2.0]]]))
    array([[1., 4.]])
    """

    f: Callable[[np.ndarray], np.ndarray] | str
    dim: int | None = None

    def __post_init__(self):
        dim = _check_dim(self.dim)
        if isinstance(self.f, str):
            _, dim = _lambdify_state(self.f, dim)
        elif not callable(self.f):
            raise ConfigError(
                f"`f` must be a callable on states (..., d) or an expression string, got "
                f"{type(self.f).__name__}."
            )
        object.__setattr__(self, "dim", dim)

    @property
    def window(self) -> int:
        """1: only the current state is read."""
        return 1

    @functools.cached_property
    def _fn(self) -> Callable[[np.ndarray], np.ndarray]:
        if isinstance(self.f, str):
            return _lambdify_state(self.f, self.dim)[0]
        return self.f

    def __call__(self, histories: np.ndarray) -> np.ndarray:
        """:math:`g(X_k)` at ``histories[:, 0]``; shape (M,)."""
        h = _check_histories(histories, 1, self.dim, "StateFunction")
        with np.errstate(all="ignore"):  # non-finite values are reported below
            y = self._fn(h[:, 0, :])
        return _check_values(y, h.shape[:1], "StateFunction")

    def along_path(self, path: np.ndarray) -> np.ndarray:
        """:math:`g(X_k)` for every step; shape (n_paths, n_steps).

        Parameters
        ----------
        path : ndarray, shape (n_paths, n_steps, d)
            Chain paths in chronological order (index 0 is :math:`X_0`).

        Returns
        -------
        ndarray, shape (n_paths, n_steps)
            :math:`Y_k = g(X_k)`.

        Raises
        ------
        DimensionError
            If ``path`` is not of shape (n_paths, n_steps, d) with the target's ``dim``.
        DivergenceError
            If ``f`` returns non-finite values.
        """
        p = _check_path(path, self.dim, "StateFunction")
        with np.errstate(all="ignore"):  # non-finite values are reported below
            y = self._fn(p)
        return _check_values(y, p.shape[:2], "StateFunction")

    def __getstate__(self):
        # the lambdified function is rebuilt on demand; it does not pickle
        return {k: v for k, v in self.__dict__.items() if k != "_fn"}


# -- linear memory -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LinearMemory:
    r"""A linear memory functional :math:`Y_k = \sum_{j=0}^{J-1}\rho_j\cdot X_{k-j}`.

    Parameters
    ----------
    rho : array_like, shape (J, d) or (J,)
        Coefficients :math:`\rho_j\in\mathbb R^d`; a 1-D array means ``d = 1``.

    Notes
    -----
    ``window = J``. Along a path, states before :math:`X_0` are zero (the sum
    stops at :math:`j = k`); cost :math:`O(n_{\rm paths} n_{\rm steps} J d)`.
    """

    rho: np.ndarray

    def __post_init__(self):
        rho = np.asarray(self.rho, dtype=float)
        if rho.ndim == 1:
            rho = rho[:, None]
        if rho.ndim != 2 or rho.shape[0] < 1 or rho.shape[1] < 1:
            raise DimensionError(
                f"`rho` must have shape (J, d) or (J,) with J >= 1, got shape {np.shape(self.rho)}."
            )
        if not np.all(np.isfinite(rho)):
            raise ConfigError("`rho` must be finite.")
        object.__setattr__(self, "rho", _readonly(rho))

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.rho.shape[1])

    @property
    def window(self) -> int:
        """Number of terms :math:`J`."""
        return int(self.rho.shape[0])

    @classmethod
    def geometric(
        cls, decay: float, n_terms: int, dim: int = 1, scale: float = 1.0
    ) -> LinearMemory:
        r""":math:`\rho_j = a\,\lambda^j (1, \dots, 1)` for :math:`j < J`.

        Parameters
        ----------
        decay : float
            :math:`\lambda`.
        n_terms : int
            :math:`J \ge 1`.
        dim : int
            :math:`d`.
        scale : float
            :math:`a`.

        Returns
        -------
        LinearMemory
            With ``rho`` of shape (J, d).

        Raises
        ------
        ConfigError
            If ``n_terms`` is not a positive integer or ``decay``, ``scale`` are not finite.
        """
        dim = _check_dim(dim)
        if isinstance(n_terms, bool) or int(n_terms) != n_terms or n_terms < 1:
            raise ConfigError(f"`n_terms` must be a positive integer, got {n_terms!r}.")
        if not (math.isfinite(decay) and math.isfinite(scale)):
            raise ConfigError(f"`decay` and `scale` must be finite, got {decay}, {scale}.")
        powers = float(scale) * float(decay) ** np.arange(int(n_terms), dtype=float)
        return cls(np.repeat(powers[:, None], dim, axis=1))

    @staticmethod
    def tail_bound(decay: float, n_terms: int, dim: int = 1, scale: float = 1.0) -> float:
        r"""Neglected tail :math:`\sum_{j\ge J}\|\rho_j\|_1 = d\,|a|\,|\lambda|^J/(1-|\lambda|)`.

        It bounds :math:`|Y^{\infty}_k - Y^{J}_k|` by itself times
        :math:`\sup_j\|X_{k-j}\|_\infty`.

        Parameters
        ----------
        decay : float
            :math:`\lambda`, with :math:`|\lambda| < 1`.
        n_terms : int
            Number of kept terms :math:`J`.
        dim : int
            State dimension :math:`d`.
        scale : float
            :math:`a`.

        Returns
        -------
        float
            :math:`d\,|a|\,|\lambda|^J/(1-|\lambda|)`.

        Raises
        ------
        ConfigError
            If :math:`|\lambda| \ge 1` (the tail is not summable).
        """
        if not abs(decay) < 1:
            raise ConfigError(f"`decay` must satisfy |decay| < 1 for a summable tail, got {decay}.")
        return float(dim * abs(scale) * abs(decay) ** n_terms / (1.0 - abs(decay)))

    @classmethod
    def from_tolerance(
        cls, decay: float, tol: float, dim: int = 1, scale: float = 1.0
    ) -> LinearMemory:
        r"""Geometric memory truncated at the smallest :math:`J` with tail :math:`\le` ``tol``.

        The tail is :meth:`tail_bound`,
        :math:`\sum_{j\ge J}\|\rho_j\|_1 = d|a||\lambda|^J/(1-|\lambda|)`, so
        :math:`|Y^\infty_k - Y_k| \le` ``tol`` :math:`\sup\|X\|_\infty`.

        Parameters
        ----------
        decay : float
            :math:`\lambda`, with :math:`|\lambda| < 1`.
        tol : float
            Bound on the neglected tail, positive.
        dim : int
            State dimension :math:`d`.
        scale : float
            :math:`a`.

        Returns
        -------
        LinearMemory
            :meth:`geometric` with the smallest such :math:`J`.

        Raises
        ------
        ConfigError
            If :math:`|\lambda| \ge 1` or ``tol`` is not positive.
        """
        dim = _check_dim(dim)
        if not (math.isfinite(tol) and tol > 0):
            raise ConfigError(f"`tol` must be positive and finite, got {tol}.")
        lam = abs(float(decay))
        cls.tail_bound(decay, 1, dim, scale)  # validates |decay| < 1
        total = dim * abs(scale) / (1.0 - lam)
        if lam == 0.0 or total <= tol:
            n_terms = 1
        else:
            n_terms = max(1, math.ceil(math.log(tol / total) / math.log(lam)))
            # guard the floating-point rounding of the logarithms
            while n_terms > 1 and cls.tail_bound(decay, n_terms - 1, dim, scale) <= tol:
                n_terms -= 1
            while cls.tail_bound(decay, n_terms, dim, scale) > tol:
                n_terms += 1
        return cls.geometric(decay, n_terms, dim, scale)

    def __call__(self, histories: np.ndarray) -> np.ndarray:
        r""":math:`\sum_{j<J}\rho_j\cdot` ``hist[:, j]``; shape (M,)."""
        h = _check_histories(histories, self.window, self.dim, "LinearMemory")
        y = np.einsum("mjd,jd->m", h[:, : self.window, :], self.rho)
        return _check_values(y, h.shape[:1], "LinearMemory")

    def along_path(self, path: np.ndarray) -> np.ndarray:
        r""":math:`Y_k = \sum_{j\le\min(k, J-1)}\rho_j\cdot X_{k-j}` (causal convolution).

        Parameters
        ----------
        path : ndarray, shape (n_paths, n_steps, d)
            Chain paths in chronological order (index 0 is :math:`X_0`).

        Returns
        -------
        ndarray, shape (n_paths, n_steps)
            :math:`Y_k = \sum_{j\le\min(k, J-1)}\rho_j\cdot X_{k-j}`.

        Raises
        ------
        DimensionError
            If ``path`` is not of shape (n_paths, n_steps, d) with the target's ``dim``.
        DivergenceError
            If the values are not finite (non-finite states in ``path``).
        """
        p = _check_path(path, self.dim, "LinearMemory")
        n = p.shape[1]
        y = np.zeros(p.shape[:2])
        for j in range(min(self.window, n)):
            y[:, j:] += p[:, : n - j, :] @ self.rho[j]
        return _check_values(y, p.shape[:2], "LinearMemory")


# -- teacher network -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TeacherRNN:
    r"""A fixed RNN of the class of ``THEORY.md`` §2 as target (a realisable target).

    .. math::

        s^i_{k+1} = \sigma(w^i\cdot X_k + b^i s^i_k),\quad s^i_0 = 0,\qquad
        Y_k = a \sum_{i=1}^n c^i s^i_{k+1}.

    Parameters
    ----------
    c : array_like, shape (n,)
        Output weights :math:`c^i`.
    w : array_like, shape (n, d)
        Input weights :math:`w^i`.
    b : array_like, shape (n,)
        Self-connections :math:`b^i` (the diagonal recurrence).
    activation : Activation or str
        :math:`\sigma`.
    scale : float
        Output scale :math:`a`.
    memory_tol : float
        Tolerance :math:`\gamma^{L-1}\sup|\sigma|` fixing the ``window`` :math:`L`
        used on histories, with :math:`\gamma = \max_i|b^i|\sup|\sigma'|`.

    Raises
    ------
    ContractionError
        If :math:`\gamma \ge 1`.
    DimensionError
        If the shapes of ``c``, ``w``, ``b`` disagree.

    Notes
    -----
    On histories, ``__call__`` reads the first ``window`` states only (so the
    value does not depend on ``L``) and is within
    :math:`a\sum_i|c^i|\,\gamma\,` ``memory_tol`` of the infinite-past value.
    ``along_path`` is the exact recursion from :math:`s_0 = 0` at the start of the
    path. Cost :math:`O(M n L d)` on histories, :math:`O(n_{\rm paths} n_{\rm steps} n d)`
    along paths.
    """

    c: np.ndarray
    w: np.ndarray
    b: np.ndarray
    activation: Activation | str = "tanh"
    scale: float = 1.0
    memory_tol: float = 1e-10

    def __post_init__(self):
        c = np.asarray(self.c, dtype=float)
        w = np.asarray(self.w, dtype=float)
        b = np.asarray(self.b, dtype=float)
        if c.ndim != 1 or c.size < 1 or w.ndim != 2 or w.shape[0] != c.size or b.shape != c.shape:
            raise DimensionError(
                f"`c`, `w`, `b` must have shapes (n,), (n, d), (n,) with n >= 1; got {c.shape}, "
                f"{w.shape}, {b.shape}."
            )
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ConfigError("`c`, `w` and `b` must be finite.")
        if not (math.isfinite(self.scale)):
            raise ConfigError(f"`scale` must be finite, got {self.scale}.")
        if not (0 < self.memory_tol < 1):
            raise ConfigError(f"`memory_tol` must lie in (0, 1), got {self.memory_tol}.")
        act = activation(self.activation)
        b_max = float(np.max(np.abs(b)))
        gamma = contraction_factor(b_max, act)
        if not gamma < 1.0:
            raise ContractionError(
                f"the teacher's memory does not contract: max|`b`| * sup|sigma'| = {b_max:g} * "
                f"{act.sup_dsigma:g} = {gamma:g} >= 1; use |b| < {1.0 / act.sup_dsigma:g}."
            )
        object.__setattr__(self, "c", _readonly(c))
        object.__setattr__(self, "w", _readonly(w))
        object.__setattr__(self, "b", _readonly(b))
        object.__setattr__(self, "activation", act)
        object.__setattr__(self, "scale", float(self.scale))

    @classmethod
    def from_prior(
        cls,
        n_units: int,
        prior: Prior,
        activation: Activation | str,
        dim: int,
        rng,
        scale: float | None = None,
        memory_tol: float = 1e-10,
    ) -> TeacherRNN:
        r"""Draw a teacher with parameters i.i.d. from ``prior``.

        ``scale`` defaults to :math:`n^{-1/2}`, so the output is of order one.
        The draws come from ``rng`` (seed or Generator) through ``prior.sample``.

        Parameters
        ----------
        n_units : int
            Number of hidden units :math:`n`.
        prior : Prior
            Law :math:`\mu_0` of :math:`(c, w, b)`; its ``b_max`` must make the memory
            contract for ``activation``.
        activation : Activation or str
            :math:`\sigma`.
        dim : int
            State dimension :math:`d`.
        rng : int, SeedSequence or Generator
            Source of randomness (same seed, same teacher).
        scale : float, optional
            Output scale :math:`a`; default :math:`n^{-1/2}`.
        memory_tol : float
            Tolerance :math:`\gamma^{L-1}\sup|\sigma|` fixing the ``window``.

        Returns
        -------
        TeacherRNN
            With :math:`(c^i, w^i, b^i)` i.i.d. from ``prior``.

        Raises
        ------
        ContractionError
            If :math:`\gamma = \max_i|b^i|\sup|\sigma'| \ge 1`.
        """
        params = prior.sample(n_units, dim, as_generator(rng))
        if scale is None:
            scale = 1.0 / math.sqrt(n_units)
        return cls(params.c, params.w, params.b, activation, scale, memory_tol)

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.w.shape[1])

    @property
    def n_units(self) -> int:
        """Number of hidden units :math:`n`."""
        return int(self.c.size)

    @property
    def gamma(self) -> float:
        r"""Contraction factor :math:`\gamma = \max_i|b^i|\sup|\sigma'|`."""
        return contraction_factor(np.max(np.abs(self.b)), self.activation)

    @functools.cached_property
    def window(self) -> int:
        r"""Smallest :math:`L` with :math:`\gamma^{L-1}\sup|\sigma|\le` ``memory_tol`` (1 if :math:`b = 0`)."""
        b_max = float(np.max(np.abs(self.b)))
        if b_max == 0.0:
            return 1
        return Prior(b_max=b_max).memory_depth(self.activation, self.memory_tol)

    def __call__(self, histories: np.ndarray) -> np.ndarray:
        r""":math:`a\sum_i c^i\sigma(w^i\cdot X_k + b^i S^i)` with :math:`S` from the window."""
        h = _check_histories(histories, self.window, self.dim, "TeacherRNN")
        h = h[:, : self.window, :]
        state = memory_on_histories(h, self.w, self.b, self.activation, sensitivities=False)
        x = h[:, 0, :]
        state = memory_step(state, x, self.w, self.b, self.activation, wx=x @ self.w.T)
        return _check_values(self.scale * (state.s @ self.c), h.shape[:1], "TeacherRNN")

    def along_path(self, path: np.ndarray) -> np.ndarray:
        r"""Exact recursion from :math:`s_0 = 0`: :math:`Y_k` for every step; (n_paths, n_steps).

        .. math::

            s^i_{k+1} = \sigma(w^i\cdot X_k + b^i s^i_k),\quad s^i_0 = 0,\qquad
            Y_k = a \sum_{i=1}^n c^i s^i_{k+1}.

        Parameters
        ----------
        path : ndarray, shape (n_paths, n_steps, d)
            Chain paths in chronological order (index 0 is :math:`X_0`).

        Returns
        -------
        ndarray, shape (n_paths, n_steps)
            :math:`Y_k = a\sum_i c^i s^i_{k+1}`.

        Raises
        ------
        DimensionError
            If ``path`` is not of shape (n_paths, n_steps, d) with the target's ``dim``.
        DivergenceError
            If the values are not finite (non-finite states in ``path``).
        """
        p = _check_path(path, self.dim, "TeacherRNN")
        n_paths, n_steps, _ = p.shape
        wx = p @ self.w.T  # (n_paths, n_steps, n)
        state = MemoryState(np.zeros((n_paths, self.n_units)), None, None)
        y = np.empty((n_paths, n_steps))
        for k in range(n_steps):
            state = memory_step(state, p[:, k, :], self.w, self.b, self.activation, wx=wx[:, k])
            y[:, k] = state.s @ self.c
        return _check_values(self.scale * y, p.shape[:2], "TeacherRNN")


# -- window functions ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WindowFunction:
    r"""Any function of the last ``window`` states: :math:`Y_k = f(X_k, \dots, X_{k-L+1})`.

    Parameters
    ----------
    f : callable
        Maps windows ``(M, window, d)`` (index 0 = current state) to values ``(M,)``.
    window : int
        :math:`L \ge 1`.
    dim : int, optional
        State dimension (``None``: any).

    Notes
    -----
    ``along_path`` pads the path with zero states before :math:`X_0`: at step
    :math:`k < L - 1` the window is :math:`(X_k, \dots, X_0, 0, \dots, 0)`. It
    calls ``f`` on chunks of at most about :math:`4\cdot 10^6` floats.
    """

    f: Callable[[np.ndarray], np.ndarray]
    window: int
    dim: int | None = None

    def __post_init__(self):
        if not callable(self.f):
            raise ConfigError(f"`f` must be callable on windows (M, window, d), got {self.f!r}.")
        if isinstance(self.window, bool) or int(self.window) != self.window or self.window < 1:
            raise ConfigError(f"`window` must be a positive integer, got {self.window!r}.")
        object.__setattr__(self, "window", int(self.window))
        object.__setattr__(self, "dim", _check_dim(self.dim))

    def __call__(self, histories: np.ndarray) -> np.ndarray:
        """``f(hist[:, :window])``; shape (M,)."""
        h = _check_histories(histories, self.window, self.dim, "WindowFunction")
        with np.errstate(all="ignore"):  # non-finite values are reported below
            y = self.f(h[:, : self.window, :])
        return _check_values(y, h.shape[:1], "WindowFunction")

    def along_path(self, path: np.ndarray) -> np.ndarray:
        r"""``f`` on the zero-padded window of every step; shape (n_paths, n_steps).

        Parameters
        ----------
        path : ndarray, shape (n_paths, n_steps, d)
            Chain paths in chronological order (index 0 is :math:`X_0`).

        Returns
        -------
        ndarray, shape (n_paths, n_steps)
            :math:`Y_k = f(X_k, \dots, X_{k-L+1})` with :math:`X_{j<0} = 0`.

        Raises
        ------
        DimensionError
            If ``path`` is not of shape (n_paths, n_steps, d) with the target's ``dim``.
        DivergenceError
            If ``f`` returns non-finite values.
        """
        p = _check_path(path, self.dim, "WindowFunction")
        n_paths, n_steps, d = p.shape
        wins = _windows(p, self.window).reshape(n_paths * n_steps, self.window, d)
        chunk = max(1, _CHUNK_FLOATS // max(1, self.window * d))
        out = np.empty(n_paths * n_steps)
        for start in range(0, out.size, chunk):
            block = np.ascontiguousarray(wins[start : start + chunk])
            with np.errstate(all="ignore"):  # non-finite values are reported below
                y = self.f(block)
            out[start : start + chunk] = _check_values(y, block.shape[:1], "WindowFunction")
        return out.reshape(n_paths, n_steps)


# -- configuration -------------------------------------------------------------------------

_PRIOR_KEYS = ("sigma_w", "b_max", "c_law", "sigma_c")

TARGET_KINDS: dict[str, dict[str, Any]] = {
    "state": {"expression": None},
    "linear_memory": {"decay": 0.5, "n_terms": None, "tol": None, "scale": 1.0, "rho": None},
    "teacher": {
        "n_units": 16,
        "seed": 0,
        "activation": "tanh",
        "scale": None,
        "memory_tol": 1e-10,
        "sigma_w": 1.0,
        "b_max": 0.5,
        "c_law": "rademacher",
        "sigma_c": 1.0,
    },
}
"""Kinds accepted by :func:`make_target` and their keys with defaults (``None``: see there)."""


def make_target(spec: Mapping[str, Any] | str | Target, dim: int) -> Target:
    r"""Build a target from a configuration entry.

    Parameters
    ----------
    spec : dict, str or Target
        A dictionary with a ``"kind"`` and its keys:

        * ``{"kind": "state", "expression": "sin(2*x)"}`` —
          :class:`StateFunction` (``x`` for ``d = 1``, ``x1..xd`` otherwise);
        * ``{"kind": "linear_memory", "decay": 0.5, "n_terms": 10, "scale": 1.0}``
          — :meth:`LinearMemory.geometric`; with ``"tol"`` instead of
          ``"n_terms"``, :meth:`LinearMemory.from_tolerance`; with ``"rho"`` (a
          list of ``J`` coefficients or ``J`` rows of ``d``) the given coefficients;
          if none is given, ``tol = 1e-8``;
        * ``{"kind": "teacher", "n_units": 16, "seed": 3, "activation": "tanh",
          "scale": None, "memory_tol": 1e-10, "sigma_w": 1.0, "b_max": 0.5,
          "c_law": "rademacher", "sigma_c": 1.0}`` — :meth:`TeacherRNN.from_prior`.

        A string is either a kind name (its defaults) or an expression for a
        ``"state"`` target. A :class:`Target` is returned unchanged after a
        dimension check.
    dim : int
        State dimension of the chain.

    Returns
    -------
    Target
        A :class:`StateFunction`, :class:`LinearMemory` or :class:`TeacherRNN`
        (or ``spec`` itself when it is already a target).

    Raises
    ------
    ConfigError
        For an unknown kind or key, naming it and listing the valid ones.
    DimensionError
        If a given target reads states of another dimension.
    """
    dim = _check_dim(dim)
    if dim is None:
        raise DimensionError("`dim` must be a positive integer, got None.")
    if isinstance(spec, Target) and not isinstance(spec, (str, Mapping)):
        if spec.dim is not None and spec.dim != dim:
            raise DimensionError(
                f"`spec` reads states of dimension {spec.dim} but `dim` = {dim}."
            )
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec} if spec in TARGET_KINDS else {"kind": "state", "expression": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"`spec` must be a dict with a 'kind' in {sorted(TARGET_KINDS)}, a string or a "
            f"Target, got {type(spec).__name__}."
        )
    kind = spec.get("kind")
    if kind not in TARGET_KINDS:
        raise ConfigError(
            f"`kind` {kind!r} is not a target kind; valid kinds are {sorted(TARGET_KINDS)}."
        )
    allowed = TARGET_KINDS[kind]
    unknown = sorted(set(spec) - set(allowed) - {"kind"})
    if unknown:
        raise ConfigError(
            f"key {unknown[0]!r} is not valid for a {kind!r} target; valid keys are "
            f"{sorted(allowed)}."
        )
    opts = {**allowed, **{k: v for k, v in spec.items() if k != "kind"}}
    try:
        return _build_target(kind, opts, dim)
    except TypeError as exc:  # e.g. a string where a number is expected
        raise ConfigError(f"invalid value in a {kind!r} target: {exc}") from exc


def _build_target(kind: str, opts: dict[str, Any], dim: int) -> Target:
    if kind == "state":
        if not isinstance(opts["expression"], str):
            raise ConfigError(
                "key 'expression' of a 'state' target must be a string in `x` (d = 1) or "
                f"`x1, ..., xd`, got {opts['expression']!r}."
            )
        return StateFunction(opts["expression"], dim=dim)
    if kind == "linear_memory":
        given = [k for k in ("n_terms", "tol", "rho") if opts[k] is not None]
        if len(given) > 1:
            raise ConfigError(
                f"a 'linear_memory' target takes one of 'n_terms', 'tol' or 'rho', got {given}."
            )
        if opts["rho"] is not None:
            rho = np.asarray(opts["rho"], dtype=float)
            if rho.ndim == 1 and dim > 1:
                raise DimensionError(
                    f"key 'rho' of shape {rho.shape} needs rows of dimension {dim}; give a "
                    f"list of J lists of {dim} numbers."
                )
            target = LinearMemory(rho)
            if target.dim != dim:
                raise DimensionError(
                    f"key 'rho' of shape {rho.shape} has rows of dimension {target.dim} but "
                    f"`dim` = {dim}."
                )
            return target
        if opts["n_terms"] is not None:
            return LinearMemory.geometric(opts["decay"], opts["n_terms"], dim, opts["scale"])
        tol = 1e-8 if opts["tol"] is None else opts["tol"]
        return LinearMemory.from_tolerance(opts["decay"], tol, dim, opts["scale"])
    # teacher
    try:
        prior = Prior(**{k: opts[k] for k in _PRIOR_KEYS})
    except ValueError as exc:
        raise ConfigError(f"invalid prior for a 'teacher' target: {exc}") from exc
    n_units = opts["n_units"]
    if isinstance(n_units, bool) or not isinstance(n_units, int) or n_units < 1:
        raise ConfigError(f"key 'n_units' must be a positive integer, got {n_units!r}.")
    return TeacherRNN.from_prior(
        n_units,
        prior,
        opts["activation"],
        dim,
        opts["seed"],
        scale=opts["scale"],
        memory_tol=opts["memory_tol"],
    )

