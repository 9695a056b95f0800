r"""Figures of a limit solution: the loss :math:`L_t`, :math:`h_t` on histories, the kernel spectrum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._axes import panel_grid

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..limit.solution import LimitSolution

__all__ = ["plot_limit", "positive_spectrum"]


def positive_spectrum(spectrum: ArrayLike) -> tuple[np.ndarray, float, int]:
    r"""The eigenvalues worth a log axis: real parts above the rounding floor.

    The floor is :math:`n\,\varepsilon_{\rm mach}\max_i|\lambda_i|` (the size of the
    rounding error of a symmetric eigensolver on an :math:`n \times n` matrix);
    eigenvalues at or below it are zero to working precision.

    Parameters
    ----------
    spectrum : array_like
        Eigenvalues (complex allowed; their real parts are used), any order.

    Returns
    -------
    values : numpy.ndarray
        The eigenvalues above the floor, in decreasing order.
    floor : float
        The rounding floor.
    n_zero : int
        How many eigenvalues are at or below it (zero to rounding, or negative).
    """
    lam = np.real(np.asarray(spectrum)).ravel()
    if lam.size == 0:
        return lam, 0.0, 0
    floor = float(lam.size * np.finfo(float).eps * np.max(np.abs(lam)))
    keep = lam > floor
    return np.sort(lam[keep])[::-1], floor, int(lam.size - keep.sum())


@panel_grid((1, 3), (14, 4), "The figure of the three panels.")
def plot_limit(sol: LimitSolution, n_histories: int = 6, *, axes: Sequence[Axes] | None = None):
    r"""Loss :math:`L_t`, :math:`h_t` on the likeliest histories against :math:`g`, and the spectrum.

    Three panels: the loss :math:`L_t = \tfrac12\sum_i\omega_i(g(\xi_i)-h_t(\xi_i))^2`
    (log scale); :math:`h_t(\xi)` on the ``n_histories`` histories of largest weight,
    each with its target :math:`g(\xi)` dotted in the same colour; the eigenvalues of
    :math:`W^{1/2}AW^{1/2}` above the rounding floor of :func:`positive_spectrum`
    (the number of zero ones is written in the panel).

    Parameters
    ----------
    sol : LimitSolution
        The solved limit.
    n_histories : int, default 6
        How many histories to draw in the middle panel.
    """
    ax = axes[0]
    ax[0].plot(sol.times, sol.loss, "k-")
    ax[0].set(xlabel="t", ylabel=r"$L_t$", title="loss of the limit", yscale="log")
    top = np.argsort(sol.weights)[::-1][:n_histories]
    for i, m in enumerate(top):
        ax[1].plot(sol.times, sol.h[:, m], color=f"C{i}",
                   label=rf"$\xi_{{{m}}}$, $\omega$ = {sol.weights[m]:.3g}")
        ax[1].axhline(sol.g[m], color=f"C{i}", ls=":")
    ax[1].plot([], [], color="0.4", ls=":", label=r"$g(\xi)$ (dotted)")
    ax[1].set(xlabel="t", ylabel=r"$h_t(\xi)$", title=r"$h_t$ on the likeliest histories")
    ax[1].legend(fontsize="small", ncol=2)
    spec, floor, n_zero = positive_spectrum(sol.spectrum)
    if spec.size:
        ax[2].semilogy(np.arange(1, spec.size + 1), spec, ".")
        ax[2].set_ylim(bottom=max(floor, spec[-1] / 3), top=spec[0] * 3)
    ax[2].set(xlabel="index", ylabel="eigenvalue", title=r"spectrum of $W^{1/2}AW^{1/2}$")
    if n_zero:
        ax[2].text(0.97, 0.95, f"{n_zero} of {spec.size + n_zero} eigenvalues\n"
                   f"below the rounding floor {floor:.1e} (not shown)",
                   transform=ax[2].transAxes, ha="right", va="top", fontsize="small")
    for a in ax:
        a.grid(True, alpha=0.3)
