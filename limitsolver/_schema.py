"""Typed fields of the specs: checking values, building from tables, saving states.

Every spec (chains, targets, prior, network, problem) declares its fields by its
constructor signature and type hints. This module reads them once and

* checks a value against its declared type (:func:`check_value`): ``"no"`` is
  not ``True``, ``"1"`` is not a number, a table is not a number and a number
  is not a table;
* builds a spec from a table of its fields (:func:`build`), refusing unknown
  or missing keys with the list of the valid ones;
* checks the ``kind`` and the keys of a saved state (:func:`check_state`).

It imports nothing from the package but its errors, so every spec module can
use it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

import numpy as np

from .errors import ConfigError

__all__ = ["Field", "AtLeast", "Above", "table_class", "fields_of", "defaults_of",
           "check_value", "build", "check_state", "describe"]


class Field(typing.NamedTuple):
    """One constructor argument of a spec: its name, type hint and default.

    Parameters
    ----------
    name : str
        Argument name (the configuration key).
    hint : object
        Its resolved type hint (``Any`` when there is none).
    default : object
        Its default, or ``inspect.Parameter.empty`` when it is required.
    """

    name: str
    hint: Any
    default: Any

    @property
    def required(self) -> bool:
        """Whether the argument has no default."""
        return self.default is inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class AtLeast:
    """A lower bound on a number, used as ``Annotated[int, AtLeast(2)]`` in a field's hint.

    Parameters
    ----------
    bound : float
        The smallest value allowed (``strict``: the value must be finite and above it).
    strict : bool
        Whether the bound itself is excluded.
    """

    bound: float
    strict: bool = False

    def check(self, value: Any, where: str) -> None:
        """Raise :class:`ConfigError` if ``value`` is out of bounds.

        Parameters
        ----------
        value : float
            The (already type-checked) value.
        where : str
            Its key, for the message.
        """
        if self.strict and not (math.isfinite(value) and value > self.bound):
            what = "positive" if self.bound == 0 else f"greater than {self.bound:g}"
            raise ConfigError(f"`{where}` must be {what} and finite, got {value!r}.")
        if value < self.bound:
            raise ConfigError(f"`{where}` must be at least {self.bound:g}, got {value!r}.")

    def __str__(self) -> str:
        return f"{'>' if self.strict else '>='} {self.bound:g}"


def Above(bound: float) -> AtLeast:  # noqa: N802 - reads as a type annotation
    """A strict lower bound on a finite number: ``Annotated[float, Above(0)]`` is positive.

    Parameters
    ----------
    bound : float
        The value must be finite and greater than it.

    Returns
    -------
    AtLeast
        ``AtLeast(bound, strict=True)``.
    """
    return AtLeast(bound, strict=True)


def table_class(cls: type) -> type:
    """Mark a dataclass of options as read from a table (a sub-table of a configuration).

    Parameters
    ----------
    cls : type
        A frozen dataclass whose fields all have defaults.

    Returns
    -------
    type
        ``cls``, marked.
    """
    cls._is_table = True
    return cls


def _is_table(hint: Any) -> bool:
    return isinstance(hint, type) and getattr(hint, "_is_table", False)


@functools.cache
def fields_of(cls: type) -> tuple[Field, ...]:
    """The keyword arguments of ``cls`` (constructor signature with resolved type hints).

    Parameters
    ----------
    cls : type
        A spec class (a dataclass or a class with an annotated ``__init__``).

    Returns
    -------
    tuple of Field
        In signature order, ``self`` and ``*args``/``**kwargs`` left out.
    """
    sig = inspect.signature(cls)
    init = getattr(cls, "__init__", None)
    hints: dict[str, Any] = {}
    for source in (cls, init) if isinstance(cls, type) else (cls,):
        try:
            hints.update(typing.get_type_hints(source, include_extras=True))
        except (NameError, TypeError):  # an annotation that cannot be resolved: unchecked
            pass
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append(Field(p.name, hints.get(p.name, Any), p.default))
    return tuple(out)


def defaults_of(cls: type) -> dict[str, Any]:
    """The defaults of a dataclass of options as a plain table (nested dataclasses as tables).

    Parameters
    ----------
    cls : type
        A dataclass whose fields all have defaults.

    Returns
    -------
    dict
        Field name -> default (tuples as lists), as a configuration file holds them.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        else:
            value = f.default_factory()
        if dataclasses.is_dataclass(value):
            value = defaults_of(type(value))
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def describe(hint: Any) -> str:
    """A reader's name of what a type hint accepts ("a number", "true or false", ...).

    Parameters
    ----------
    hint : object
        A type hint.

    Returns
    -------
    str
        The description used in error messages.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base = describe(typing.get_args(hint)[0])
        bounds = [str(m) for m in hint.__metadata__ if isinstance(m, AtLeast)]
        return " ".join([base, *bounds])
    if origin in (tuple, list):
        return f"a list, each {describe(typing.get_args(hint)[0])}"
    if _is_table(hint):
        return "a table"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is np.ndarray:
        return "an array of numbers"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        parts = [describe(a) for a in typing.get_args(hint) if a is not type(None)]
        if type(None) in typing.get_args(hint):
            parts.append("none")
        return " or ".join(dict.fromkeys(parts))
    if isinstance(hint, type) and hasattr(hint, "from_state"):
        return f"a table ({hint.__name__})"
    if isinstance(hint, type):
        return f"a {hint.__name__}"
    return "a value"


_UNCHECKED = object()


def _convert(value: Any, hint: Any) -> Any:
    """``value`` converted to ``hint``, or ``_UNCHECKED`` when it does not fit."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return value
    if hint is type(None):
        return None if value is None else _UNCHECKED
    if hint is bool:
        return bool(value) if isinstance(value, (bool, np.bool_)) else _UNCHECKED
    if hint is int:
        if isinstance(value, (bool, np.bool_)):
            return _UNCHECKED
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            return int(value)
        return _UNCHECKED
    if hint is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return _UNCHECKED
        return float(value)
    if hint is str:
        return value if isinstance(value, str) else _UNCHECKED
    if hint is np.ndarray:
        if isinstance(value, (str, bytes, Mapping, bool)) or value is None:
            return _UNCHECKED
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return _UNCHECKED
        return value if arr.ndim > 0 else _UNCHECKED
    if origin is Literal:
        return value if any(value == a and type(value) is type(a)
                            for a in typing.get_args(hint)) else _UNCHECKED
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            out = _convert(value, arg)
            if out is not _UNCHECKED:
                return out
        return _UNCHECKED
    if _is_table(hint):
        return value if isinstance(value, (hint, Mapping)) else _UNCHECKED
    if origin in (tuple, list):
        return _UNCHECKED  # a list was checked by check_value
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if hasattr(hint, "from_state") and isinstance(value, Mapping):
            return value  # a sub-table, built by the caller
        return _UNCHECKED
    return value


