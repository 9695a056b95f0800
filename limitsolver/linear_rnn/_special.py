"""Special functions and quadrature rules used by the linear-RNN targets.

* :func:`scaled_expint` computes ``e^x E_nu(x)`` with the generalised exponential
  integral ``E_nu(x) = int_1^inf e^{-x u} u^{-nu} du`` for real ``nu > 0`` and
  ``x > 0``.  It is the Laplace transform of a power law:
  ``int_0^inf e^{-x t} (1 + t)^{-nu} dt = e^x E_nu(x)``.
* :func:`gauss_legendre_panels` builds a composite Gauss--Legendre rule on ``[0, T]``.
* :func:`gauss_legendre_halfline` builds a rule on ``[0, inf)`` through the map
  ``t = tau u / (1 - u)``, ``u in [0, 1)``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["scaled_expint", "gauss_legendre_panels", "gauss_legendre_halfline"]


def _expint_cf(nu: np.ndarray, x: np.ndarray, max_iter: int = 1000) -> np.ndarray:
    """``e^x E_nu(x)`` by the continued fraction (modified Lentz), accurate for ``x >= 2``.

    ``E_nu(x) = e^{-x} / (x + nu - 1 nu / (x + nu + 2 - 2 (nu + 1) / (x + nu + 4 - ...)))``.
    """
    tiny = 1e-300
    b = x + nu
    c = np.full_like(x, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    done = np.zeros(x.shape, dtype=bool)
    for i in range(1, max_iter + 1):
        an = -i * (nu - 1.0 + i)
        b = b + 2.0
        d = 1.0 / (an * d + b)
        c = b + an / c
        delta = c * d
        h = np.where(done, h, h * delta)
        done |= np.abs(delta - 1.0) < 1e-16
        if done.all():
            break
    return h


def _expint_small(nu: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``e^x E_nu(x)`` for ``0 < x < 2``: start at ``nu0 = nu - ceil(nu) + 1 in (0, 1]``.

    ``E_nu0(x) = x^{nu0 - 1} Gamma(1 - nu0, x)`` (``E_1`` when ``nu0 = 1``), then the
    upward recurrence ``E_{k+1}(x) = (e^{-x} - x E_k(x)) / k``, which loses at most
    a factor ``(x + nu0)/nu0`` per step for ``x < 2``.
    """
    k = np.ceil(nu) - 1.0
    nu0 = nu - k
    a = 1.0 - nu0
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(
            a > 0,
            x ** (nu0 - 1.0)
            * special.gamma(np.where(a > 0, a, 1.0))
            * special.gammaincc(np.where(a > 0, a, 1.0), x),
            special.exp1(x),
        )
    e = frac
    order = nu0.copy()
    emx = np.exp(-x)
    for _ in range(int(k.max(initial=0))):
        step = order < nu - 0.5
        e = np.where(step, (emx - x * e) / np.where(step, order, 1.0), e)
        order = np.where(step, order + 1.0, order)
    return np.exp(x) * e


def scaled_expint(nu, x) -> np.ndarray:
    """Return ``e^x E_nu(x)`` for real ``nu > 0`` and ``x > 0`` (broadcast).

    Equals ``int_0^inf e^{-x t} (1 + t)^{-nu} dt``.  Continued fraction for
    ``x >= 2``, incomplete gamma plus upward recurrence in ``nu`` for ``x < 2``;
    relative accuracy about ``1e-14`` (tested against quadrature and mpmath).

    Parameters
    ----------
    nu : array_like
        Orders ``nu > 0``.
    x : array_like
        Arguments ``x > 0`` (broadcast against ``nu``).

    Returns
    -------
    numpy.ndarray
        ``e^x E_nu(x)``, of the broadcast shape.

    Raises
    ------
    ValueError
        If some ``nu`` or ``x`` is not positive.
    """
    nu, x = np.broadcast_arrays(np.asarray(nu, dtype=float), np.asarray(x, dtype=float))
    if np.any(nu <= 0) or np.any(x <= 0):
        raise ValueError("`nu` and `x` must be positive for the exponential integral E_nu(x).")
    out = np.empty(x.shape)
    big = x >= 2.0
    if big.any():
        out[big] = _expint_cf(nu[big], x[big])
    if (~big).any():
        out[~big] = _expint_small(nu[~big], x[~big])
    return out


def gauss_legendre_panels(t_end: float, n_panels: int, order: int = 16):
    """Composite Gauss--Legendre rule on ``[0, t_end]`` with equal panels.

    Returns ``(t, w)`` with ``sum(w * f(t)) ~ int_0^{t_end} f``; exact for
    piecewise polynomials of degree ``2 order - 1``.

    Parameters
    ----------
    t_end : float
        Right end of the interval.
    n_panels : int
        Number of equal panels.
    order : int, default 16
        Gauss--Legendre points per panel.

    Returns
    -------
    t : numpy.ndarray
        Nodes.
    w : numpy.ndarray
        Weights, ``sum(w * f(t)) ~ int f``.
    """
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(0.0, t_end, n_panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    t = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    return t, weights


def gauss_legendre_halfline(scale: float, n: int = 400):
    """Gauss--Legendre rule on ``[0, inf)`` through ``t = scale u / (1 - u)``.

    Returns ``(t, w)``; the Jacobian ``scale / (1 - u)^2`` is folded into ``w``.
    Accurate for integrands decaying at least like ``t^{-1-delta}``.

    Parameters
    ----------
    scale : float
        Time scale of the map (half the nodes lie below ``scale``).
    n : int, default 400
        Number of nodes.

    Returns
    -------
    t : numpy.ndarray
        Nodes.
    w : numpy.ndarray
        Weights, ``sum(w * f(t)) ~ int f``.
    """
    x, w = np.polynomial.legendre.leggauss(n)
    u = 0.5 * (x + 1.0)
    t = scale * u / (1.0 - u)
    weights = 0.5 * w * scale / (1.0 - u) ** 2
    return t, weights
