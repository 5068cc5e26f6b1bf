"""The transcript helper: deterministic exchanges with a fresh key."""

from __future__ import annotations

from firmware_sim.firmware.button import Button
from firmware_sim.testing.transcript import run_transcript
from keybridge.protocol.commands import (
    GetInfoResponse,
    OtpCalculateResponse,
    OtpNameRequest,
    OtpPutRequest,
    SetTimeRequest,
)
from keybridge.protocol.constants import Command, KeepaliveReason, Status
from keybridge.protocol.messages import Keepalive, Request, Response, decode_message, encode_message

REQUESTS = [
    encode_message(Request(0x0100, Command.GET_INFO)),
    encode_message(Request(0x0101, Command.SET_TIME, SetTimeRequest(1_111_111_111).to_fields())),
    encode_message(
        Request(
            0x0102,
            Command.OTP_PUT,
            OtpPutRequest("rfc", b"12345678901234567890", digits=8).to_fields(),
        )
    ),
    encode_message(Request(0x0103, Command.OTP_CALCULATE, OtpNameRequest("rfc").to_fields())),
    encode_message(Request(0x0104, Command.RESET)),
]


def responses(exchanges: list[tuple[bytes, list[bytes]]]) -> list[Response]:
    out = []
    for _, answers in exchanges:
        [answer] = answers
        message = decode_message(answer)
        assert isinstance(message, Response)
        out.append(message)
    return out


def test_same_requests_same_bytes() -> None:
    first = run_transcript(REQUESTS, clock_value=59, serial="KB00000000AA")
    second = run_transcript(REQUESTS, clock_value=59, serial="KB00000000AA")
    assert first == second
    assert [request for request, _ in first] == REQUESTS
    assert run_transcript(REQUESTS, clock_value=59, serial="KB00000000BB") != first


def test_fixed_clock_pins_the_key_time() -> None:
    info, set_time, put, calc, reset = responses(
        run_transcript(REQUESTS, clock_value=59, serial="KB00000000AA")
    )
    assert GetInfoResponse.from_fields(info.fields).serial == "KB00000000AA"
    assert GetInfoResponse.from_fields(info.fields).time == 59
    assert set_time.fields.get(0x0A) == (59).to_bytes(8, "big")
    assert put.status == Status.OK and reset.status == Status.OK
    assert OtpCalculateResponse.from_fields(calc.fields).code == "94287082"


def test_real_clock_mode_starts_unset_and_keeps_the_host_time() -> None:
    info, _, _, calc, _ = responses(
        run_transcript(REQUESTS, clock_value=59, serial="KB00000000AA", clock_mode="real")
    )
    assert not GetInfoResponse.from_fields(info.fields).clock_set
    assert OtpCalculateResponse.from_fields(calc.fields).code == "14050471"


def test_a_waiting_button_shows_the_keepalive() -> None:
    exchanges = run_transcript(
        REQUESTS[-1:], clock_value=59, serial="KB00000000AA", button=Button("manual")
    )
    [(_, [answer])] = exchanges
    keepalive = decode_message(answer)
    assert isinstance(keepalive, Keepalive)
    assert keepalive.reason == KeepaliveReason.WAITING_FOR_BUTTON
