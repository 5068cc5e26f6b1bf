"""The agent's connection to the key: opened once, checked before use, reopened with backoff.

A link idle for a while is pinged before a request uses it, so a key that went away while idle
(a simulator restart, a BLE key out of range) is reconnected before the request goes out rather
than failing it. A link that fails during a request fails that request (it may have reached the
key: it is never sent twice) and is reopened for the next one. While no key answers, a
background task retries with exponential backoff, so the next request usually finds the link
ready.

A key that no longer knows this host (unpaired, reset) still gets a link, without encryption,
so ``pair`` works through the agent; requests that need the encrypted session get the error
the key gave, as a direct connection would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from keybridge.errors import KeybridgeError, TransportError
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport import Transport, open_transport

__all__ = ["Backoff", "KeyLink"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: ``first``, doubling up to ``most`` seconds."""

    first: float = 0.2
    most: float = 10.0

    def after(self, delay: float) -> float:
        """The delay that follows ``delay`` (0: the first attempt failed)."""
        return min(max(delay * 2, self.first), self.most)


class KeyLink:
    """One key at ``url``, kept connected; :meth:`session` is the connected session."""

    IDLE_CHECK = 1.0
    """Seconds without traffic after which the link is pinged before use."""

    def __init__(
        self, url: str, options: ConnectOptions | None = None, *, backoff: Backoff | None = None
    ) -> None:
        self.url = url
        self.options = options or ConnectOptions()
        self.backoff = backoff or Backoff()
        self._transport: Transport | None = None
        self._session: KeySession | None = None
        self.session_error: KeybridgeError | None = None
        """Why the encrypted session could not be opened on the current link (None: it was,
        or this host is not paired)."""
        self._last_used = 0.0
        self._wake = asyncio.Event()
        self.lock = asyncio.Lock()
        """Held for each use of the session: one request at a time reaches the key."""

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def current(self) -> KeySession | None:
        """The session on the open link, if any (not checked: see :meth:`session`)."""
        return self._session

    async def session(self) -> KeySession:
        """The connected session: the current one if it still answers, else a new one (call
        with :attr:`lock` held)."""
        session = self._session
        if session is not None and time.monotonic() - self._last_used > self.IDLE_CHECK:
            try:
                await session.ping()
            except KeybridgeError as exc:
                log.info("the key at %s went away while idle (%s): reconnecting", self.url, exc)
                await self.drop()
                session = None
        if session is None:
            session = await self._connect()
        self.touch()
        return session

    def touch(self) -> None:
        """The link just carried traffic."""
        self._last_used = time.monotonic()

    async def _connect(self) -> KeySession:
        transport = open_transport(self.url)
        await transport.open()
        try:
            try:
                session = await KeySession.attach(transport, self.options)
                self.session_error = None
            except TransportError:
                raise
            except KeybridgeError as exc:
                # The key does not take this host's pairing: keep an unencrypted link (pairing
                # works over it); requests needing the session get this error.
                log.warning("%s", exc)
                unencrypted = ConnectOptions(
                    timeout=self.options.timeout,
                    retries=self.options.retries,
                    config=self.options.config,
                    secure=False,
                )
                session = await KeySession.attach(transport, unencrypted)
                self.session_error = exc
        except BaseException:
            await transport.close()
            raise
        self._transport, self._session = transport, session
        log.info("connected to %s (%s)", self.url, session.key_info and session.key_info.serial)
        return session

    async def drop(self) -> None:
        """Close the link (the next :meth:`session` reconnects)."""
        transport, self._transport, self._session = self._transport, None, None
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()
        self._wake.set()

    async def keep_connected(self) -> None:
        """Run until cancelled: reconnect with backoff whenever the link is down."""
        delay = 0.0
        while True:
            if self._session is not None:
                delay = 0.0
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(delay)
            async with self.lock:
                if self._session is None:
                    try:
                        await self._connect()
                    except KeybridgeError as exc:
                        log.debug("reconnecting to %s: %s", self.url, exc)
            delay = self.backoff.after(delay)
