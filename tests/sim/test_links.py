"""The simulator's links in this process: pty and TCP served on a background thread (the host
is pyserial or a socket with raw frames), and the in-memory transport."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from firmware_sim.firmware.button import Button, Decision
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.device import Device
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.serve import KeyServer, ServeOptions
from keybridge.errors import LinkTimeoutError, TransportError
from keybridge.protocol.commands import GetInfoResponse
from keybridge.protocol.constants import Command, KeepaliveReason, Status
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import (
    Keepalive,
    Request,
    Response,
    decode_message,
    encode_message,
)


def get_info(seq: int) -> bytes:
    """GET_INFO: answered outside an encrypted session, so raw frames can exercise the link."""
    return encode_message(Request(seq, Command.GET_INFO))


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
            reply = decode_message(exchange(port, get_info(seq)))
        assert isinstance(reply, Response)
        assert (reply.seq, reply.status) == (seq, Status.OK)
        assert GetInfoResponse.from_fields(reply.fields).serial == served_pty.firmwares[0].serial


def test_pty_drops_a_corrupt_frame_and_answers_the_next(served_pty: Served) -> None:
    frame = bytearray(encode_frame(get_info(7)))
    frame[3] ^= 0x40  # a flipped bit: the CRC no longer matches
    with serial.serial_for_url(served_pty.urls[0], timeout=0.3) as port:
        port.write(bytes(frame) + b"\x00garbage without a delimiter")
        assert port.read(64) == b""  # nothing answers a corrupt frame
        reply = decode_message(exchange(port, get_info(8)))
    assert isinstance(reply, Response) and reply.seq == 8
    assert served_pty.server.ports[0].dropped >= 1


def test_tcp_serves_one_client_at_a_time(tmp_path: Path) -> None:
    served = Served(ServeOptions(link="tcp", state=tmp_path / "k", announce=False))
    try:
        url = served.urls[0]
        assert url.startswith("socket://127.0.0.1:") and not url.endswith(":0")
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        first = socket.create_connection((host, int(port)), timeout=2)
        second = socket.create_connection((host, int(port)), timeout=2)
        with first, second:
            second.sendall(encode_frame(get_info(2)))
            first.sendall(encode_frame(get_info(1)))
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


class GatedDevice:
    """Answers every request after a button press: KEEPALIVE first, the RESPONSE from poll()."""

    def __init__(self) -> None:
        self.button = Button("manual")
        self._seq: int | None = None

    @property
    def waiting(self) -> bool:
        return self._seq is not None

    def handle(self, message: bytes) -> list[bytes]:
        request = decode_message(message)
        assert isinstance(request, Request)
        self._seq = request.seq
        self.button.request(0.0)
        return [encode_message(Keepalive(request.seq, KeepaliveReason.WAITING_FOR_BUTTON))]

    def poll(self) -> list[bytes]:
        if self._seq is None or self.button.check(0.0) is Decision.PENDING:
            return []
        seq, self._seq = self._seq, None
        return [encode_message(Response(seq, Command.RESET, Status.OK))]


def test_a_press_completes_a_waiting_request_through_the_serving_loop() -> None:
    device = GatedDevice()
    server = KeyServer(ServeOptions(announce=False), make_device=lambda o, p: device)
    server.start()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with serial.serial_for_url(server.urls[0], timeout=2) as port:
            decoder = FrameDecoder()
            first = decode_message(
                exchange(port, encode_message(Request(1, Command.RESET)), decoder)
            )
            assert isinstance(first, Keepalive) and device.waiting
            server.reactor.call_soon_threadsafe(server.press)
            done: list[Response] = []
            while not done:  # the answer follows the press (polled at once)
                chunk = port.read(1)
                assert chunk, "no answer after the press"
                done = [
                    m for m in map(decode_message, decoder.feed(chunk)) if isinstance(m, Response)
                ]
        assert (done[0].seq, done[0].status) == (1, Status.OK)
    finally:
        server.stop()
        thread.join(5)
        server.close()


# -- in-memory transport ---------------------------------------------------------------------


class EchoDevice:
    """Echoes every message; poll() hands out what a test queued."""

    def __init__(self) -> None:
        self.handled: list[bytes] = []
        self.later: list[bytes] = []

    def handle(self, message: bytes) -> list[bytes]:
        self.handled.append(message)
        return [message]

    def poll(self) -> list[bytes]:
        out, self.later = self.later, []
        return out


async def test_memory_transport_round_trip_and_timeout() -> None:
    transport = MemoryTransport(EchoDevice())
    with pytest.raises(TransportError, match="closed"):
        await transport.send(b"early")
    async with transport:
        await transport.send(b"hello")
        assert await transport.receive(1.0) == b"hello"
        with pytest.raises(LinkTimeoutError):
            await transport.receive(0.05)
    with pytest.raises(TransportError):
        await transport.receive(0.05)


async def test_memory_transport_faults_drop_requests_and_replies() -> None:
    device = EchoDevice()
    async with MemoryTransport(device) as transport:
        transport.drop_requests = 1
        await transport.send(b"lost before the key")
        transport.drop_replies = 1
        await transport.send(b"answer lost")
        await transport.send(b"through")
        assert await transport.receive(1.0) == b"through"
    assert device.handled == [b"answer lost", b"through"]
    assert (transport.drop_requests, transport.drop_replies) == (0, 0)


async def test_memory_transport_delivers_what_polling_produces() -> None:
    device = EchoDevice()
    async with MemoryTransport(device, poll_interval=0.01) as transport:
        device.later.append(b"from the timer")
        assert await transport.receive(1.0) == b"from the timer"
        device.later.append(b"poked")
        transport.poke()
        assert await transport.receive(0.001) == b"poked"
