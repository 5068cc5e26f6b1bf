"""The simulator's links in this process: pty and TCP served on a background thread, and the
in-memory transport. Hosts use the real keybridge transports (pyserial) and sessions."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from firmware_sim.button import Button
from firmware_sim.clock import KeyClock
from firmware_sim.core import Firmware
from firmware_sim.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.links.serving import Device
from firmware_sim.serve import KeyServer, ServeOptions
from keybridge.errors import LinkTimeoutError, TransportError
from keybridge.protocol.channel import Channel
from keybridge.protocol.commands import PingBody
from keybridge.protocol.constants import Command, KeepaliveReason, Status
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import (
    Keepalive,
    Request,
    Response,
    decode_message,
    encode_message,
)
from keybridge.protocol.status import ButtonError
from keybridge.session import KeySession


def ping(seq: int, payload: bytes = b"hi") -> bytes:
    return encode_message(Request(seq, Command.PING, PingBody(payload).to_fields()))


class Served:
    """A KeyServer running on a thread, its keys' firmware reachable for the test."""

    def __init__(self, options: ServeOptions, button: str = "auto") -> None:
        self.firmwares: list[Firmware] = []

        def make(opts: ServeOptions, path: Path) -> Device:
            firmware = Firmware(Flash(path), KeyClock.parse(opts.clock), Button.parse(button))
            self.firmwares.append(firmware)
            return firmware

        self.server = KeyServer(options, make_device=make)
        self.urls = self.server.start()
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def call(self, fn: object) -> None:
        self.server.reactor.call_soon_threadsafe(fn)  # type: ignore[arg-type]

    def close(self) -> None:
        self.server.stop()
        self.thread.join(5)
        self.server.close()


@pytest.fixture
def served_pty(tmp_path: Path) -> Iterator[Served]:
    served = Served(ServeOptions(state=tmp_path / "key.state", announce=False))
    yield served
    served.close()


def exchange(port: serial.Serial, message: bytes, decoder: FrameDecoder | None = None) -> bytes:
    decoder = decoder or FrameDecoder()
    port.write(encode_frame(message))
    while True:
        chunk = port.read(1)
        assert chunk, "no answer from the key"
        messages = decoder.feed(chunk + port.read(port.in_waiting))
        if messages:
            return messages[0]


def test_pty_answers_pyserial_and_survives_reopening(served_pty: Served) -> None:
    url = served_pty.urls[0]
    assert url.startswith("/dev/")
    for seq in (1, 2, 3):  # the host closes and reopens: no EIO, no stale bytes
        with serial.serial_for_url(url, timeout=2) as port:
            reply = decode_message(exchange(port, ping(seq, b"round %d" % seq)))
        assert isinstance(reply, Response)
        assert (reply.seq, reply.status) == (seq, Status.OK)
        assert PingBody.from_fields(reply.fields).payload == b"round %d" % seq


def test_pty_drops_a_corrupt_frame_and_answers_the_next(served_pty: Served) -> None:
    frame = bytearray(encode_frame(ping(7)))
    frame[3] ^= 0x40  # a flipped bit: the CRC no longer matches
    with serial.serial_for_url(served_pty.urls[0], timeout=0.3) as port:
        port.write(bytes(frame) + b"\x00garbage without a delimiter")
        assert port.read(64) == b""  # nothing answers a corrupt frame
        reply = decode_message(exchange(port, ping(8)))
    assert isinstance(reply, Response) and reply.seq == 8
    assert served_pty.server.ports[0].dropped >= 1


async def test_session_over_pty(served_pty: Served) -> None:
    async with KeySession.connect(served_pty.urls[0]) as key:
        info = await key.info()
        await key.otp_put("pty", b"12345678901234567890")
        assert [c.name for c in await key.otp_list()] == ["pty"]
    assert info.serial == served_pty.firmwares[0].serial


