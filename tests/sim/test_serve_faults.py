"""``serve --faults``: bad specs, a corrupting link (the host's retries give the right code or a
clear error, never a wrong one), a hang-up after N frames, a power cut mid-write, and a
simulator whose stderr nobody reads."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator
from keybridge.errors import KeybridgeError
from keybridge.otp import Credential
from keybridge.protocol.constants import Command
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.session import ConnectOptions, KeySession

MakeSimulator = Callable[..., Simulator]

RFC_SECRET = b"12345678901234567890"
RFC_CODE_AT_59 = "94287082"  # RFC 6238, SHA-1, 8 digits, T = 59


@pytest.mark.parametrize(
    ("command", "spec", "message"),
    [
        ([sys.executable, "-m", "firmware_sim", "serve"], "drop=1.5", "not a share"),
        ([sys.executable, "-m", "keybridge.cli.main", "sim", "serve"], "lose=0.1", "unknown"),
    ],
)
def test_a_bad_spec_is_one_line_and_status_2(command: list[str], spec: str, message: str) -> None:
    result = subprocess.run(
        [*command, "--faults", spec], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "--faults" in line and message in line
    assert not result.stdout


async def test_calls_over_a_corrupting_link_are_right_or_fail_clearly(
    make_simulator: MakeSimulator, reliability_long: bool
) -> None:
    """Every fault on both directions; each answer the host accepts is the right one."""
    calls = 300 if reliability_long else 30
    sim = make_simulator(
        link="tcp:127.0.0.1:0",
        clock="fixed:59",
        faults="drop=0.03,corrupt=0.03,duplicate=0.03,delay=0.02:50ms,corrupt-byte=0.0005,seed=11",
    )
    right = failed = reconnects = 0
    kinds: Counter[str] = Counter()
    started = time.monotonic()
    while right + failed < calls:
        async with KeySession.connect(sim.url, ConnectOptions(timeout=0.25, retries=4)) as key:
            if reconnects == 0:
                await key.otp_put(
                    Credential.from_secret(RFC_SECRET, digits=8), "rfc", overwrite=True
                )
            while right + failed < calls:
                try:
                    code = await key.otp_calculate("rfc")
                except KeybridgeError as exc:  # a clear error: the session may be gone
                    failed += 1
                    kinds[type(exc).__name__] += 1
                    assert str(exc) and "\n" not in str(exc)
                    break
                assert code.code == RFC_CODE_AT_59  # never a wrong code
                right += 1
        reconnects += 1
    assert right >= calls * 0.8, (right, failed)
    print(
        f"{calls} calls over a faulty link: {right} right, {failed} clear errors "
        f"({dict(kinds)}), 0 wrong, "
        f"{reconnects - 1} reconnects, {time.monotonic() - started:.1f} s"
    )


async def test_disconnect_after_n_frames_hangs_up_and_serves_the_next_connection(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator(link="tcp:127.0.0.1:0", faults="disconnect-after=6")
    for _ in range(2):  # each connection is counted afresh
        async with KeySession.connect(sim.url, ConnectOptions(timeout=0.3, retries=1)) as key:
            calls = 0
            with pytest.raises(KeybridgeError):
                while True:
                    await key.ping(b"x")
                    calls += 1
                    assert calls < 10, "the key never hung up"
            assert calls >= 1


async def test_disconnect_after_n_frames_unplugs_a_pty(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults="disconnect-after=5")
    with pytest.raises(KeybridgeError):
        async with KeySession.connect(sim.url, ConnectOptions(timeout=0.3, retries=1)) as key:
            for _ in range(10):
                await key.ping(b"x")
    assert sim.running  # the process lives on; its key is unplugged
    assert not Path(sim.url).exists()


async def test_a_power_cut_mid_write_keeps_the_old_or_the_new_state(
    make_simulator: MakeSimulator,
) -> None:
    for seed in range(3):
        sim = make_simulator(faults=f"power-cut-after-writes=2,seed={seed}")
        async with KeySession.connect(sim.url) as key:
            await key.otp_put(Credential.from_secret(RFC_SECRET), "one")
            await key.otp_put(Credential.from_secret(RFC_SECRET), "two")
            key.channel.retries = 1  # the key is gone: no need to wait for three tries
            with pytest.raises(KeybridgeError):
                await key.otp_put(
                    Credential.from_secret(RFC_SECRET), "three"
                )  # the power goes during this write
        assert sim.stop() == -signal.SIGKILL
        assert "power cut" in sim.log_text()
        sim.faults = ""
        sim.start()
        async with KeySession.connect(sim.url) as key:
            names = sorted(c.name for c in await key.otp_list())
        assert names in (["one", "two"], ["one", "three", "two"])


GET_INFO = encode_frame(encode_message(Request(1, Command.GET_INFO)))


def one_answer(url: str) -> Response:
    """Connect, ask GET_INFO, read the answer, hang up."""
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    decoder = FrameDecoder()
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(GET_INFO)
        while True:
            chunk = conn.recv(4096)  # a simulator stuck on its log fails here in 5 s
            assert chunk, "the simulator closed the connection"
            messages = decoder.feed(chunk)
            if messages:
                answer = decode_message(messages[0])
                assert isinstance(answer, Response)
                return answer


@pytest.mark.parametrize("verbose", [True, False])
def test_a_simulator_whose_stderr_nobody_reads_keeps_answering(verbose: bool) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware_sim", "serve", "--link", "tcp:127.0.0.1:0"]
        + ["--no-announce"]
        + (["-v"] if verbose else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # never read until the end: 64 KiB fill it
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().split()[1]
        for _ in range(1000 if verbose else 200):
            assert one_answer(url).status == 0
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    log = err.decode()
    if verbose:
        # -v logs each connection and frame: far more than the pipe holds, so lines were
        # dropped and counted, and the process said so once it could.
        assert "log lines dropped (stderr was not read)" in log
    else:
        # The default logs no line per connection.
        assert "client" not in log and len(log.splitlines()) <= 3, log
