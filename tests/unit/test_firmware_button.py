"""Button-gated requests, keep-alives, BUSY and idempotent retries in the firmware core."""

from __future__ import annotations

from typing import Any

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.keyboard import decode_reports
from keybridge.otp.codes import OtpKind, hotp
from keybridge.protocol.commands import (
    OtpCalculateResponse,
    OtpNameRequest,
    OtpPutRequest,
    OtpTypeRequest,
    OtpTypeResponse,
    PingBody,
)
from keybridge.protocol.constants import BUTTON_TIMEOUT_S, Command, KeepaliveReason, Status, Tag
from keybridge.protocol.messages import Keepalive, Request, Response, decode_message, encode_message

SECRET = b"12345678901234567890"


class Key:
    def __init__(self, button: Button) -> None:
        self.time = 1_000_000.0
        self.button = button
        self.flash = Flash.memory()
        self.fw = Firmware(self.flash, KeyClock(lambda: self.time), button)
        self.fw.clock.set(1_700_000_000)
        # Requests travel sealed in a session, as from any paired host.
        self.link = SecureLink(self.fw, pair_firmware(self.fw, host_id=bytes(16)))

    def send(self, seq: int, command: Command, body: Any = None) -> list[Any]:
        fields = body.to_fields() if body is not None else None
        request = Request(seq, command) if fields is None else Request(seq, command, fields)
        return self.raw(encode_message(request))

    def raw(self, data: bytes) -> list[Any]:
        return [decode_message(m) for m in self.link.handle(data)]

    def poll(self, advance: float = 0.0) -> list[Any]:
        self.time += advance
        return [decode_message(m) for m in self.link.poll()]

    def store(self, name: str, **kw: Any) -> None:
        gate = self.button.mode
        self.button.mode = "auto"
        [response] = self.send(1, Command.OTP_PUT, OtpPutRequest(name, SECRET, **kw))
        self.button.mode = gate
        assert response.status == Status.OK


def timeout_ms(message: Keepalive) -> int:
    raw = message.fields.get(Tag.TIMEOUT_MS)
    assert raw is not None and len(raw) == 4
    return int.from_bytes(raw, "big")


def status_of(data: bytes) -> int:
    message = decode_message(data)
    assert isinstance(message, Response)
    return message.status


def calc(name: str = "h") -> OtpNameRequest:
    return OtpNameRequest(name)


@pytest.fixture
def manual() -> Key:
    key = Key(Button("manual"))
    key.store("h", kind=OtpKind.HOTP, require_button=True)
    key.store("free", kind=OtpKind.HOTP)
    return key


def test_press_completes_a_waiting_request(manual: Key) -> None:
    [waiting] = manual.send(7, Command.OTP_CALCULATE, calc())
    assert isinstance(waiting, Keepalive)
    assert (waiting.seq, waiting.reason) == (7, KeepaliveReason.WAITING_FOR_BUTTON)
    assert timeout_ms(waiting) == BUTTON_TIMEOUT_S * 1000
    assert manual.fw.waiting
    assert manual.poll(0.1) == []
    [tick] = manual.poll(0.9)
    assert isinstance(tick, Keepalive) and timeout_ms(tick) == 14000
    assert manual.fw.state.credentials[0].counter == 0  # nothing happens before the press
    assert manual.button.press()
    [done] = manual.poll()
    assert isinstance(done, Response)
    assert (done.seq, done.command, done.status) == (7, Command.OTP_CALCULATE, Status.OK)
    assert OtpCalculateResponse.from_fields(done.fields) == OtpCalculateResponse(
        hotp(SECRET, 0), counter=0
    )
    assert manual.flash.load() == manual.fw.state
    assert manual.fw.state.credentials[0].counter == 1
    assert not manual.fw.waiting and manual.poll(5) == []
    # A retry of the completed request gets the same answer without a second press.
    assert manual.send(7, Command.OTP_CALCULATE, calc()) == [done]
    assert manual.fw.state.credentials[0].counter == 1


def test_decline_answers_button_denied(manual: Key) -> None:
    manual.send(3, Command.OTP_CALCULATE, calc())
    assert manual.button.decline()
    [done] = manual.poll()
    assert (done.seq, done.status) == (3, Status.BUTTON_DENIED)
    assert manual.fw.state.credentials[0].counter == 0


def test_timeout_after_15_s_with_a_keepalive_each_second(manual: Key) -> None:
    manual.send(4, Command.OTP_CALCULATE, calc())
    keepalives: list[Keepalive] = []
    final: list[Response] = []
    for _ in range(160):
        for message in manual.poll(0.1):
            (keepalives if isinstance(message, Keepalive) else final).append(message)
        if final:
            break
    assert [(r.seq, r.status) for r in final] == [(4, Status.BUTTON_TIMEOUT)]
    assert 13 <= len(keepalives) <= 15
    left = [timeout_ms(k) for k in keepalives]
    assert left == sorted(left, reverse=True)
    assert not manual.fw.waiting
    assert manual.button.press() is False  # too late: nothing is waiting


