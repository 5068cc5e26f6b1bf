"""Typing: HID keyboard usages, host keyboard layouts, boot reports and where they are delivered.

The key turns text into boot-keyboard reports for the layout the host uses
(:func:`encode_text`); the host decodes them (:func:`decode_reports`) or hands them to a
keyboard backend (:func:`get_backend`) that types them.
"""

from typing import TYPE_CHECKING, Any

from keybridge.keyboard.layouts import LAYOUT_IDS, LAYOUTS, Keystroke, Layout, get_layout
from keybridge.keyboard.reports import (
    RELEASE,
    REPORT_SIZE,
    KeyReport,
    bytes_to_reports,
    decode_reports,
    encode_text,
    reports_to_bytes,
)
from keybridge.keyboard.usage import Modifier, Usage

if TYPE_CHECKING:
    from keybridge.keyboard.backends import (
        BACKEND_NAMES,
        KeyboardBackend,
        OsBackend,
        SinkBackend,
        StdoutBackend,
        get_backend,
    )

# The backends import asyncio (~100 ms); the simulated key needs only layouts and reports, and
# its cold start has a budget, so they load on first use.
_BACKEND_ATTRS = frozenset(
    {"BACKEND_NAMES", "KeyboardBackend", "OsBackend", "SinkBackend", "StdoutBackend", "get_backend"}
)


def __getattr__(name: str) -> Any:
    if name in _BACKEND_ATTRS:
        from keybridge.keyboard import backends

        return getattr(backends, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKEND_NAMES",
    "LAYOUTS",
    "LAYOUT_IDS",
    "RELEASE",
    "REPORT_SIZE",
    "KeyReport",
    "KeyboardBackend",
    "Keystroke",
    "Layout",
    "Modifier",
    "OsBackend",
    "SinkBackend",
    "StdoutBackend",
    "Usage",
    "bytes_to_reports",
    "decode_reports",
    "encode_text",
    "get_backend",
    "get_layout",
    "reports_to_bytes",
]
