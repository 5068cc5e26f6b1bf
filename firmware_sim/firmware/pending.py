"""The request a key holds while it waits for its button, and the messages it sends about it.

One request at a time may wait (``docs/protocol.md`` section 3.3). While it waits the key sends
KEEPALIVEs; it ends with the button's decision, a CANCEL from its sender, the end of its
session, or the end of the connection it came on. A request that ends without a press runs
nothing (its ``Wait.refuse`` undoes what was set up for it, such as the pairing code shown).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firmware_sim.firmware.dispatch import Wait, error_response
from keybridge.protocol.constants import Command, KeepaliveReason, Status, Tag
from keybridge.protocol.messages import Fields, Keepalive, encode_message, encode_response

if TYPE_CHECKING:
    from firmware_sim.firmware.button import Button
    from keybridge.protocol.secure.channel import SecureChannel

__all__ = ["Pending", "WaitSlot", "keepalive_message"]

log = logging.getLogger("firmware_sim.firmware.core")


@dataclass
class Pending:
    """The request that waits for the button, and when its last KEEPALIVE went out."""

    raw: bytes
    seq: int
    command: int
    wait: Wait
    last_keepalive: float
    channel: SecureChannel | None
    """The session it came in (None: plaintext); only that session may cancel it."""

    @property
    def orphaned(self) -> bool:
        """Its session is over: nobody can receive its answer, so it must not run."""
        return self.channel is not None and self.channel.closed

    def abandon(self) -> None:
        """Undo what was set up for the request (it will never run)."""
        if self.wait.refuse is not None:
            self.wait.refuse()


def keepalive_message(pending: Pending, deadline: float | None, now: float) -> bytes:
    """KEEPALIVE WAITING_FOR_BUTTON for ``pending``, with the milliseconds left."""
    left_ms = 0 if deadline is None else max(0, int((deadline - now) * 1000))
    fields = Fields.of([(Tag.TIMEOUT_MS, min(left_ms, 0xFFFFFFFF).to_bytes(4, "big"))])
    return encode_message(Keepalive(pending.seq, KeepaliveReason.WAITING_FOR_BUTTON, fields))


class WaitSlot:
    """The one request that may wait for the button (:attr:`pending`), and how it ends
    without a press."""

    def __init__(self) -> None:
        self.pending: Pending | None = None

    def live(self, button: Button) -> Pending | None:
        """The waiting request, after abandoning one whose session is over."""
        pending = self.pending
        if pending is not None and pending.orphaned:
            self.abandon(button)
            return None
        return pending

    def abandon(self, button: Button) -> Pending | None:
        """Stop waiting without running the request; a later press does nothing."""
        pending, self.pending = self.pending, None
        if pending is not None:
            button.cancel()
            pending.abandon()
            log.info("abandoned a waiting %s", _name(pending.command))
        return pending

    def cancel(
        self, seq: int, channel: SecureChannel | None, button: Button
    ) -> tuple[list[bytes], Pending | None]:
        """CANCEL ``seq`` from ``channel`` (None: plaintext): the answers (the cancelled
        request's CANCELLED, then the CANCEL's OK) and the request cancelled, if any.

        Only the session that sent the waiting request may cancel it (a plaintext one: any
        plaintext CANCEL, which the link restricts to the connection it came on, since a
        connection's end abandons its request); another gets BUSY and cancels nothing.
        """
        pending = self.live(button)
        if pending is None:
            return [encode_response(seq, Command.CANCEL, Status.OK, b"")], None
        if pending.channel is not channel:
            detail = "the waiting request was sent in another session: only it may cancel it"
            return [error_response(seq, Command.CANCEL, Status.BUSY, detail)], None
        self.abandon(button)
        detail = "cancelled by the host before the button was pressed: nothing was done"
        cancelled = error_response(pending.seq, pending.command, Status.CANCELLED, detail)
        return [cancelled, encode_response(seq, Command.CANCEL, Status.OK, b"")], pending


def _name(command: int) -> str:
    return command.name if isinstance(command, Command) else f"command 0x{command:02x}"
