"""Giving up on a request the key waits for cancels it on the key: `keybridge reset --yes`,
then Ctrl-C (or SIGTERM, or a killed host) while the key waits for its button, then a press:
nothing is erased and the key is idle at once. Real processes: a simulator and the CLI."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator

MakeSimulator = Callable[..., Simulator]
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 6238's SHA1 secret


def keybridge(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keybridge", "--device", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_reset(url: str, *command: str) -> subprocess.Popen[str]:
    """`keybridge reset --yes` (or ``command``), returned once it shows the button prompt."""
    process = subprocess.Popen(
        [sys.executable, "-m", "keybridge", "--device", url, *(command or ("reset", "--yes"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 30  # a bound on a hang, not a timing assertion
    seen = ""
    while "Press the button" not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stderr], [], [], max(0.0, left))
        if not ready:
            process.kill()
            pytest.fail(f"the CLI never showed the button prompt: {seen!r}")
        line = process.stderr.readline()
        if not line:
            pytest.fail(f"the CLI exited before the prompt ({process.wait()}): {seen!r}")
        seen += line
    return process


def credentials(url: str) -> list[str]:
    listed = keybridge(url, "--json", "otp", "list")
    assert listed.returncode == 0, listed.stderr  # answered at once: the key is not busy
    return [entry["name"] for entry in json.loads(listed.stdout)]


@pytest.fixture
def waiting_key(make_simulator: MakeSimulator) -> Simulator:
    simulator = make_simulator(button="manual")
    added = keybridge(simulator.url, "otp", "add", "bank", "--secret", SECRET)
    assert added.returncode == 0, added.stderr
    return simulator


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_reset_erases_nothing(waiting_key: Simulator, signum: int) -> None:
    process = start_reset(waiting_key.url)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    waiting_key.press()  # the key no longer waits: the press does nothing
    assert credentials(waiting_key.url) == ["bank"]
    assert waiting_key.running


def test_a_host_killed_during_the_wait_leaves_the_key_idle(waiting_key: Simulator) -> None:
    process = start_reset(waiting_key.url)
    os.kill(process.pid, signal.SIGKILL)  # no CANCEL: the next connection ends the wait
    process.communicate(timeout=30)
    assert credentials(waiting_key.url) == ["bank"]  # not "busy with another request"
    waiting_key.press()
    assert credentials(waiting_key.url) == ["bank"]


def test_an_interrupted_pair_keeps_the_old_pairing_on_both_ends(waiting_key: Simulator) -> None:
    pairings = Path(os.environ["KEYBRIDGE_CONFIG_DIR"]) / "pairings.json"
    before = pairings.read_bytes()
    process = start_reset(waiting_key.url, "pair", "--yes")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    waiting_key.press()  # nothing waits: no pairing is stored
    assert pairings.read_bytes() == before
    assert credentials(waiting_key.url) == ["bank"]  # the old pairing still opens sessions
    info = keybridge(waiting_key.url, "--json", "info")
    assert json.loads(info.stdout)["paired_hosts"] == 1
