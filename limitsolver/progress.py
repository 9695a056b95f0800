"""Progress reporting for long computations.

:func:`progress` wraps :mod:`tqdm` so that bars go to standard error, switch off
cleanly (``show=False``) and never appear in non-interactive runs unless asked.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             show: bool | None = None, unit: str = "it"):
    """Return a tqdm progress bar over ``iterable`` (or a manual bar with ``total``).

    ``show=None`` shows the bar only when standard error is a terminal.
    """
    from tqdm.auto import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not show, unit=unit, leave=False,
                dynamic_ncols=True, file=sys.stderr)
