"""Request/response over a transport: sequence numbers, retries, keepalives, statuses.

A lost or corrupt frame is dropped silently by the link, so a missing answer is how it shows:
after ``timeout`` seconds the channel sends the *same* request again with the *same* sequence
number. The key recognises a retry of its last request and answers from its cache instead of
running it twice (a retried put never creates two credentials; a retried HOTP calculate never
advances the counter twice). Answers with another sequence number are stale (a late answer to an
earlier try) and are skipped. While the key waits (for its button, say) it sends KEEPALIVE
messages; each one pushes the deadline out by the time the key says it may still take.

With an encrypted session (:attr:`Channel.secure`, set by the session layer after SESSION_OPEN)
every request is sealed, each try under a new counter with the same sequence number, and only
sealed answers are believed: a plaintext answer could come from anyone on the link. The one
plaintext message acted on is the key's ACCESS_DENIED saying it closed the session.

The channel fails closed: without a session only :data:`PLAINTEXT_COMMANDS` (GET_INFO, CANCEL,
the pairing commands and SESSION_OPEN, which carry no secret) may leave this host; any other
request raises :class:`~keybridge.protocol.status.AccessDeniedError` before a byte is written,
so an unpaired host never puts an OTP secret on the link in the clear.

Cancelling: when the awaiting task is cancelled (Ctrl-C, SIGTERM, a caller's timeout) or the
channel's own deadline passes while the key waits (it sent keep-alives), the channel sends
CANCEL, so the key ends the waiting request without running it and is idle at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from keybridge.errors import KeybridgeError, LinkTimeoutError, MessageError
from keybridge.protocol.commands import BODIES, Body, Empty
from keybridge.protocol.constants import (
    UNAUTHENTICATED_COMMANDS,
    Command,
    KeepaliveReason,
    Status,
    Tag,
)
from keybridge.protocol.messages import (
    Fields,
    Keepalive,
    Message,
    Request,
    Response,
    Sealed,
    decode_message,
    encode_message,
)
from keybridge.protocol.secure import SecureChannel
from keybridge.protocol.status import AccessDeniedError, error_for_status
from keybridge.transport.base import Transport

__all__ = ["NOT_PAIRED", "PLAINTEXT_COMMANDS", "Channel", "KeepaliveCallback"]

log = logging.getLogger(__name__)

KeepaliveCallback = Callable[[KeepaliveReason | int, int], None]
"""Called with a keepalive's reason and the milliseconds the key may still wait (0: unknown)."""

_SEQ_MASK = 0xFFFF
_CANCEL_WAIT_S = 1.0
"""How long a CANCEL waits for the key's answer: it is best effort, and the user is leaving."""

PLAINTEXT_COMMANDS: frozenset[int] = UNAUTHENTICATED_COMMANDS
"""The only commands this host sends outside an encrypted session."""

NOT_PAIRED = "this host is not paired with the key: pair this host with `keybridge pair` first"


