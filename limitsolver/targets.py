r"""Targets: causal functionals :math:`Y_k = g(\xi_k)` of the history (:ref:`theory §1 <theory-data>`).

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
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ._deprecation import renamed_argument
from ._random import as_generator
from ._schema import build, check_state, check_table, check_value
from .activations import Activation, activation
from .contraction import contraction_factor
from .errors import ConfigError, ContractionError, DimensionError, DivergenceError
from .memory import MemoryState, memory_on_histories, memory_step
from .prior import Prior

if TYPE_CHECKING:
    from ._random import SeedLike

__all__ = [
    "Target",
    "StateFunction",
    "LinearMemory",
    "TeacherRNN",
    "WindowFunction",
    "make_target",
    "TARGET_CLASSES",
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
    import sympy as sp

    x = sp.Symbol("x", real=True)
    names = {"x": x}
    if dim is not None:
        names.update({f"x{j}": sp.Symbol(f"x{j}", real=True) for j in range(1, dim + 1)})
    from .expressions import parse_expression

    expr = parse_expression(expression, names, argument="f", accept=lambda n: True)
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

    kind = "state"
    config_keys = MappingProxyType({"expression": None, "dim": None})
    """Keys of a configuration table of this kind and their defaults."""

    def to_state(self) -> dict[str, Any]:
        """The target as a JSON-able table: ``kind = "state"``, ``expression`` and ``dim``.

        Returns
        -------
        dict
            ``{"kind": "state", "expression": f, "dim": d}``.

        Raises
        ------
        ConfigError
            If ``f`` is a Python callable: code cannot be saved as data; give ``f``
            as an expression string to make the target savable.
        """
        if not isinstance(self.f, str):
            raise ConfigError(
                "`f` of this StateFunction is a Python callable, which cannot be saved; "
                "give `f` as an expression string (e.g. \"sin(2*x)\") to save the target."
            )
        return {"kind": self.kind, "expression": self.f, "dim": self.dim}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], where: str = "target",
                   dim: int | None = None) -> StateFunction:
        """Build from :meth:`to_state` or a configuration table ``{"expression": ..., "dim": ...}``.

        Parameters
        ----------
        state : Mapping
            ``expression`` (required, a string in ``x`` or ``x1, ..., xd``) and
            optionally ``dim`` and ``kind = "state"``.
        where : str
            Name of the table in error messages.
        dim : int, optional
            State dimension of the chain (must agree with a ``dim`` in the table).

        Returns
        -------
        StateFunction
            The target.

        Raises
        ------
        ConfigError
            For a wrong kind, an unknown or missing key or a value of the wrong type.
        DimensionError
            If the table's ``dim`` differs from ``dim``.
        """
        state = check_state(state, cls.kind, cls.config_keys, where)
        if "expression" not in state:
            raise ConfigError(
                f"`{where}.expression` is required for a 'state' target: a string in `x` "
                "(d = 1) or `x1, ..., xd`, e.g. \"sin(2*x)\"."
            )
        expression = check_value(state["expression"], str, f"{where}.expression")
        dim = _state_dim(state, dim, where)
        try:
            return cls(expression, dim=dim)
        except (ConfigError, DimensionError) as exc:
            raise type(exc)(f"`{where}.expression`: {exc}") from None


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

    kind = "linear_memory"
    config_keys = MappingProxyType(
        {"decay": 0.5, "n_terms": None, "tol": None, "scale": 1.0, "rho": None})
    """Keys of a configuration table of this kind and their defaults (see :meth:`from_state`)."""
    exclusive_keys = (("n_terms", "decay", "scale"), ("tol", "decay", "scale"), ("rho",))
    """Ways of giving the coefficients: keys of different groups exclude each other."""

    def to_state(self) -> dict[str, Any]:
        """The target as a JSON-able table: ``kind = "linear_memory"`` and ``rho`` in full.

        Returns
        -------
        dict
            ``{"kind": "linear_memory", "rho": [[...], ...]}`` (``J`` rows of ``d``),
            exact; :meth:`from_state` rebuilds ``rho`` bit for bit.
        """
        return {"kind": self.kind, "rho": self.rho.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], where: str = "target",
                   dim: int | None = None) -> LinearMemory:
        """Build from :meth:`to_state` or a configuration table.

        The table gives the coefficients in one of three ways: ``rho`` (a list of
        ``J`` numbers for ``d = 1`` or ``J`` lists of ``d`` numbers), ``n_terms``
        (:meth:`geometric` with ``decay`` and ``scale``) or ``tol``
        (:meth:`from_tolerance`); with none of them ``tol = 1e-8``. ``decay``
        defaults to 0.5 and ``scale`` to 1.

        Parameters
        ----------
        state : Mapping
            Keys ``rho`` | ``n_terms`` | ``tol``, ``decay``, ``scale``, optionally
            ``kind = "linear_memory"``.
        where : str
            Name of the table in error messages.
        dim : int, optional
            State dimension of the chain (default: that of ``rho``, or 1).

        Returns
        -------
        LinearMemory
            The target.

        Raises
        ------
        ConfigError
            For a wrong kind, an unknown key, more than one of ``rho``, ``n_terms``,
            ``tol``, or a value of the wrong type.
        DimensionError
            If ``rho`` has rows of another dimension than ``dim``.
        """
        state = check_state(state, cls.kind, cls.config_keys, where)
        given = [k for k in ("n_terms", "tol", "rho") if state.get(k) is not None]
        if len(given) > 1:
            raise ConfigError(
                f"a 'linear_memory' target takes one of 'n_terms', 'tol' or 'rho', got {given} "
                f"in `{where}`; remove all but one."
            )
        if "rho" in given:
            extra = sorted(set(state) & {"decay", "scale"})
            if extra:
                raise ConfigError(
                    f"`{where}.{extra[0]}` has no meaning with `{where}.rho` (the coefficients "
                    "are given); remove it."
                )
            rho = np.asarray(check_value(state["rho"], np.ndarray, f"{where}.rho"), dtype=float)
            if rho.ndim == 1 and dim is not None and dim > 1:
                raise DimensionError(
                    f"`{where}.rho` of shape {rho.shape} needs rows of dimension {dim}; give a "
                    f"list of J lists of {dim} numbers."
                )
            target = cls(rho)
            if dim is not None and target.dim != dim:
                raise DimensionError(
                    f"`{where}.rho` of shape {rho.shape} has rows of dimension {target.dim} but "
                    f"`dim` = {dim}."
                )
            return target
        d = 1 if dim is None else dim
        decay = check_value(state.get("decay", cls.config_keys["decay"]), float, f"{where}.decay")
        scale = check_value(state.get("scale", cls.config_keys["scale"]), float, f"{where}.scale")
        if "n_terms" in given:
            n_terms = check_value(state["n_terms"], int, f"{where}.n_terms")
            return cls.geometric(decay, n_terms, d, scale)
        tol = check_value(state.get("tol") if given else 1e-8, float, f"{where}.tol")
        return cls.from_tolerance(decay, tol, d, scale)

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
    r"""A fixed RNN of the class of :ref:`theory §2 <theory-network>` as target (a realisable target).

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
    @renamed_argument("rng", "seed")
    def from_prior(
        cls,
        n_units: int,
        prior: Prior,
        activation: Activation | str,
        dim: int,
        seed: SeedLike,
        scale: float | None = None,
        memory_tol: float = 1e-10,
    ) -> TeacherRNN:
        r"""Draw a teacher with parameters i.i.d. from ``prior``.

        ``scale`` defaults to :math:`n^{-1/2}`, so the output is of order one.
        The draws come from ``seed`` (seed or Generator) through ``prior.sample``.

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
        seed : int, SeedSequence or Generator
            Source of randomness (same seed, same teacher); ``rng`` is its former name.
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
        params = prior.sample(n_units, dim, as_generator(seed, "seed"))
        if scale is None:
            scale = 1.0 / math.sqrt(n_units)
        return cls(params.c, params.w, params.b, activation, scale, memory_tol)

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.w.shape[1])

    kind = "teacher"
    config_keys = MappingProxyType({
        "n_units": 16, "seed": 0, "activation": "tanh", "scale": None, "memory_tol": 1e-10,
        "sigma_w": 1.0, "b_max": 0.5, "c_law": "rademacher", "sigma_c": 1.0,
        "c": None, "w": None, "b": None,
    })
    """Keys of a configuration table of this kind and their defaults (see :meth:`from_state`)."""
    exclusive_keys = (("c", "w", "b"), ("n_units", "seed", "sigma_w", "b_max", "c_law", "sigma_c"))
    """Groups of keys that exclude each other: given weights, or a teacher drawn from a prior."""

    def to_state(self) -> dict[str, Any]:
        """The teacher as a JSON-able table: ``kind = "teacher"``, its weights in full.

        Returns
        -------
        dict
            ``{"kind": "teacher", "c": [...], "w": [[...], ...], "b": [...],
            "activation": ..., "scale": ..., "memory_tol": ...}``, exact.
        """
        act = self.activation
        return {"kind": self.kind, "c": self.c.tolist(), "w": self.w.tolist(),
                "b": self.b.tolist(),
                "activation": act.name if act.name != "custom" else act.expression,
                "scale": self.scale, "memory_tol": self.memory_tol}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], where: str = "target",
                   dim: int | None = None) -> TeacherRNN:
        """Build from :meth:`to_state` or a configuration table.

        Either the weights ``c``, ``w``, ``b`` are given (as :meth:`to_state` writes
        them), or the teacher is drawn by :meth:`from_prior` from ``n_units``
        (default 16), ``seed`` (default 0) and the prior keys ``sigma_w``,
        ``b_max``, ``c_law``, ``sigma_c``. Both take ``activation`` (default
        ``"tanh"``), ``scale`` (default :math:`n^{-1/2}` when drawn, 1 when given)
        and ``memory_tol`` (default 1e-10).

        Parameters
        ----------
        state : Mapping
            As above, optionally with ``kind = "teacher"``.
        where : str
            Name of the table in error messages.
        dim : int, optional
            State dimension of the chain (required to draw a teacher; must agree
            with ``w`` when given).

        Returns
        -------
        TeacherRNN
            The target.

        Raises
        ------
        ConfigError
            For a wrong kind, an unknown key, a mix of the two forms or a value
            of the wrong type.
        ContractionError
            If the teacher's memory does not contract.
        """
        given, drawn = cls.exclusive_keys
        state = check_state(state, cls.kind, cls.config_keys, where)
        if any(k in state for k in given):
            mixed = sorted(set(state) & set(drawn))
            if mixed:
                raise ConfigError(
                    f"`{where}.{mixed[0]}` draws a teacher but `{where}` also gives its weights "
                    "`c`, `w`, `b`; give one or the other."
                )
            table = {k: v for k, v in state.items() if k != "kind"}
            teacher = build(cls, table, where)
            if dim is not None and teacher.dim != dim:
                raise DimensionError(
                    f"`{where}.w` has rows of dimension {teacher.dim} but `dim` = {dim}."
                )
            return teacher
        if dim is None:
            raise DimensionError(f"`dim` is required to draw the teacher of `{where}`.")
        prior = Prior.from_state({k: state[k] for k in drawn[2:] if k in state}, where)
        keys = {**cls.config_keys, **state}
        n_units = check_value(keys["n_units"], int, f"{where}.n_units")
        if n_units < 1:
            raise ConfigError(f"`{where}.n_units` must be a positive integer, got {n_units!r}.")
        seed = check_value(keys["seed"], int, f"{where}.seed")
        if seed < 0:
            raise ConfigError(f"`{where}.seed` must be a non-negative integer, got {seed}.")
        scale = keys["scale"]
        return cls.from_prior(
            n_units, prior, check_value(keys["activation"], str, f"{where}.activation"),
            dim, seed,
            scale=None if scale is None else check_value(scale, float, f"{where}.scale"),
            memory_tol=check_value(keys["memory_tol"], float, f"{where}.memory_tol"),
        )

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

    kind = "window"

    def to_state(self) -> dict[str, Any]:
        """Refused: a window function wraps a Python callable, which cannot be saved.

        Raises
        ------
        ConfigError
            Always; use a :class:`LinearMemory`, :class:`TeacherRNN` or an
            expression :class:`StateFunction` for a target that must be saved.
        """
        raise ConfigError(
            "`f` of a WindowFunction is a Python callable, which cannot be saved as data; "
            "use a LinearMemory, TeacherRNN or an expression StateFunction to save the target."
        )

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

TARGET_CLASSES: Mapping[str, type] = MappingProxyType(
    {cls.kind: cls for cls in (StateFunction, LinearMemory, TeacherRNN)}
)
"""The registry of target kinds buildable from a table: ``kind`` -> class (with ``from_state``)."""

TARGET_KINDS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {kind: cls.config_keys for kind, cls in TARGET_CLASSES.items()}
)
"""Keys of each kind with their defaults (``None``: see the class's ``from_state``); read-only."""


def _state_dim(state: Mapping[str, Any], dim: int | None, where: str) -> int | None:
    if state.get("dim") is None:
        return dim
    d = check_value(state["dim"], int, f"{where}.dim")
    if dim is not None and d != dim:
        raise DimensionError(f"`{where}.dim` = {d} but the chain has dimension {dim}.")
    return d


def make_target(spec: Mapping[str, Any] | str | Target, dim: int, where: str = "target") -> Target:
    r"""Build a target from a configuration entry.

    Parameters
    ----------
    spec : dict, str or Target
        A dictionary with a ``"kind"`` in :data:`TARGET_CLASSES` and its keys
        (each class's ``from_state`` documents them):

        * ``{"kind": "state", "expression": "sin(2*x)"}`` —
          :class:`StateFunction` (``x`` for ``d = 1``, ``x1..xd`` otherwise);
        * ``{"kind": "linear_memory", "decay": 0.5, "n_terms": 10, "scale": 1.0}``
          — :meth:`LinearMemory.geometric`; with ``"tol"`` instead of
          ``"n_terms"``, :meth:`LinearMemory.from_tolerance`; with ``"rho"`` (a
          list of ``J`` coefficients or ``J`` rows of ``d``) the given coefficients;
          if none is given, ``tol = 1e-8``;
        * ``{"kind": "teacher", "n_units": 16, "seed": 3, "activation": "tanh",
          "scale": None, "memory_tol": 1e-10, "sigma_w": 1.0, "b_max": 0.5,
          "c_law": "rademacher", "sigma_c": 1.0}`` — :meth:`TeacherRNN.from_prior`;
          or ``c``, ``w``, ``b`` given (as :meth:`TeacherRNN.to_state` writes them).

        A string is either a kind name (its defaults) or an expression for a
        ``"state"`` target. A :class:`Target` is returned unchanged after a
        dimension check.
    dim : int
        State dimension of the chain.
    where : str
        Name of the entry in error messages.

    Returns
    -------
    Target
        A :class:`StateFunction`, :class:`LinearMemory` or :class:`TeacherRNN`
        (or ``spec`` itself when it is already a target).

    Raises
    ------
    ConfigError
        For an unknown kind or key, naming it and listing the valid ones, or a
        value of the wrong type.
    DimensionError
        If a given target reads states of another dimension.
    """
    dim = _check_dim(dim)
    if dim is None:
        raise DimensionError("`dim` must be a positive integer, got None.")
    if isinstance(spec, Target) and not isinstance(spec, (str, Mapping)):
        if spec.dim is not None and spec.dim != dim:
            raise DimensionError(
                f"`{where}` reads states of dimension {spec.dim} but `dim` = {dim}."
            )
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec} if spec in TARGET_CLASSES else {"kind": "state", "expression": spec}
    spec = check_table(spec, where, f"a table with a `kind` in {sorted(TARGET_CLASSES)}")
    kind = spec.get("kind")
    if kind not in TARGET_CLASSES:
        raise ConfigError(
            f"`{where}.kind` {kind!r} is not a target kind; valid kinds are "
            f"{sorted(TARGET_CLASSES)}."
        )
    return TARGET_CLASSES[kind].from_state(spec, where, dim=dim)
