r"""The limit ODE solved in chunks of histories: Gram matrices instead of features.

For :math:`M` training histories and :math:`r = (d+2)G` factor columns the
in-memory route holds the features and the factor :math:`F` (:math:`8Mr` bytes
each, 6 GB at :math:`M = 10^6`, :math:`G = 256`). Everything the flow needs from
them, however, is :math:`r\times r` or :math:`r`-dimensional
(:ref:`theory §4.4 <theory-ode>`). With :math:`A(\xi,\xi') = F(\xi)F_{\rm train}(\xi')^\top`
and :math:`u_t = F_{\rm train}^\top W r_t`,

.. math::

    \dot u = -\alpha Z u,\qquad Z = F_{\rm train}^\top W F,\qquad
    u_0 = b = F_{\rm train}^\top W r_0,\qquad
    h_t(\xi) - h_0(\xi) = \alpha F(\xi)\int_0^t u_s\,ds,

so one pass over the histories in chunks of rows accumulates :math:`Z` and
:math:`b`, the small matrix is diagonalised or exponentiated once for all times,
and a second pass forms :math:`h_t` and the loss chunk by chunk. In rtrl mode
:math:`F_{\rm train} = F` and :math:`Z = C = F^\top W F` is symmetric positive
semi-definite: with :math:`C = Y\Lambda Y^\top`,

.. math::

    \alpha\int_0^t u_s\,ds = Y\,\operatorname{diag}\bigl(\alpha t\,\varphi_1(\alpha\lambda t)\bigr)
    Y^\top b,\qquad t\to\infty:\ Y\Lambda^{+}Y^\top b,

the same eigen-pairs as the thin SVD :math:`W^{1/2}F = USY^\top` of the in-memory
route (:math:`\Lambda = S^2`); in truncated mode :math:`Z` is not symmetric and
:math:`\int_0^t e^{-\alpha sZ}b\,ds` is read off one augmented exponential per
distinct time step (:func:`~limitsolver.limit.ode._affine_integral`).

The rows of every chunk come from :class:`FactorChunks`: a compiled loop that
runs the memory recursion and the last step for each history and node and writes
:math:`F` (and :math:`F_{\rm train}`) directly, or the numpy features of
:class:`~limitsolver.limit.feature_map.FeatureMap` (the reference). Memory: two
or three chunk buffers of :math:`8\,m\,r` bytes and the output
:math:`h` (:math:`8 n_t M` bytes); time: :math:`O(MGLd)` per pass for the rows
(no sharing of suffixes, which only exact histories have), :math:`O(Mr^2)` for
:math:`Z` and :math:`O(n_t M r)` for :math:`h_t`.

The Gram matrix squares the condition number of :math:`W^{1/2}F`: eigenvalues
below :math:`10M\epsilon\lambda_{\max}` are set to zero, as in the in-memory
route, and the streamed solution agrees with the in-memory one to rounding
(tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from .._docstrings import with_sections
from ..budget import check_memory, format_bytes, memory_budget
from ..errors import ConfigError, DimensionError, DiscretisationError, DivergenceError
from ..histories import Histories
from .ode import (
    SOLVE_SECTIONS,
    FactorRows,
    FlowPath,
    LimitFlow,
    SymmetricFlow,
    _affine_integral,
    _check_alpha,
    _check_weights,
    _integral_at_infinity,
    check_times,
    phi1,
)

if TYPE_CHECKING:
    from .feature_map import FeatureMap

__all__ = ["FactorChunks", "StreamedFlow", "chunk_rows", "in_memory_bytes",
           "check_streamable", "check_chunk_size", "FACTOR_BACKENDS"]

#: Ways of computing the rows of a chunk.
FACTOR_BACKENDS = ("auto", "numba", "numpy")

#: Fraction of the memory budget given to the chunk buffers (the rest holds h_t, the
#: histories and the r x r matrices).
_CHUNK_SHARE = 0.25


def check_chunk_size(chunk_size: object, *, choices: tuple = ("auto", None)) -> object:
    """Validate ``chunk_size``: a positive integer number of histories, or one of ``choices``.

    Parameters
    ----------
    chunk_size : object
        The value given.
    choices : tuple
        The other accepted values (``solve_limit``: ``"auto"`` and None).

    Returns
    -------
    object
        ``chunk_size``.

    Raises
    ------
    ConfigError
        Naming ``chunk_size`` and what it accepts.
    """
    if isinstance(chunk_size, (int, np.integer)) and not isinstance(chunk_size, bool):
        if chunk_size >= 1:
            return chunk_size
    elif any(chunk_size is c or (isinstance(c, str) and chunk_size == c) for c in choices):
        return chunk_size
    accepted = "".join(f"{c!r} ({'in memory' if c is None else 'from the budget'}), "
                       for c in choices) + ("or " if choices else "")
    raise ConfigError(f"`chunk_size` must be {accepted}a positive integer number of "
                      f"histories, got {chunk_size!r}.")


def _row_arrays(feature_map: FeatureMap) -> int:
    """Arrays of :math:`r` columns per chunk row: F and its weighted copy, and F_train (truncated)."""
    return 2 + (1 if feature_map.gradient == "truncated" else 0)


def in_memory_bytes(feature_map: FeatureMap, M: int) -> float:
    r"""Bytes the in-memory route holds at once for ``M`` training histories.

    The features (:math:`8MG(d+1)` bytes per array: :math:`\varphi,\psi`, and
    :math:`\chi` in truncated mode), the factor and its weighted copy or the second
    factor, and the SVD's left vectors: about :math:`8M(G(d+1)n_f + 3r)`.

    Parameters
    ----------
    feature_map : FeatureMap
        Supplies :math:`G`, :math:`d` and the gradient mode.
    M : int
        Number of training histories.

    Returns
    -------
    float
        The estimate in bytes.
    """
    d, G, r = feature_map.dim, feature_map.rule.G, feature_map.r
    n_feat = 2 + (1 if feature_map.gradient == "truncated" else 0)
    return 8.0 * M * (G * (d + 1) * n_feat + 3 * r)


def chunk_rows(feature_map: FeatureMap, M: int, *, budget: float | str | None = None) -> int:
    r"""Histories per chunk: a quarter of the memory budget for the chunk buffers.

    Each chunk row holds :math:`r` columns of :math:`F`, of :math:`F_{\rm train}`
    (truncated mode) and of the weighted copy used in the Gram product:
    :math:`8 r n_b` bytes with :math:`n_b = 2` (rtrl) or 3.

    Parameters
    ----------
    feature_map : FeatureMap
        Supplies :math:`r` and the gradient mode.
    M : int
        Number of training histories (the result is at most ``M``).
    budget : float or str, optional
        Memory budget (:func:`limitsolver.budget.memory_budget`).

    Returns
    -------
    int
        Rows per chunk, at least 64 (or ``M`` when fewer).
    """
    per_row = 8.0 * feature_map.r * _row_arrays(feature_map)
    rows = int(_CHUNK_SHARE * memory_budget(budget) // per_row)
    return max(1, min(M, max(64, rows)))


class FactorChunks:
    r"""The kernel factor on training histories, computed one chunk of rows at a time.

    Parameters
    ----------
    feature_map : FeatureMap
        The rule, activation, :math:`\mathbb E c^2` and gradient mode.
    histories : Histories
        Training histories (checked against the map).
    rows : int
        Histories per chunk.
    backend : {"auto", "numba", "numpy"}
        ``"numba"``: the compiled loop of :mod:`limitsolver.limit._factor_loop`
        (histories in parallel); ``"numpy"``: ``feature_map.features`` and
        ``feature_map.factor`` per chunk (the reference; agrees to rounding);
        ``"auto"``: numba.

    Raises
    ------
    ConfigError
        If ``rows`` is not a positive integer or ``backend`` is unknown.
    """

    def __init__(self, feature_map: FeatureMap, histories: Histories, rows: int, *,
                 backend: Literal["auto", "numba", "numpy"] = "auto"):
        check_chunk_size(rows, choices=())
        if backend not in FACTOR_BACKENDS:
            raise ConfigError(f"`backend` must be one of {FACTOR_BACKENDS}, got {backend!r}.")
        self.feature_map = feature_map
        self.histories = feature_map.check(histories)
        self.rows = int(min(rows, self.histories.M))
        self.backend = "numba" if backend == "auto" else backend
        self.truncated = feature_map.gradient == "truncated"

    @property
    def M(self) -> int:
        """Number of training histories."""
        return self.histories.M

    @property
    def r(self) -> int:
        """Columns :math:`(d+2)G` of the factor."""
        return self.feature_map.r

    def slices(self) -> Iterator[slice]:
        """The row ranges of the chunks, in order.

        Yields
        ------
        slice
        """
        for start in range(0, self.M, self.rows):
            yield slice(start, min(start + self.rows, self.M))

    def __iter__(self) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        r"""Chunks ``(rows, F, F_train)``: the evaluation-slot factor and the training slot's.

        ``F_train`` is ``F`` itself in rtrl mode. The arrays are buffers reused by
        the next chunk: copy what must outlive the iteration step.
        """
        fm = self.feature_map
        F = np.empty((self.rows, self.r))
        T = np.empty((self.rows, self.r)) if self.truncated else F
        if self.backend == "numba":
            from ..simulation._kernels import kernel_module

            loop = kernel_module(fm.activation, "rtrl", "factor_rows").factor_rows
            rule = fm.rule
            w = np.ascontiguousarray(np.asarray(rule.w, dtype=float).T)
            b = np.ascontiguousarray(rule.b, dtype=float)
            sq = np.sqrt(np.asarray(rule.weights, dtype=float))
            sc = float(np.sqrt(fm.c2))
        for sl in self.slices():
            m = sl.stop - sl.start
            X = np.ascontiguousarray(self.histories.values[sl], dtype=float)
            if self.backend == "numba":
                loop(X, w, b, sq, sc, F[:m], T[:m], self.truncated)
                Fm = F[:m]
                Tm = T[:m] if self.truncated else Fm
            else:
                feat = fm.features(Histories.from_array(X), training=True)
                Fm = fm.factor(feat, slot="eval")
                Tm = fm.factor(feat, slot="train") if self.truncated else Fm
            if not (np.all(np.isfinite(Fm)) and (Tm is Fm or np.all(np.isfinite(Tm)))):
                raise DivergenceError(f"the kernel factor of histories {sl.start}..{sl.stop - 1} "
                                      "contains NaN or infinite values.")
            yield sl, Fm, Tm

    def gram(self, weights: np.ndarray, residual: Callable[[slice, np.ndarray], np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray]:
        r"""One pass: :math:`Z = F_{\rm train}^\top W F` and :math:`b = F_{\rm train}^\top W r_0`.

        Parameters
        ----------
        weights : ndarray, shape (M,)
            :math:`\omega`.
        residual : callable
            ``residual(rows, F_chunk) -> r0[rows]``: the initial residual of a chunk,
            which may depend on its factor rows (a Gaussian-process :math:`h_0`).

        Returns
        -------
        Z : ndarray, shape (r, r)
            Symmetric in rtrl mode (both triangles filled).
        b : ndarray, shape (r,)
        """
        r = self.r
        Z = np.zeros((r, r))
        b = np.zeros(r)
        for sl, F, T in self:
            om = weights[sl]
            r0 = residual(sl, F)
            b += T.T @ (om * r0)
            if not self.truncated:
                B = np.sqrt(om)[:, None] * F
                # upper triangle of B^T B, accumulated in place (B.T is Fortran-ordered)
                Z = scipy.linalg.blas.dsyrk(1.0, B.T, beta=1.0, c=Z, trans=0, lower=0,
                                            overwrite_c=1)
            else:
                Z += T.T @ (om[:, None] * F)
        if not self.truncated:
            Z = np.triu(Z) + np.triu(Z, 1).T
        return Z, b

    def project(self, weights: np.ndarray, r0: np.ndarray) -> np.ndarray:
        r""":math:`b = F_{\rm train}^\top W r_0` (one pass).

        Parameters
        ----------
        weights : ndarray, shape (M,)
            :math:`\omega`.
        r0 : ndarray, shape (M,)
            A vector on the training histories.

        Returns
        -------
        ndarray, shape (r,)
        """
        b = np.zeros(self.r)
        for sl, _, T in self:
            b += T.T @ (weights[sl] * r0[sl])
        return b

    def apply(self, right: np.ndarray) -> np.ndarray:
        r""":math:`F\,\text{right}` on the training histories (one pass), shape (M, k).

        Parameters
        ----------
        right : ndarray, shape (r,) or (r, k)
            Vectors in factor coordinates (complex allowed).

        Returns
        -------
        ndarray, shape (M,) or (M, k)
        """
        out = np.empty((self.M,) + right.shape[1:], dtype=np.result_type(right, float))
        for sl, F, _ in self:
            out[sl] = F @ right
        return out


class _FactorOperator:
    """``F`` on the training histories as an operator with ``@`` (for the t = inf check)."""

    def __init__(self, chunks: FactorChunks):
        self.chunks = chunks

    def __matmul__(self, x):
        return self.chunks.apply(np.asarray(x))


class StreamedFlow(LimitFlow):
    r"""Solution of :math:`\dot h = \alpha AW(g - h)` from Gram matrices accumulated over chunks.

    Build with :meth:`build`. The rows of new histories are their factor rows
    (:class:`~limitsolver.limit.ode.FactorRows`), as for the in-memory thin-factor
    routes; the training rows are never held: :meth:`increments` and every
    projection recompute them chunk by chunk (one pass each; the projection of the
    residual given to :meth:`build` is kept).

    Parameters
    ----------
    chunks : FactorChunks
        The factor on the training histories.
    weights : ndarray, shape (M,)
        :math:`\omega`.
    alpha : float
        :math:`\alpha > 0`.
    Z : ndarray, shape (r, r)
        :math:`F_{\rm train}^\top W F` (symmetric in rtrl mode).
    r0, b : ndarray
        A residual and its projection :math:`F_{\rm train}^\top W r_0` (cached).

    Raises
    ------
    DiscretisationError
        If the rtrl Gram matrix has an eigenvalue below the rounding level (not PSD).
    """

    def __init__(self, chunks: FactorChunks, weights: np.ndarray, alpha: float, Z: np.ndarray,
                 r0: np.ndarray, b: np.ndarray):
        self.chunks = chunks
        self.weights = _check_weights(weights, chunks.M)
        self.sqrt_weights = np.sqrt(self.weights)
        self.alpha = _check_alpha(alpha)
        self.row_basis = FactorRows()
        self._cache = (r0, b)
        self.symmetric = not chunks.truncated
        M, r = chunks.M, chunks.r
        route = f"Gram matrix of the factor accumulated over {len(range(0, M, chunks.rows))} chunks"
        self.Z = Z
        if self.symmetric:
            lam, Y = np.linalg.eigh(Z)
            lam, Y = lam[::-1], Y[:, ::-1]
            lam, diag = SymmetricFlow._clip(lam, float(np.max(np.abs(lam))) if r else 0.0, M)
            self.eigenvalues, self.basis = lam, Y
            self.extension = Y * (lam > 0)[None, :]
            diag["route"] = f"{route}, eigh of F^T W F"
        else:
            self.extension = None
            diag = {"route": f"{route}, augmented matrix exponential of -alpha F_train^T W F",
                    "system_size": int(r)}
        diag.update(chunk_size=chunks.rows, factor_backend=chunks.backend)
        self.diagnostics = diag

    @classmethod
    def build(cls, chunks: FactorChunks, weights: ArrayLike, alpha: float,
              residual: Callable[[slice, np.ndarray], np.ndarray]) -> StreamedFlow:
        r"""One pass over the chunks: the Gram matrix and the projection of the residual.

        Parameters
        ----------
        chunks : FactorChunks
            The factor on the training histories.
        weights : array_like, shape (M,)
            :math:`\omega \ge 0`.
        alpha : float
            :math:`\alpha > 0`.
        residual : callable
            ``residual(rows, F_chunk) -> r0[rows]`` (see :meth:`FactorChunks.gram`);
            the full residual is assembled and kept with its projection.

        Returns
        -------
        StreamedFlow
        """
        om = _check_weights(weights, chunks.M)
        r0 = np.empty(chunks.M)

        def keep(sl, F):
            r0[sl] = residual(sl, F)
            return r0[sl]

        Z, b = chunks.gram(om, keep)
        return cls(chunks, om, alpha, Z, r0, b)

    @property
    def training_rows(self):
        """Not held by a streamed flow: raises (use :meth:`increments`)."""
        raise DiscretisationError(
            "this limit was solved in chunks of histories and does not hold its training rows; "
            "solve it in memory (`chunk_size=None`, with a larger `memory_budget` if needed) for "
            "this query."
        )

    def _projection(self, r0: np.ndarray) -> np.ndarray:
        cached_r0, b = self._cache
        if r0 is cached_r0 or (r0.shape == cached_r0.shape and np.array_equal(r0, cached_r0)):
            return b
        b = self.chunks.project(self.weights, r0)
        self._cache = (r0.copy(), b)
        return b

    def _coefficients(self, r0, t) -> np.ndarray:
        r"""Symmetric: :math:`a(t) = \alpha t\,\varphi_1(\alpha\lambda t)\,Y^\top b`; else :math:`\alpha z_t`."""
        b = self._projection(r0)
        if self.symmetric:
            at = self.alpha * t[:, None]
            return at * phi1(at * self.eigenvalues[None, :]) * (self.basis.T @ b)[None, :]
        return self.alpha * _affine_integral(-self.alpha * self.Z, b, t)

    def _coefficients_at_infinity(self, r0) -> np.ndarray:
        b = self._projection(r0)
        if self.symmetric:
            c = self.basis.T @ b
            pos = self.eigenvalues > 0
            return np.where(pos, c / np.where(pos, self.eigenvalues, 1.0), 0.0)
        return self.alpha * _integral_at_infinity(-self.alpha * self.Z, b,
                                                  _FactorOperator(self.chunks))

    def _spectrum_matrix(self) -> np.ndarray:
        return self.Z

    @property
    def spectrum(self) -> np.ndarray:
        """Eigenvalues of :math:`AW`: those of :math:`Z` padded with the zeros of the null space."""
        if not self.symmetric:
            return super().spectrum
        out = np.zeros(self.M)
        k = min(self.M, self.eigenvalues.size)
        out[:k] = self.eigenvalues[:k]
        return out

    def increments(self, coeffs: np.ndarray) -> np.ndarray:
        r""":math:`h_t - h_0` on the training histories, one pass over the chunks, (n_times, M).

        Parameters
        ----------
        coeffs : ndarray, shape (n_times, k)
            :math:`a(t)` from :meth:`coefficients`.

        Returns
        -------
        ndarray, shape (n_times, M)
        """
        right = self._right(coeffs)
        out = np.empty((right.shape[0], self.M))
        for sl, F, _ in self.chunks:
            out[:, sl] = right @ F.T
        return out

    def _right(self, coeffs: np.ndarray) -> np.ndarray:
        right = coeffs if self.extension is None else coeffs @ self.extension.T
        if right.ndim != 2 or right.shape[1] != self.chunks.r:
            raise DimensionError(f"`coeffs` must give {self.chunks.r} factor coordinates, got "
                                 f"shape {coeffs.shape}.")
        return right

    @with_sections(SOLVE_SECTIONS, " " * 8)
    def solve(self, h0: ArrayLike, g: ArrayLike, times: ArrayLike) -> FlowPath:
        r"""Output and loss on the training histories in one pass, without (n_times, M) temporaries.

        As :meth:`LimitFlow.solve`: :math:`h_t = h_0 + F\,E\,a(t)` chunk by chunk and
        :math:`L_t = \tfrac12\sum_i\omega_i(g_i - h_t(\xi_i))^2` accumulated over the
        chunks.
        """
        h0 = np.asarray(h0, dtype=float)
        g = np.asarray(g, dtype=float)
        t = check_times(times)
        r0 = g - h0
        right = self._right(self.coefficients(r0, t))
        h = np.empty((t.size, self.M))
        loss = np.zeros(t.size)
        for sl, F, _ in self.chunks:
            inc = right @ F.T
            loss += 0.5 * ((r0[sl][None, :] - inc) ** 2) @ self.weights[sl]
            inc += h0[sl][None, :]
            h[:, sl] = inc
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(loss))):
            raise DivergenceError("the limit solution contains NaN or infinite values; check the "
                                  "kernel scale (alpha, sigma_w) and the target.")
        return FlowPath(h, loss)


def check_streamable(method: str, M: int, n_times: int, feature_map: FeatureMap, rows: int,
                     budget: float | str | None) -> None:
    """Refuse a streamed solve that cannot run: a dense route, or outputs beyond the budget.

    Parameters
    ----------
    method : str
        The solve route asked for.
    M, n_times : int
        Training histories and times.
    feature_map : FeatureMap
        Supplies :math:`r`.
    rows : int
        Histories per chunk.
    budget : float or str, optional
        Memory budget.

    Raises
    ------
    ConfigError
        If ``method`` needs the :math:`M\\times M` kernel.
    DiscretisationError
        If :math:`h_t` and the chunk buffers exceed the memory budget.
    """
    if method not in ("spectral", "lowrank"):
        raise ConfigError(
            f"`method={method!r}` builds the M x M kernel and cannot be solved in chunks; use "
            "method='spectral' (or 'lowrank'), or solve in memory with fewer histories."
        )
    n_buf = _row_arrays(feature_map)
    # h_t; g, h_0, r_0, weights; the chunk buffers and one chunk of increments; Z and its basis
    nbytes = 8.0 * (n_times * M + 4 * M + rows * (feature_map.r * n_buf + n_times)
                    + 2 * feature_map.r**2)
    check_memory(nbytes, f"h_t at {n_times} times on {M} histories and chunks of {rows} rows "
                 f"({format_bytes(8.0 * rows * feature_map.r * n_buf)})", budget=budget,
                 fix="pass fewer `times`, a smaller `chunk_size` or a coarser `grid`")
