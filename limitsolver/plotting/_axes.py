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



_AXES_SECTIONS = """\
{name} : {kind}, optional
    {where}; default a new figure.

Returns
-------
matplotlib.figure.Figure
    {returns}
"""
_COUNT = {2: "two", 3: "three", 4: "four"}


def _drawn_on(shape, figsize, returns: str, where: str):
    """The decorator behind :func:`one_panel` (``shape=None``) and :func:`panel_grid`."""
    name = "ax" if shape is None else "axes"
    if shape is None:
        kind = "matplotlib.axes.Axes"
    else:
        kind = f"sequence of {_COUNT[shape[0] * shape[1]]} matplotlib.axes.Axes"
    sections = _AXES_SECTIONS.format(name=name, kind=kind, where=where, returns=returns)

    def decorate(draw):
        @functools.wraps(draw)
        def plot(*args, **kwargs):
            given = kwargs.pop(name, None)
            own = given is None
            fig, where_ = panel(given, figsize) if shape is None else panels(given, shape, figsize)
            try:
                draw(*args, **{name: where_}, **kwargs)
            except BaseException:
                if own:
                    import matplotlib.pyplot as plt

                    plt.close(fig)
                raise
            finish(fig, own)
            return fig

        plot.__doc__ = append_sections(draw.__doc__, sections)
        return plot

    return decorate


def one_panel(figsize=(6.0, 4.0), returns: str = "A single panel.", where: str = "Where to draw"):
    """Decorator for a figure of one panel: ``draw(*args, ax, **kwargs)`` only draws on ``ax``.

    The decorated function takes ``ax=None`` (keyword), draws on the caller's axes or on a
    new figure of size ``figsize`` (closed again if drawing fails), tightens the layout of a
    figure it made (:func:`finish`) and returns the figure. Its docstring, which ends with
    the Parameters section before ``ax``, gains the entry of ``ax`` and the Returns section.

    Parameters
    ----------
    figsize : tuple of float, default (6.0, 4.0)
        Size in inches of a new figure.
    returns : str, default "A single panel."
        Description of the returned figure.
    where : str, default "Where to draw"
        Description of ``ax``.

    Returns
    -------
    callable
        The decorator.
    """
    return _drawn_on(None, figsize, returns, where)


def panel_grid(shape: tuple[int, int], figsize, returns: str, where: str = "Where to draw"):
    """Decorator for a figure of a grid of panels: ``draw(*args, axes, **kwargs)``.

    As :func:`one_panel`, with ``axes=None`` (keyword): the caller's axes reshaped to
    ``shape`` or a new grid (:func:`panels`), passed to ``draw`` as an array of that shape.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, columns)`` of the grid.
    figsize : tuple of float
        Size in inches of a new figure.
    returns : str
        Description of the returned figure.
    where : str, default "Where to draw"
        Description of ``axes``.

    Returns
    -------
    callable
        The decorator.
    """
    return _drawn_on(shape, figsize, returns, where)
