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


_LATER_SECTIONS = ("Returns", "Yields", "Raises", "Warns", "See Also", "Notes", "References",
                   "Examples")


def with_parameters(entries: str, indent: str = "    "):
    """Decorator giving a function's docstring the parameter ``entries`` as its Parameters section.

    The section is put before the first later section (Returns, Raises, ...) of the
    docstring, which must not have a Parameters section of its own.

    Parameters
    ----------
    entries : str
        Unindented numpydoc parameter entries (``name : type`` lines and their text).
    indent : str, default four spaces
        The indentation of the docstring's body.

    Returns
    -------
    callable
        The decorator; it returns the function itself, its docstring extended.
    """
    block = ["Parameters", "----------", *entries.strip("\n").splitlines(), ""]

    def attach(fn):
        lines = (fn.__doc__ or "").split("\n")
        at = next((i for i in range(len(lines) - 1) if lines[i].strip() in _LATER_SECTIONS
                   and set(lines[i + 1].strip()) == {"-"}), None)
        if at is None:
            fn.__doc__ = append_sections(fn.__doc__, "\n" + "\n".join(block[:-1]), indent)
        else:
            lines[at:at] = [indent + line if line else "" for line in block]
            fn.__doc__ = "\n".join(lines)
        return fn

    return attach
