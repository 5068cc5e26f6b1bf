"""The serial transport over loop://, a pty and socket://, and URL resolution."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator

import pytest

from keybridge.errors import (
    DeviceNotFoundError,
    InvalidInputError,
    LinkTimeoutError,
    TransportError,
)
from keybridge.log import TRAFFIC, hexdump
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.transport import SerialTransport, is_ble_url, open_transport
from keybridge.transport import serial as serial_module

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="ptys and fds are POSIX")


async def test_loopback_round_trip_logs_traffic(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(TRAFFIC, logger="keybridge.traffic")
    async with SerialTransport("loop://") as link:
        await link.send(b"\x01\x00\x07\x02hello")
        assert await link.receive(2.0) == b"\x01\x00\x07\x02hello"
    dumps = [r.getMessage() for r in caplog.records if r.levelno == TRAFFIC]
    assert len(dumps) == 2
    assert dumps[0].startswith("-> loop://") and "01 00 07 02 68 65 6c 6c 6f" in dumps[0]
    assert dumps[1].startswith("<- loop://")


async def test_corrupt_frames_are_dropped_and_the_next_one_arrives() -> None:
    async with SerialTransport("loop://") as link:
        good = encode_frame(b"\x02\x00\x01\x01\x00")
        bad = bytearray(encode_frame(b"\x02\x00\x01\x01\x00"))
        bad[3] ^= 0x40
        assert link._serial is not None
        link._serial.write(b"noise" + bytes(bad) + good)
        assert await link.receive(2.0) == b"\x02\x00\x01\x01\x00"
        assert link.decoder.dropped >= 1


async def test_receive_times_out_with_link_timeout() -> None:
    async with SerialTransport("loop://") as link:
        with pytest.raises(LinkTimeoutError, match="loop://"):
            await link.receive(0.01)


async def test_use_before_open_is_a_transport_error() -> None:
    link = SerialTransport("loop://")
    with pytest.raises(TransportError, match="not open"):
        await link.send(b"x")
    with pytest.raises(TransportError, match="not open"):
        await link.receive(0.01)
    await link.close()  # closing a transport that never opened is harmless


async def test_missing_device_names_the_path_and_the_simulator() -> None:
    with pytest.raises(DeviceNotFoundError, match=r"no key at /dev/nonexistent-kb.*firmware_sim"):
        await SerialTransport("/dev/nonexistent-kb").open()


async def test_refused_port_is_device_not_found() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"socket://127.0.0.1:{port}"
    with pytest.raises(DeviceNotFoundError, match=f"no key at {url}"):
        await SerialTransport(url).open()


@pytest.mark.parametrize("reader", ["fd", "thread"])
async def test_pty_frames_both_ways_and_hangup_is_a_transport_error(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reader == "thread":  # as on platforms without fd readers
        monkeypatch.setattr(serial_module, "_fileno", lambda port: None)
    master, slave = os.openpty()
    try:
        link = SerialTransport(os.ttyname(slave))
        await link.open()
        assert (link._thread is None) == (reader == "fd")
        os.write(master, encode_frame(b"from the key"))
        assert await link.receive(2.0) == b"from the key"
        await link.send(b"from the host")
        decoder = FrameDecoder()
        received: list[bytes] = []
        while not received:
            received = decoder.feed(await asyncio.to_thread(os.read, master, 256))
        assert received == [b"from the host"]
        os.close(master)
        os.close(slave)
        master = slave = -1
        with pytest.raises(TransportError, match="lost the link"):
            await link.receive(2.0)
        with pytest.raises(TransportError, match="lost the link"):
            await link.send(b"again")
        await link.close()
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        writers.append(writer)
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"socket://127.0.0.1:{port}", writers
    for writer in writers:
        writer.close()
    await asyncio.gather(*handlers)
    server.close()
    await server.wait_closed()


async def test_socket_url_round_trip_and_disconnect(
    echo_server: tuple[str, list[asyncio.StreamWriter]],
) -> None:
    url, writers = echo_server
    link = open_transport(url)
    assert isinstance(link, SerialTransport)
    async with link:
        assert link._thread is None  # sockets are read through the loop's fd reader
        await link.send(b"\x00zeros\x00inside")
        assert await link.receive(2.0) == b"\x00zeros\x00inside"
        writers[0].close()
        with pytest.raises(TransportError, match=f"lost the link to the key at {url}"):
            await link.receive(2.0)


def test_open_transport_resolves_serial_urls() -> None:
    assert isinstance(open_transport("/dev/ttyACM0"), SerialTransport)
    assert open_transport(" socket://localhost:7000 ").description == "socket://localhost:7000"


@pytest.mark.parametrize("url", ["", "   ", "http://example.com", "usb://1234"])
def test_open_transport_refuses_unknown_urls(url: str) -> None:
    with pytest.raises(InvalidInputError, match="socket://HOST:PORT"):
        open_transport(url)


def test_ble_urls_without_ble_support_give_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keybridge.transport.ble", None)  # import now fails
    assert is_ble_url("ble://AA:BB:CC:DD:EE:FF") and is_ble_url("BLE:my key")
    with pytest.raises(DeviceNotFoundError, match="BLE support is not available"):
        open_transport("ble:my key")


def test_traffic_level_sits_below_debug() -> None:
    assert TRAFFIC < logging.DEBUG
    assert logging.getLevelName(TRAFFIC) == "TRAFFIC"


def test_hexdump_shows_offsets_hex_and_ascii() -> None:
    dump = hexdump(bytes(range(0x41, 0x41 + 18)))
    lines = dump.splitlines()
    assert lines[0].startswith("0000  41 42 43") and lines[0].endswith("ABCDEFGHIJKLMNOP")
    assert lines[1].startswith("0010  51 52") and lines[1].endswith("QR")
    assert hexdump(b"") == "0000  (empty)"
    assert hexdump(b"\x00\xff").endswith("..")
