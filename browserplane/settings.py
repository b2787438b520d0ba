"""Flags with `BROWSERPLANE_*` environment fallbacks, one settings object per component.

A component declares its settings as a dataclass whose fields carry `flag(...)` metadata; the
same declaration builds the argparse parser, so the flag, the variable and the default are
documented in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
from typing import Any, TypeVar

T = TypeVar("T")


def flag(default: Any, help: str, *, env: str | None = None) -> Any:  # noqa: A002
    """A settings field: `--name-with-dashes`, env `BROWSERPLANE_NAME`, with a default."""
    meta = {"help": help, "env": env}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def env_name(field: dataclasses.Field, cls: type) -> str:
    """`BROWSERPLANE_<COMPONENT>_<FIELD>`, unless the field names a shared variable."""
    prefix = getattr(cls, "ENV_PREFIX", "")
    return field.metadata.get("env") or f"BROWSERPLANE_{prefix}{field.name.upper()}"


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Adds one flag per field of the settings dataclass `cls`."""
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        name = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (env {env_name(f, cls)}; default {default!r})"
        if isinstance(default, bool):
            parser.add_argument(name, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        elif isinstance(default, list):
            parser.add_argument(name, dest=f.name, action="append", default=None, help=help_text)
        else:
            parser.add_argument(name, dest=f.name, default=None, help=help_text)


def _coerce(value: Any, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SystemExit(f"{name}: expected a boolean, got {value!r}")
    if isinstance(default, list):
        if isinstance(value, list):
            return value
        return [part for part in str(value).split(",") if part]
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise SystemExit(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            raise SystemExit(f"{name}: expected a number, got {value!r}") from None
    if isinstance(default, pathlib.Path):
        return pathlib.Path(value).expanduser()
    return value


def load(cls: type[T], args: argparse.Namespace | None = None, **overrides: Any) -> T:
    """Builds `cls` from explicit overrides, then flags, then the environment, then defaults."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        raw = getattr(args, f.name, None) if args is not None else None
        if raw is None:
            raw = os.environ.get(env_name(f, cls))
        values[f.name] = default if raw is None else _coerce(raw, default, f.name)
    return cls(**values)


def default_data_dir() -> pathlib.Path:
    """The user's data directory (XDG), where `browserplane up` keeps its state by default."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return pathlib.Path(base) / "browserplane"
