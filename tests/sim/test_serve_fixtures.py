"""The pytest plugin's fixtures, the QA guide's example (run as written) and
``KEYBRIDGE_TEST_DEVICE``."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator
from firmware_sim.testing.pytest_plugin import DEVICE_ENV, SimKey
from keybridge.errors import InvalidInputError
from keybridge.otp.credential import Credential
from keybridge.protocol.status import AccessDeniedError, ButtonError, ClockError

QA_DOC = Path(__file__).parents[2] / "docs" / "qa.md"


def run_pytest(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (directory / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "-rs"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(("marker", "tests"), [("qa-example", 5), ("qa-faults-example", 3)])
def test_the_qa_guide_examples_pass_as_written(tmp_path: Path, marker: str, tests: int) -> None:
    pattern = rf"<!-- {marker} -->\n```python\n(.*?)```"
    match = re.search(pattern, QA_DOC.read_text(), re.S)
    assert match, f"docs/qa.md lost its example marked {marker}"
    (tmp_path / "test_my_key.py").write_text(match[1])
    env = {k: v for k, v in os.environ.items() if k != DEVICE_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_key.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"\b{tests} passed\b", result.stdout), result.stdout


async def test_sim_key_is_connected_with_its_clock_set(sim_key: SimKey) -> None:
    info = await sim_key.session.info()
    assert info.clock_set and info.serial == sim_key.firmware.serial
    sim_key.clock.set_offset(-3600)
    now = sim_key.clock.now()
    assert now is not None and abs(now + 3600 - sim_key.clock.source()) < 120


async def test_sim_key_scripted_button(sim_key: SimKey) -> None:
    await sim_key.session.otp_put(
        Credential.from_secret(b"12345678901234567890"), "gated", require_button=True
    )
    sim_key.button.mode = "scripted"
    sim_key.button.script.extend(["press", "deny"])
    assert (await sim_key.session.otp_calculate("gated")).code.isdigit()
    with pytest.raises(ButtonError):
        await sim_key.session.otp_calculate("gated")


async def test_sim_key_press_while_waiting(sim_key: SimKey) -> None:
    await sim_key.session.otp_put(
        Credential.from_secret(b"12345678901234567890"), "gated", require_button=True
    )
    sim_key.button.mode = "manual"
    assert not sim_key.press()  # nothing waits yet
    task = asyncio.create_task(sim_key.session.otp_calculate("gated"))

    async def until_waiting() -> None:
        while not sim_key.firmware.waiting:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(until_waiting(), 5)
    assert sim_key.press()
    assert (await task).code.isdigit()


async def test_sim_key_fixed_clock_and_unset_clock(sim_key: SimKey) -> None:
    await sim_key.session.otp_put(Credential.from_secret(b"12345678901234567890", digits=8), "rfc")
    sim_key.clock.set_fixed(59)
    assert (await sim_key.session.otp_calculate("rfc")).code == "94287082"
    sim_key.clock.set_real()
    sim_key.clock.clock.clear()  # as after a factory reset: the host has not set the time
    with pytest.raises(ClockError):
        await sim_key.session.otp_calculate("rfc")


def test_sim_key_process_is_a_ready_pty(sim_key_process: Simulator) -> None:
    assert sim_key_process.running and os.path.exists(sim_key_process.url)
    assert sim_key_process.state is not None  # in the test's tmp_path, kept across restarts


def test_test_device_variable_points_the_fixtures_at_a_running_key(
    sim_key_process: Simulator, tmp_path: Path
) -> None:
    (tmp_path / "test_external.py").write_text(
        "import pytest\n"
        "@pytest.mark.asyncio\n"
        "async def test_session(sim_key):\n"
        "    assert not sim_key.simulated and sim_key.url == " + repr(sim_key_process.url) + "\n"
        "    assert await sim_key.session.ping(b'x') == b'x'\n"
        "@pytest.mark.asyncio\n"
        "async def test_clock_is_skipped(sim_key):\n"
        "    sim_key.clock.set_fixed(59)\n"
        "def test_factory(make_simulator):\n"
        "    sim = make_simulator(keys=3)\n"
        "    assert sim.url == " + repr(sim_key_process.url) + "\n"
        "    sim.press()\n"
    )
    result = run_pytest(tmp_path, {DEVICE_ENV: sim_key_process.url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b1 passed, 2 skipped\b", result.stdout), result.stdout
    assert "points at an external key" in result.stdout


def test_simulators_left_running_are_stopped_at_interpreter_exit() -> None:
    script = (
        "from firmware_sim.simulator import Simulator\n"
        "sim = Simulator()\n"
        "sim.start()\n"
        "print(sim.pid, flush=True)\n"  # and exit without stopping it
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout)
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left behind
        os.kill(pid, 0)


async def test_sim_key_faults_retries_get_through_and_a_replay_ends_the_session(
    sim_key: SimKey,
) -> None:
    sim_key.clock.set_fixed(59)
    await sim_key.session.otp_put(Credential.from_secret(b"12345678901234567890", digits=8), "rfc")
    sim_key.session.channel.timeout = 0.1
    sim_key.session.channel.retries = 6
    sim_key.set_faults("drop=0.15,corrupt=0.05,delay=0.1:20ms,seed=5")
    for _ in range(30):
        assert (await sim_key.session.otp_calculate("rfc")).code == "94287082"
    faulty = sim_key._faulty
    assert faulty is not None and faulty.sent.dropped + faulty.received.dropped > 0
    sim_key.set_faults("duplicate=1@in")  # every request arrives twice: a replay
    with pytest.raises(AccessDeniedError, match="closed the encrypted session"):
        for _ in range(3):
            await sim_key.session.otp_calculate("rfc")
    with pytest.raises(InvalidInputError, match="make_simulator"):
        sim_key.set_faults("power-cut-after-writes=1")
