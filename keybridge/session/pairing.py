"""This host's pairings with a key, composed onto a session: ``key.pairing.pair(confirm)``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from keybridge.protocol.commands import Empty, HandshakeBody, ListHostsResponse, UnpairRequest
from keybridge.protocol.constants import Command
from keybridge.protocol.secure import Pairing, PairingHost, PairingRejectedError

if TYPE_CHECKING:
    from keybridge.session.core import KeySession

__all__ = ["ConfirmCallback", "Pairings"]

ConfirmCallback = Callable[[str], bool | Awaitable[bool]]
"""Shows the 6-digit pairing code; returns whether the user saw the same code on the key."""


class Pairings:
    """Pair this host with the key behind ``session``, list the key's hosts, unpair."""

    def __init__(self, session: KeySession) -> None:
        self.session = session

    async def pair(self, confirm: ConfirmCallback) -> Pairing:
        """Pair this host with the key, store the pairing, and open a session.

        ``confirm(code)`` shows the 6-digit code while the key shows its own and waits for its
        button; it returns (or resolves to) whether the user saw the same code on both. The
        key needs its button pressed within 15 s (keep-alives reach the session's
        ``on_keepalive``).
        """
        session = self.session
        serial = await session.serial()
        session.channel.secure = None
        host = PairingHost(session.config.host_id)
        begin = await session.call(Command.PAIR_BEGIN, HandshakeBody(host.begin()), HandshakeBody)
        payload = host.confirm(begin.payload)
        waiting = asyncio.ensure_future(
            session.call(Command.PAIR_CONFIRM, HandshakeBody(payload), HandshakeBody)
        )
        await asyncio.sleep(0)  # PAIR_CONFIRM goes out: the key shows its code now
        try:
            answer = confirm(host.code)
            matched = bool(await answer) if inspect.isawaitable(answer) else bool(answer)
        except BaseException:
            await _abandon(waiting)
            raise
        if not matched:
            await _abandon(waiting)
            raise PairingRejectedError(
                "pairing cancelled: the codes did not match, so nothing was stored; do not "
                "press the button on the key if it still shows a code, then pair again"
            )
        reply = await waiting
        pairing = host.finish(reply.payload, user_confirmed=True)
        session.config.add(serial, pairing)
        await session.open_session(pairing)
        await session.set_time()
        return pairing

    async def unpair(self, host_id: bytes | None = None) -> None:
        """Remove a host's pairing from the key: this host's (the default) or another's by
        id. Removing this host ends the session and forgets the pairing here too."""
        session = self.session
        await session.call(Command.UNPAIR, UnpairRequest(host_id), Empty)
        if host_id is None or host_id == session.config.host_id:
            session.forget_pairing()

    async def hosts(self) -> list[tuple[bytes, bool]]:
        """The hosts paired with the key: (host id, is it this session's host)."""
        body = await self.session.call(Command.LIST_HOSTS, Empty(), ListHostsResponse)
        return [(entry.host_id, entry.current) for entry in body.hosts]


async def _abandon(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it is over (a cancellation can be lost when the awaited
    answer arrives at the same moment, so it is repeated)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: an error of an abandoned request is not reported
