"""CANCEL and the end of a connection end a request waiting for the button: it is answered
CANCELLED (or dropped with its connection), nothing of it runs, a later press does nothing and
the key is idle at once."""

from __future__ import annotations

from typing import Any

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.protocol.commands import HandshakeBody, OtpNameRequest, OtpPutRequest
from keybridge.protocol.constants import Command, MessageType, Status
from keybridge.protocol.messages import Keepalive, Request, Response, decode_message, encode_message
from keybridge.protocol.secure import PairingHost

SECRET = b"12345678901234567890"


def request(seq: int, command: Command, body: Any = None) -> bytes:
    fields = body.to_fields() if body is not None else None
    return encode_message(
        Request(seq, command) if fields is None else Request(seq, command, fields)
    )


def statuses(out: list[bytes]) -> list[tuple[int, int]]:
    """(seq, status) of each RESPONSE; KEEPALIVEs as (seq, -1)."""
    result = []
    for raw in out:
        message = decode_message(raw)
        if isinstance(message, Keepalive):
            result.append((message.seq, -1))
        else:
            assert isinstance(message, Response)
            result.append((message.seq, int(message.status)))
    return result


class Key:
    """A key with a manual button, a paired host in a session and one credential."""

    def __init__(self) -> None:
        self.button = Button("manual")
        self.fw = Firmware(Flash.memory(), KeyClock(lambda: 1000.0), self.button)
        self.fw.clock.set(1_700_000_000)
        self.pairing = pair_firmware(self.fw, host_id=bytes(16))
        self.link = SecureLink(self.fw, self.pairing)
        self.sealed(1, Command.OTP_PUT, OtpPutRequest("bank", SECRET))

    def sealed(self, seq: int, command: Command, body: Any = None) -> list[tuple[int, int]]:
        return statuses(self.link.handle(request(seq, command, body)))


def test_a_cancelled_reset_erases_nothing_and_a_later_press_does_nothing() -> None:
    key = Key()
    before = key.fw.state
    assert key.sealed(2, Command.RESET) == [(2, -1)]
    assert key.fw.waiting
    assert key.sealed(3, Command.CANCEL) == [(2, Status.CANCELLED), (3, Status.OK)]
    assert not key.fw.waiting
    assert not key.button.press()  # nothing waits for it any more
    assert key.link.poll() == []
    assert key.fw.state == before
    # Idle at once: the next request runs (no BUSY), still in the same session.
    assert key.sealed(4, Command.OTP_CALCULATE, OtpNameRequest("bank")) == [(4, Status.OK)]


def test_a_retry_of_the_cancelled_request_gets_cancelled_again() -> None:
    key = Key()
    key.sealed(2, Command.RESET)
    key.sealed(3, Command.CANCEL)
    assert key.sealed(2, Command.RESET) == [(2, Status.CANCELLED)]
    assert not key.fw.waiting


def test_cancel_with_nothing_waiting_is_ok_and_changes_nothing() -> None:
    key = Key()
    before = key.fw.state
    assert key.sealed(2, Command.CANCEL) == [(2, Status.OK)]
    assert key.fw.state == before
    assert key.fw.in_session


def test_a_plaintext_pairing_is_cancelled_in_plaintext_and_stores_nothing() -> None:
    fw = Firmware(Flash.memory(), KeyClock(lambda: 1000.0), Button("manual"))
    host = PairingHost(b"\x07" * 16)
    [begin] = fw.handle(request(1, Command.PAIR_BEGIN, HandshakeBody(host.begin())))
    reply = decode_message(begin)
    assert isinstance(reply, Response)
    confirm = host.confirm(HandshakeBody.from_fields(reply.fields).payload)
    assert statuses(fw.handle(request(2, Command.PAIR_CONFIRM, HandshakeBody(confirm)))) == [
        (2, -1)
    ]
    assert fw.display is not None  # the code is shown
    assert statuses(fw.handle(request(3, Command.CANCEL))) == [
        (2, Status.CANCELLED),
        (3, Status.OK),
    ]
    assert fw.display is None
    assert not fw.button.press()
    assert fw.poll() == []
    assert fw.state.hosts == ()


def test_only_the_session_that_sent_a_request_may_cancel_it() -> None:
    key = Key()
    # A plaintext pairing waits (the session stays open); a sealed CANCEL is someone else's.
    host = PairingHost(b"\x07" * 16)
    [begin] = key.fw.handle(request(5, Command.PAIR_BEGIN, HandshakeBody(host.begin())))
    reply = decode_message(begin)
    assert isinstance(reply, Response)
    confirm = host.confirm(HandshakeBody.from_fields(reply.fields).payload)
    key.fw.handle(request(6, Command.PAIR_CONFIRM, HandshakeBody(confirm)))
    assert key.fw.waiting
    assert key.sealed(7, Command.CANCEL) == [(7, Status.BUSY)]
    assert key.fw.waiting  # not cancelled
    assert key.button.press()
    key.fw.poll()
    assert len(key.fw.state.hosts) == 2


def test_the_end_of_the_connection_abandons_the_waiting_request() -> None:
    key = Key()
    before = key.fw.state
    key.sealed(2, Command.RESET)
    key.fw.connection_lost()
    assert not key.fw.waiting
    assert not key.fw.in_session
    assert not key.button.press()
    assert key.fw.poll() == []
    assert key.fw.state == before
    # The next connection is served at once: no "busy with another request".
    key.fw.connection_made()
    key.link.open()
    assert key.sealed(3, Command.OTP_CALCULATE, OtpNameRequest("bank")) == [(3, Status.OK)]


def test_a_request_waiting_in_a_session_that_ends_never_runs() -> None:
    key = Key()
    before = key.fw.state
    key.sealed(2, Command.RESET)
    # A plaintext OTP_LIST inside the session ends it (section 6.2): its request goes too.
    key.fw.handle(request(3, Command.OTP_LIST))
    assert not key.fw.in_session
    key.button.press()
    assert key.fw.poll() == []
    assert not key.fw.waiting
    assert key.fw.state == before


def test_cancel_is_answered_sealed_in_a_session() -> None:
    key = Key()
    key.sealed(2, Command.RESET)
    envelope = key.link.channel.seal(request(3, Command.CANCEL))
    out = key.fw.handle(envelope)
    assert [raw[0] for raw in out] == [MessageType.SEALED, MessageType.SEALED]
