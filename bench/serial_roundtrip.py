"""OTP calculate round trip over a real pty: simulator vs a bare pty echo, in the same run.

Both servers run as subprocesses on a pty and use the same framing (COBS + CRC-32). The host
writes the same OTP_CALCULATE request frame to each; the simulator answers with the code, the
echo server with a message of exactly the size of the simulator's answer. Printed: p50 and p99
of each and the ratio (goal: simulator p50 <= 3x the echo's), plus the same calculate through
the full host stack (KeySession over SerialTransport) for reference.

    python bench/serial_roundtrip.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import serial

from firmware_sim.simulator import Simulator
from keybridge.protocol.commands import OtpNameRequest, OtpPutRequest, SetTimeRequest
from keybridge.protocol.constants import Command
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import Request, encode_message
from keybridge.session import KeySession

ECHO_SERVER = r"""
import os, select, sys, tty
from keybridge.protocol.framing import FrameDecoder, encode_frame
size = int(sys.argv[1])
master, slave = os.openpty()
tty.setraw(slave)
print("READY", os.ttyname(slave), flush=True)
decoder = FrameDecoder()
reply = encode_frame(b"\x02" * size)
while True:
    select.select([master], [], [])
    for _ in decoder.feed(os.read(master, 4096)):
        os.write(master, reply)
"""


def request(seq: int, command: Command, body: object) -> bytes:
    return encode_message(Request(seq, command, body.to_fields()))  # type: ignore[attr-defined]


def round_trip(port: serial.Serial, frame: bytes) -> tuple[float, bytes]:
    decoder = FrameDecoder()
    start = time.perf_counter()
    port.write(frame)
    while True:
        messages = decoder.feed(port.read(max(1, port.in_waiting)))
        if messages:
            return time.perf_counter() - start, messages[0]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure_simulator(url: str, rounds: int) -> tuple[list[float], int]:
    with serial.serial_for_url(url, timeout=2) as port:
        round_trip(
            port, encode_frame(request(1, Command.SET_TIME, SetTimeRequest(int(time.time()))))
        )
        put = OtpPutRequest(name="bench", secret=b"12345678901234567890")
        round_trip(port, encode_frame(request(2, Command.OTP_PUT, put)))
        samples: list[float] = []
        size = 0
        for i in range(rounds + 50):
            # A new sequence number each time: a repeated one would be answered from the cache.
            frame = encode_frame(
                request(3 + i % 60000, Command.OTP_CALCULATE, OtpNameRequest("bench"))
            )
            elapsed, reply = round_trip(port, frame)
            size = len(reply)
            if i >= 50:  # warm-up
                samples.append(elapsed)
    return samples, size


def measure_echo(size: int, rounds: int) -> list[float]:
    process = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(size)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[1]
        frame = encode_frame(request(3, Command.OTP_CALCULATE, OtpNameRequest("bench")))
        with serial.serial_for_url(url, timeout=2) as port:
            samples = [round_trip(port, frame)[0] for _ in range(rounds + 50)]
        return samples[50:]
    finally:
        process.terminate()
        process.wait()


async def measure_session(url: str, rounds: int) -> list[float]:
    samples = []
    async with KeySession.connect(url) as key:
        for _ in range(rounds):
            start = time.perf_counter()
            await key.otp_calculate("bench")
            samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    rounds = parser.parse_args().rounds
    with Simulator(extra_args=["-q"]) as sim:
        sim_samples, size = measure_simulator(sim.url, rounds)
        session_samples = asyncio.run(measure_session(sim.url, max(100, rounds // 4)))
    echo_samples = measure_echo(size, rounds)

    sim_p50, sim_p99 = percentiles(sim_samples)
    echo_p50, echo_p99 = percentiles(echo_samples)
    ses_p50, ses_p99 = percentiles(session_samples)
    print(f"OTP calculate round trip over a pty, {rounds} rounds, reply {size} bytes")
    print(f"  bare pty echo        p50 {echo_p50 * 1e6:8.0f} us   p99 {echo_p99 * 1e6:8.0f} us")
    print(f"  simulator (raw host) p50 {sim_p50 * 1e6:8.0f} us   p99 {sim_p99 * 1e6:8.0f} us")
    print(
        f"  ratio simulator/echo p50 {sim_p50 / echo_p50:8.2f} x   p99 {sim_p99 / echo_p99:8.2f} x"
    )
    print(
        f"  KeySession (host stack, {len(session_samples)} rounds) "
        f"p50 {ses_p50 * 1e6:.0f} us   p99 {ses_p99 * 1e6:.0f} us"
    )


if __name__ == "__main__":
    main()