def test_busy_while_waiting_and_keepalive_for_a_retry(manual: Key) -> None:
    [waiting] = manual.send(10, Command.OTP_CALCULATE, calc())
    assert isinstance(waiting, Keepalive)
    [retry] = manual.send(10, Command.OTP_CALCULATE, calc())
    assert isinstance(retry, Keepalive) and retry.seq == 10
    [busy] = manual.send(11, Command.PING, PingBody(b"x"))
    assert (busy.seq, busy.command, busy.status) == (11, Command.PING, Status.BUSY)
    assert busy.fields.get(Tag.DETAIL)
    [busy] = manual.send(10, Command.OTP_CALCULATE, calc("free"))  # same seq, other bytes
    assert busy.status == Status.BUSY
    [bad] = manual.raw(b"\xff")
    assert bad.status == Status.BAD_MESSAGE
    manual.button.press()
    [done] = manual.poll()
    assert done.status == Status.OK
    [pong] = manual.send(11, Command.PING, PingBody(b"x"))
    assert pong.status == Status.OK


def test_credentials_without_require_button_do_not_wait(manual: Key) -> None:
    [done] = manual.send(5, Command.OTP_CALCULATE, calc("free"))
    assert done.status == Status.OK


def test_type_of_a_gated_credential_waits_for_the_press(manual: Key) -> None:
    [waiting] = manual.send(8, Command.OTP_TYPE, OtpTypeRequest("h", enter=True))
    assert isinstance(waiting, Keepalive)
    manual.button.press()
    [done] = manual.poll()
    assert (done.command, done.status) == (Command.OTP_TYPE, Status.OK)
    reports = OtpTypeResponse.from_fields(done.fields).reports
    assert decode_reports([reports[i : i + 8] for i in range(0, len(reports), 8)], "us") == (
        hotp(SECRET, 0) + "\n"
    )
    assert manual.fw.state.credentials[0].counter == 1


def test_reset_waits_for_the_press(manual: Key) -> None:
    [waiting] = manual.send(6, Command.RESET)
    assert isinstance(waiting, Keepalive)
    assert len(manual.fw.state.credentials) == 2
    manual.button.press()
    [done] = manual.poll()
    assert (done.command, done.status) == (Command.RESET, Status.OK)
    assert len(manual.fw.state.credentials) == 0


@pytest.mark.parametrize(
    ("mode", "script", "statuses"),
    [
        ("auto", [], [Status.OK, Status.OK]),
        ("deny", [], [Status.BUTTON_DENIED, Status.BUTTON_DENIED]),
        (
            "scripted",
            ["press", "deny", "timeout", "press"],
            [
                Status.OK,
                Status.BUTTON_DENIED,
                Status.BUTTON_TIMEOUT,
                Status.OK,
                Status.BUTTON_DENIED,  # the script ran out
            ],
        ),
    ],
)
def test_immediate_button_modes(mode: Any, script: list[Any], statuses: list[Status]) -> None:
    key = Key(Button(mode, script))
    key.store("h", kind=OtpKind.HOTP, require_button=True)
    got = []
    for seq, _ in enumerate(statuses):
        [response] = key.send(100 + seq, Command.OTP_CALCULATE, calc())
        got.append(response.status)
    assert got == statuses
    assert key.fw.state.credentials[0].counter == statuses.count(Status.OK)


def test_retry_of_a_put_creates_one_credential() -> None:
    key = Key(Button("auto"))
    data = encode_message(Request(42, Command.OTP_PUT, OtpPutRequest("a", SECRET).to_fields()))
    first = key.link.handle(data)
    assert key.link.handle(data) == first
    assert status_of(first[0]) == Status.OK
    assert len(key.fw.state.credentials) == 1
    # The same body under a new seq is a new request: the name is now taken.
    again = encode_message(Request(43, Command.OTP_PUT, OtpPutRequest("a", SECRET).to_fields()))
    assert status_of(key.link.handle(again)[0]) == Status.ALREADY_EXISTS


def test_retry_of_hotp_calculate_does_not_advance_twice() -> None:
    key = Key(Button("auto"))
    key.store("h", kind=OtpKind.HOTP)
    data = encode_message(Request(9, Command.OTP_CALCULATE, calc().to_fields()))
    answers = [key.link.handle(data) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert key.fw.state.credentials[0].counter == 1
    other = encode_message(Request(10, Command.OTP_CALCULATE, calc().to_fields()))
    key.link.handle(other)
    assert key.fw.state.credentials[0].counter == 2