def test_tcp_serves_one_client_at_a_time(tmp_path: Path) -> None:
    served = Served(ServeOptions(link="tcp", state=tmp_path / "k", announce=False))
    try:
        url = served.urls[0]
        assert url.startswith("socket://127.0.0.1:") and not url.endswith(":0")
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        first = socket.create_connection((host, int(port)), timeout=2)
        second = socket.create_connection((host, int(port)), timeout=2)
        with first, second:
            second.sendall(encode_frame(ping(2)))
            first.sendall(encode_frame(ping(1)))
            assert FrameDecoder().feed(first.recv(4096)) != []
            second.settimeout(0.3)
            with pytest.raises(TimeoutError):  # waits while the first client is connected
                second.recv(4096)
            first.close()
            second.settimeout(2)
            (reply,) = FrameDecoder().feed(second.recv(4096))  # served once the first left
        answer = decode_message(reply)
        assert isinstance(answer, Response) and answer.seq == 2
    finally:
        served.close()


def test_ipv6_url_has_brackets() -> None:
    from firmware_sim.links.tcp import format_url

    assert format_url("::1", 7000) == "socket://[::1]:7000"
    assert format_url("127.0.0.1", 7000) == "socket://127.0.0.1:7000"


def test_manual_button_completes_through_the_serving_loop(tmp_path: Path) -> None:
    served = Served(ServeOptions(state=tmp_path / "k", announce=False), button="manual")
    try:
        with serial.serial_for_url(served.urls[0], timeout=2) as port:
            decoder = FrameDecoder()
            reset = encode_message(Request(1, Command.RESET))
            first = decode_message(exchange(port, reset, decoder))
            assert isinstance(first, Keepalive)
            assert first.reason == KeepaliveReason.WAITING_FOR_BUTTON
            served.call(served.server.press)
            while True:  # keepalives may come first; the response follows the press
                chunk = port.read(1)
                assert chunk
                messages = [decode_message(m) for m in decoder.feed(chunk)]
                done = [m for m in messages if isinstance(m, Response)]
                if done:
                    break
        assert done[0].status == Status.OK and done[0].seq == 1
    finally:
        served.close()


# -- in-memory transport ---------------------------------------------------------------------


def memory_firmware(button: str = "auto") -> Firmware:
    return Firmware(Flash.memory(), KeyClock(), Button.parse(button))


async def test_memory_transport_round_trip_and_timeout() -> None:
    transport = MemoryTransport(memory_firmware())
    with pytest.raises(TransportError, match="closed"):
        await transport.send(ping(1))
    async with transport:
        await transport.send(ping(1))
        reply = decode_message(await transport.receive(1.0))
        assert isinstance(reply, Response) and reply.status == Status.OK
        with pytest.raises(LinkTimeoutError):
            await transport.receive(0.05)
    with pytest.raises(TransportError):
        await transport.receive(0.05)


async def test_memory_transport_lost_messages_are_retried_once() -> None:
    firmware = memory_firmware()
    async with MemoryTransport(firmware) as transport:
        channel = Channel(transport, timeout=0.2, retries=3)
        session = KeySession(channel)
        await session.set_time()
        await session.otp_put("h", b"12345678901234567890", kind="hotp")
        transport.drop_replies = 1  # the key computes, the answer is lost, the host retries
        code = await session.otp_calculate("h")
        transport.drop_requests = 1  # the request is lost before the key sees it
        again = await session.otp_calculate("h")
    assert (code.counter, again.counter) == (0, 1)  # the retried request ran only once


async def test_memory_transport_polls_for_the_button() -> None:
    firmware = memory_firmware("manual")
    async with MemoryTransport(firmware, poll_interval=0.01) as transport:
        session = KeySession(Channel(transport, timeout=1.0))
        task = asyncio.create_task(session.reset())
        while not firmware.waiting:
            await asyncio.sleep(0.01)
        firmware.button.decline()
        with pytest.raises(ButtonError):
            await task
