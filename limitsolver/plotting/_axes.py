"""Where a figure's panels come from: the caller's axes, or a new figure.

Every plotting function of :mod:`limitsolver.plotting` draws on axes the caller
passes (``ax=`` for one panel, ``axes=`` for several) and returns their figure;
without them it makes a figure of its own. matplotlib is imported here, on the
first call, never when the package is imported.
"""

from __future__ import annotations

import functools

import numpy as np

from .._docstrings import append_sections


def panel(ax=None, figsize=(6.0, 4.0)):
    """``(figure, axes)``: the figure of ``ax``, or a new figure with one panel."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def panels(axes, shape: tuple[int, int], figsize):
    """``(figure, axes array of shape)``: the caller's axes (reshaped), or a new grid."""
    if axes is not None:
        arr = np.asarray(axes, dtype=object)
        if arr.size != shape[0] * shape[1]:
            from ..errors import DimensionError

            raise DimensionError(
                f"`axes` must hold {shape[0] * shape[1]} axes (a {shape[0]} x {shape[1]} grid), "
                f"got {arr.size}."
            )
        arr = arr.reshape(shape)
        return arr.flat[0].figure, arr
    import matplotlib.pyplot as plt

    fig, arr = plt.subplots(*shape, figsize=figsize, squeeze=False)
    return fig, arr


def finish(fig, own: bool) -> None:
    """Tighten the layout of a figure this module made (the caller's is left alone)."""
    if own:
        fig.tight_layout()


_ONE_PANEL_SECTIONS = """\
ax : matplotlib.axes.Axes, optional
    Where to draw; default a new figure.

Returns
-------
matplotlib.figure.Figure
    {returns}
"""


def one_panel(figsize=(6.0, 4.0), returns: str = "A single panel."):
    """Decorator for a figure of one panel: ``draw(*args, ax, **kwargs)`` only draws on ``ax``.

    The decorated function takes ``ax=None`` (keyword), draws on the caller's axes or on a
    new figure of size ``figsize`` (closed again if drawing fails), tightens the layout of a
    figure it made (:func:`finish`) and returns the figure. Its docstring, which ends with
    the Parameters section before ``ax``, gains the entry of ``ax`` and the Returns section
    (``returns``).

    Parameters
    ----------
    figsize : tuple of float, default (6.0, 4.0)
        Size in inches of a new figure.
    returns : str, default "A single panel."
        Description of the returned figure.

    Returns
    -------
    callable
        The decorator.
    """

    def decorate(draw):
        @functools.wraps(draw)
        def plot(*args, ax=None, **kwargs):
            own = ax is None
            fig, ax = panel(ax, figsize)
            try:
                draw(*args, ax=ax, **kwargs)
            except BaseException:
                if own:
                    import matplotlib.pyplot as plt

                    plt.close(fig)
                raise
            finish(fig, own)
            return fig

        plot.__doc__ = append_sections(draw.__doc__,
                                       _ONE_PANEL_SECTIONS.format(returns=returns))
        return plot

    return decorate
