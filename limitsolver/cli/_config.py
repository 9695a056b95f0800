"""Configuration files for the command line: TOML with built-in defaults.

A subcommand declares its documented ``DEFAULTS`` as a nested dict; a user's
TOML file and ``--set key.sub=value`` options are deep-merged on top. Unknown
keys are refused so that a typo never silently falls back to a default; a
scalar where a table belongs (``problem.network = 3``) and a table where a
value belongs are refused by name. The values themselves are type-checked by
the builders of the objects they describe (:mod:`limitsolver.config` and the
option classes of each subcommand).

One file may serve several subcommands: the top-level tables that belong to
another subcommand (``[study]`` of ``converge`` read by ``solve``) are left to
it. :func:`to_toml` writes a configuration back as TOML that reads back equal.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import exclusive_keys
from ..errors import ConfigError

__all__ = ["load_config", "merge", "parse_assignment", "to_toml"]


def _drop_excluded(defaults: dict, override: Mapping) -> dict:
    """Drop keys of a ``kind`` table's defaults that a key of ``override`` excludes."""
    groups = exclusive_keys(override.get("kind", defaults.get("kind")))
    if not groups:
        return defaults
    grouped = {k for g in groups for k in g}
    given = (set(override) - {"kind"}) & grouped
    if not given:
        return defaults
    keep = {k: v for k, v in defaults.items()
            if k not in grouped or k in override
            or any(k in g and given <= set(g) for g in groups)}
    return keep


def merge(defaults: dict, override: Mapping, *, path: str = "", strict: bool = True) -> dict:
    """Deep-merge ``override`` into a copy of ``defaults``.

    With ``strict``, keys absent from ``defaults`` raise :class:`ConfigError`
    (tables with a ``kind`` are checked by their own builder, which knows each
    kind's keys). A table with a ``kind`` other than the default's replaces the
    default table whole; a key of a ``kind`` table that excludes inherited keys
    (``tol`` of a linear-memory target and the default ``n_terms``) drops them.

    Parameters
    ----------
    defaults : dict
        The documented defaults.
    override : Mapping
        The user's values.
    path : str
        Dotted key of ``defaults`` (for messages).
    strict : bool
        Refuse unknown keys.

    Returns
    -------
    dict
        The merged configuration (``defaults`` is not modified).

    Raises
    ------
    ConfigError
        For an unknown key, a scalar given for a table or a table given for a value.
    """
    out = copy.deepcopy(defaults)
    if "kind" in out or "kind" in override:
        out = _drop_excluded(out, override)
    for key, value in override.items():
        where = f"{path}.{key}" if path else key
        if key not in out:
            if strict and (defaults or path == "") and "kind" not in defaults:
                known = ", ".join(sorted(defaults)) or "(none)"
                raise ConfigError(f"unknown configuration key `{where}`; known keys here: {known}.")
            out[key] = copy.deepcopy(value)
            continue
        if isinstance(out[key], dict) and not isinstance(value, Mapping):
            raise ConfigError(
                f"`{where}` must be a table, got {value!r}; set its keys instead, e.g. "
                f"`--set {where}.{next(iter(out[key]), 'key')}=...` or a `[{where}]` table."
            )
        if isinstance(value, Mapping) and not isinstance(out[key], dict) and out[key] is not None:
            raise ConfigError(f"`{where}` must be a value, not a table; e.g. `{where} = "
                              f"{_value(out[key])}`.")
        if (isinstance(value, Mapping) and "kind" in value
                and value["kind"] != (out[key] or {}).get("kind")):
            out[key] = copy.deepcopy(dict(value))  # another kind: its own keys, checked by its builder
        elif isinstance(value, Mapping):
            out[key] = merge(out[key], value, path=where, strict=strict)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_assignment(text: str) -> dict:
    """Turn ``"a.b=1.5"`` into ``{"a": {"b": 1.5}}`` (the value is parsed as TOML).

    A value that is not TOML (``ten``, ``no``) is kept as the string, to be
    refused by name by the key's type check.

    Parameters
    ----------
    text : str
        ``key.sub=value``.

    Returns
    -------
    dict
        The nested assignment.

    Raises
    ------
    ConfigError
        If ``text`` has no ``=`` or an empty key part.
    """
    if "=" not in text:
        raise ConfigError(f"`--set {text}` must have the form key.sub=value.")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"`--set {text}`: the key `{key.strip()}` has an empty part.")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    out: dict[str, Any] = {}
    node = out
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def _rename(table: dict, renamed: Mapping[str, str], origin: str) -> dict:
    """Move old dotted keys of ``table`` to their new names, with a DeprecationWarning.

    Only values are renamed: a table under an old name is left where it is.
    """
    for old, new in renamed.items():
        *path, last = old.split(".")
        node = table
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or last not in node or isinstance(node[last], dict):
            continue
        warnings.warn(f"`{old}` ({origin}) is deprecated; write `{new}`.",
                      DeprecationWarning, stacklevel=3)
        value = node.pop(last)
        *path, last = new.split(".")
        node = table
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return table


