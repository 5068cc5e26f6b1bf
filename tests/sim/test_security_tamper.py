"""An active attacker on the link: tampered, truncated, replayed and reordered session frames
are rejected by the real firmware (and by the host), nothing in them runs, and the session
closes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.hostconfig import HostConfig
from keybridge.otp.codes import OtpKind
from keybridge.otp.credential import Credential
from keybridge.protocol.commands import OtpNameRequest, OtpPutRequest
from keybridge.protocol.constants import Command, MessageType, Status, Tag
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure import SecureChannelError
from keybridge.protocol.status import AccessDeniedError
from keybridge.session import ConnectOptions, KeySession

SECRET = b"12345678901234567890"
DELETE = encode_message(Request(7, Command.OTP_DELETE, OtpNameRequest("bank").to_fields()))
PING = encode_message(Request(8, Command.PING))


def stocked() -> tuple[Firmware, SecureLink]:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
    link = SecureLink(firmware, pair_firmware(firmware, host_id=b"\x01" * 16))
    put = encode_message(Request(1, Command.OTP_PUT, OtpPutRequest("bank", SECRET).to_fields()))
    assert _status(link.handle(put)) == Status.OK
    return firmware, link


def _status(out: list[bytes]) -> Status | int:
    [raw] = out
    message = decode_message(raw)
    assert isinstance(message, Response)
    return message.status


def assert_rejected(firmware: Firmware, link: SecureLink, frame: bytes) -> None:
    before = firmware.state
    [raw] = firmware.handle(frame)
    assert raw[0] != MessageType.SEALED  # the key has no session left to answer in
    answer = decode_message(raw)
    assert isinstance(answer, Response) and answer.status != Status.OK
    if frame[0] == MessageType.SEALED:
        assert answer.status == Status.ACCESS_DENIED
        assert b"rejected" in (answer.fields.get(Tag.DETAIL) or b"")
    assert firmware.state == before  # the credential is still there
    assert not firmware.in_session  # and the session is closed: a genuine frame fails too
    assert _status(firmware.handle(link.channel.seal(PING))) == Status.ACCESS_DENIED


@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_any_single_byte_change_is_detected(data: st.DataObject) -> None:
    firmware, link = stocked()
    frame = bytearray(link.channel.seal(DELETE))
    position = data.draw(st.integers(0, len(frame) - 1), label="position")
    frame[position] ^= data.draw(st.integers(1, 255), label="xor")
    assert_rejected(firmware, link, bytes(frame))


@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_a_truncated_frame_is_detected(data: st.DataObject) -> None:
    firmware, link = stocked()
    frame = link.channel.seal(DELETE)
    cut = data.draw(st.integers(1, len(frame) - 1), label="cut")
    assert_rejected(firmware, link, frame[:cut])


def test_a_replayed_frame_is_rejected() -> None:
    firmware, link = stocked()
    frame = link.channel.seal(PING)
    assert _status(link._open(firmware.handle(frame))) == Status.OK
    assert_rejected(firmware, link, frame)


def test_reordered_frames_are_rejected() -> None:
    firmware, link = stocked()
    first, second = link.channel.seal(PING), link.channel.seal(DELETE)
    assert _status(link._open(firmware.handle(second))) == Status.OK  # the delete ran
    state = firmware.state
    [raw] = firmware.handle(first)  # the earlier counter arrives late
    assert decode_message(raw).status == Status.ACCESS_DENIED  # type: ignore[union-attr]
    assert firmware.state == state and not firmware.in_session


def test_a_retry_is_sealed_again_and_answered_from_the_cache() -> None:
    firmware, link = stocked()
    put = OtpPutRequest("ctr", SECRET, kind=OtpKind.HOTP).to_fields()
    assert _status(link.handle(encode_message(Request(8, Command.OTP_PUT, put)))) == Status.OK
    name = OtpNameRequest("ctr").to_fields()
    calculate = encode_message(Request(9, Command.OTP_CALCULATE, name))
    first = link.handle(calculate)
    assert firmware.state.credentials[1].counter == 1
    state = firmware.state
    again = link.handle(calculate)  # the same seq and plaintext, sealed under a new counter
    assert again == first and link.sent[-1] != link.sent[-2]
    assert link.received[-1] != link.received[-2]  # the cached answer was sealed afresh
    assert firmware.state == state and firmware.in_session
    # Resending the very same sealed bytes instead is a replay.
    assert_rejected(firmware, link, link.sent[-1])


def test_a_frame_of_another_session_is_rejected() -> None:
    firmware, link = stocked()
    old = link.channel
    stale = old.seal(DELETE)
    link.open()  # a new session replaces the old one
    assert_rejected(firmware, link, stale)


class TamperReplies(MemoryTransport):
    """Flips one byte of the key's next sealed answer."""

    def __init__(self, firmware: Firmware) -> None:
        super().__init__(firmware)
        self.armed = False

    def _deliver(self, messages: list[bytes]) -> None:
        if self.armed:
            messages = [m[:-1] + bytes([m[-1] ^ 0x80]) for m in messages]  # the tag
            self.armed = False
        super()._deliver(messages)


async def test_the_host_rejects_a_tampered_answer_and_closes_the_session() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
    config = HostConfig.memory()
    pair_firmware(firmware, config)
    async with TamperReplies(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=config))
        assert key.encrypted
        await key.otp_put(Credential.from_secret(SECRET), "bank")
        transport.armed = True
        with pytest.raises(SecureChannelError, match="session is closed"):
            await key.otp_calculate("bank")
        assert not key.encrypted
        await key.open_session()  # the way back: a new session
        assert (await key.otp_calculate("bank")).code.isdigit()


async def test_the_host_reports_a_session_the_key_closed() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
    config = HostConfig.memory()
    pair_firmware(firmware, config)
    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=config))
        firmware.security.close_session("test: the key lost the session")
        with pytest.raises(AccessDeniedError, match="closed the encrypted session: connect again"):
            await key.ping()
