"""An in-process link: a keybridge :class:`~keybridge.transport.base.Transport` that calls the
firmware core directly, for fixtures and fast tests (no pty, no framing, no subprocess).

A timer task polls the core every ``poll_interval`` seconds, so button presses, declines and
timeouts complete a waiting request as they would on a real link. Fault controls drop messages
in either direction to exercise the host's retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from firmware_sim.links.device import Device, tell_connection
from keybridge.errors import LinkTimeoutError, TransportError
from keybridge.transport.base import Transport

__all__ = ["MemoryTransport"]

log = logging.getLogger("firmware_sim.link")


class MemoryTransport(Transport):
    """Messages to and from ``firmware`` in this process."""

    def __init__(
        self, firmware: Device, *, poll_interval: float = 0.05, description: str = "memory://key"
    ) -> None:
        self.firmware = firmware
        self.description = description
        self.poll_interval = poll_interval
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._poller: asyncio.Task[None] | None = None
        self._open = False
        self.drop_requests = 0
        """Fault: this many next requests vanish before the key sees them."""
        self.drop_replies = 0
        """Fault: this many next messages from the key vanish before the host sees them."""

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:
        if self._open:
            return
        self._queue = asyncio.Queue()
        self._open = True
        tell_connection(self.firmware, "made")
        self._poller = asyncio.create_task(self._poll_forever(), name="memory-transport-poll")

    async def close(self) -> None:
        if self._open:
            tell_connection(self.firmware, "lost")
        self._open = False
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def send(self, message: bytes) -> None:
        self._check_open()
        if self.drop_requests > 0:
            self.drop_requests -= 1
            log.info("memory link: dropped a request (fault)")
            return
        self._deliver(self.firmware.handle(message))

    async def receive(self, timeout: float) -> bytes:
        self._check_open()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            raise LinkTimeoutError(
                f"the key at {self.description} did not answer within {timeout:g} s"
            ) from None

    def poke(self) -> None:
        """Poll the core now (after a button event) instead of at the next tick."""
        if self._open:
            self._deliver(self.firmware.poll())

    def _deliver(self, messages: list[bytes]) -> None:
        for message in messages:
            if self.drop_replies > 0:
                self.drop_replies -= 1
                log.info("memory link: dropped a reply (fault)")
                continue
            self._queue.put_nowait(message)

    def _check_open(self) -> None:
        if not self._open:
            raise TransportError(f"the link to {self.description} is closed: open it first")

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            self._deliver(self.firmware.poll())
