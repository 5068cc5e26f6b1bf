"""Bad input at pairing and session set-up: named statuses, clear host messages, and nothing
stored is lost (the key's state and the host's pairings stay as they were)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.testing.paired import pair_firmware
from keybridge.hostconfig import HostConfig
from keybridge.protocol.commands import HandshakeBody, OtpPutRequest
from keybridge.protocol.constants import Command, Status, Tag
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure import PairingRejectedError
from keybridge.protocol.status import AccessDeniedError, ButtonError
from keybridge.session import ConnectOptions, KeySession


@dataclass
class Rig:
    firmware: Firmware
    transport: MemoryTransport
    session: KeySession
    config: HostConfig
    time: list[float]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """A key holding a credential and another host's pairing; this host is not paired."""
    now = [1000.0]
    firmware = Firmware(Flash.memory(), KeyClock(lambda: now[0]), Button("manual"))
    other = pair_firmware(firmware, host_id=b"\x07" * 16)
    assert other.host_id == b"\x07" * 16
    put = OtpPutRequest("bank", b"12345678901234567890").to_fields()
    from firmware_sim.testing.paired import SecureLink

    SecureLink(firmware, other).handle(encode_message(Request(1, Command.OTP_PUT, put)))
    config = HostConfig.memory()
    async with MemoryTransport(firmware, poll_interval=0.01) as transport:
        session = await KeySession.attach(transport, ConnectOptions(config=config, timeout=0.5))
        yield Rig(firmware, transport, session, config, now)


def unchanged(rig: Rig, before: object) -> None:
    assert rig.firmware.state == before
    assert rig.firmware.flash.load() == before
    assert rig.config.keys == []
    assert not rig.session.encrypted


async def test_codes_that_do_not_match_cancel_the_pairing(rig: Rig) -> None:
    before = rig.firmware.state
    shown: list[str] = []

    def user_says_no(code: str) -> bool:
        shown.append(code)
        assert rig.firmware.display is not None and code in rig.firmware.display
        return False

    with pytest.raises(PairingRejectedError, match=r"did not match.*do not press"):
        await rig.session.pairing.pair(user_says_no)
    # The host cancelled the key's wait (CANCEL): the key is idle, a press does nothing.
    assert shown and not rig.firmware.waiting and rig.firmware.display is None
    assert not rig.firmware.button.press()
    rig.transport.poke()
    unchanged(rig, before)


async def test_an_async_confirmation_works_and_shows_the_same_code(rig: Rig) -> None:
    async def compare(code: str) -> bool:
        await asyncio.sleep(0)
        assert rig.firmware.display is not None and code in rig.firmware.display
        rig.firmware.button.press()  # the user presses the button on the key
        return True

    pairing = await rig.session.pairing.pair(compare)
    assert rig.session.encrypted
    assert rig.config.pairing_for(rig.firmware.serial) == pairing
    assert len(rig.firmware.state.hosts) == 2


@pytest.mark.parametrize(
    ("act", "status", "message"),
    [
        ("timeout", Status.BUTTON_TIMEOUT, "not pressed in time"),
        ("deny", Status.BUTTON_DENIED, "declined"),
    ],
)
async def test_pairing_without_a_press_stores_nothing(
    rig: Rig, act: str, status: Status, message: str
) -> None:
    before = rig.firmware.state
    countdown: list[int] = []

    def on_keepalive(reason: int, ms_left: int) -> None:
        countdown.append(ms_left)
        if act == "deny":
            rig.firmware.button.decline()
        else:
            rig.time[0] += 16

    rig.session.on_keepalive = on_keepalive
    with pytest.raises(ButtonError, match=message) as error:
        await rig.session.pairing.pair(lambda code: True)
    assert error.value.status == status
    assert countdown and countdown[0] == 15000  # the prompt can show a 15 s countdown
    unchanged(rig, before)


def plaintext(firmware: Firmware, command: Command, payload: bytes | None) -> Response:
    body = HandshakeBody(payload).to_fields() if payload is not None else None
    request = Request(9, command) if body is None else Request(9, command, body)
    [raw] = firmware.handle(encode_message(request))
    response = decode_message(raw)
    assert isinstance(response, Response)
    return response


@pytest.mark.parametrize(
    ("command", "payload", "detail"),
    [
        (Command.PAIR_BEGIN, b"", "PAIR_BEGIN"),
        (Command.PAIR_BEGIN, bytes(79), "PAIR_BEGIN"),
        (Command.PAIR_BEGIN, None, "HANDSHAKE"),
        (Command.PAIR_CONFIRM, bytes(48), "PAIR_BEGIN"),  # no pairing in progress
        (Command.SESSION_OPEN, bytes(63), "SESSION_OPEN"),
        (Command.SESSION_OPEN, bytes(65), "SESSION_OPEN"),
    ],
)
async def test_malformed_handshakes_are_bad_parameters(
    rig: Rig, command: Command, payload: bytes | None, detail: str
) -> None:
    before = rig.firmware.state
    response = plaintext(rig.firmware, command, payload)
    assert response.status == Status.BAD_PARAMETER
    assert detail in (response.fields.get(Tag.DETAIL) or b"").decode()
    unchanged(rig, before)


async def test_a_tampered_pair_confirm_is_refused_before_the_button(rig: Rig) -> None:
    from keybridge.protocol.secure import PairingHost

    before = rig.firmware.state
    host = PairingHost()
    begin = plaintext(rig.firmware, Command.PAIR_BEGIN, host.begin())
    payload = bytearray(host.confirm(HandshakeBody.from_fields(begin.fields).payload))
    payload[-1] ^= 1
    response = plaintext(rig.firmware, Command.PAIR_CONFIRM, bytes(payload))
    assert response.status == Status.BAD_PARAMETER
    assert b"tampered" in (response.fields.get(Tag.DETAIL) or b"")
    assert not rig.firmware.waiting and rig.firmware.display is None
    unchanged(rig, before)


async def test_a_session_from_an_unknown_host_is_denied_clearly(rig: Rig) -> None:
    from keybridge.protocol.secure import Pairing

    before = rig.firmware.state
    stranger = Pairing(rig.config.host_id, rig.firmware.state.key_id, bytes(32))
    rig.config.add(rig.firmware.serial, stranger)  # a config that believes it is paired
    with pytest.raises(AccessDeniedError, match="no longer knows this host") as error:
        await rig.session.open_session()
    assert error.value.detail is not None and "not paired" in error.value.detail
    assert rig.firmware.state == before and not rig.session.encrypted
