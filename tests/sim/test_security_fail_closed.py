"""An unpaired host fails closed: `otp add` puts no secret byte on the link, seen by a tap
that records every byte the host sends (in process, and through the CLI over TCP)."""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.simulator import Simulator
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.constants import Command
from keybridge.protocol.messages import Request, decode_message
from keybridge.protocol.status import AccessDeniedError
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport.base import Transport

MakeSimulator = Callable[..., Simulator]
SECRET = b"hes-totp-secret-20by"
SECRET_B32 = base64.b32encode(SECRET).decode()
SECRET_ARG = ("--secret", SECRET_B32)


def leaks(data: bytes) -> list[str]:
    """Which forms of the secret ``data`` holds."""
    forms = {
        "raw": SECRET,
        "base32": SECRET_B32.encode(),
        "base32 lowercase": SECRET_B32.lower().encode(),
        "hex": SECRET.hex().encode(),
    }
    return [name for name, form in forms.items() if form in data]


class Tap(Transport):
    """Records every message the host sends, then passes it on."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.description = inner.description
        self.sent: list[bytes] = []

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def send(self, message: bytes) -> None:
        self.sent.append(message)
        await self.inner.send(message)

    async def receive(self, timeout: float) -> bytes:
        return await self.inner.receive(timeout)


async def test_an_unpaired_host_sends_no_secret_byte() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
    tap = Tap(MemoryTransport(firmware))
    async with tap:
        key = await KeySession.attach(tap, ConnectOptions(config=HostConfig.memory()))
        assert not key.encrypted
        with pytest.raises(AccessDeniedError, match="pair this host with `keybridge pair` first"):
            await key.otp_put(Credential.from_secret(SECRET), "bank")
        with pytest.raises(AccessDeniedError, match="pair this host"):
            await key.set_time()
    sent = [decode_message(m) for m in tap.sent]
    assert [m.command for m in sent if isinstance(m, Request)] == [Command.GET_INFO]
    assert leaks(b"".join(tap.sent)) == []
    assert firmware.state.credentials == ()


class TcpTap:
    """A TCP relay in front of a simulator that records what the client sends."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.received = bytearray()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
            self._pipe(client, upstream, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(4096):
                if record:
                    self.received += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


def test_cli_otp_add_on_an_unpaired_host_puts_no_secret_on_the_link(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(pair=False, link="tcp:127.0.0.1:0")
    host, port = simulator.url.removeprefix("socket://").rsplit(":", 1)
    tap = TcpTap((host, int(port)))
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "keybridge",
                "--device",
                tap.url,
                "otp",
                "add",
                "bank",
                *SECRET_ARG,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        tap.close()
    assert result.returncode != 0
    assert "pair this host with `keybridge pair` first" in result.stderr
    assert tap.connections == 1 and tap.received  # the tap saw the CLI's traffic
    assert leaks(bytes(tap.received)) == []
