"""Serve a key on a pseudo-terminal: a real tty device that pyserial opens like hardware.

The simulator keeps the slave side open as well as the master, so a host may close and reopen
the device path at will: without a slave holder the master would report EIO (hang-up) after
the host's close. The slave is put in raw mode (no echo, no line editing) before the device
path is published; pyserial flushes whatever waited in the queue when it opens the port.

That flush is how the key sees a new connection (a session must not outlive its connection,
and the slave it holds hides the host's close): the master runs in packet mode (``TIOCPKT``),
where the kernel reports a flush of the slave's input queue as a status byte, and every open
of the device by a host (pyserial's ``open`` flushes) starts a new connection on the key.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import logging
import os
import struct
import termios
import tty

from firmware_sim.links.device import Port
from firmware_sim.links.reactor import Reactor
from firmware_sim.links.stream import BufferedWriter

__all__ = ["PtyLink"]

log = logging.getLogger("firmware_sim.link")

_READ_SIZE = 4096
_EIO_RETRY_S = 0.1
_TIOCPKT = getattr(termios, "TIOCPKT", None)
_PKT_DATA = 0  # packet mode: a read starting with 0 carries data, any other is a status
_PKT_FLUSHREAD = 1  # TIOCPKT_FLUSHREAD: the slave flushed its input (a host opened the port)


class PtyLink:
    """One key on one pty; :attr:`url` is the slave device path (``/dev/pts/N``)."""

    def __init__(self, port: Port, reactor: Reactor) -> None:
        self.port = port
        self._reactor = reactor
        self._master = -1
        self._slave = -1
        self._writer: BufferedWriter | None = None
        self._packets = False
        self.url = ""

    def open(self) -> str:
        """Create the pty and start serving; returns the device path."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._packets = _TIOCPKT is not None
        if _TIOCPKT is not None:
            fcntl.ioctl(self._master, _TIOCPKT, struct.pack("i", 1))
        self.url = os.ttyname(self._slave)
        self._writer = BufferedWriter(
            self._reactor,
            self._master,
            functools.partial(os.write, self._master),  # no Python frame per write
            name=self.port.name,
            on_error=self._write_failed,
        )
        self.port.connect(self._writer.write)
        self._reactor.add_reader(self._master, self._readable)
        return self.url

    def close(self) -> None:
        if self._master < 0:
            return
        self._reactor.remove_reader(self._master)
        if self._writer is not None:
            self._writer.close()
        self.port.close()
        for fd in (self._master, self._slave):
            os.close(fd)
        self._master = self._slave = -1

    def hang_up(self) -> None:
        """Go away, as an unplugged USB key: the device path and its host's descriptor die."""
        log.info("%s: the pty is closed (unplugged)", self.port.name)
        self.close()

    def _readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            # Hang-up seen on the master: pause reading briefly instead of spinning.
            log.debug("%s: EIO on the pty master; retrying", self.port.name)
            self._reactor.remove_reader(self._master)
            self._reactor.call_later(_EIO_RETRY_S, self._resume)
            return
        if not data:
            return
        if not self._packets:
            self.port.feed(data)
        elif data[0] == _PKT_DATA:
            self.port.feed(data[1:])
        elif data[0] & _PKT_FLUSHREAD and self._writer is not None:
            log.debug("%s: the host opened the port: a new connection", self.port.name)
            self.port.connect(self._writer.write)

    def _resume(self) -> None:
        if self._master >= 0:
            self._reactor.add_reader(self._master, self._readable)

    def _write_failed(self, exc: OSError) -> None:
        # EIO while nobody holds the slave cannot happen (we hold it); log anything else and
        # start a fresh writer so the next reply gets through.
        log.warning("%s: write to the pty failed: %s", self.port.name, exc)
        if self._master >= 0:
            self._writer = BufferedWriter(
                self._reactor,
                self._master,
                functools.partial(os.write, self._master),  # no Python frame per write
                name=self.port.name,
                on_error=self._write_failed,
            )
            self.port.connect(self._writer.write)
