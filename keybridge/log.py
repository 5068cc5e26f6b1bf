"""Logging helpers: a TRAFFIC level below DEBUG that hex-dumps every message on the link.

Transports call :func:`log_traffic` for each message they send or receive; it costs one level
check when the ``keybridge.traffic`` logger is not enabled for TRAFFIC. The CLI maps ``-v`` to
DEBUG and ``-vv`` to TRAFFIC with :func:`configure_logging`.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = [
    "TRAFFIC",
    "configure_logging",
    "hexdump",
    "log_traffic",
    "traffic_logger",
]

TRAFFIC = 7
"""Log level of frame hex dumps (below DEBUG = 10). Not 5: uvicorn (the HES emulator's server)
names level 5 TRACE when it loads, which would rename this one in every log line."""

logging.addLevelName(TRAFFIC, "TRAFFIC")

traffic_logger = logging.getLogger("keybridge.traffic")

_WIDTH = 16


def hexdump(data: bytes) -> str:
    """Offset, hex bytes and printable ASCII, 16 bytes a line (``xxd`` style)."""
    lines = []
    for offset in range(0, len(data), _WIDTH):
        chunk = data[offset : offset + _WIDTH]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:04x}  {hex_part:<{_WIDTH * 3 - 1}}  {text}")
    return "\n".join(lines) if lines else "0000  (empty)"


def log_traffic(direction: str, where: str, message: bytes) -> None:
    """Log one message going out (``"->"``) or coming in (``"<-"``) over the link ``where``."""
    if traffic_logger.isEnabledFor(TRAFFIC):
        traffic_logger.log(
            TRAFFIC, "%s %s (%d bytes)\n%s", direction, where, len(message), hexdump(message)
        )


def configure_logging(verbosity: int, stream: TextIO | None = None) -> None:
    """Send keybridge's logs to ``stream`` (stderr): 0 warnings, 1 debug, 2+ traffic dumps."""
    level = logging.WARNING if verbosity <= 0 else logging.DEBUG if verbosity == 1 else TRAFFIC
    # uvicorn names level 5 "TRACE" whenever a server is configured in this process.
    logging.addLevelName(TRAFFIC, "TRAFFIC")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("keybridge")
    for old in [h for h in root.handlers if getattr(h, "_keybridge", False)]:
        root.removeHandler(old)
    handler._keybridge = True  # type: ignore[attr-defined]  # marks our handler for reconfiguration
    root.addHandler(handler)
    root.setLevel(level)
