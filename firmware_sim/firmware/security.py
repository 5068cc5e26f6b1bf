"""The key's security commands: pairing, sessions, unpairing and the PIN.

The cryptography is :mod:`keybridge.protocol.secure`; this module keeps the key's side of it:
which pairing attempt is running, which session is open (and for which host), whether the PIN
was verified in it, and the commands that change pairings and the PIN. The core
(:mod:`firmware_sim.firmware.core`) routes commands here and seals and opens frames with
:attr:`KeySecurity.channel`.

Rules (``docs/security.md``): without a session only GET_INFO, PAIR_BEGIN, PAIR_CONFIRM and
SESSION_OPEN are answered; pairing needs a button press; with a PIN set, each session verifies
it before any OTP command; the PIN retry counter is decremented and saved before the
comparison, and the last wrong PIN erases every credential and pairing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware_sim.firmware.dispatch import Handler, KeyCore, Refused, Wait, error_response
from firmware_sim.firmware.state import KeyState, PairedHost, PinRecord
from keybridge.protocol.commands import (
    Body,
    Empty,
    HandshakeBody,
    HostEntry,
    ListHostsResponse,
    PinChangeRequest,
    PinRequest,
    PinSetRequest,
    SessionOpenRequest,
    UnpairRequest,
)
from keybridge.protocol.constants import (
    MAX_PAIRED_HOSTS,
    PAIRING_ID_LENGTH,
    PIN_RETRIES_MAX,
    PIN_RETRIES_MIN,
    Command,
    Status,
    Tag,
)
from keybridge.protocol.messages import Fields
from keybridge.protocol.secure.errors import (
    ChannelClosedError,
    HandshakeError,
    PinFormatError,
    UnknownHostError,
)
from keybridge.protocol.secure.pin import (
    DEFAULT_PIN_ITERATIONS,
    check_pin_format,
    hash_pin,
    verify_pin,
)

if TYPE_CHECKING:
    # Pairing and sessions import cryptography: they load when a host first pairs or opens a
    # session, not at start (the simulator's cold start has a budget).
    from keybridge.protocol.secure.channel import SecureChannel
    from keybridge.protocol.secure.pairing import PairingKey

__all__ = ["OTP_COMMANDS", "KeySecurity"]

log = logging.getLogger("firmware_sim.firmware.security")

OTP_COMMANDS = frozenset(
    {
        Command.OTP_PUT,
        Command.OTP_LIST,
        Command.OTP_DELETE,
        Command.OTP_RENAME,
        Command.OTP_CALCULATE,
        Command.OTP_TYPE,
    }
)
"""Commands that need the PIN (when one is set) to have been verified in the session."""


class KeySecurity:
    """Pairing, session and PIN state of one key; commands come in through the core."""

    def __init__(
        self,
        firmware: KeyCore,
        random: Callable[[int], bytes],
        *,
        pin_iterations: int = DEFAULT_PIN_ITERATIONS,
        on_display: Callable[[str | None], None] | None = None,
    ) -> None:
        self._fw = firmware
        self._random = random
        self.pin_iterations = pin_iterations
        self.on_display = on_display
        self.display: str | None = None
        """What the key's display shows (the pairing code while it waits for the button)."""
        self.channel: SecureChannel | None = None
        self.host_id: bytes | None = None
        self.pin_verified = False
        self.drop_after_reply = False
        """The current session ends once its reply is sealed (its host was removed)."""
        self.pending_commit: bytes | None = None
        """The session's host opened it under its new (pending) pairing: the first frame that
        opens commits that pairing (:meth:`commit_pairing`)."""
        self._pairing: PairingKey | None = None

    # -- session ---------------------------------------------------------------------------

    def close_session(self, reason: str) -> None:
        if self.channel is not None:
            log.info("session closed: %s", reason)
            self.channel.close(reason)
        self.channel = None
        self.host_id = None
        self.pin_verified = False
        self.drop_after_reply = False
        self.pending_commit = None

    def connection_ended(self) -> None:
        """The link's connection ended (or a new one began): no session or pairing attempt
        outlives it."""
        self.close_session("its connection ended")
        if self._pairing is not None:
            self._pairing.reject()
            self._pairing = None
        if self.display is not None:
            self._show(None)

    def seal_answers(self, channel: SecureChannel | None, out: list[bytes]) -> list[bytes]:
        """Seal answers to a sealed request; an answer for a session now gone is dropped."""
        if channel is None:
            return out
        if channel.closed:
            return []
        try:
            sealed = [channel.seal(message) for message in out]
        except ChannelClosedError:  # the counter ran out mid-answer (keep-alives)
            return self.end_exhausted_session()
        if self.drop_after_reply and channel is self.channel:
            self.close_session("its host is no longer paired")
        return sealed

    def end_exhausted_session(self) -> list[bytes]:
        """The session's counter ran out: close it, and say so in plaintext."""
        self.close_session("its frame counter is exhausted")
        detail = "the session's frame counter is exhausted: open a new session"
        return [error_response(0, 0, Status.ACCESS_DENIED, detail)]

    def commit_pairing(self) -> None:
        """The session opened under this host's new pairing authenticated: the host has
        stored it, so it replaces the old one (a failed save keeps both, to try again)."""
        host_id, self.pending_commit = self.pending_commit, None
        state = self._fw.state
        host = None if host_id is None else state.host(host_id)
        if host is None or host.pending_key is None:
            return
        committed = PairedHost(host.host_id, host.pending_key)
        hosts = tuple(committed if h is host else h for h in state.hosts)
        try:
            self._fw.commit(dataclasses.replace(state, hosts=hosts))
        except Refused as exc:
            log.warning(
                "could not commit the new pairing of host %s: %s", host.host_id.hex()[:8], exc
            )
            return
        log.info("host %s now uses its new pairing", host.host_id.hex()[:8])

    def check_access(self, command: int, sealed: bool) -> None:
        """Refuse a command the current state does not allow (before any other check)."""
        state = self._fw.state
        if sealed and command in OTP_COMMANDS and state.pin is not None and not self.pin_verified:
            raise Refused(
                Status.PIN_REQUIRED,
                "a PIN protects this key: send PIN_VERIFY in this session first",
                _retries(state.pin.retries_left),
            )

    def handlers(self) -> dict[Command, Handler]:
        return {
            Command.PAIR_BEGIN: self._pair_begin,
            Command.PAIR_CONFIRM: self._pair_confirm,
            Command.SESSION_OPEN: self._session_open,
            Command.UNPAIR: self._unpair,
            Command.LIST_HOSTS: self._list_hosts,
            Command.PIN_SET: self._pin_set,
            Command.PIN_VERIFY: self._pin_verify,
            Command.PIN_CHANGE: self._pin_change,
        }

    def new_key_id(self) -> bytes:
        return self._random(16)

    def wiped(self) -> KeyState:
        """The state after a reset or the last wrong PIN: serial kept, everything else new."""
        return KeyState(serial=self._fw.state.serial, key_id=self.new_key_id())

    # -- pairing ---------------------------------------------------------------------------

    def _show(self, text: str | None) -> None:
        self.display = text
        if text is not None:
            log.info("key display: %s", text)
        if self.on_display is not None:
            self.on_display(text)

    def _pair_begin(self, body: Body) -> Body:
        from keybridge.protocol.secure.pairing import PairingKey

        assert isinstance(body, HandshakeBody)
        self._pairing = None
        self._show(None)
        attempt = PairingKey(
            self._fw.state.key_id, private_key=self._random(32), nonce=self._random(16)
        )
        try:
            reply = attempt.begin(body.payload)
        except HandshakeError as exc:
            raise Refused(Status.BAD_PARAMETER, str(exc)) from None
        self._pairing = attempt
        return HandshakeBody(reply)

    def _pair_confirm(self, body: Body) -> Wait:
        assert isinstance(body, HandshakeBody)
        attempt, self._pairing = self._pairing, None
        if attempt is None:
            raise Refused(
                Status.BAD_PARAMETER, "no pairing in progress: start again with PAIR_BEGIN"
            )
        try:
            code = attempt.confirm(body.payload)
        except HandshakeError as exc:
            raise Refused(Status.BAD_PARAMETER, str(exc)) from None
        state = self._fw.state
        if state.host(attempt.host_id) is None and len(state.hosts) >= MAX_PAIRED_HOSTS:
            attempt.reject()
            raise Refused(
                Status.STORAGE_FULL,
                f"the key holds the most pairings it can ({MAX_PAIRED_HOSTS}): unpair a host first",
            )
        self._show(f"pairing code {code}: press the button if the host shows the same")

        def accept() -> Body:
            reply = attempt.accept()
            pairing = attempt.pairing
            current = self._fw.state
            old = current.host(pairing.host_id)
            if old is None:
                hosts = (*current.hosts, PairedHost(pairing.host_id, pairing.pairing_key))
            else:
                # The old pairing stays until the host proves it stored the new one (the
                # first session under it): a host that failed to save keeps working.
                new = dataclasses.replace(old, pending_key=pairing.pairing_key)
                hosts = tuple(new if h is old else h for h in current.hosts)
            self._fw.commit(dataclasses.replace(current, hosts=hosts))
            self._show(None)
            log.info("paired host %s", pairing.host_id.hex()[:8])
            return HandshakeBody(reply)

        def refuse() -> None:
            attempt.reject()
            self._show(None)

        return Wait(accept, refuse)

    # -- sessions --------------------------------------------------------------------------

    def _session_open(self, body: Body) -> Body:
        from keybridge.protocol.secure.pairing import pairing_id
        from keybridge.protocol.secure.session import SessionKey

        assert isinstance(body, SessionOpenRequest)
        if self.channel is not None and self._fw.handling_sealed:
            raise Refused(
                Status.BAD_PARAMETER, "SESSION_OPEN is sent in plaintext, outside a session"
            )
        state = self._fw.state
        wanted = body.pairing_id
        if wanted is not None and len(wanted) != PAIRING_ID_LENGTH:
            raise Refused(
                Status.BAD_PARAMETER,
                f"PAIRING_ID is {len(wanted)} bytes; it must be {PAIRING_ID_LENGTH}",
            )
        used_pending = False

        def lookup(host_id: bytes) -> bytes | None:
            # The pending pairing when the host names it; else the committed one (a host
            # with neither cannot check the key's proof, and learns to pair again).
            nonlocal used_pending
            host = state.host(host_id)
            if host is None:
                return None
            if host.pending_key is not None and wanted == pairing_id(host.pending_key):
                used_pending = True
                return host.pending_key
            return host.pairing_key

        opening = SessionKey(
            state.key_id, lookup, ephemeral_key=self._random(32), nonce=self._random(16)
        )
        try:
            reply = opening.accept(body.payload)
        except UnknownHostError as exc:
            raise Refused(Status.ACCESS_DENIED, str(exc)) from None
        except HandshakeError as exc:
            raise Refused(Status.BAD_PARAMETER, str(exc)) from None
        self.close_session("replaced by a new session")
        self.channel = opening.channel
        self.host_id = opening.host_id
        self.pending_commit = opening.host_id if used_pending else None
        self._fw.forget_last()
        return HandshakeBody(reply)

    def _unpair(self, body: Body) -> Body:
        assert isinstance(body, UnpairRequest)
        target = body.host_id if body.host_id is not None else self.host_id
        state = self._fw.state
        if target is None or state.host(target) is None:
            shown = "?" if target is None else target.hex()
            raise Refused(Status.NOT_FOUND, f"no paired host with id {shown}: see LIST_HOSTS")
        hosts = tuple(h for h in state.hosts if h.host_id != target)
        self._fw.commit(dataclasses.replace(state, hosts=hosts))
        log.info("unpaired host %s", target.hex()[:8])
        if target == self.host_id:
            self.drop_after_reply = True
        return Empty()

    def _list_hosts(self, body: Body) -> Body:
        return ListHostsResponse(
            tuple(HostEntry(h.host_id, h.host_id == self.host_id) for h in self._fw.state.hosts)
        )

    # -- PIN -------------------------------------------------------------------------------

    def _pin_set(self, body: Body) -> Body:
        assert isinstance(body, PinSetRequest)
        state = self._fw.state
        if state.pin is not None:
            raise Refused(Status.BAD_PARAMETER, "a PIN is already set: change it with PIN_CHANGE")
        if not PIN_RETRIES_MIN <= body.max_retries <= PIN_RETRIES_MAX:
            raise Refused(
                Status.BAD_PARAMETER,
                f"MAX_RETRIES is {body.max_retries}; it must be {PIN_RETRIES_MIN} to "
                f"{PIN_RETRIES_MAX}",
            )
        record = self._record(body.pin, body.max_retries, "PIN")
        self._fw.commit(dataclasses.replace(state, pin=record))
        self.pin_verified = True
        return Empty()

    def _pin_verify(self, body: Body) -> Body:
        assert isinstance(body, PinRequest)
        self._check_pin(body.pin)
        self.pin_verified = True
        return Empty()

    def _pin_change(self, body: Body) -> Body:
        assert isinstance(body, PinChangeRequest)
        state = self._fw.state
        if state.pin is None:
            raise Refused(Status.BAD_PARAMETER, "no PIN is set: set one with PIN_SET")
        record = self._record(body.new_pin, state.pin.max_retries, "NEW_PIN")
        self._check_pin(body.pin)
        self._fw.commit(dataclasses.replace(self._fw.state, pin=record))
        self.pin_verified = True
        return Empty()

    def _record(self, pin: str, max_retries: int, field: str) -> PinRecord:
        try:
            check_pin_format(pin)
        except PinFormatError as exc:
            raise Refused(Status.BAD_PARAMETER, f"{field}: {exc}") from None
        salt = self._random(16)
        digest = hash_pin(pin, salt, iterations=self.pin_iterations)
        return PinRecord(salt, digest, self.pin_iterations, max_retries, max_retries)

    def _check_pin(self, pin: str) -> None:
        """Spend one retry (saved first, so a power cut cannot refund it), then compare."""
        state = self._fw.state
        record = state.pin
        if record is None:
            raise Refused(Status.BAD_PARAMETER, "no PIN is set: set one with PIN_SET")
        left = record.retries_left - 1
        spent = dataclasses.replace(record, retries_left=left)
        self._fw.commit(dataclasses.replace(state, pin=spent))
        try:
            good = verify_pin(pin, record.salt, record.digest, iterations=record.iterations)
        except PinFormatError:
            good = False  # a malformed guess is still a guess
        if good:
            restored = dataclasses.replace(record, retries_left=record.max_retries)
            self._fw.commit(dataclasses.replace(self._fw.state, pin=restored))
            return
        if left <= 0:
            self._fw.commit(self.wiped())
            self._fw.clock.clear()
            self.drop_after_reply = True
            log.warning("last wrong PIN: every credential and pairing erased")
            raise Refused(
                Status.PIN_LOCKED,
                f"{record.max_retries} wrong PINs: the key erased every credential and "
                "pairing; pair it again",
                _retries(0),
            )
        raise Refused(Status.PIN_INVALID, f"wrong PIN: {left} attempts left", _retries(left))


def _retries(left: int) -> Fields:
    return Fields.of([(Tag.PIN_RETRIES, max(0, min(left, 0xFF)).to_bytes(1, "big"))])
