"""What the core's command handlers share: their answers and the key they work on.

A handler takes a request body and returns the response body, a :class:`Wait` (ask the button
first) or raises :class:`Refused` (a non-OK status, encoded by :func:`refusal_response`). The
core (:mod:`firmware_sim.firmware.core`) routes commands to handlers, its own and those of
:mod:`firmware_sim.firmware.security`; the security part sees the core only as a
:class:`KeyCore`, so neither module imports the other's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from keybridge.protocol.constants import Command, MessageType, Status, Tag
from keybridge.protocol.framing import MAX_MESSAGE
from keybridge.protocol.messages import Fields, Response, encode_message

if TYPE_CHECKING:
    from firmware_sim.firmware.clock import KeyClock
    from firmware_sim.firmware.state import KeyState
    from keybridge.protocol.commands import Body
    from keybridge.protocol.secure.channel import SecureChannel

__all__ = [
    "Action",
    "Handler",
    "KeyCore",
    "Refused",
    "Wait",
    "answer_limit",
    "error_response",
    "guess_header",
    "keeps_session",
    "refusal_response",
]

Action = Callable[[], "Body"]
"""Work that runs once the button is pressed, returning the response body."""


class Refused(Exception):
    """A request the key answers with a non-OK ``status``, a DETAIL text and any ``fields``."""

    def __init__(self, status: Status, detail: str, fields: Fields | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.fields = fields or Fields()


@dataclass
class Wait:
    """A handler's answer "ask the button, then run ``action``" (``refuse`` if it is not
    pressed)."""

    action: Action
    refuse: Callable[[], None] | None = None


Handler = Callable[["Body"], "Body | Wait"]
"""One command's handler: a request body in, a response body or a :class:`Wait` out."""


class KeyCore(Protocol):
    """The core as its security part uses it: the state, the clock and the commit."""

    @property
    def state(self) -> KeyState: ...

    @property
    def clock(self) -> KeyClock: ...

    @property
    def handling_sealed(self) -> bool:
        """The request being handled came in a session (sealed)."""
        ...

    def commit(self, state: KeyState) -> None:
        """Save ``state`` to flash, then adopt it; a failed save changes nothing."""
        ...

    def forget_last(self) -> None:
        """Drop the idempotent-retry cache."""
        ...


def error_response(seq: int, command: int, status: Status, detail: str | None = None) -> bytes:
    """A RESPONSE message with a non-OK ``status`` and an optional DETAIL text."""
    fields = Fields() if detail is None else Fields.of([(Tag.DETAIL, clip_detail(detail))])
    return encode_message(Response(seq, command, status, fields))


def refusal_response(seq: int, command: int, refused: Refused) -> bytes:
    """The RESPONSE message answering a request a handler refused."""
    fields = Fields.of([(Tag.DETAIL, clip_detail(refused.detail)), *refused.fields])
    return encode_message(Response(seq, command, refused.status, fields))


def guess_header(raw: bytes) -> tuple[int, int]:
    """Sequence number and command of a REQUEST header, even if the rest is malformed."""
    if len(raw) >= 4 and raw[0] == MessageType.REQUEST:
        return int.from_bytes(raw[1:3], "big"), raw[3]
    return 0, 0


_KEEPS_SESSION = frozenset(
    {Command.GET_INFO, Command.PAIR_BEGIN, Command.PAIR_CONFIRM, Command.SESSION_OPEN}
)


def keeps_session(raw: bytes, out: list[bytes]) -> bool:
    """The plaintext request ``raw`` was a GET_INFO, pairing or session-open the key accepted
    (``out`` is its answer): the plaintext a key in a session answers without ending it.

    GET_INFO is what any host sends first on a shared port (a pty, a TCP proxy): it changes
    nothing and reveals nothing the session protects, so another host's GET_INFO must not end
    this one's session.
    """
    if len(raw) < 4 or raw[0] != MessageType.REQUEST or raw[3] not in _KEEPS_SESSION or not out:
        return False
    first = out[0]
    return first[0] == MessageType.KEEPALIVE or (len(first) >= 5 and first[4] == Status.OK)


def answer_limit(channel: SecureChannel | None) -> int:
    """Largest plaintext answer: in a session the envelope must fit the message limit too."""
    global _SEALED_LIMIT
    if channel is None:
        return MAX_MESSAGE
    if _SEALED_LIMIT is None:  # an import statement per frame costs more than the rest of this
        # The channel module imports cryptography: it loads when a session opens, not at start.
        from keybridge.protocol.secure.channel import ENVELOPE_OVERHEAD

        _SEALED_LIMIT = MAX_MESSAGE - ENVELOPE_OVERHEAD
    return _SEALED_LIMIT


_SEALED_LIMIT: int | None = None


def clip_detail(detail: str, limit: int = 512) -> bytes:
    """A DETAIL value of at most ``limit`` bytes, cut on a character boundary."""
    data = detail.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")
