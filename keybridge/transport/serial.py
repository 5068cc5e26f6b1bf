"""Serial links through pyserial's ``serial_for_url``: device paths, ptys, ``socket://``, ``loop://``.

Reading never blocks the event loop. Ports with a file descriptor (devices, ptys, sockets on
POSIX) are watched with the loop's fd reader and read only when data is waiting; others
(``loop://``, Windows) get a reader thread that blocks in ``read`` with a short timeout and hands
bytes to the loop. Either way the bytes go through a
:class:`~keybridge.protocol.framing.FrameDecoder`: corrupt frames are dropped there, and the
channel above notices the missing answer and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import threading

import serial

from keybridge.errors import DeviceNotFoundError, LinkTimeoutError, TransportError
from keybridge.log import log_traffic
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.transport.base import Transport

__all__ = ["SerialTransport"]

log = logging.getLogger(__name__)

_READ_TIMEOUT = 0.05
"""Seconds a blocking read waits (reader thread only); bounds how long closing takes."""
_READ_CHUNK = 4096
_WRITE_TIMEOUT = 2.0
"""A frame is small, so a write blocks only when the far end stopped reading: give up then."""

_FD_PORT_MODULES = frozenset({"serial.serialposix", "serial.urlhandler.protocol_socket"})

_START_HINT = "is the simulator running? start one with `python -m firmware_sim serve`"
_ABSENT_ERRNOS = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ECONNREFUSED, errno.EHOSTUNREACH}


class SerialTransport(Transport):
    """A key on a serial port, a pty or a TCP socket (``socket://host:port``)."""

    def __init__(self, url: str, *, baudrate: int = 115200) -> None:
        self.url = url
        self.baudrate = baudrate
        self.description = url
        self.decoder = FrameDecoder()
        self._serial: serial.SerialBase | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[bytes] | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._down: TransportError | None = None

    async def open(self) -> None:
        if self._serial is not None:
            return
        try:
            port = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                timeout=_READ_TIMEOUT,
                write_timeout=_WRITE_TIMEOUT,
                do_not_open=True,
            )
        except ValueError as exc:  # pyserial: unknown URL scheme
            raise DeviceNotFoundError(
                f"cannot use {self.url!r} as a device: {exc}; give a serial device path,"
                " socket://HOST:PORT, ble://ADDRESS or ble:NAME"
            ) from None
        try:
            # Opening can block (a TCP connect), so keep it off the event loop.
            await asyncio.to_thread(port.open)
        except serial.SerialException as exc:
            raise _open_error(self.url, exc) from None
        loop = asyncio.get_running_loop()
        self._serial, self._loop, self._queue = port, loop, asyncio.Queue()
        self._stop.clear()
        self._down = None
        self.decoder = FrameDecoder()
        fd = _fileno(port)
        try:
            if fd is None:
                raise NotImplementedError
            loop.add_reader(fd, self._on_readable)
            self._fd = fd
        except NotImplementedError:  # no fd, or a loop without fd readers (Windows)
            self._thread = threading.Thread(
                target=self._read_loop, args=(port, loop), name=f"keybridge-serial {self.url}"
            )
            self._thread.daemon = True  # never keep the interpreter alive for a stuck port
            self._thread.start()
        log.debug("opened %s (%s)", self.url, "fd reader" if self._fd is not None else "thread")

    async def close(self) -> None:
        port, thread, fd, loop = self._serial, self._thread, self._fd, self._loop
        if port is None:
            return
        self._serial = self._thread = self._fd = None
        self._stop.set()
        if fd is not None and loop is not None:
            loop.remove_reader(fd)
        if thread is not None:
            # Best effort: the short read timeout ends the thread's read anyway.
            with contextlib.suppress(Exception):
                port.cancel_read()
            await asyncio.to_thread(thread.join)
        port.close()
        log.debug("closed %s", self.url)

    async def send(self, message: bytes) -> None:
        port = self._serial
        if port is None:
            raise TransportError(f"the link to {self.url} is not open: connect first")
        if self._down is not None:
            raise self._down
        frame = encode_frame(message)
        log_traffic("->", self.url, message)
        try:
            # A frame fits the OS buffer, so this returns at once; a far end that stopped
            # reading makes it time out after _WRITE_TIMEOUT instead of hanging.
            port.write(frame)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"lost the link to the key at {self.url}: {exc}") from None

    async def receive(self, timeout: float) -> bytes:
        queue = self._queue
        if self._serial is None or queue is None:
            raise TransportError(f"the link to {self.url} is not open: connect first")
        if not queue.empty():
            message = queue.get_nowait()  # what arrived before the link went down comes first
        elif self._down is not None:
            raise self._down
        else:
            try:
                async with asyncio.timeout(timeout):
                    message = await queue.get()
            except TimeoutError:
                raise LinkTimeoutError(
                    f"no message from the key at {self.url} within {timeout:.1f} s"
                ) from None
        if not message and self._down is not None:  # the wake-up queued by _fail
            raise self._down
        return message

    # Runs on the event loop: the fd is readable.
    def _on_readable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        # Read the fd directly: pyserial's read(n) waits for n bytes (and its socket handler's
        # in_waiting says 1), while os.read returns whatever is there in one call.
        try:
            data = os.read(fd, _READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO: the pty's other end or the USB device is gone
            self._stop_reading()
            self._fail(exc)
            return
        if not data:
            self._stop_reading()
            self._fail(EOFError("the other end closed the connection"))
            return
        self._feed(data)

    def _stop_reading(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None

    # Runs on the reader thread (ports without an fd).
    def _read_loop(self, port: serial.SerialBase, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = port.read(port.in_waiting or 1)
                except Exception as exc:  # any failure of the port ends the link
                    if not self._stop.is_set():
                        loop.call_soon_threadsafe(self._fail, exc)
                    return
                if data:
                    loop.call_soon_threadsafe(self._feed, data)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return

    def _feed(self, data: bytes) -> None:
        queue = self._queue
        if queue is None or self._stop.is_set():
            return
        dropped = self.decoder.dropped
        for message in self.decoder.feed(data):
            log_traffic("<-", self.url, message)
            queue.put_nowait(message)
        if self.decoder.dropped != dropped:
            log.debug("dropped a corrupt frame from %s: %s", self.url, self.decoder.last_error)

    def _fail(self, exc: BaseException) -> None:
        if self._stop.is_set() or self._down is not None:
            return
        self._down = TransportError(
            f"lost the link to the key at {self.url} ({exc}): check the cable or that the"
            " simulator is still running, then reconnect"
        )
        log.debug("%s", self._down)
        if self._queue is not None:
            self._queue.put_nowait(b"")  # wakes a waiting receive; messages are never empty


def _fileno(port: serial.SerialBase) -> int | None:
    """The fd to watch, for plain device/pty ports and ``socket://`` only: other URL handlers
    (``spy://``, ``rfc2217://``) do work in ``read`` that reading the fd would skip."""
    if type(port).__module__ not in _FD_PORT_MODULES:
        return None
    try:
        fd = port.fileno()
    except Exception:  # pyserial raises various errors for ports without one
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _open_error(url: str, exc: serial.SerialException) -> TransportError:
    cause = exc.__context__
    code = getattr(exc, "errno", None) or getattr(cause, "errno", None)
    if code in _ABSENT_ERRNOS or isinstance(cause, FileNotFoundError | ConnectionRefusedError):
        return DeviceNotFoundError(f"no key at {url}: {_START_HINT}")
    if code in (errno.EACCES, errno.EPERM):
        return TransportError(
            f"no permission to open {url}: add your user to the group owning the device"
            " (often `dialout`) and log in again"
        )
    if code == errno.EBUSY:
        return TransportError(f"{url} is busy: close the other program using the key")
    return TransportError(f"cannot open {url}: {exc}")
