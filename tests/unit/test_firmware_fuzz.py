"""Fuzzing the firmware core: any bytes get decodable answers and change nothing unless OK."""

from __future__ import annotations

import weakref

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol.commands import (
    OtpListRequest,
    OtpNameRequest,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    PingBody,
    SetTimeRequest,
)
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.messages import (
    Fields,
    Keepalive,
    Request,
    Response,
    decode_message,
    encode_message,
)

SECRET = b"12345678901234567890"

VALID = [
    encode_message(Request(seq, command, body.to_fields() if body is not None else Fields()))
    for seq, (command, body) in enumerate(
        [
            (Command.GET_INFO, None),
            (Command.PING, PingBody(b"ping")),
            (Command.SET_TIME, SetTimeRequest(1_700_000_000, force=True)),
            (Command.OTP_PUT, OtpPutRequest("new", SECRET, OtpKind.HOTP, Algorithm.SHA256)),
            (Command.OTP_PUT, OtpPutRequest("totp", SECRET, digits=8, overwrite=True)),
            (Command.OTP_LIST, OtpListRequest(1)),
            (Command.OTP_CALCULATE, OtpNameRequest("hotp")),
            (Command.OTP_CALCULATE, OtpNameRequest("gated")),
            (Command.OTP_TYPE, OtpTypeRequest("totp", enter=True, layout="fr")),
            (Command.OTP_RENAME, OtpRenameRequest("hotp", "other")),
            (Command.OTP_DELETE, OtpNameRequest("totp")),
            (Command.RESET, None),
        ],
        start=1,
    )
]


class Source:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


LINKS: weakref.WeakKeyDictionary[Firmware, SecureLink] = weakref.WeakKeyDictionary()
"""Each fuzzed key's session: the fuzz runs inside it, where every command is reachable."""


def fresh_key() -> Firmware:
    """A key holding a few credentials, a set clock and a scripted button, in a session."""
    flash = Flash.memory()
    firmware = Firmware(flash, KeyClock(Source()), Button("auto"))
    link = LINKS[firmware] = SecureLink(firmware, pair_firmware(firmware, host_id=bytes(16)))
    for request in [
        OtpPutRequest("totp", SECRET),
        OtpPutRequest("hotp", SECRET, OtpKind.HOTP, counter=5),
        OtpPutRequest("gated", SECRET, OtpKind.HOTP, require_button=True),
    ]:
        link.handle(encode_message(Request(0, Command.OTP_PUT, request.to_fields())))
    firmware.clock.set(1_700_000_000)
    firmware.button = Button("scripted", ["press", "deny", "timeout"] * 20)
    return firmware


def check(firmware: Firmware, data: bytes | str) -> None:
    before = firmware.state
    stored = firmware.flash.load()
    if isinstance(data, str):  # a user action on a key whose button waits
        if data == "press":
            firmware.button.press()
        elif data == "decline":
            firmware.button.decline()
        else:
            source = firmware.clock.source
            assert isinstance(source, Source)
            source.t += 4.0
        out = LINKS[firmware].poll()
    else:
        out = LINKS[firmware].handle(data) + LINKS[firmware].poll()
        assert out, "every message gets an answer"
    messages = [decode_message(m) for m in out]
    assert all(isinstance(m, Response | Keepalive) for m in messages)
    statuses = [m.status for m in messages if isinstance(m, Response)]
    for status in statuses:
        assert isinstance(status, Status)
    if Status.OK not in statuses:
        assert firmware.state == before
        assert firmware.flash.load() == stored
    assert firmware.flash.load() == firmware.state


def mutate(data: bytes, draw: st.DrawFn) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete", "splice"]))
        i = draw(st.integers(0, len(buf)))
        if op == "flip" and i < len(buf):
            buf[i] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[i : i + draw(st.integers(1, 4))]
        else:
            buf[i:i] = draw(st.sampled_from(VALID))[draw(st.integers(0, 8)) :]
    return bytes(buf)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return mutate(draw(st.sampled_from(VALID)), draw)


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=8))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes(messages: list[bytes]) -> None:
    firmware = fresh_key()
    for data in messages:
        check(firmware, data)
    outside = Firmware(Flash.memory(), KeyClock(Source()), Button("auto"))
    for data in messages:  # and in plaintext, outside any session
        before = outside.state
        for answer in outside.handle(data):
            assert isinstance(decode_message(answer), Response)
        assert outside.state == before


@given(st.lists(mutated() | st.sampled_from(VALID), min_size=1, max_size=10))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_valid_requests(messages: list[bytes]) -> None:
    firmware = fresh_key()
    for data in messages:
        check(firmware, data)


@given(
    st.lists(
        mutated() | st.sampled_from(VALID) | st.sampled_from(["press", "decline", "wait"]),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_requests_with_a_waiting_button(messages: list[bytes | str]) -> None:
    firmware = fresh_key()
    firmware.button = Button("manual")
    for data in messages:
        check(firmware, data)


def test_the_valid_requests_all_succeed_on_a_fresh_key() -> None:
    """Guards the fuzz corpus: mutations start from requests that really work."""
    firmware = fresh_key()
    firmware.button = Button("auto")
    for data in VALID:
        [answer] = LINKS[firmware].handle(data)
        response = decode_message(answer)
        assert isinstance(response, Response)
        assert response.status == Status.OK, (response, data.hex())
