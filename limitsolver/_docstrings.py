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


def with_sections(sections: str, indent: str = "    ", **fields: str):
    """Decorator appending ``sections.format(**fields)`` to a function's docstring.

    Parameters
    ----------
    sections : str
        Unindented numpydoc text (see :func:`append_sections`).
    indent : str, default four spaces
        The indentation of the docstring's body (eight spaces for a method).
    **fields : str
        Values of the ``{name}`` fields of ``sections``.

    Returns
    -------
    callable
        The decorator; it returns the function itself, its docstring extended.
    """
    text = sections.format(**fields)

    def attach(fn):
        fn.__doc__ = append_sections(fn.__doc__, text, indent)
        return fn

    return attach
