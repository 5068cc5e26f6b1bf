"""The firmware of the simulated key: one inbound message in, outbound messages out.

The core does no I/O of its own: links feed it message bytes (:meth:`Firmware.handle`) and call
:meth:`Firmware.poll` about every 100 ms; time and user presence come from the injected
:class:`~firmware_sim.firmware.clock.KeyClock` and :class:`~firmware_sim.firmware.button.Button`,
persistence from the :class:`~firmware_sim.firmware.flash.Flash`. Any byte string gets a
well-formed answer; nothing the host sends can make it raise.

Every change is saved to flash before the key answers OK, and the in-memory state is replaced
only after the save succeeded, so a refused or failed request changes nothing.

Security (:mod:`firmware_sim.firmware.security`): outside an encrypted session the key answers only
GET_INFO, CANCEL, the pairing commands and SESSION_OPEN; in a session every request arrives SEALED
and every answer (keep-alives included) leaves sealed. A sealed frame that fails to open closes the
session and is answered with a plaintext ACCESS_DENIED (seq 0): nothing in it is executed. A
session lives as long as its connection (the link calls :meth:`Firmware.connection_made` and
:meth:`Firmware.connection_lost`); a waiting request ends with its session or connection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware_sim.firmware import keyboard_out, otp_store
from firmware_sim.firmware.button import Button, Decision
from firmware_sim.firmware.clock import ClockBackwardsError, KeyClock
from firmware_sim.firmware.dispatch import (
    Handler,
    Refused,
    Wait,
    answer_limit,
    error_response,
    guess_header,
    keeps_session,
    refusal_response,
)
from firmware_sim.firmware.flash import Flash, FlashError
from firmware_sim.firmware.otp_store import U64_MAX
from firmware_sim.firmware.pending import Pending, WaitSlot, keepalive_message
from firmware_sim.firmware.security import KeySecurity
from firmware_sim.firmware.state import Credential, KeyState, new_serial
from keybridge.errors import MessageError
from keybridge.protocol.commands import (
    BODIES,
    Body,
    Empty,
    GetInfoResponse,
    OtpCalculateResponse,
    OtpListRequest,
    OtpNameRequest,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    PingBody,
    SetTimeRequest,
    SetTimeResponse,
)
from keybridge.protocol.constants import (
    CAPACITY,
    PROTOCOL_VERSION,
    UNAUTHENTICATED_COMMANDS,
    Command,
    MessageType,
    Status,
)
from keybridge.protocol.framing import MAX_MESSAGE
from keybridge.protocol.messages import (
    Request,
    decode_message,
    encode_response,
)
from keybridge.protocol.secure.errors import SecureChannelError
from keybridge.protocol.secure.pin import DEFAULT_PIN_ITERATIONS

if TYPE_CHECKING:
    # The channel module imports cryptography: it loads when a session opens, not at start.
    from keybridge.protocol.secure.channel import SecureChannel

__all__ = ["FIRMWARE_VERSION", "KEEPALIVE_INTERVAL_S", "Firmware"]

FIRMWARE_VERSION = "0.1.0-sim"
KEEPALIVE_INTERVAL_S = 1.0

log = logging.getLogger(__name__)


class Firmware:
    """The key: feed it messages with :meth:`handle`, tick it with :meth:`poll`."""

    def __init__(
        self,
        flash: Flash,
        clock: KeyClock,
        button: Button,
        *,
        random: Callable[[int], bytes] = os.urandom,
        pin_iterations: int = DEFAULT_PIN_ITERATIONS,
        on_display: Callable[[str | None], None] | None = None,
    ) -> None:
        self.flash = flash
        self.clock = clock
        self.button = button
        self.security = KeySecurity(
            self, random, pin_iterations=pin_iterations, on_display=on_display
        )
        # A damaged state raises FlashError here: the key never starts empty (or with a new
        # key id, which would end every pairing) over a file it could not read.
        state = flash.load()
        if state is None:
            state = KeyState(serial=new_serial(random), key_id=random(16))
            flash.save(state)
        self._state = state
        self._wait = WaitSlot()
        self._last: tuple[SecureChannel | None, bytes, list[bytes]] | None = None
        self._last_code: otp_store.Computed | None = None
        """The last TOTP code computed: asked again within its step, it is not recomputed."""
        self.handling_sealed = False
        self.keyboard: keyboard_out.KeyboardOut | None = None
        """The key's own keyboard (HID over GATT), when a BLE link gives it one."""
        self._limit = MAX_MESSAGE
        self._handlers: dict[Command, Handler] = {
            Command.GET_INFO: self._get_info,
            Command.PING: self._ping,
            Command.SET_TIME: self._set_time,
            Command.OTP_PUT: self._otp_put,
            Command.OTP_LIST: self._otp_list,
            Command.OTP_DELETE: self._otp_delete,
            Command.OTP_RENAME: self._otp_rename,
            Command.OTP_CALCULATE: self._otp_calculate,
            Command.OTP_TYPE: self._otp_type,
            Command.RESET: self._reset,
            **self.security.handlers(),
        }

    @property
    def serial(self) -> str:
        return self._state.serial

    @property
    def state(self) -> KeyState:
        """What the key holds now (read-only; for tests and the debug link)."""
        return self._state

    @property
    def waiting(self) -> bool:
        """A request is waiting for the button."""
        return self._wait.pending is not None

    @property
    def display(self) -> str | None:
        """What the key's display shows: the pairing code while pairing waits, else None."""
        return self.security.display

    @property
    def in_session(self) -> bool:
        """An encrypted session is open."""
        return self.security.channel is not None

    # -- entry points --------------------------------------------------------------------

    def handle(self, message: bytes) -> list[bytes]:
        """Answer one inbound message; returns the outbound messages (possibly a KEEPALIVE)."""
        try:
            return self._handle(bytes(message))
        except Exception:  # the last line of defence: a bug must not take the key down
            log.exception("internal error handling %s", bytes(message[:64]).hex())
            seq, command = guess_header(message)
            return [error_response(seq, command, Status.INTERNAL_ERROR, "internal error")]

    def poll(self) -> list[bytes]:
        """Settle a request waiting for the button, or send its periodic KEEPALIVE."""
        pending = self._wait.live(self.button)
        if pending is None:
            return []
        try:
            now = self.clock.monotonic()
            decision = self.button.check(now)
            if decision is Decision.PENDING:
                if now - pending.last_keepalive < KEEPALIVE_INTERVAL_S:
                    return []
                pending.last_keepalive = now
                return [keepalive_message(pending, self.button.deadline, now)]
            self._wait.pending = None
            self._limit = answer_limit(pending.channel)
            out = self._settle(pending.seq, pending.command, decision, pending.wait)
        except Exception:
            log.exception("internal error completing a button-gated request")
            self._wait.pending = None
            self.button.cancel()
            detail = "internal error"
            out = [error_response(pending.seq, pending.command, Status.INTERNAL_ERROR, detail)]
        self._last = (pending.channel, pending.raw, out)
        return self.security.seal_answers(pending.channel, out)

    def commit(self, state: KeyState) -> None:
        """Save ``state`` to flash, then adopt it; a failed save changes nothing."""
        try:
            self.flash.save(state)
        except FlashError as exc:
            raise Refused(Status.STORAGE_ERROR, str(exc)) from None
        self._state = state
        self._last_code = None  # drops the old credentials, whose code it may hold

    # -- connections and cancelling ---------------------------------------------------------

    def connection_made(self) -> None:
        """A host connected (the link says so): it starts with no session, as after
        :meth:`connection_lost`."""
        self.connection_lost()

    def connection_lost(self) -> None:
        """The host's connection ended: its session, pairing and waiting request end too."""
        self._wait.abandon(self.button)
        self.security.connection_ended()
        self._last = None

    def _cancel(self, seq: int, channel: SecureChannel | None) -> list[bytes]:
        out, cancelled = self._wait.cancel(seq, channel, self.button)
        if cancelled is not None:  # a retry of the cancelled request gets the same answer
            self._last = (channel, cancelled.raw, out[:1])
        return out

    def forget_last(self) -> None:
        """Drop the idempotent-retry cache (a new session must not see the old answers)."""
        self._last = None

    # -- dispatch ------------------------------------------------------------------------

    def _handle(self, raw: bytes) -> list[bytes]:
        if raw[:1] != _SEALED_TYPE:
            self.handling_sealed = False
            self._limit = MAX_MESSAGE
            out = self._dispatch(raw, None)
            if self.security.channel is not None and not keeps_session(raw, out):
                # A host in a session sends everything sealed: a plaintext message now (but
                # GET_INFO or a handshake) is a tampered frame (its type byte changed) or
                # someone else's, so the session ends.
                self.security.close_session("a plaintext message arrived inside the session")
            return out
        channel = self.security.channel
        if channel is None:
            detail = "no encrypted session: open one with SESSION_OPEN (pair this host first)"
            return [error_response(0, 0, Status.ACCESS_DENIED, detail)]
        if len(raw) > MAX_MESSAGE:
            # The whole envelope must fit the limit: refused unopened, as a frame that fails.
            self.security.close_session("an oversized sealed frame arrived")
            detail = f"sealed message of {len(raw)} bytes exceeds the {MAX_MESSAGE}-byte limit"
            return [error_response(0, 0, Status.BAD_MESSAGE, detail)]
        try:
            plain = channel.open(raw)
        except SecureChannelError as exc:
            # Nothing of a frame that does not open is executed, and the session ends.
            self.security.close_session(str(exc))
            return [error_response(0, 0, Status.ACCESS_DENIED, f"sealed frame rejected: {exc}")]
        if channel.frames_left == 0:  # no counter left for the answer: run nothing
            return self.security.end_exhausted_session()
        if self.security.pending_commit is not None:  # the host proved its new pairing
            self.security.commit_pairing()
        self.handling_sealed = True
        self._limit = answer_limit(channel)
        try:
            out = self._dispatch(plain, channel)
        except Exception:  # as in handle(), but the answer goes back sealed
            log.exception("internal error handling a sealed %s", plain[:64].hex())
            seq, command = guess_header(plain)
            out = [error_response(seq, command, Status.INTERNAL_ERROR, "internal error")]
        finally:
            self.handling_sealed = False
        return self.security.seal_answers(channel, out)

    def _dispatch(self, raw: bytes, channel: SecureChannel | None) -> list[bytes]:
        if len(raw) > MAX_MESSAGE:
            detail = f"message of {len(raw)} bytes exceeds the {MAX_MESSAGE}-byte limit"
            return [error_response(*guess_header(raw), Status.BAD_MESSAGE, detail)]
        try:
            message = decode_message(raw)
        except MessageError as exc:
            return [error_response(*guess_header(raw), Status.BAD_MESSAGE, str(exc))]
        if not isinstance(message, Request):
            detail = (
                "a sealed frame cannot be nested in another"
                if raw[0] == MessageType.SEALED
                else "the key accepts only REQUEST messages"
            )
            return [error_response(0, 0, Status.BAD_MESSAGE, detail)]

        if message.command is Command.GET_INFO:
            # Answered in any state, waiting included, and never cached: a GET_INFO from
            # another host must not replace this session's idempotent-retry answer.
            return self._execute(message, raw, channel)
        if message.command is Command.CANCEL:
            return self._cancel(message.seq, channel)
        pending = self._wait.live(self.button)
        if pending is not None:
            if raw == pending.raw and channel is pending.channel:
                return [keepalive_message(pending, self.button.deadline, self.clock.monotonic())]
            detail = "another request is waiting for the button"
            return [error_response(message.seq, message.command, Status.BUSY, detail)]
        last = self._last
        if last is not None and last[0] is channel and last[1] == raw:
            # An idempotent retry (re-sealed under a new counter when in a session): answer
            # again, do not execute.
            return list(last[2])

        out = self._execute(message, raw, channel)
        if self._wait.pending is None:
            self._last = (channel, raw, out)
        return out

    def _execute(self, request: Request, raw: bytes, channel: SecureChannel | None) -> list[bytes]:
        seq, command = request.seq, request.command
        if not isinstance(command, Command) or command not in self._handlers:
            detail = f"command 0x{int(command):02x} is not supported by this key"
            return [error_response(seq, command, Status.UNKNOWN_COMMAND, detail)]
        if channel is None and command not in UNAUTHENTICATED_COMMANDS:
            detail = (
                f"{command.name} needs an encrypted session: pair this host, then open a "
                "session (SESSION_OPEN) and send it sealed"
            )
            return [error_response(seq, command, Status.ACCESS_DENIED, detail)]
        request_type = BODIES[command][0]
        try:
            body = request_type.from_fields(request.fields)
        except MessageError as exc:
            return [error_response(seq, command, Status.BAD_PARAMETER, str(exc))]
        try:
            self.security.check_access(command, channel is not None)
            result = self._handlers[command](body)
        except Refused as refused:
            return [refusal_response(seq, command, refused)]
        if not isinstance(result, Wait):
            return [self._ok(seq, command, result)]

        now = self.clock.monotonic()
        decision = self.button.request(now)
        if decision is not Decision.PENDING:
            return self._settle(seq, command, decision, result)
        pending = Pending(raw, seq, command, result, last_keepalive=now, channel=channel)
        self._wait.pending = pending
        return [keepalive_message(pending, self.button.deadline, now)]

    def _settle(self, seq: int, command: int, decision: Decision, wait: Wait) -> list[bytes]:
        if decision is not Decision.APPROVED and wait.refuse is not None:
            wait.refuse()
        if decision is Decision.DENIED:
            return [error_response(seq, command, Status.BUTTON_DENIED, "declined on the key")]
        if decision is not Decision.APPROVED:
            return [
                error_response(seq, command, Status.BUTTON_TIMEOUT, "the button was not pressed")
            ]
        try:
            return [self._ok(seq, command, wait.action())]
        except Refused as refused:
            return [refusal_response(seq, command, refused)]

    def _ok(self, seq: int, command: int, body: Body) -> bytes:
        out = encode_response(seq, command, _OK, body.to_bytes())
        if len(out) > self._limit:
            detail = f"the answer would exceed the {MAX_MESSAGE}-byte message limit"
            return error_response(seq, command, Status.BAD_PARAMETER, detail)
        return out

    # -- commands ------------------------------------------------------------------------

    def _get_info(self, body: Body) -> Body:
        # Imported here, not at start: the layout tables cost more than the rest of GET_INFO.
        from keybridge.keyboard.layouts import LAYOUT_IDS

        now = self.clock.now()
        pin = self._state.pin
        return GetInfoResponse(
            serial=self._state.serial,
            firmware_version=FIRMWARE_VERSION,
            protocol_version=PROTOCOL_VERSION,
            capacity=CAPACITY,
            used=len(self._state.credentials),
            clock_set=now is not None,
            max_message=MAX_MESSAGE,
            layouts=",".join(LAYOUT_IDS),
            time=None if now is None else _u64(now),
            paired_hosts=len(self._state.hosts),
            pin_set=pin is not None,
            pin_retries=None if pin is None else pin.retries_left,
        )

    def _ping(self, body: Body) -> Body:
        assert isinstance(body, PingBody)
        return PingBody(payload=body.payload)

    def _set_time(self, body: Body) -> Body:
        assert isinstance(body, SetTimeRequest)
        try:
            effective = self.clock.set(body.time, body.force)
        except ClockBackwardsError as exc:
            raise Refused(Status.CLOCK_BACKWARDS, str(exc)) from None
        return SetTimeResponse(time=_u64(effective))

    def _otp_put(self, body: Body) -> Body:
        assert isinstance(body, OtpPutRequest)
        self.commit(otp_store.put(self._state, body))
        return Empty()

    def _otp_list(self, body: Body) -> Body:
        assert isinstance(body, OtpListRequest)
        return otp_store.list_page(self._state, body.start)

    def _otp_delete(self, body: Body) -> Body:
        assert isinstance(body, OtpNameRequest)
        self.commit(otp_store.delete(self._state, body.name))
        return Empty()

    def _otp_rename(self, body: Body) -> Body:
        assert isinstance(body, OtpRenameRequest)
        state = otp_store.rename(self._state, body.name, body.new_name)
        if state is not self._state:
            self.commit(state)
        return Empty()

    def _otp_calculate(self, body: Body) -> Body | Wait:
        assert isinstance(body, OtpNameRequest)
        index, credential = otp_store.lookup(self._state, body.name)
        if not credential.require_button:
            code = self._code_of(index, credential)
            return OtpCalculateResponse(code.code, code.valid_until, code.counter)
        otp_store.check_computable(credential, self.clock.now())

        def calculate() -> Body:
            code = self.code(body.name)
            return OtpCalculateResponse(code.code, code.valid_until, code.counter)

        return Wait(calculate)

    def _otp_type(self, body: Body) -> Body | Wait:
        assert isinstance(body, OtpTypeRequest)
        return keyboard_out.otp_type(self._state, body, self.clock.now(), self.code, self.keyboard)

    def clock_now(self) -> float | None:
        """The key's time (None until a host set it)."""
        return self.clock.now()

    def code(self, name: str) -> otp_store.Computed:
        """Compute the code; an HOTP counter is advanced and saved before anyone sees it."""
        index, credential = otp_store.lookup(self._state, name)
        return self._code_of(index, credential)

    def _code_of(self, index: int, credential: Credential) -> otp_store.Computed:
        code = otp_store.compute_code(credential, self.clock.now(), self._last_code)
        if code.advanced is not None:
            self.commit(self._state.replace_at(index, code.advanced))
        else:
            self._last_code = code
        return code

    def _reset(self, body: Body) -> Wait:
        def reset() -> Body:
            # A factory reset forgets the credentials, the PIN and every paired host, and
            # takes a new key id: hosts must pair again.
            self.commit(self.security.wiped())
            self.clock.clear()
            self.security.drop_after_reply = True
            return Empty()

        return Wait(reset)


def _u64(value: float) -> int:
    return min(max(0, int(value)), U64_MAX)


_SEALED_TYPE = bytes([MessageType.SEALED])
_OK = Status.OK  # a module global: reading an enum member is slow on Python 3.11
