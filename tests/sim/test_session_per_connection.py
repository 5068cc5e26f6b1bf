"""A session lives as long as its connection, on every link: a new connection cannot seal
under the previous connection's session; and the whole sealed envelope must fit 2048 bytes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import serial

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.virtual_radio import VirtualRadio
from firmware_sim.serve import ServeOptions
from firmware_sim.testing.paired import SecureLink, pair_firmware, pair_state_file
from firmware_sim.threaded import serve_in_thread
from keybridge.hostconfig import HostConfig
from keybridge.protocol.commands import PingBody
from keybridge.protocol.constants import Command, MessageType, Status, Tag
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure import SecureChannel
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport.ble import BleBackend, BleTransport


async def session_of_a_closed_connection(url: str, config: HostConfig) -> SecureChannel:
    """Connect as a paired host, open a session, and disconnect; returns the session's end."""
    async with KeySession.connect(url, ConnectOptions(config=config)) as key:
        assert key.encrypted
        secure = key.channel.secure
        assert secure is not None
        await key.otp_list()
    return secure


def assert_no_session(reply: bytes) -> None:
    response = decode_message(reply)
    assert isinstance(response, Response), response  # plaintext: nothing was opened or run
    assert (response.seq, response.status) == (0, Status.ACCESS_DENIED)
    assert b"no encrypted session" in (response.fields.get(Tag.DETAIL) or b"")


def replay_request(old: SecureChannel) -> bytes:
    return encode_frame(old.seal(encode_message(Request(0x0999, Command.OTP_LIST))))


def read_frame(receive: object) -> bytes:
    decoder = FrameDecoder()
    while True:
        chunk = receive()  # type: ignore[operator]
        assert chunk, "no answer from the key"
        if messages := decoder.feed(chunk):
            return bytes(messages[0])


@pytest.mark.parametrize("link", ["tcp", "pty"])
async def test_a_new_connection_starts_with_no_session(tmp_path: Path, link: str) -> None:
    config = HostConfig.load(tmp_path / "host")
    state = tmp_path / "key.state"
    pair_state_file(state, config)
    with serve_in_thread(ServeOptions(link=link, state=state, announce=False)) as urls:
        old = await session_of_a_closed_connection(urls[0], config)
        if link == "tcp":
            host, port = urls[0].removeprefix("socket://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(replay_request(old))
                reply = read_frame(lambda: sock.recv(4096))
        else:
            with serial.serial_for_url(urls[0], timeout=5) as port:  # the host reopens it
                port.write(replay_request(old))
                reply = read_frame(lambda: port.read(1) + port.read(port.in_waiting))
        assert_no_session(reply)
        # A host that opens a session on the new connection, as it should, is served.
        async with KeySession.connect(urls[0], ConnectOptions(config=config)) as key:
            assert key.encrypted and await key.otp_list() == []


def sealed_key() -> tuple[Firmware, SecureLink]:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    return firmware, SecureLink(firmware, pair_firmware(firmware, host_id=bytes(16)))


@pytest.mark.parametrize("size", [2049, 2050, 2051, 2052])
def test_a_sealed_envelope_over_2048_bytes_is_refused_unopened(size: int) -> None:
    firmware, link = sealed_key()
    plaintext = encode_message(Request(5, Command.PING, PingBody(bytes(size - 25 - 7)).to_fields()))
    envelope = link.channel.seal(plaintext)
    assert len(envelope) == size
    [raw] = firmware.handle(envelope)
    response = decode_message(raw)
    assert isinstance(response, Response)
    assert (response.seq, response.command, response.status) == (0, 0, Status.BAD_MESSAGE)
    assert f"{size} bytes" in (response.fields.get(Tag.DETAIL) or b"").decode()
    assert not firmware.in_session  # as any sealed frame the key refuses


def test_an_envelope_of_2048_bytes_is_opened() -> None:
    firmware, link = sealed_key()
    plaintext = encode_message(Request(5, Command.PING, PingBody(bytes(2048 - 25 - 7)).to_fields()))
    envelope = link.channel.seal(plaintext)
    assert len(envelope) == 2048
    [raw] = firmware.handle(envelope)
    assert raw[0] == MessageType.SEALED and firmware.in_session


async def test_a_ble_reconnection_starts_with_no_session(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("manual"))
    await radio.add_key(firmware, name="kb-conn")
    config = HostConfig(None)
    async with BleTransport("ble:kb-conn", backend=backend, timeout=3, scan_timeout=2) as link:
        key = await KeySession.attach(link, ConnectOptions(config=config))
        firmware.button = Button("auto")
        await key.pairing.pair(lambda code: True)
        firmware.button = Button("manual")
        old = key.channel.secure
        assert old is not None
        # A request waits for the button when the radio link goes away.
        await link.send(old.seal(encode_message(Request(0x0777, Command.RESET))))
        await link.receive(3)  # its KEEPALIVE
        assert firmware.waiting
    assert not firmware.waiting and not firmware.in_session  # the disconnection ended both
    assert not firmware.button.press()
    async with BleTransport("ble:kb-conn", backend=backend, timeout=3, scan_timeout=2) as link:
        await link.send(old.seal(encode_message(Request(0x0999, Command.OTP_LIST))))
        assert_no_session(await link.receive(3))
    assert firmware.state.hosts  # the RESET never ran