def check_value(value: Any, hint: Any, where: str) -> Any:
    """Return ``value`` converted to the type ``hint`` or raise a :class:`ConfigError`.

    Booleans are only ``True``/``False`` (not ``"no"`` nor 1), integers are
    integral numbers (not booleans nor strings), floats are real numbers (an
    integer is converted), strings are strings and a ``Literal`` is one of its
    values; an unknown hint accepts anything.

    Parameters
    ----------
    value : object
        The value given.
    hint : object
        The declared type.
    where : str
        The key to name in the message, e.g. ``"network.prior.doubled"``.

    Returns
    -------
    object
        The value converted (``int`` to ``float`` for a float field).

    Raises
    ------
    ConfigError
        "`where` must be <what>, got <value>", one line.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        out = check_value(value, typing.get_args(hint)[0], where)
        for m in hint.__metadata__:
            if hasattr(m, "check"):
                m.check(out, where)
        return out
    if origin in (Union, types.UnionType) and any(
            typing.get_origin(a) is typing.Annotated for a in typing.get_args(hint)):
        for arg in typing.get_args(hint):
            if _convert(value, _base(arg)) is not _UNCHECKED:
                return check_value(value, arg, where)
    elif origin in (tuple, list) and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        if len(args) == 2 and args[1] is not Ellipsis:
            item = Any
        out = []
        for i, v in enumerate(value):
            try:
                out.append(check_value(v, item, where))
            except ConfigError:
                raise ConfigError(
                    f"`{where}` must be {describe(hint)}; entry {i} is {v!r}."
                ) from None
        return tuple(out)
    out = _convert(value, _base(hint))
    if out is _UNCHECKED:
        shown = "a table" if isinstance(value, Mapping) else repr(value)
        raise ConfigError(f"`{where}` must be {describe(hint)}, got {shown}.")
    return out


def _base(hint: Any) -> Any:
    """``hint`` without ``Annotated`` metadata (also inside a union)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return typing.get_args(hint)[0]
    if origin in (Union, types.UnionType):
        return Union[tuple(_base(a) for a in typing.get_args(hint))]  # noqa: UP007
    return hint



