"""The agent's socket protocol, version 1: JSON lines (docs/agent.md has an example session).

Each line is one JSON object. The client sends requests::

    {"v": 1, "id": 7, "op": "otp.calculate", "args": {"name": "HES.Web:me@example.com"}}

and gets, for each, any number of events (``keepalive`` while the key waits for its button;
``confirm``, which the client answers with ``{"id": 7, "answer": true}``) and then one
response, ``{"v": 1, "id": 7, "ok": true, "result": ...}`` or ``{"v": 1, "id": 7, "ok": false,
"error": {"type": "keybridge.protocol.status.NotFoundError", "message": "...", "attrs":
{...}}}``. Errors keep their class (by its module and name, keybridge's own only) and fields,
so a client raises what a direct connection would have raised. Values are plain JSON: bytes as
hex, enums by name, dataclasses as objects.

Cheap to import (json only): the CLI's agent path starts with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import importlib
import json
from typing import Any

from keybridge.errors import KeybridgeError, ProtocolError, TransportError

__all__ = [
    "MAX_LINE",
    "VERSION",
    "AgentProtocolError",
    "AgentUnavailableError",
    "ForeignAgentError",
    "decode_error",
    "encode_error",
    "jsonable",
    "pack",
    "unpack",
]

VERSION = 1
MAX_LINE = 1 << 20
"""Longest line either side accepts (far above any request: 64 credentials listed are ~10 kB)."""


class AgentProtocolError(ProtocolError):
    """The agent (or its client) sent something this side cannot understand."""


class AgentUnavailableError(TransportError):
    """The agent's socket cannot be reached, or the agent went away during a request."""


class ForeignAgentError(AgentUnavailableError):
    """The process serving the agent's socket runs as another user: refused."""


def pack(message: dict[str, Any]) -> bytes:
    """One message as its line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def unpack(line: bytes) -> dict[str, Any]:
    """One line as its message; :class:`AgentProtocolError` if it is not a JSON object."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AgentProtocolError(f"not a JSON line: {exc}") from None
    if not isinstance(message, dict):
        raise AgentProtocolError("a message must be a JSON object")
    return message


def jsonable(value: Any) -> Any:
    """Plain JSON types for results: dataclasses as objects, enums by name, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


_SIMPLE = (str, int, float, bool, type(None))


def encode_error(exc: BaseException) -> dict[str, Any]:
    """An error as the response's ``error`` object: class, message and simple fields."""
    if not isinstance(exc, KeybridgeError):
        return {"type": "keybridge.errors.KeybridgeError", "message": str(exc), "attrs": {}}
    cls = type(exc)
    attrs = {
        k: int(v) if isinstance(v, enum.IntEnum) else v
        for k, v in vars(exc).items()
        if isinstance(v, _SIMPLE) and not k.startswith("_")
    }
    return {"type": f"{cls.__module__}.{cls.__qualname__}", "message": str(exc), "attrs": attrs}


def decode_error(error: Any) -> KeybridgeError:
    """The exception an ``error`` object describes, of its own class when it is one of
    keybridge's (its message and fields as sent), else a :class:`KeybridgeError`."""
    if not isinstance(error, dict):
        return AgentProtocolError("the agent sent an error without a description")
    message = str(error.get("message", "the agent reported an error"))
    cls = _error_class(str(error.get("type", "")))
    exc = cls.__new__(cls)
    exc.args = (message,)
    attrs = error.get("attrs")
    if isinstance(attrs, dict):
        for name, value in attrs.items():
            if isinstance(name, str) and isinstance(value, _SIMPLE):
                setattr(exc, name, value)
        status = attrs.get("status")
        if isinstance(status, int):
            from keybridge.protocol.constants import Status

            with contextlib.suppress(ValueError):  # an unknown status stays the key's int
                exc.status = Status(status)  # type: ignore[attr-defined]
    return exc


def _error_class(name: str) -> type[KeybridgeError]:
    module_name, _, class_name = name.rpartition(".")
    if module_name == "keybridge" or module_name.startswith("keybridge."):
        try:
            found = getattr(importlib.import_module(module_name), class_name, None)
        except ImportError:
            found = None
        if isinstance(found, type) and issubclass(found, KeybridgeError):
            return found
    return KeybridgeError
