"""The one place that prints command results, as text or as JSON."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable
from typing import Any

import click


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for dataclasses, enums, bytes and containers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name if not isinstance(value, str) else value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def emit(value: Any, *, as_json: bool, text: Callable[[Any], str] | None = None) -> None:
    """Print a command's result: JSON on request (an object gets ``"ok": true`` first, unless
    it says ``ok`` itself), else ``text(value)`` (or ``str``)."""
    if value is None:
        if as_json:
            click.echo(json.dumps({"ok": True}))
        return
    if as_json:
        data = to_jsonable(value)
        if isinstance(data, dict):  # a success object says so, as a failure's does
            data = {"ok": True, **data}
        click.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    rendered = text(value) if text else str(value)
    if rendered:
        click.echo(rendered)


def table(rows: list[tuple[str, Any]]) -> str:
    """Aligned ``key: value`` lines."""
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)


def local_time(t: float) -> str:
    """A unix time as local ISO 8601 to the second: ``2026-12-01T23:15:04+01:00``."""
    from datetime import datetime

    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def words(items: list[str] | tuple[str, ...], empty: str = "none") -> str:
    """A list as text: ``us, uk, de, fr``."""
    return ", ".join(items) if items else empty
