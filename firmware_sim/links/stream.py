"""Non-blocking writes with a bounded buffer, for the pty and TCP links."""

from __future__ import annotations

import logging
from collections.abc import Callable

from firmware_sim.links.reactor import Reactor

__all__ = ["BufferedWriter"]

log = logging.getLogger("firmware_sim.link")

MAX_BUFFERED = 256 * 1024
"""Replies beyond this are dropped (a host that never reads must not grow us without bound)."""


class BufferedWriter:
    """Writes what it can now and the rest when ``fd`` becomes writable again."""

    def __init__(
        self,
        reactor: Reactor,
        fd: int,
        send: Callable[[bytes], int],
        *,
        name: str,
        on_error: Callable[[OSError], None],
    ) -> None:
        self._reactor = reactor
        self._fd = fd
        self._send = send
        self._name = name
        self._on_error = on_error
        self._buffer = bytearray()
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._buffer:
            if len(self._buffer) + len(data) > MAX_BUFFERED:
                log.warning("%s: host is not reading; dropped %d bytes", self._name, len(data))
                return
            self._buffer += data
            return
        try:  # _try_send, inlined: this runs for every reply
            sent = self._send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.close()
            self._on_error(exc)
            return
        if sent < len(data) and not self._closed:
            self._buffer += data[sent:]
            self._reactor.add_writer(self._fd, self._flush)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            self._reactor.remove_writer(self._fd)

    def _flush(self) -> None:
        sent = self._try_send(bytes(self._buffer))
        del self._buffer[:sent]
        if not self._buffer and not self._closed:
            self._reactor.remove_writer(self._fd)

    def _try_send(self, data: bytes) -> int:
        try:
            return self._send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self.close()
            self._on_error(exc)
            return 0
