"""Progress reporting for long computations.

:func:`progress` wraps :mod:`tqdm` so that bars go to standard error, switch off
cleanly (``show=False``) and never appear in non-interactive runs unless asked.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

#: Bars over a few unequal phases: the count and the elapsed time, no rate or ETA (a rate of
#: "phases per second" says nothing, and an ETA from the first, shortest phase misleads).
PHASES = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}{postfix}]"


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             show: bool | None = None, unit: str = "it", bar_format: str | None = None):
    """Return a tqdm progress bar over ``iterable`` (or a manual bar with ``total``).

    ``show=None`` shows the bar only when standard error is a terminal;
    ``bar_format`` is tqdm's (e.g. :data:`PHASES` for bars over a few phases).
    """
    from tqdm.auto import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not show, unit=unit, leave=False,
                dynamic_ncols=True, file=sys.stderr, bar_format=bar_format)
