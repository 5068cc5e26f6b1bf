"""OTP calculate round trip over a real pty: simulator vs a bare pty echo, in the same run.

Both servers run as subprocesses on a pty and use the same framing (COBS + CRC-32). The key
answers OTP commands only in an encrypted session, so the bench pairs with the simulated key's
state file first, opens a session and sends sealed OTP_CALCULATE requests (sealed ahead of the
clock, replies opened afterwards: the figure is the link plus the key's work). The echo server
gets a frame of the same size and answers with one the size of the key's sealed answer. Both
servers run at once and are measured in alternating blocks of rounds, so a change in the
machine's load during the run weighs on both alike. Printed: p50 and p99 of each and the ratio
(goal: simulator p50 <= 3x the echo's), plus the calculate through the full host stack
(KeySession over SerialTransport, host crypto included).

    python bench/serial_roundtrip.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import serial

from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import pair_state_file
from keybridge.hostconfig import HostConfig
from keybridge.protocol.commands import (
    Body,
    HandshakeBody,
    OtpNameRequest,
    OtpPutRequest,
    SetTimeRequest,
)
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure import Pairing, SecureChannel, SessionHost
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


def request(seq: int, command: Command, body: Body) -> bytes:
    return encode_message(Request(seq, command, body.to_fields()))


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


def open_session(port: serial.Serial, pairing: Pairing) -> SecureChannel:
    opening = SessionHost(pairing)
    frame = encode_frame(request(1, Command.SESSION_OPEN, HandshakeBody(opening.request())))
    reply = decode_message(round_trip(port, frame)[1])
    assert isinstance(reply, Response) and reply.status == Status.OK, reply
    return opening.finish(HandshakeBody.from_fields(reply.fields).payload)


def sealed_call(port: serial.Serial, channel: SecureChannel, message: bytes) -> Response:
    reply = decode_message(channel.open(round_trip(port, encode_frame(channel.seal(message)))[1]))
    assert isinstance(reply, Response) and reply.status == Status.OK, reply
    return reply


WARMUP = 50
BLOCK = 100
"""Rounds measured on one server before switching to the other."""


def start_echo(request_size: int, reply_size: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(reply_size)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().split()[1]


def measure(url: str, pairing: Pairing, rounds: int) -> tuple[list[float], list[float], int, int]:
    """Simulator and echo samples, interleaved in blocks; the sealed request and reply sizes."""
    with serial.serial_for_url(url, timeout=2) as port:
        channel = open_session(port, pairing)
        sealed_call(port, channel, request(2, Command.SET_TIME, SetTimeRequest(int(time.time()))))
        put = OtpPutRequest(name="bench", secret=b"12345678901234567890")
        sealed_call(port, channel, request(3, Command.OTP_PUT, put))
        # Sealed in order before timing; each with a new sequence number (a repeated one would
        # be answered from the key's cache).
        sealed = [
            channel.seal(request(4 + i, Command.OTP_CALCULATE, OtpNameRequest("bench")))
            for i in range(rounds + WARMUP)
        ]
        frames = iter([encode_frame(message) for message in sealed])
        replies = [round_trip(port, next(frames))[1] for _ in range(WARMUP)]
        request_size, reply_size = len(sealed[0]), len(replies[-1])
        process, echo_url = start_echo(request_size, reply_size)
        echo_frame = encode_frame(b"\x01" * request_size)  # the sealed request's size
        sim_samples: list[float] = []
        echo_samples: list[float] = []
        try:
            with serial.serial_for_url(echo_url, timeout=2) as echo:
                for _ in range(WARMUP):
                    round_trip(echo, echo_frame)
                while len(sim_samples) < rounds:
                    for _ in range(min(BLOCK, rounds - len(sim_samples))):
                        elapsed, reply = round_trip(port, next(frames))
                        sim_samples.append(elapsed)
                        replies.append(reply)
                    echo_samples += [round_trip(echo, echo_frame)[0] for _ in range(BLOCK)]
        finally:
            process.terminate()
            process.wait()
            process.stdout.close()  # type: ignore[union-attr]
    for reply in replies:  # every answer really was a code
        answer = decode_message(channel.open(reply))
        assert isinstance(answer, Response) and answer.status == Status.OK, answer
    return sim_samples, echo_samples[: len(sim_samples)], request_size, reply_size


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
    with tempfile.TemporaryDirectory(prefix="keybridge-bench-") as directory:
        # This host's pairings live in the scratch directory, never in the user's config.
        os.environ["KEYBRIDGE_CONFIG_DIR"] = directory
        state = Path(directory) / "key.state"
        config = HostConfig.load(directory)
        pairing = config.pairing_for(pair_state_file(state, config))
        assert pairing is not None
        with Simulator(state=state, extra_args=["-q"]) as sim:
            sim_samples, echo_samples, request_size, reply_size = measure(sim.url, pairing, rounds)
            session_samples = asyncio.run(measure_session(sim.url, max(100, rounds // 4)))

    sim_p50, sim_p99 = percentiles(sim_samples)
    echo_p50, echo_p99 = percentiles(echo_samples)
    ses_p50, ses_p99 = percentiles(session_samples)
    print(
        f"OTP calculate round trip over a pty, {rounds} rounds, sealed request {request_size}"
        f" bytes, sealed reply {reply_size} bytes"
    )
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