def load_config(defaults: dict, path: str | Path | None = None,
                assignments: list[str] | None = None, *,
                others: Mapping[str, str] | None = None,
                renamed: Mapping[str, str] | None = None) -> dict:
    """Defaults, then the TOML file at ``path``, then ``--set`` assignments.

    Parameters
    ----------
    defaults : dict
        The subcommand's documented defaults.
    path : str or Path, optional
        A TOML file.
    assignments : list of str, optional
        ``key.sub=value`` overrides, applied in order.
    others : Mapping, optional
        Top-level keys of the other subcommands -> their name: the file's tables
        of that name are left to them; a ``--set`` of one is refused with a hint.
    renamed : Mapping, optional
        Old dotted keys -> new dotted keys: an old key is read as the new one with
        a :class:`DeprecationWarning` (kept for one release).

    Returns
    -------
    dict
        The effective configuration.

    Raises
    ------
    ConfigError
        For a missing or invalid file or any refusal of :func:`merge`.
    """
    others = {k: v for k, v in (others or {}).items() if k not in defaults}
    config = copy.deepcopy(defaults)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"configuration file `{path}` does not exist.")
        try:
            with open(path, "rb") as fh:
                user = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file `{path}` is not valid TOML: {exc}.") from exc
        except OSError as exc:
            raise ConfigError(f"configuration file `{path}` cannot be read: {exc}.") from exc
        user = _rename(user, renamed or {}, str(path))
        config = merge(config, {k: v for k, v in user.items() if k not in others})
    for text in assignments or []:
        change = _rename(parse_assignment(text), renamed or {}, "--set")
        top = next(iter(change))
        if top in others:
            raise ConfigError(
                f"`--set {text}`: `{top}` belongs to `limitsolver {others[top]}`, not to this "
                f"subcommand; known keys here: {', '.join(sorted(defaults))}."
            )
        config = merge(config, change)
    return config


# -- writing TOML ---------------------------------------------------------------------------


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()
                               if x is not None) + "}"
    raise ConfigError(f"cannot write {v!r} of type {type(v).__name__} as TOML.")


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes, non-ASCII kept as is, DEL escaped as TOML wants."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    bare = k and all(c.isalnum() or c in "-_" for c in k) and k.isascii()
    return k if bare else _string(k)


def to_toml(config: Mapping[str, Any]) -> str:
    """Write a configuration as TOML: values first, then one ``[table]`` per sub-table.

    ``tomllib.loads(to_toml(config)) == config`` for any configuration made of
    tables, lists, strings, numbers and booleans (keys whose value is ``None``
    are left out, TOML having no null).

    Parameters
    ----------
    config : Mapping
        The configuration.

    Returns
    -------
    str
        TOML text.
    """
    lines: list[str] = []

    def table(node: Mapping, prefix: str) -> None:
        scalars = [(k, v) for k, v in node.items() if not isinstance(v, Mapping) and v is not None]
        tables = [(k, v) for k, v in node.items() if isinstance(v, Mapping)]
        if prefix and (scalars or not tables):
            lines.append(f"[{prefix}]")
        for k, v in scalars:
            lines.append(f"{_key(k)} = {_value(v)}")
        if scalars:
            lines.append("")
        for k, v in tables:
            table(v, f"{prefix}.{_key(k)}" if prefix else _key(k))

    table(config, "")
    return "\n".join(lines).rstrip() + "\n"
