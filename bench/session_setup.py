"""Cost of the security layer: session set-up and the per-frame AEAD, against plaintext.

1. Set-up, over a real pty to a simulator subprocess whose key is already paired with this
   host: round trips counted on the transport, and the time of ``open_session()`` (SESSION_OPEN,
   both ephemeral X25519 exchanges and key derivations) against a plaintext GET_INFO round trip
   measured in the same run. Goal: <= 2 round trips.
2. Per frame: OTP_CALCULATE through the host's Channel, sealed in a session against the same
   request unsealed. A key answers OTP commands only sealed, so the unsealed baseline needs a
   bench-only door: a device wrapper that hands the plaintext straight to the firmware core's
   dispatcher, as if it had come out of the session's envelope (never in the simulator). Both
   run on the same firmware, served on ptys by one in-process server thread, and in memory
   (no link at all: the layer's own cost). Goal: sealed <= 1.3x unsealed.

    python bench/session_setup.py [--rounds 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.serve import KeyServer, ServeOptions
from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import pair_firmware, pair_state_file
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.channel import Channel
from keybridge.protocol.commands import OtpNameRequest
from keybridge.protocol.constants import Command
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport import open_transport
from keybridge.transport.base import Transport

UNSEALED = frozenset(Command)
"""The baseline sends OTP_CALCULATE unsealed on purpose (a real host refuses to: it fails
closed), to measure what sealing costs."""

SECRET = b"12345678901234567890"


class Counting(Transport):
    """Counts the messages the host sends (one per round trip here: no retries happen)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.description = inner.description
        self.sent = 0

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def send(self, message: bytes) -> None:
        self.sent += 1
        await self.inner.send(message)

    async def receive(self, timeout: float) -> bytes:
        return await self.inner.receive(timeout)


class UnsealedDoor:
    """Bench only: plaintext requests reach the core as if opened from ``firmware``'s session."""

    def __init__(self, firmware: Firmware) -> None:
        self.firmware = firmware
        self.button = firmware.button

    @property
    def waiting(self) -> bool:
        return self.firmware.waiting

    def handle(self, message: bytes) -> list[bytes]:
        channel = self.firmware.security.channel
        assert channel is not None, "open a session first"
        return self.firmware._dispatch(message, channel)

    def poll(self) -> list[bytes]:
        return self.firmware.poll()


async def timed(call: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def line(name: str, samples: list[float], baseline: list[float] | None = None) -> str:
    ms = p50(samples) * 1000
    ratio = f"  {p50(samples) / p50(baseline):.2f}x" if baseline else ""
    return f"  {name:<44} p50 {ms:7.3f} ms{ratio}"


async def set_up(rounds: int, workdir: Path) -> None:
    config = HostConfig.load(workdir / "host")
    state = workdir / "key.state"
    pair_state_file(state, config)
    with Simulator(state=state) as sim:
        counting = Counting(open_transport(sim.url))
        async with counting:
            key = KeySession(Channel(counting), config=config)
            key.key_info = await key.info()  # the serial names the pairing to use
            plain = await timed(lambda: key.channel.exchange(Command.GET_INFO), rounds)
            before = counting.sent
            await key.open_session()
            round_trips = counting.sent - before
            setup = await timed(key.open_session, rounds)
            first = await timed(_open_then_ping(key), rounds)
    print(f"Session set-up over a pty to a simulator process ({rounds} rounds each):")
    print(f"  round trips to open a session: {round_trips} (goal <= 2)")
    print(line("GET_INFO round trip, plaintext (baseline)", plain))
    print(line("open_session (SESSION_OPEN + X25519 + HKDF)", setup, plain))
    print(line("open_session + first sealed PING", first, plain))


def _open_then_ping(key: KeySession) -> Callable[[], Awaitable[object]]:
    async def go() -> None:
        await key.open_session()
        await key.ping()

    return go


async def per_frame(rounds: int, workdir: Path) -> None:
    def firmware() -> tuple[Firmware, HostConfig]:
        fw = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button("auto"))
        config = HostConfig.memory()
        pair_firmware(fw, config)
        return fw, config

    # In memory: the layer's own cost, no link.
    fw, config = firmware()
    async with MemoryTransport(fw) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=config))
        await key.otp_put(Credential.from_secret(SECRET), "bench")
        sealed = await timed(lambda: key.otp_calculate("bench"), rounds)
        async with MemoryTransport(UnsealedDoor(fw)) as door:
            plain_channel = Channel(door, plaintext=UNSEALED)
            plain = await timed(_calculate(plain_channel), rounds)
    print(f"\nPer-frame AEAD cost, OTP_CALCULATE ({rounds} rounds each):")
    print(line("in memory, unsealed (baseline)", plain))
    print(line("in memory, sealed", sealed, plain))

    # Over ptys served by one in-process server: the same firmware behind two ports.
    fw, config = firmware()
    devices: list[object] = [fw, UnsealedDoor(fw)]
    server = KeyServer(
        ServeOptions(keys=2, announce=False, state=workdir / "unused.state"),
        make_device=lambda options, path: devices.pop(0),  # type: ignore[arg-type,return-value]
    )
    sealed_url, plain_url = server.start()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        async with open_transport(sealed_url) as link:
            key = await KeySession.attach(link, ConnectOptions(config=config))
            await key.otp_put(Credential.from_secret(SECRET), "bench")
            async with open_transport(plain_url) as plain_link:
                plain_channel = Channel(plain_link, plaintext=UNSEALED)
                sealed, plain = [], []
                for _ in range(rounds):  # interleaved, so drift hits both alike
                    sealed += await timed(lambda: key.otp_calculate("bench"), 1)
                    plain += await timed(_calculate(plain_channel), 1)
    finally:
        server.stop()
        thread.join(5)
        server.close()
    print(line("over a pty, unsealed (baseline)", plain))
    print(line("over a pty, sealed", sealed, plain))
    print("  goal: sealed <= 1.3x unsealed")


def _calculate(channel: Channel) -> Callable[[], Awaitable[object]]:
    async def go() -> None:
        await channel.call(Command.OTP_CALCULATE, OtpNameRequest("bench"))

    return go


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="keybridge-bench-") as tmp:
        await set_up(rounds, Path(tmp))
        await per_frame(rounds, Path(tmp))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    asyncio.run(main(parser.parse_args().rounds))
