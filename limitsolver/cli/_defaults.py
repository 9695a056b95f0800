"""Deprecated: the headline problem moved to the public :mod:`limitsolver.headline`.

``problem_defaults()`` is :func:`limitsolver.headline.headline_table` and ``GRID``
is :data:`limitsolver.headline.DEFAULT_GRID`; kept for one release.
"""

from __future__ import annotations

import warnings

from ..headline import DEFAULT_GRID, headline_table

GRID: dict = dict(DEFAULT_GRID)


def problem_defaults() -> dict:
    """Deprecated alias of :func:`limitsolver.headline.headline_table`.

    Returns
    -------
    dict
        A fresh copy of the headline problem's tables.
    """
    warnings.warn("`limitsolver.cli._defaults.problem_defaults` is deprecated; use "
                  "`limitsolver.headline.headline_table`.", DeprecationWarning, stacklevel=2)
    return headline_table()
