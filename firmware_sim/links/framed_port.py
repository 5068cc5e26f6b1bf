"""The serving loop shared by every byte-stream link: frames in, firmware, frames out.

A :class:`FramedPort` joins one device (anything with ``handle(bytes) -> list[bytes]`` and
``poll() -> list[bytes]``, such as :class:`firmware_sim.firmware.core.Firmware`) to one byte
stream. It decodes frames with :class:`~keybridge.protocol.framing.FrameDecoder` (corrupt frames are
dropped and logged; the host retries), hands each message to the device, frames the replies and
polls the device: every 50 ms while a request waits (for the button), once a second otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from firmware_sim.links.device import FAST_POLL_S, IDLE_POLL_S, Device, tell_connection
from firmware_sim.links.reactor import Reactor, Timer
from keybridge.errors import KeybridgeError
from keybridge.protocol.constants import MessageType
from keybridge.protocol.framing import FrameDecoder, encode_frame

__all__ = ["FramedPort"]

log = logging.getLogger("firmware_sim.link")

_KEEPALIVE = bytes([MessageType.KEEPALIVE])
_RESPONSE = bytes([MessageType.RESPONSE])


class FramedPort:
    """Serves one device over one byte stream; the link calls :meth:`connect` and :meth:`feed`."""

    def __init__(self, device: Device, reactor: Reactor, *, name: str = "key") -> None:
        self.device = device
        self.name = name
        self._reactor = reactor
        self._decoder = FrameDecoder()
        self._write: Callable[[bytes], None] | None = None
        self._waiting = False
        self._timer: Timer | None = None
        self.frames_in = 0
        self.frames_out = 0
        self._schedule(IDLE_POLL_S)

    @property
    def dropped(self) -> int:
        """Corrupt frames dropped on the current connection."""
        return self._decoder.dropped

    def connect(self, write: Callable[[bytes], None]) -> None:
        """A host attached: replies go to ``write``, framing starts afresh and the device
        learns that a new connection began (it starts with no session)."""
        self._write = write
        self._decoder = FrameDecoder()
        tell_connection(self.device, "made")

    def disconnect(self) -> None:
        """The host left: replies are dropped until the next :meth:`connect`, and the device
        ends what belonged to the connection (its session, a request waiting for the button)."""
        self._write = None
        tell_connection(self.device, "lost")

    def feed(self, data: bytes) -> None:
        """Bytes from the host."""
        decoder = self._decoder
        dropped = decoder.dropped
        messages = decoder.feed(data)
        if decoder.dropped != dropped:
            log.info("%s: dropped a corrupt frame: %s", self.name, decoder.last_error)
        debug = log.isEnabledFor(logging.DEBUG)
        for message in messages:
            self.frames_in += 1
            if debug:
                log.debug("%s: <- %s", self.name, message.hex(" "))
            try:
                replies = self.device.handle(message)
            except (KeybridgeError, OSError):
                # The core answers bad input itself; this is a failure of the simulator (a state
                # file that cannot be written, say). Keep serving: the host sees a timeout.
                log.exception("%s: the firmware failed on a request", self.name)
                continue
            self._emit(replies)

    def poke(self) -> None:
        """Poll now (after a button event)."""
        self._poll()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write = None

    def _poll(self) -> None:
        try:
            replies = self.device.poll()
        except (KeybridgeError, OSError):
            log.exception("%s: the firmware failed while polling", self.name)
            replies = []
        self._emit(replies)
        self._schedule(FAST_POLL_S if self._waiting else IDLE_POLL_S)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._reactor.call_later(delay, self._poll)

    def _emit(self, replies: list[bytes]) -> None:
        was_waiting = self._waiting
        debug = bool(replies) and log.isEnabledFor(logging.DEBUG)
        for reply in replies:
            kind = reply[:1]
            if kind == _KEEPALIVE:
                self._waiting = True
            elif kind == _RESPONSE:
                self._waiting = False
            if debug:
                log.debug("%s: -> %s", self.name, reply.hex(" "))
            try:
                frame = encode_frame(reply)
            except KeybridgeError:
                log.exception("%s: the firmware produced an unframeable reply", self.name)
                continue
            if self._write is None:
                log.debug("%s: no host attached; dropped a %d-byte reply", self.name, len(reply))
                continue
            self.frames_out += 1
            self._write(frame)
        # The core says whether it waits (Firmware.waiting); other devices are judged by what
        # they sent: a KEEPALIVE opens a wait, a RESPONSE ends it.
        waiting = getattr(self.device, "waiting", None)
        if isinstance(waiting, bool):
            self._waiting = waiting
        if self._waiting and not was_waiting:
            self._schedule(FAST_POLL_S)
