"""The sealed envelope's 4-byte counter running out: the last counter works, then the side that
ran out seals nothing more, nothing further runs on the key, and a new session is the way on.

Reaching 2**32 frames for real would take weeks, so the tests move a channel's next counter
(a private attribute) to just before the end."""

from __future__ import annotations

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.testing.paired import pair_firmware
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.secure import ChannelClosedError, Pairing, SessionHost, SessionKey
from keybridge.protocol.status import AccessDeniedError
from keybridge.session import ConnectOptions, KeySession

LAST = 2**32 - 1
SECRET = b"12345678901234567890"
PAIRING = Pairing(host_id=b"H" * 16, key_id=b"K" * 16, pairing_key=b"P" * 32)


def test_the_last_counter_seals_and_opens_then_the_channel_refuses() -> None:
    opening = SessionHost(PAIRING)
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    host = opening.finish(key.accept(opening.request()))
    host._next_send = LAST
    assert host.frames_left == 1
    frame = host.seal(b"last")
    assert frame[5:9] == b"\xff\xff\xff\xff"
    assert key.channel.open(frame) == b"last"
    assert host.frames_left == 0
    with pytest.raises(ChannelClosedError, match="sealed its 4294967296 frames: open a new"):
        host.seal(b"one too many")
    assert host.closed


def _firmware() -> tuple[Firmware, HostConfig]:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
    config = HostConfig.memory()
    pair_firmware(firmware, config)
    return firmware, config


async def test_a_key_out_of_counters_runs_nothing_and_closes_the_session() -> None:
    firmware, config = _firmware()
    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=config))
        await key.otp_put(Credential.from_secret(SECRET), "bank")
        channel = firmware.security.channel
        assert channel is not None
        channel._next_send = LAST  # one answer left
        assert (await key.otp_calculate("bank")).code.isdigit()
        state = firmware.state
        with pytest.raises(AccessDeniedError, match="closed the encrypted session") as caught:
            await key.otp_delete("bank")
        assert "frame counter is exhausted" in (caught.value.detail or "")
        assert firmware.state == state  # the delete did not run
        assert not firmware.in_session and not key.encrypted
        await key.open_session()  # the way on: a new session, counters from 0
        assert [c.name for c in await key.otp_list()] == ["bank"]


class CountingTransport(MemoryTransport):
    def __init__(self, firmware: Firmware) -> None:
        super().__init__(firmware)
        self.sent = 0

    async def send(self, message: bytes) -> None:
        self.sent += 1
        await super().send(message)


async def test_a_host_out_of_counters_sends_nothing_and_says_to_open_a_new_session() -> None:
    firmware, config = _firmware()
    async with CountingTransport(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=config))
        secure = key.channel.secure
        assert secure is not None
        secure._next_send = LAST + 1
        sent = transport.sent
        with pytest.raises(ChannelClosedError, match="open a new session"):
            await key.ping(b"lost")
        assert transport.sent == sent  # nothing left the host
        assert firmware.in_session  # and the key's side is untouched
        await key.open_session()
        assert await key.ping(b"again") == b"again"
