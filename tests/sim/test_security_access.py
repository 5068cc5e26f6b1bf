"""A host that never paired: every command but info and pairing is denied, by the firmware
and with a clear message on the host; an impostor that knows a host id gets nothing done."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.commands import BODIES, HandshakeBody, OtpPutRequest
from keybridge.protocol.constants import UNAUTHENTICATED_COMMANDS, Command, Status, Tag
from keybridge.protocol.messages import Fields, Request, Response, decode_message, encode_message
from keybridge.protocol.secure import Pairing, SessionHost
from keybridge.protocol.status import AccessDeniedError
from keybridge.session import ConnectOptions, KeySession

MakeSimulator = Callable[..., Simulator]
SECRET = b"12345678901234567890"


def stocked_key() -> tuple[Firmware, SecureLink]:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
    link = SecureLink(firmware, pair_firmware(firmware, host_id=b"\x01" * 16))
    put = OtpPutRequest("bank", SECRET).to_fields()
    [answer] = link.handle(encode_message(Request(1, Command.OTP_PUT, put)))
    assert decode_message(answer).status == Status.OK  # type: ignore[union-attr]
    return firmware, link


def plaintext(firmware: Firmware, command: int, fields: Fields | None = None) -> Response:
    [raw] = firmware.handle(encode_message(Request(0x4242, command, fields or Fields())))
    response = decode_message(raw)
    assert isinstance(response, Response)
    return response


SAMPLE_FIELDS = {
    Command.OTP_PUT: OtpPutRequest("evil", SECRET).to_fields(),
    Command.OTP_DELETE: Fields.of([(Tag.NAME, b"bank")]),
    Command.OTP_CALCULATE: Fields.of([(Tag.NAME, b"bank")]),
    Command.OTP_TYPE: Fields.of([(Tag.NAME, b"bank")]),
    Command.OTP_RENAME: Fields.of([(Tag.NAME, b"bank"), (Tag.NEW_NAME, b"x")]),
    Command.UNPAIR: Fields.of([(Tag.HOST_ID, b"\x01" * 16)]),
    Command.PIN_SET: Fields.of([(Tag.PIN, b"1234")]),
    Command.PIN_VERIFY: Fields.of([(Tag.PIN, b"1234")]),
    Command.PIN_CHANGE: Fields.of([(Tag.PIN, b"1234"), (Tag.NEW_PIN, b"5678")]),
}


@pytest.mark.parametrize("command", sorted(set(BODIES) - UNAUTHENTICATED_COMMANDS))
def test_every_command_outside_a_session_is_denied(command: Command) -> None:
    firmware, _ = stocked_key()
    before = firmware.state
    # Even while another host's session is open: plaintext never rides on it.
    response = plaintext(firmware, command, SAMPLE_FIELDS.get(command, Fields()))
    assert (response.seq, response.status) == (0x4242, Status.ACCESS_DENIED)
    detail = (response.fields.get(Tag.DETAIL) or b"").decode()
    assert command.name in detail and "pair" in detail
    assert firmware.state == before
    assert not firmware.waiting  # nothing asked for the button either


def test_info_and_pairing_are_answered_outside_a_session() -> None:
    firmware, _ = stocked_key()
    assert plaintext(firmware, Command.GET_INFO).status == Status.OK
    begin = plaintext(firmware, Command.PAIR_BEGIN, HandshakeBody(bytes(80)).to_fields())
    assert begin.status == Status.OK  # the key answers; only the button completes a pairing
    # SESSION_OPEN is answered too, but an unknown host is refused by name.
    opening = SessionHost(Pairing(b"\x09" * 16, firmware.state.key_id, bytes(32)))
    response = plaintext(
        firmware, Command.SESSION_OPEN, HandshakeBody(opening.request()).to_fields()
    )
    assert response.status == Status.ACCESS_DENIED
    assert b"not paired" in (response.fields.get(Tag.DETAIL) or b"")


def test_an_impostor_with_a_known_host_id_gets_nothing_executed() -> None:
    firmware, _ = stocked_key()
    before = firmware.state
    impostor = SecureLink.__new__(SecureLink)  # knows host id 01.., not its pairing key
    impostor.firmware, impostor.sent, impostor.received = firmware, [], []
    impostor.pairing = Pairing(b"\x01" * 16, firmware.state.key_id, b"\x00" * 32)
    with pytest.raises(Exception, match="prove"):  # the key's proof does not verify
        impostor.open()
    # Even ignoring the proof: the host's frames are sealed under the wrong keys.
    opening = SessionHost(impostor.pairing)
    plaintext(firmware, Command.SESSION_OPEN, HandshakeBody(opening.request()).to_fields())
    forged = b"\x10" + bytes(12) + encode_message(Request(1, Command.OTP_DELETE)) + bytes(16)
    [raw] = firmware.handle(forged)
    assert decode_message(raw).status == Status.ACCESS_DENIED  # type: ignore[union-attr]
    assert firmware.state == before and not firmware.in_session


async def test_the_host_says_to_pair_first() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=HostConfig.memory()))
        assert not key.encrypted
        for call in (
            key.otp_list(),
            key.ping(),
            key.otp_put(Credential.from_secret(SECRET), "a"),
            key.reset(),
        ):
            with pytest.raises(AccessDeniedError, match="pair this host with `keybridge pair`"):
                await call
        assert (await key.info()).serial == firmware.serial  # info works unpaired


async def test_an_unpaired_host_is_denied_over_a_pty(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(pair=False)
    async with KeySession.connect(sim.url) as key:
        with pytest.raises(AccessDeniedError, match="`keybridge pair` first"):
            await key.otp_calculate("anything")


def test_an_unknown_command_outside_a_session_is_unknown_not_denied() -> None:
    # docs/protocol.md section 3.2: the command code is checked before the session.
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    response = plaintext(firmware, 0x7E)
    assert (response.seq, response.command, response.status) == (
        0x4242,
        0x7E,
        Status.UNKNOWN_COMMAND,
    )


def test_pair_confirm_with_no_pairing_under_way_is_a_bad_parameter() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    response = plaintext(firmware, Command.PAIR_CONFIRM, HandshakeBody(bytes(48)).to_fields())
    assert response.status == Status.BAD_PARAMETER
    assert b"no pairing in progress" in (response.fields.get(Tag.DETAIL) or b"")
    assert firmware.state.hosts == () and not firmware.waiting