def check_keys(table: Mapping, allowed, where: str) -> None:
    """Refuse keys of ``table`` outside ``allowed``, listing the valid ones.

    Parameters
    ----------
    table : Mapping
        The table given.
    allowed : iterable of str
        Its valid keys.
    where : str
        The table's name in the message (``""`` at the top level).

    Raises
    ------
    ConfigError
        If a key is unknown.
    """
    extra = sorted(set(table) - set(allowed))
    if extra:
        at = f" of `{where}`" if where else ""
        raise ConfigError(
            f"unknown key `{_join(where, extra[0])}`; valid keys{at}: {', '.join(sorted(allowed))}."
        )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_table(table: Any, where: str, what: str = "a table") -> Mapping:
    """Return ``table`` if it is a mapping, else raise a one-line :class:`ConfigError`.

    Parameters
    ----------
    table : object
        The value given where a table is expected.
    where : str
        Its key.
    what : str
        What the table describes, for the message.

    Returns
    -------
    Mapping
        ``table``.

    Raises
    ------
    ConfigError
        If ``table`` is not a mapping (e.g. ``problem.network = 3``).
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"`{where}` must be {what}, got {table!r}; write it as a TOML table.")
    return table


def build(cls: type, table: Mapping, where: str, *, skip: tuple[str, ...] = (),
          extra: Mapping[str, Any] | None = None) -> Any:
    """Build ``cls(**table)`` after checking every key and value against its fields.

    Parameters
    ----------
    cls : type
        The spec class.
    table : Mapping
        Its fields (``kind`` is ignored; sub-tables must already be built or be
        built by the class).
    where : str
        The table's key, used in every message.
    skip : tuple of str
        Fields not read from ``table`` (passed in ``extra`` instead).
    extra : Mapping, optional
        Already built arguments, passed as they are.

    Returns
    -------
    object
        The instance.

    Raises
    ------
    ConfigError
        For an unknown or missing key or a value of the wrong type.
    """
    table = check_table(table, where)
    check_keys({k: v for k, v in table.items() if k != "kind"},
               [f.name for f in fields_of(cls)], where)
    fields = [f for f in fields_of(cls) if f.name not in skip]
    kwargs = dict(extra or {})
    for f in fields:
        if f.name in table:
            value = check_value(table[f.name], f.hint, _join(where, f.name))
            if _is_table(f.hint) and isinstance(value, Mapping):
                value = build(f.hint, value, _join(where, f.name))
            kwargs[f.name] = value
        elif f.required:
            raise ConfigError(f"`{_join(where, f.name)}` is required.")
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a range check of the class: name the key by its full path
        msg = str(exc)
        for f in fields_of(cls):
            if where and msg.startswith(f"`{f.name}`"):
                raise type(exc)(f"`{_join(where, f.name)}`{msg[len(f.name) + 2:]}") from None
        raise


def lookup(registry: Mapping[str, type], kind: Any, where: str) -> type:
    """The class registered under ``kind``, or a :class:`ConfigError` listing the registered kinds.

    Parameters
    ----------
    registry : Mapping
        ``kind`` -> class.
    kind : object
        The kind given.
    where : str
        The key holding it.

    Returns
    -------
    type
        The class.

    Raises
    ------
    ConfigError
        If ``kind`` is not registered.
    """
    if not isinstance(kind, str) or kind not in registry:
        raise ConfigError(f"`{where}` must be one of {', '.join(sorted(registry))}, got {kind!r}.")
    return registry[kind]


def check_state(state: Any, kind: str, keys, where: str = "state") -> Mapping:
    """Check that a saved ``state`` has the given ``kind`` and only known keys.

    Parameters
    ----------
    state : Mapping
        The saved state.
    kind : str
        The expected ``state["kind"]``.
    keys : iterable of str
        The valid keys besides ``kind``.
    where : str
        Name of the state in messages.

    Returns
    -------
    Mapping
        ``state``.

    Raises
    ------
    ConfigError
        If ``state`` is not a mapping, has another kind or an unknown key.
    """
    state = check_table(state, where, f"a saved state of kind {kind!r}")
    if state.get("kind") != kind:
        raise ConfigError(
            f"`{where}` has kind {state.get('kind')!r}; expected {kind!r}."
        )
    check_keys({k: v for k, v in state.items() if k != "kind"}, keys, where)
    return state


def check_fields(obj: Any, names: tuple[str, ...] | None = None) -> None:
    """Check the fields of a constructed spec against their type hints (API side).

    Parameters
    ----------
    obj : object
        A dataclass instance, during ``__post_init__``.
    names : tuple of str, optional
        The fields to check (default: all).

    Raises
    ------
    ConfigError
        Naming the first field of the wrong type.
    """
    for f in fields_of(type(obj)):
        if names is not None and f.name not in names:
            continue
        value = check_value(getattr(obj, f.name), f.hint, f.name)
        object.__setattr__(obj, f.name, value)
