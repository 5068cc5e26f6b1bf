"""KeySession against the real firmware core, in-process over MemoryTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from keybridge.errors import InvalidInputError
from keybridge.keyboard import decode_reports
from keybridge.otp.codes import Algorithm, OtpKind, hotp, totp
from keybridge.otp.credential import Credential
from keybridge.protocol.commands import OtpPutRequest
from keybridge.protocol.constants import (
    CAPACITY,
    PROTOCOL_VERSION,
    Command,
    KeepaliveReason,
    Status,
)
from keybridge.protocol.secure import SecureChannel
from keybridge.protocol.status import (
    AlreadyExistsError,
    ButtonError,
    ClockError,
    DeviceError,
    NotFoundError,
    StorageFullError,
)
from keybridge.session import ConnectOptions, KeySession

SECRET = b"12345678901234567890"  # the RFC 4226 / 6238 test key
T = 1_111_111_109  # an RFC 6238 test instant


class CountingTransport(MemoryTransport):
    """Counts the requests that reach the key, by command byte (of the plaintext: requests
    travel sealed, so the key's core reports what it opened)."""

    def __init__(self, firmware: Firmware) -> None:
        super().__init__(firmware, poll_interval=0.01)
        self.commands: list[int] = []
        dispatch = firmware._dispatch

        def counting(raw: bytes, channel: SecureChannel | None) -> list[bytes]:
            if len(raw) > 3:
                self.commands.append(raw[3])
            return dispatch(raw, channel)

        firmware._dispatch = counting  # type: ignore[method-assign]


@dataclass
class Rig:
    firmware: Firmware
    transport: CountingTransport
    session: KeySession


async def _rig(clock: KeyClock, button: Button, *, set_time: bool = True) -> AsyncIterator[Rig]:
    firmware = Firmware(Flash.memory(), clock, button)
    transport = CountingTransport(firmware)
    async with transport:
        # A short try timeout: the lossy-link tests wait it out once per dropped message.
        session = await KeySession.attach(
            transport, ConnectOptions(set_time=set_time, timeout=0.05)
        )
        saved, firmware.button = firmware.button, Button("auto")  # pairing needs a press
        await session.pairing.pair(lambda code: True)
        firmware.button = saved
        if not set_time:  # pairing sets the clock; this rig wants a key that never had it
            firmware.clock.clear()
        yield Rig(firmware, transport, session)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """A key with a fixed clock at ``T`` and a button that approves at once."""
    async for r in _rig(KeyClock(mode="fixed", value=T), Button("auto")):
        yield r


async def test_connect_reports_the_cores_info(rig: Rig) -> None:
    info = await rig.session.info()
    assert info.serial == rig.firmware.serial
    assert info.protocol_version == PROTOCOL_VERSION
    assert (info.capacity, info.used, info.clock_set, info.time) == (CAPACITY, 0, True, T)
    assert "us" in info.layouts


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        (Algorithm.SHA1, SECRET),
        (Algorithm.SHA256, SECRET + SECRET[:12]),
        (Algorithm.SHA512, SECRET * 3 + SECRET[:4]),
    ],
)
async def test_calculate_equals_the_reference_totp_at_the_keys_time(
    rig: Rig, algorithm: Algorithm, key: bytes
) -> None:
    await rig.session.otp_put(Credential.from_secret(key, algorithm=algorithm, digits=8), "rfc")
    code = await rig.session.otp_calculate("rfc")
    assert code.code == totp(key, T, 30, 8, algorithm)
    assert code.valid_until == (T // 30 + 1) * 30
    assert code.counter is None


async def test_base32_secret_as_hes_shows_it(rig: Rig) -> None:
    await rig.session.otp_put(
        Credential.from_secret("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"), "hes"
    )  # b32(SECRET)
    assert (await rig.session.otp_calculate("hes")).code == totp(SECRET, T)


async def test_hotp_counter_advances_once_per_code(rig: Rig) -> None:
    await rig.session.otp_put(Credential.from_secret(SECRET, kind="hotp", counter=5), "h")
    first = await rig.session.otp_calculate("h")
    second = await rig.session.otp_calculate("h")
    assert (first.code, first.counter) == (hotp(SECRET, 5), 5)
    assert (second.code, second.counter) == (hotp(SECRET, 6), 6)
    assert first.valid_until is None


async def test_list_follows_pages_through_a_full_key(rig: Rig) -> None:
    names = [f"account-{i:03d}@{'x' * 40}.example" for i in range(CAPACITY)]
    for i, name in enumerate(names):
        await rig.session.otp_put(
            Credential.from_secret(SECRET), name, layout="uk", require_button=i % 10 == 7
        )
    with pytest.raises(StorageFullError, match="delete a credential"):
        await rig.session.otp_put(Credential.from_secret(SECRET), "one too many")
    listed = await rig.session.otp_list()
    assert sorted(c.name for c in listed) == sorted(names)
    assert rig.transport.commands.count(Command.OTP_LIST) > 1  # it took several pages
    assert all(c.kind is OtpKind.TOTP and c.algorithm is Algorithm.SHA1 for c in listed)
    by_name = {c.name: c for c in listed}
    assert by_name[names[7]].require_button and not by_name[names[8]].require_button
    assert by_name[names[0]].layout == "uk"
    assert (await rig.session.info()).used == CAPACITY


async def test_type_produces_reports_that_decode_to_the_code(rig: Rig) -> None:
    await rig.session.otp_put(Credential.from_secret(SECRET), "t")
    typed = await rig.session.otp_type("t", enter=True)
    assert typed.layout == "us"
    assert all(len(report) == 8 for report in typed.reports)
    assert decode_reports(typed.reports, typed.layout) == totp(SECRET, T) + "\n"
    plain = await rig.session.otp_type("t", layout="de")
    assert decode_reports(plain.reports, "de") == totp(SECRET, T)


async def test_delete_and_rename(rig: Rig) -> None:
    await rig.session.otp_put(Credential.from_secret(SECRET), "a")
    await rig.session.otp_put(Credential.from_secret(SECRET), "b")
    with pytest.raises(AlreadyExistsError, match="pick another name"):
        await rig.session.otp_rename("a", "b")
    await rig.session.otp_rename("a", "c")
    await rig.session.otp_delete("b")
    assert [c.name for c in await rig.session.otp_list()] == ["c"]
    with pytest.raises(NotFoundError, match="otp list"):
        await rig.session.otp_delete("b")
    with pytest.raises(NotFoundError):
        await rig.session.otp_calculate("a")


async def test_duplicate_put_needs_overwrite(rig: Rig) -> None:
    await rig.session.otp_put(Credential.from_secret(SECRET), "a")
    with pytest.raises(AlreadyExistsError) as info:
        await rig.session.otp_put(Credential.from_secret(SECRET[::-1]), "a")
    assert info.value.status is Status.ALREADY_EXISTS
    assert (await rig.session.otp_calculate("a")).code == totp(SECRET, T)  # unchanged
    await rig.session.otp_put(Credential.from_secret(SECRET[::-1]), "a", overwrite=True)
    assert (await rig.session.otp_calculate("a")).code == totp(SECRET[::-1], T)


async def test_reset_erases_everything(rig: Rig) -> None:
    await rig.session.otp_put(Credential.from_secret(SECRET), "a")
    await rig.session.reset()
    assert not rig.session.encrypted  # a reset forgets every paired host
    await rig.session.pairing.pair(lambda code: True)
    assert await rig.session.otp_list() == []


async def test_key_side_checks_become_typed_errors_with_detail(rig: Rig) -> None:
    bad = OtpPutRequest(name="x", secret=SECRET, algorithm=Algorithm.SHA1, digits=9)
    with pytest.raises(DeviceError) as info:
        await rig.session.channel.call(Command.OTP_PUT, bad)  # past the host's own checks
    assert info.value.status is Status.BAD_PARAMETER
    assert info.value.detail
    with pytest.raises(DeviceError) as unknown:
        await rig.session.channel.exchange(0x7E)
    assert unknown.value.status is Status.UNKNOWN_COMMAND
    assert await rig.session.otp_list() == []


async def test_host_checks_stop_bad_input_before_the_key(rig: Rig) -> None:
    sent = len(rig.transport.commands)
    with pytest.raises(InvalidInputError):
        await rig.session.otp_put(Credential.from_secret(SECRET), "n" * 65)
    assert len(rig.transport.commands) == sent


# Lossy links: retries carry the same sequence number, so the key answers from its cache.


async def test_a_lost_put_answer_never_creates_two_credentials(rig: Rig) -> None:
    rig.transport.drop_replies = 1
    await rig.session.otp_put(
        Credential.from_secret(SECRET), "once"
    )  # executing twice would raise ALREADY_EXISTS
    assert rig.transport.commands.count(Command.OTP_PUT) == 2
    assert [c.name for c in await rig.session.otp_list()] == ["once"]


async def test_a_lost_request_is_simply_sent_again(rig: Rig) -> None:
    rig.transport.drop_requests = 1
    await rig.session.otp_put(Credential.from_secret(SECRET), "once")
    assert rig.transport.commands.count(Command.OTP_PUT) == 1
    assert [c.name for c in await rig.session.otp_list()] == ["once"]


async def test_a_lost_hotp_answer_never_advances_the_counter_twice(rig: Rig) -> None:
    await rig.session.otp_put(Credential.from_secret(SECRET, kind="hotp"), "h")
    rig.transport.drop_replies = 2
    first = await rig.session.otp_calculate("h")
    second = await rig.session.otp_calculate("h")
    assert rig.transport.commands.count(Command.OTP_CALCULATE) == 4  # 3 tries + 1
    assert (first.code, first.counter) == (hotp(SECRET, 0), 0)
    assert (second.code, second.counter) == (hotp(SECRET, 1), 1)


# Clock and button.


@pytest.fixture
async def manual() -> AsyncIterator[Rig]:
    """A key on a frozen time source, with a button the test presses."""
    async for r in _rig(KeyClock(lambda: float(T)), Button("manual"), set_time=False):
        yield r


async def test_totp_on_a_key_whose_clock_was_never_set(manual: Rig) -> None:
    await manual.session.otp_put(Credential.from_secret(SECRET), "a")
    with pytest.raises(ClockError, match="never set") as info:
        await manual.session.otp_calculate("a")
    assert info.value.status is Status.CLOCK_NOT_SET
    assert await manual.session.set_time(T) == T
    assert (await manual.session.otp_calculate("a")).code == totp(SECRET, T)


async def test_clock_backwards_needs_force(manual: Rig) -> None:
    await manual.session.set_time(T)
    with pytest.raises(ClockError, match="force") as info:
        await manual.session.set_time(T - 3600)
    assert info.value.status is Status.CLOCK_BACKWARDS
    assert await manual.session.set_time(T - 3600, force=True) == T - 3600


async def test_button_gated_code_waits_through_keepalives(manual: Rig) -> None:
    await manual.session.set_time(T)
    await manual.session.otp_put(Credential.from_secret(SECRET), "b", require_button=True)
    seen: list[tuple[KeepaliveReason | int, int]] = []

    def press(reason: KeepaliveReason | int, ms_left: int) -> None:
        seen.append((reason, ms_left))
        manual.firmware.button.press()
        manual.transport.poke()

    manual.session.on_keepalive = press
    code = await manual.session.otp_calculate("b")
    assert code.code == totp(SECRET, T)
    assert seen and seen[0][0] is KeepaliveReason.WAITING_FOR_BUTTON
    assert 0 < seen[0][1] <= 15_000


async def test_declined_button_is_a_button_error(manual: Rig) -> None:
    def decline(reason: KeepaliveReason | int, ms_left: int) -> None:
        manual.firmware.button.decline()
        manual.transport.poke()

    await manual.session.otp_put(Credential.from_secret(SECRET), "a")
    manual.session.on_keepalive = decline
    with pytest.raises(ButtonError, match="declined") as info:
        await manual.session.reset()
    assert info.value.status is Status.BUTTON_DENIED
    # Once, with what to do: the key's detail only repeated the advice.
    assert str(info.value).count("declined") == 1 and "run it again" in str(info.value)
    assert [c.name for c in await manual.session.otp_list()] == ["a"]
