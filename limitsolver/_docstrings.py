"""Numpydoc sections shared by the functions of one protocol, written once.

Functions that implement the same protocol (every memory kernel's ``laplace``,
every one-panel figure's ``ax``) document the same parameters in the same words;
:func:`append_sections` appends such a shared text to each function's own
summary, so that the words stand in one place and ``help()`` shows them in full.
"""

from __future__ import annotations


def append_sections(doc: str | None, sections: str, indent: str = "    ") -> str:
    """``doc`` with the numpydoc text ``sections`` appended, indented by ``indent``.

    Parameters
    ----------
    doc : str or None
        A docstring, as written in the source (its lines after the first indented by
        ``indent``).
    sections : str
        Unindented numpydoc text; a leading blank line separates it from ``doc``.
    indent : str, default four spaces
        The indentation of the docstring's body.

    Returns
    -------
    str
        The docstring with ``sections`` at its end.
    """
    body = "\n".join(indent + line if line else "" for line in sections.splitlines())
    return (doc or "").rstrip() + "\n" + body + "\n" + indent
