"""Configuration files for the command line: TOML with built-in defaults.

A subcommand declares its documented ``DEFAULTS`` as a nested dict; a user's
TOML file and ``--set key.sub=value`` options are deep-merged on top. Unknown
keys are refused so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["load_config", "merge", "parse_assignment"]


def merge(defaults: dict, override: dict, *, path: str = "", strict: bool = True) -> dict:
    """Deep-merge ``override`` into a copy of ``defaults``.

    With ``strict``, keys absent from ``defaults`` raise :class:`ConfigError`
    (sub-tables whose default is an empty dict accept any key). A table with a
    ``kind`` other than the default's replaces the default table whole.
    """
    out = copy.deepcopy(defaults)
    for key, value in override.items():
        where = f"{path}.{key}" if path else key
        if key not in out:
            # tables with a `kind` are checked by their own builder, which knows each kind's keys
            if strict and (defaults or path == "") and "kind" not in defaults:
                known = ", ".join(sorted(defaults)) or "(none)"
                raise ConfigError(f"unknown configuration key `{where}`; known keys here: {known}.")
            out[key] = value
        elif (isinstance(out[key], dict) and isinstance(value, dict)
              and "kind" in value and value["kind"] != out[key].get("kind")):
            out[key] = copy.deepcopy(value)  # another kind: its own keys, checked by its builder
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge(out[key], value, path=where, strict=strict)
        else:
            out[key] = value
    return out


def parse_assignment(text: str) -> dict:
    """Turn ``"a.b=1.5"`` into ``{"a": {"b": 1.5}}`` (the value is parsed as TOML)."""
    if "=" not in text:
        raise ConfigError(f"`--set {text}` must have the form key.sub=value.")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    out: dict[str, Any] = {}
    node = out
    parts = [p.strip() for p in key.strip().split(".")]
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_config(defaults: dict, path: str | Path | None = None,
                assignments: list[str] | None = None) -> dict:
    """Defaults, then the TOML file at ``path``, then ``--set`` assignments."""
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
        config = merge(config, user)
    for text in assignments or []:
        config = merge(config, parse_assignment(text))
    return config
