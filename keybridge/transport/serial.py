"""Serial links through pyserial's ``serial_for_url``: device paths, ptys, ``socket://``, ``loop://``.

A reader thread blocks in ``read`` (with a short timeout, so it notices :meth:`close`), feeds the
bytes to a :class:`~keybridge.protocol.framing.FrameDecoder` and hands each complete message to
the event loop. Corrupt frames are dropped there; the channel above notices the missing answer
and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import threading

import serial

from keybridge.errors import DeviceNotFoundError, LinkTimeoutError, TransportError
from keybridge.log import log_traffic
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.transport.base import Transport

__all__ = ["SerialTransport"]

log = logging.getLogger(__name__)

_READ_TIMEOUT = 0.05
"""Seconds a blocking read waits; bounds how long :meth:`SerialTransport.close` takes."""

_START_HINT = "is the simulator running? start one with `python -m firmware_sim serve`"
_ABSENT_ERRNOS = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ECONNREFUSED, errno.EHOSTUNREACH}


class _LinkDown:
    """Queue marker: the reader thread saw the link fail."""

    def __init__(self, error: TransportError) -> None:
        self.error = error


class SerialTransport(Transport):
    """A key on a serial port, a pty or a TCP socket (``socket://host:port``)."""

    def __init__(self, url: str, *, baudrate: int = 115200) -> None:
        self.url = url
        self.baudrate = baudrate
        self.description = url
        self._serial: serial.SerialBase | None = None
        self._queue: asyncio.Queue[bytes | _LinkDown] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._down: TransportError | None = None
        self.decoder = FrameDecoder()

    async def open(self) -> None:
        if self._serial is not None:
            return
        try:
            port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=_READ_TIMEOUT, do_not_open=True
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
        self._serial = port
        self._queue = asyncio.Queue()
        self._stop.clear()
        self._down = None
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._read_loop, args=(port, loop), name=f"keybridge-serial {self.url}"
        )
        self._thread.daemon = True  # never keep the interpreter alive for a stuck port
        self._thread.start()
        log.debug("opened %s", self.url)

    async def close(self) -> None:
        port, thread = self._serial, self._thread
        if port is None:
            return
        self._serial = self._thread = None
        self._stop.set()
        cancel = getattr(port, "cancel_read", None)
        if cancel is not None:
            # Best effort: the short read timeout ends the thread's read anyway.
            with contextlib.suppress(Exception):
                cancel()
        if thread is not None:
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
            # A write blocks while the far end does not drain its buffer; keep that off the loop.
            await asyncio.to_thread(port.write, frame)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"lost the link to the key at {self.url}: {exc}") from None

    async def receive(self, timeout: float) -> bytes:
        queue = self._queue
        if self._down is not None and (queue is None or queue.empty()):
            raise self._down
        if self._serial is None or queue is None:
            raise TransportError(f"the link to {self.url} is not open: connect first")
        try:
            item = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            raise LinkTimeoutError(
                f"no message from the key at {self.url} within {timeout:.1f} s"
            ) from None
        if isinstance(item, _LinkDown):
            self._down = item.error
            raise item.error
        return item

    def _read_loop(self, port: serial.SerialBase, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: bytes -> frames -> messages on the loop's queue, until stopped."""
        while not self._stop.is_set():
            try:
                data = port.read(port.in_waiting or 1)
            except Exception as exc:  # any failure of the port ends the link
                if not self._stop.is_set():
                    error = TransportError(
                        f"lost the link to the key at {self.url} ({exc}): check the cable or"
                        " that the simulator is still running, then reconnect"
                    )
                    self._post(loop, _LinkDown(error))
                return
            if not data:
                continue
            dropped = self.decoder.dropped
            for message in self.decoder.feed(data):
                log_traffic("<-", self.url, message)
                self._post(loop, message)
            if self.decoder.dropped != dropped:
                log.debug("dropped a corrupt frame from %s: %s", self.url, self.decoder.last_error)

    def _post(self, loop: asyncio.AbstractEventLoop, item: bytes | _LinkDown) -> None:
        queue = self._queue
        if queue is None:
            return
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._stop.set()


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
