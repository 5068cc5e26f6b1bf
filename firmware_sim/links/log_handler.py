"""A log handler that never blocks the serving loop on a stderr nobody reads.

A simulator started with ``stderr=PIPE`` by a test that never reads the pipe would otherwise
stop answering once the pipe is full (64 KiB on Linux). :class:`NonBlockingHandler` writes a
line only when the descriptor can take it now (``poll`` for writability, then one write of at
most ``PIPE_BUF`` bytes, which a pipe with room takes whole); otherwise it drops the line and
counts it, and the next line that gets through is preceded by how many were dropped. The
descriptor itself is left blocking: it is often shared with the parent (a terminal, pytest's
capture), and making it non-blocking would change it for them too.
"""

from __future__ import annotations

import logging
import os
import select

__all__ = ["NonBlockingHandler"]

_CHUNK = 512  # POSIX's smallest PIPE_BUF: a write this long to a pipe with room is taken whole
_CLOSE_WAIT_MS = 1000
"""At exit, how long the last count of dropped lines may wait for the reader (it would be
lost otherwise: no later line carries it)."""


class NonBlockingHandler(logging.Handler):
    """Writes formatted records to ``fd`` if it is writable now; else drops and counts them."""

    def __init__(self, fd: int = 2, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.fd = fd
        self.dropped = 0
        """Lines dropped since the last one that got through."""
        self.dropped_total = 0
        self._poll = select.poll()
        self._poll.register(fd, select.POLLOUT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        if self.dropped:
            if not self._write(self._notice()):
                self._drop()
                return
            self.dropped = 0
        if not self._write(line.encode("utf-8", "replace")):
            self._drop()

    def close(self) -> None:
        if self.dropped and self._writable(_CLOSE_WAIT_MS) and self._write(self._notice()):
            self.dropped = 0
        super().close()

    def _notice(self) -> bytes:
        return f"firmware_sim: {self.dropped} log lines dropped (stderr was not read)\n".encode()

    def _drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def _write(self, data: bytes) -> bool:
        """Write ``data`` if the descriptor takes it without waiting; False if not (a long
        line may then be cut short: its end is dropped)."""
        view = memoryview(data)
        while view:
            if not self._writable():
                return False
            try:
                view = view[os.write(self.fd, view[:_CHUNK]) :]
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return False
        return True

    def _writable(self, wait_ms: int = 0) -> bool:
        for _, events in self._poll.poll(wait_ms):
            if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                return False
            return bool(events & select.POLLOUT)
        return False
