"""Fuzzing the firmware core: any bytes get decodable answers and change nothing unless OK; and
the same mutations through a simulator process, in plaintext and sealed inside a session."""

from __future__ import annotations

import os
import random
import socket
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.device_key import encrypted_flash
from firmware_sim.firmware.flash import Flash
from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.errors import LinkTimeoutError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.otp.credential import Credential
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
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import (
    Fields,
    Keepalive,
    Request,
    Response,
    Sealed,
    decode_message,
    encode_message,
)
from keybridge.session import KeySession

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


class Choices(Protocol):
    """Where a mutation's choices come from: hypothesis (:class:`Drawn`) or a seeded random
    source (:class:`Seeded`, for the long runs through a process)."""

    def integer(self, low: int, high: int) -> int: ...

    def pick(self, items: Sequence[bytes]) -> bytes: ...

    def binary(self, low: int, high: int) -> bytes: ...


class Drawn:
    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def pick(self, items: Sequence[bytes]) -> bytes:
        return self._draw(st.sampled_from(items))

    def binary(self, low: int, high: int) -> bytes:
        return self._draw(st.binary(min_size=low, max_size=high))


class Seeded:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def pick(self, items: Sequence[bytes]) -> bytes:
        return self._rng.choice(items)

    def binary(self, low: int, high: int) -> bytes:
        return self._rng.randbytes(self._rng.randint(low, high))


def mutate(data: bytes, choose: Choices) -> bytes:
    buf = bytearray(data)
    for _ in range(choose.integer(1, 4)):
        op = ("flip", "cut", "insert", "delete", "splice")[choose.integer(0, 4)]
        i = choose.integer(0, len(buf))
        if op == "flip" and i < len(buf):
            buf[i] ^= choose.integer(1, 255)
        elif op == "cut":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = choose.binary(1, 8)
        elif op == "delete":
            del buf[i : i + choose.integer(1, 4)]
        else:
            buf[i:i] = choose.pick(VALID)[choose.integer(0, 8) :]
    return bytes(buf)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return mutate(draw(st.sampled_from(VALID)), Drawn(draw))


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


# -- through a simulator process ----------------------------------------------------------------

FORBIDDEN = {Command.UNPAIR, Command.PIN_SET, Command.PIN_CHANGE, Command.RESET}
"""Requests that would end the run (unpair this host, lock the key): fuzzed in-process above."""
BATCH = 50


def fuzzed(choose: Choices) -> bytes:
    while True:
        data = mutate(choose.pick(VALID), choose)
        if not (len(data) > 3 and data[0] == 0x01 and data[3] in FORBIDDEN):
            return data


def check_answer(raw: bytes) -> Response | Keepalive:
    message = decode_message(raw)
    assert isinstance(message, Response | Keepalive), message
    if isinstance(message, Response):
        assert isinstance(message.status, Status), message
        assert message.status != Status.INTERNAL_ERROR, message
    return message


def plaintext_round(url: str, choose: Choices, rng: random.Random, marker: int) -> int:
    """A batch of plaintext frames (some broken on the wire) on a raw TCP connection, then a
    GET_INFO that must be answered; returns how many frames were sent."""
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    out = bytearray()
    for _ in range(BATCH):
        frame = bytearray(encode_frame(fuzzed(choose)))
        if rng.random() < 0.2:  # noise on the wire: the CRC or the COBS code catches it
            frame[rng.randrange(1, len(frame) - 1)] ^= rng.randrange(1, 256)
        out += frame
    seq = 0x8000 | marker
    out += encode_frame(encode_message(Request(seq, Command.GET_INFO, Fields())))
    decoder = FrameDecoder()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(out)
        while True:
            chunk = conn.recv(65536)
            assert chunk, "the simulator hung up"
            for raw in decoder.feed(chunk):
                message = check_answer(raw)
                if isinstance(message, Response) and message.seq == seq:
                    assert message.status == Status.OK
                    return BATCH + 1


async def sealed_round(key: KeySession, choose: Choices, marker: int) -> bool:
    """A batch of sealed fuzzed requests inside the session, then a sealed PING that must be
    answered; False if the key closed the session (a fuzzed SESSION_OPEN inside it, say): the
    caller reconnects."""
    secure, transport = key.channel.secure, key.channel.transport
    assert secure is not None
    for _ in range(BATCH):
        await transport.send(secure.seal(fuzzed(choose)))
    payload = b"sentinel %d" % marker
    seq = 0x8000 | (marker & 0x7FFF)
    await transport.send(
        secure.seal(encode_message(Request(seq, Command.PING, PingBody(payload).to_fields())))
    )
    while True:
        try:
            raw = await transport.receive(10.0)
        except LinkTimeoutError:
            raise AssertionError(f"the key stopped answering in round {marker}") from None
        message = decode_message(raw)
        if not isinstance(message, Sealed):
            check_answer(raw)  # the key closed the session (a fuzzed SESSION_OPEN, say)
            return False
        answer = check_answer(secure.open(message.envelope))
        if (
            isinstance(answer, Response)
            and answer.seq == seq
            and PingBody.from_fields(answer.fields).payload == payload
        ):
            return True


@pytest.mark.slow
async def test_fuzzed_frames_through_a_simulator_process(
    make_simulator: Callable[..., Simulator], reliability_long: bool
) -> None:
    """Thousands of mutated frames (long: 100k) through a real process on TCP, in plaintext
    and sealed inside a session: every answer decodes with a known status and no internal
    error, the process never stops answering, and the state file loads after."""
    frames = 100_000 if reliability_long else 3_000
    seed = int(os.environ.get("KEYBRIDGE_FUZZ_SEED", "2024"))
    rng = random.Random(seed)
    choose = Seeded(rng)
    sim = make_simulator(link="tcp:127.0.0.1:0", clock="fixed:1700000000", button="deny")
    started = time.monotonic()
    sent = sessions = marker = 0
    async with KeySession.connect(sim.url) as key:
        await key.otp_put(Credential.from_secret(SECRET), "totp")
    while sent < frames:
        async with KeySession.connect(sim.url) as key:  # TCP: one client at a time
            sessions += 1
            for _ in range(8):
                marker += 1
                alive = await sealed_round(key, choose, marker)
                sent += BATCH + 1
                if not alive or sent >= frames:
                    break
        if sent < frames:
            marker += 1
            sent += plaintext_round(sim.url, choose, rng, marker)
    assert sim.running
    async with KeySession.connect(sim.url) as key:
        assert (await key.info()).serial
    assert sim.stop() == 0
    assert sim.state is not None and encrypted_flash(sim.state).load() is not None
    print(
        f"{sent} fuzzed frames through a simulator process in "
        f"{time.monotonic() - started:.1f} s, {sessions} sessions (seed {seed})"
    )