class Channel:
    """Sends requests to a key over ``transport`` and returns the matching responses.

    ``timeout`` is how long one try waits for an answer; ``retries`` how many tries a request
    gets in all. Requests are serialised: one is in flight at a time. ``plaintext`` is the set
    of commands allowed without a session (tests of the channel's own mechanics widen it).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        timeout: float = 2.0,
        retries: int = 3,
        on_keepalive: KeepaliveCallback | None = None,
        first_seq: int | None = None,
        plaintext: frozenset[int] = PLAINTEXT_COMMANDS,
    ) -> None:
        if timeout <= 0 or retries < 1:
            raise ValueError("timeout must be positive and retries at least 1")
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.on_keepalive = on_keepalive
        # Sequence numbers run 1..0xFFFF: 0 is what a key answers when it cannot parse a header.
        start = first_seq if first_seq is not None else secrets.randbelow(_SEQ_MASK) + 1
        self._seq = (start - 1) % _SEQ_MASK
        self._lock = asyncio.Lock()
        self.secure: SecureChannel | None = None
        """The session's end: when set, requests are sealed and only sealed answers count."""
        self.plaintext = plaintext
        self._waited = False
        """The key sent a keep-alive for the request in flight (it waits for its button)."""

    @property
    def description(self) -> str:
        return self.transport.description

    def _next_seq(self) -> int:
        self._seq = self._seq % _SEQ_MASK + 1
        return self._seq

    async def call(self, command: Command, body: Body | None = None) -> Body:
        """Run ``command`` and return its typed response body (see ``commands.BODIES``).

        Raises the :class:`~keybridge.protocol.status.DeviceError` subclass for a non-OK status,
        :class:`~keybridge.errors.LinkTimeoutError` when every try went unanswered.
        """
        request_type, response_type = BODIES[command]
        if body is None:
            body = request_type()
        elif not isinstance(body, request_type):
            raise TypeError(f"{command.name} takes a {request_type.__name__}, not {body!r}")
        fields = await self.exchange(command, body.to_fields())
        return response_type.from_fields(fields)

    async def exchange(self, command: Command | int, fields: Fields | None = None) -> Fields:
        """Run a command given as raw fields; return the OK response's fields."""
        response = await self.request(command, fields or Empty().to_fields())
        if response.status != Status.OK:
            detail_raw = response.fields.get(Tag.DETAIL)
            detail = detail_raw.decode("utf-8", "replace") if detail_raw else None
            retries = response.fields.get(Tag.PIN_RETRIES)
            attempts = retries[0] if retries is not None and len(retries) == 1 else None
            raise error_for_status(response.status, detail, attempts_remaining=attempts)
        return response.fields

    async def request(self, command: Command | int, fields: Fields) -> Response:
        """Send one request (retrying with the same sequence number) and return its response,
        whatever its status."""
        if self.secure is None and command not in self.plaintext:
            # Fail closed: the request may hold a secret (OTP_PUT), and unsealed it would
            # cross the link in the clear before the key refused it.
            raise AccessDeniedError(Status.ACCESS_DENIED, NOT_PAIRED)
        async with self._lock:
            seq = self._next_seq()
            message = encode_message(Request(seq, command, fields))
            self._waited = sent = False
            try:
                for attempt in range(1, self.retries + 1):
                    if attempt > 1:
                        log.debug("no answer to %s seq %d: try %d", _name(command), seq, attempt)
                    # A retry in a session is sealed again (new counter): the same sealed bytes
                    # would be a replay, and the key would close the session.
                    await self._send(message)
                    sent = True
                    response = await self._await_response(seq)
                    if response is not None:
                        return response
            except asyncio.CancelledError:
                # The key may be waiting for its button (the keep-alive can still be on its
                # way): a request its user gave up on must not run on a later press.
                if sent and command != Command.CANCEL:
                    await self._cancel_on_key(seq)
                raise
            if self._waited:  # the key waited (its button) past our deadline: end the wait
                await self._cancel_on_key(seq)
            raise LinkTimeoutError(
                f"the key did not answer after {self.retries} tries over {self.description}:"
                " check that it is connected (and the simulator running), then try again"
            )

    async def _send(self, message: bytes) -> None:
        secure = self.secure
        await self.transport.send(secure.seal(message) if secure else message)

    async def _cancel_on_key(self, cancelled: int) -> None:
        """Send CANCEL for the waiting request ``cancelled`` and wait briefly for its answer.

        Best effort: a lost CANCEL leaves the key waiting until its button times out (or the
        link closes, which also ends the wait). Called with the lock held."""
        seq = self._next_seq()
        try:
            await self._send(encode_message(Request(seq, Command.CANCEL, Fields())))
            async with asyncio.timeout(_CANCEL_WAIT_S):
                response = await self._await_response(seq, report=False)
        except (KeybridgeError, TimeoutError, asyncio.CancelledError) as exc:
            log.debug("CANCEL of seq %d got no answer: %s", cancelled, exc)
            return
        log.debug("cancelled seq %d on the key: %r", cancelled, response)

    async def _await_response(self, seq: int, *, report: bool = True) -> Response | None:
        """The response to ``seq``, or None when the deadline passes without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (left := deadline - loop.time()) > 0:
            try:
                raw = await self.transport.receive(left)
            except LinkTimeoutError:
                return None
            try:
                message = self._unwrap(decode_message(raw))
            except MessageError as exc:
                log.debug("skipping a malformed message from %s: %s", self.description, exc)
                continue
            if message is None:
                continue
            if isinstance(message, Response) and message.seq == seq:
                return message
            if isinstance(message, Keepalive) and message.seq == seq:
                ms_left = _timeout_ms(message.fields)
                wait = ms_left / 1000 if ms_left is not None else self.timeout
                # The margin covers the key's final answer travelling back after its wait ends.
                deadline = loop.time() + wait + self.timeout
                self._waited = True
                if report and self.on_keepalive is not None:
                    self.on_keepalive(message.reason, ms_left or 0)
                continue
            log.debug("skipping a stale or unexpected message: %r", message)
        return None

    def _unwrap(self, message: Message) -> Message | None:
        """The message to act on: a sealed one opened; None for one to skip."""
        secure = self.secure
        if secure is None:
            return None if isinstance(message, Sealed) else message
        if isinstance(message, Sealed):
            envelope = message.envelope
            if envelope[1:5] != secure.session_id and len(envelope) >= 5:
                # A late answer from an earlier session (after a reconnect): not ours to judge.
                log.debug("skipping a sealed message of another session")
                return None
            # A frame that does not open raises (SecureChannelError): the session is over.
            return decode_message(secure.open(envelope))
        if isinstance(message, Response) and message.status == Status.ACCESS_DENIED:
            detail_raw = message.fields.get(Tag.DETAIL)
            detail = detail_raw.decode("utf-8", "replace") if detail_raw else "no detail"
            secure.close("closed by the key")
            raise AccessDeniedError(
                Status.ACCESS_DENIED,
                "the key closed the encrypted session: connect again (if it keeps happening, "
                "pair this host again with `keybridge pair`)",
                detail,
            )
        log.debug("skipping a plaintext message inside a session: %r", message)
        return None


def _timeout_ms(fields: Fields) -> int | None:
    raw = fields.get(Tag.TIMEOUT_MS)
    if raw is None:
        return None
    if not 1 <= len(raw) <= 8:
        log.debug("ignoring a keepalive TIMEOUT_MS of %d bytes", len(raw))
        return None
    return int.from_bytes(raw, "big")


def _name(command: Command | int) -> str:
    return command.name if isinstance(command, Command) else f"command 0x{command:02x}"
