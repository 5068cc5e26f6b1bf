"""End to end over a real pty (pyserial) against a subprocess simulator: enrol on the HES model,
store the secret on the key, the key's code is pyotp's and HES accepts it, typed reports decode
to it; RFC 6238 vectors at a fixed clock; the HOTP counter survives restarts; a corrupt frame
is dropped and the host's retry succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp
import pytest
import serial

from firmware_sim.simulator import Simulator
from keybridge.hes import Hes, LoginStatus
from keybridge.keyboard import decode_reports
from keybridge.otp.credential import Credential
from keybridge.protocol.channel import Channel
from keybridge.protocol.framing import encode_frame
from keybridge.session import KeySession
from keybridge.transport.base import Transport
from keybridge.transport.serial import SerialTransport

MakeSimulator = Callable[..., Simulator]

EMAIL, PASSWORD = "qa@example.com", "correct horse battery staple"


@pytest.mark.parametrize("link", ["pty", "tcp:127.0.0.1:0"])
async def test_enrol_on_hes_and_log_in_with_the_key(
    make_simulator: MakeSimulator, link: str
) -> None:
    sim = make_simulator(link=link)
    hes = Hes(":memory:", password_cost=16)
    hes.create_user(EMAIL, PASSWORD)
    setup = hes.begin_otp_setup(EMAIL)
    totp = pyotp.TOTP(setup.key)
    name = f"HES:{EMAIL}"

    async with KeySession.connect(sim.url) as key:
        await key.otp_put(Credential.from_secret(setup.key), name)
        before = time.time()
        code = await key.otp_calculate(name)
        after = time.time()
        assert code.valid_until is not None
        assert code.code == totp.at(code.valid_until - 1)  # the step the key says it used
        assert code.code in {totp.at(before), totp.at(after)}  # ... is this instant's
        assert hes.confirm_otp_setup(EMAIL, code.code)  # recovery codes: 2FA is on

        step = hes.login(EMAIL, PASSWORD)
        assert step.status is LoginStatus.NEEDS_OTP and step.token is not None
        typed = await key.otp_type(name, enter=True)
        text = decode_reports(typed.reports, typed.layout)
        assert text.endswith("\n") and text[:-1] in {code.code, totp.at(time.time())}
        typed_code = text[:-1]  # what the login form's field holds when Enter submits it
        assert hes.login_otp(step.token, typed_code).status is LoginStatus.OK


RFC6238_SECRETS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890" * 6 + b"1234",
}
RFC6238 = [  # RFC 6238 appendix B: time, SHA1, SHA256, SHA512
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238)
async def test_rfc6238_vectors_through_the_key(
    make_simulator: MakeSimulator, unix_time: int, sha1: str, sha256: str, sha512: str
) -> None:
    sim = make_simulator(clock=f"fixed:{unix_time}")
    async with KeySession.connect(sim.url) as key:
        for algorithm, secret in RFC6238_SECRETS.items():
            await key.otp_put(
                Credential.from_secret(secret, algorithm=algorithm, digits=8), algorithm
            )
        codes = [(await key.otp_calculate(a)).code for a in RFC6238_SECRETS]
        typed = await key.otp_type("sha1", enter=False)
    assert codes == [sha1, sha256, sha512]
    assert decode_reports(typed.reports, typed.layout) == sha1


RFC4226 = ["755224", "287082", "359152", "969429", "338314"]


async def test_hotp_counter_survives_restart_and_power_cut(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()

    async def next_code() -> tuple[str, int | None]:
        async with KeySession.connect(sim.url) as key:
            code = await key.otp_calculate("hotp")
            return code.code, code.counter

    async with KeySession.connect(sim.url) as key:
        await key.otp_put(Credential.from_secret(b"12345678901234567890", kind="hotp"), "hotp")
    assert await next_code() == (RFC4226[0], 0)
    assert await next_code() == (RFC4226[1], 1)
    sim.restart()  # SIGTERM, then the same --state file
    assert await next_code() == (RFC4226[2], 2)
    sim.kill()  # SIGKILL: an acknowledged counter step is on disk already
    sim.start()
    assert await next_code() == (RFC4226[3], 3)


class CorruptFirstSend(Transport):
    """The host's serial transport, but the first request reaches the pty with a flipped bit."""

    def __init__(self, url: str) -> None:
        self.inner = SerialTransport(url)
        self.description = url
        self.corrupted = 0

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def send(self, message: bytes) -> None:
        if self.corrupted:
            await self.inner.send(message)
            return
        frame = bytearray(encode_frame(message))
        frame[len(frame) // 2] ^= 0x01
        with serial.serial_for_url(self.description) as raw:  # a second handle on the pty
            raw.write(bytes(frame))
        self.corrupted += 1

    async def receive(self, timeout: float) -> bytes:
        return await self.inner.receive(timeout)


async def test_corrupt_frame_is_dropped_and_the_retry_succeeds(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    async with KeySession.connect(sim.url) as key:
        await key.otp_put(Credential.from_secret(b"12345678901234567890", kind="hotp"), "hotp")
    transport = CorruptFirstSend(sim.url)
    async with transport:
        key = KeySession(Channel(transport, timeout=0.3, retries=3))
        await key.start(set_time=False)  # first try corrupt and dropped, retry answered
        code = await key.otp_calculate("hotp")
    assert transport.corrupted == 1
    assert (code.code, code.counter) == (RFC4226[0], 0)
    assert "dropped a corrupt frame" in sim.log_text()
