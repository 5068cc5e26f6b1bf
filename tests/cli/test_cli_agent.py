"""The CLI through a running agent: the same stdout, stderr and exit codes as a direct
connection, the PIN asked once and then kept, and ``agent start|status|stop``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from firmware_sim.simulator import Simulator
from keybridge.cli.main import cli

SECRET = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"
NAME = "HES.Web:admin@example.com"

# A sequence that leaves the key as it found it, so it can run twice (direct, then through the
# agent) with the same outputs; HOTP codes are deterministic.
COMMANDS: list[tuple[list[str], str | None]] = [
    (["otp", "add", NAME, "--secret", SECRET, "--hotp", "--force"], None),
    (["otp", "code", NAME], None),
    (["--json", "otp", "code", NAME], None),
    (["otp", "list"], None),
    (["--json", "otp", "list"], None),
    (["info"], None),
    (["--json", "info"], None),
    (["otp", "code", "HES.Web:nobody"], None),
    (["--json", "otp", "code", "HES.Web:nobody"], None),
    (["otp", "add", NAME, "--secret", SECRET], None),
    (["otp", "add", "x", "--secret", "not base32!"], None),
    (["otp", "rename", NAME, "HES.Web:other"], None),
    (["otp", "rename", NAME, "HES.Web:again"], None),
    (["otp", "rename", "HES.Web:other", NAME], None),
    (["otp", "type", NAME, "--to", "stdout", "--enter"], None),
    (["--json", "otp", "type", NAME, "--to", "stdout"], None),
    (["otp", "delete", "HES.Web:nobody", "--force"], None),
    (["otp", "add", "HES.Web:second", "--secret", SECRET], None),
    (["otp", "delete", "HES.Web:second", "--force"], None),
    (["pin", "verify"], "1234\n"),
    (["unpair", "--list"], None),
]


@pytest.fixture
def socket_path() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="kb-cli-", dir="/tmp"))
    yield directory / "agent.sock"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def simulator(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(clock="fixed:1700000015")


@contextlib.contextmanager
def running_agent(url: str, socket_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``keybridge agent`` in the foreground, in a subprocess, once it printed READY."""
    env = {**os.environ, "KEYBRIDGE_AGENT_SOCKET": str(socket_path)}
    command = [sys.executable, "-m", "keybridge", "--device", url, "agent"]
    process = subprocess.Popen(
        [*command, "--pin-timeout", "60"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == f"READY agent {socket_path}\n"
        yield process
    finally:
        process.terminate()
        assert process.wait(10) == 0
        process.stdout.close()
    assert not socket_path.exists()  # removed on the way out


@pytest.fixture
def agent(simulator: Simulator, socket_path: Path) -> Iterator[subprocess.Popen[str]]:
    with running_agent(simulator.url, socket_path) as process:
        yield process


def keybridge(url: str, socket: Path | str, args: list[str], input: str | None = None) -> Result:
    env = {"KEYBRIDGE_AGENT_SOCKET": str(socket)}
    return CliRunner().invoke(cli, ["--device", url, *args], input=input, env=env)


def test_every_command_gives_the_same_output_through_the_agent(
    simulator: Simulator, socket_path: Path
) -> None:
    # Direct first: while the agent runs it holds the key's link.
    direct = [keybridge(simulator.url, socket_path, a, i) for a, i in COMMANDS]
    with running_agent(simulator.url, socket_path):
        through = [keybridge(simulator.url, socket_path, a, i) for a, i in COMMANDS]
    for (args, _), d, t in zip(COMMANDS, direct, through, strict=True):
        assert (t.exit_code, t.stdout, t.stderr) == (d.exit_code, d.stdout, d.stderr), args
    assert {r.exit_code for r in direct} >= {0, 1, 2}  # successes and both kinds of error
    assert "agent" not in " ".join(r.output for r in through)


def test_the_agent_is_used_only_while_it_runs(simulator: Simulator, socket_path: Path) -> None:
    socket_path.touch()  # a stale socket file, no agent: a direct connection
    assert keybridge(simulator.url, socket_path, ["info"]).exit_code == 0


def test_another_device_than_the_agents_connects_directly(
    simulator: Simulator, socket_path: Path, agent: subprocess.Popen[str], tmp_path: Path
) -> None:
    result = keybridge(str(tmp_path / "no-such-port"), socket_path, ["info"])
    assert result.exit_code == 3  # tried directly, not answered by the agent's key


def test_the_pin_is_asked_once_then_kept_by_the_agent(
    simulator: Simulator, socket_path: Path, agent: subprocess.Popen[str]
) -> None:
    assert keybridge(simulator.url, socket_path, ["pin", "set"], "1234\n1234\n").exit_code == 0
    keybridge(simulator.url, socket_path, ["otp", "add", NAME, "--secret", SECRET], "1234\n")
    first = keybridge(simulator.url, socket_path, ["otp", "list"])  # kept since the add
    assert first.exit_code == 0 and NAME in first.stdout and "PIN" not in first.stderr
    status = keybridge(simulator.url, socket_path, ["--json", "agent", "status"])
    assert '"unlocked": true' in status.stdout
    assert keybridge(simulator.url, socket_path, ["agent", "lock"]).exit_code == 0
    locked = keybridge(simulator.url, socket_path, ["otp", "list"])
    assert locked.exit_code == 1 and "PIN" in locked.stderr


def test_agent_start_status_stop(simulator: Simulator, socket_path: Path) -> None:
    env = {**os.environ, "KEYBRIDGE_AGENT_SOCKET": str(socket_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "keybridge", "--device", simulator.url, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert run("agent", "status").returncode == 3
    started = run("agent", "start", "--pin-timeout", "30")
    assert started.returncode == 0, started.stderr
    assert "Agent started" in started.stdout and str(socket_path) in started.stdout
    again = run("agent", "start")
    assert again.returncode == 1 and "already runs" in again.stderr
    status = run("agent", "status")
    assert status.returncode == 0 and "PIN timeout: 30 s" in status.stdout
    assert run("otp", "list").returncode == 0
    stopped = run("agent", "stop")
    assert stopped.returncode == 0 and "Agent stopped" in stopped.stdout
    assert not socket_path.exists()
    gone = run("agent", "status")
    assert gone.returncode == 3 and gone.stderr.count("\n") == 1


FULL = "from keybridge.cli.main import main; main()"
"""The full command, without the console script's fast path."""


def test_the_fast_path_prints_what_the_full_command_prints(
    simulator: Simulator, socket_path: Path
) -> None:
    for name in ("HES.Web:a", "HES.Web:b"):  # twins: the same HOTP code from each
        setup = ["otp", "add", name, "--secret", SECRET, "--hotp"]
        assert keybridge(simulator.url, "off", setup).exit_code == 0
    assert keybridge(simulator.url, "off", ["otp", "add", NAME, "--secret", SECRET]).exit_code == 0
    env = {**os.environ, "KEYBRIDGE_AGENT_SOCKET": str(socket_path)}

    def run(fast: bool, *args: str, input: str | None = None) -> tuple[int, str, str]:
        entry = ["-m", "keybridge"] if fast else ["-c", FULL]
        command = [sys.executable, *entry, "--device", simulator.url, *args]
        done = subprocess.run(
            command, env=env, input=input, capture_output=True, text=True, timeout=60
        )
        return done.returncode, done.stdout, done.stderr

    with running_agent(simulator.url, socket_path):
        assert run(True, "otp", "code", "HES.Web:a") == run(False, "otp", "code", "HES.Web:b")
        fast, full = run(True, "otp", "code", NAME), run(False, "otp", "code", NAME)
        assert fast[0] == full[0] == 0 and fast[2] == full[2] == ""
        assert fast[1].split()[0] == full[1].split()[0]  # the code; "valid for" may tick
        assert fast[1].split()[1:3] == full[1].split()[1:3] == ["(valid", "for"]
        missing = ("otp", "code", "HES.Web:nobody")
        assert run(True, *missing) == run(False, *missing)
        # A PIN to ask for: the fast path leaves it to the full command.
        assert run(False, "pin", "set", input="1234\n1234\n")[0] == 0
        fast = run(True, "otp", "code", "HES.Web:a", input="1234\n")  # asks, then kept
        assert run(False, "agent", "lock")[0] == 0
        assert fast == run(False, "otp", "code", "HES.Web:b", input="1234\n")
        assert "PIN" in fast[2]


def test_the_fast_path_matches_names_as_the_full_command(
    simulator: Simulator, socket_path: Path
) -> None:
    """Exact, case-insensitive, a unique part, several matches, none: the same output and
    exit code with the console script's fast path as with the full command."""
    for name in ("HES.Web:a", "HES.Web:b"):  # twins: the same HOTP code from each
        setup = ["otp", "add", name, "--secret", SECRET, "--hotp"]
        assert keybridge(simulator.url, "off", setup).exit_code == 0
    assert keybridge(simulator.url, "off", ["otp", "add", NAME, "--secret", SECRET]).exit_code == 0
    env = {**os.environ, "KEYBRIDGE_AGENT_SOCKET": str(socket_path)}

    def run(fast: bool, *args: str) -> tuple[int, str, str]:
        entry = ["-m", "keybridge"] if fast else ["-c", FULL]
        command = [sys.executable, *entry, "--device", simulator.url, "otp", "code", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr

    with running_agent(simulator.url, socket_path):
        # Each HOTP twin counts up once per code: the fast path asks one, the full command
        # the other, so the two codes are equal.
        for fast_query, full_query in [
            ("HES.Web:a", "HES.Web:b"),  # exact
            ("hes.web:A", "HES.WEB:B"),  # equal ignoring case (though ":a" is in admin@ too)
        ]:
            fast, full = run(True, fast_query), run(False, full_query)
            assert fast == full and fast[0] == 0, (fast_query, fast, full)
        # A unique part of the TOTP credential's name (the simulator's clock is fixed).
        fast, full = run(True, "ADMIN@"), run(False, "admin@")
        assert fast[0] == full[0] == 0 and fast[2] == full[2] == ""
        assert fast[1].split()[0] == full[1].split()[0]  # the code; "valid for" may tick
        for query in ("web:", "nobdy"):  # several: listed, exit 2; none: the nearest
            fast, full = run(True, query), run(False, query)
            assert fast == full and fast[0] in (1, 2), (query, fast)
        assert "matches 3 credentials" in run(True, "web:")[2]
        assert "did you mean" in run(True, "HES.Web:nobdy")[2]


def test_the_fast_path_loads_neither_click_nor_asyncio(
    simulator: Simulator, socket_path: Path
) -> None:
    assert keybridge(simulator.url, "off", ["otp", "add", NAME, "--secret", SECRET]).exit_code == 0
    second = ["otp", "add", "HES.Web:x", "--secret", SECRET]
    assert keybridge(simulator.url, "off", second).exit_code == 0

    def probe(query: str) -> str:
        """The fast path's exit status for ``otp code QUERY`` (None: the full command runs),
        and the heavy modules it loaded."""
        program = (
            "import sys\n"
            "from keybridge.cli.fast import _fast\n"
            f"status = _fast(['--device', {simulator.url!r}, 'otp', 'code', {query!r}])\n"
            "heavy = ('click', 'asyncio', 'keybridge.session.core', 'cryptography', 'serial')\n"
            "print(status, [m for m in heavy if m in sys.modules])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
        )
        last: str = done.stdout.splitlines()[-1] if done.stdout else done.stderr
        return last

    env = {**os.environ, "KEYBRIDGE_AGENT_SOCKET": str(socket_path)}
    with running_agent(simulator.url, socket_path):
        # The exact name, and a unique part of one: answered by the fast path itself.
        assert probe(NAME) == "0 []"
        assert probe("ADMIN") == "0 []"
        # A part matching several, or nothing: the full command runs and says so.
        assert probe("web:") == "None []"
        assert probe("nobody") == "None []"


def test_pairing_through_the_agent_then_the_session_is_encrypted(
    make_simulator: Callable[..., Simulator], socket_path: Path
) -> None:
    unpaired = make_simulator(pair=False)
    with running_agent(unpaired.url, socket_path):
        refused = keybridge(unpaired.url, socket_path, ["otp", "list"])
        assert refused.exit_code == 1 and "pair" in refused.stderr  # as directly: not paired
        paired = keybridge(unpaired.url, socket_path, ["pair", "--yes"])  # confirm via events
        assert paired.exit_code == 0, paired.output
        assert "Pairing code:" in paired.stderr and "Paired with key" in paired.stdout
        stored = keybridge(unpaired.url, socket_path, ["otp", "add", NAME, "--secret", SECRET])
        assert stored.exit_code == 0, stored.output
        hosts = keybridge(unpaired.url, socket_path, ["unpair", "--list"])
        assert hosts.exit_code == 0 and "(this host)" in hosts.stdout
        assert keybridge(unpaired.url, socket_path, ["unpair"]).exit_code == 0
        again = keybridge(unpaired.url, socket_path, ["otp", "list"])
        assert again.exit_code == 1 and "pair" in again.stderr


def test_an_agent_on_the_ble_virtual_radio(
    make_simulator: Callable[..., Simulator], socket_path: Path
) -> None:
    key = make_simulator(link="ble-virtual")
    with running_agent(key.url, socket_path):
        for _ in range(2):  # the second one on the link the agent kept open
            result = keybridge(
                key.url, socket_path, ["otp", "add", NAME, "--secret", SECRET, "--force"]
            )
            assert result.exit_code == 0, result.output
            listed = keybridge(key.url, socket_path, ["otp", "list"])
            assert listed.exit_code == 0 and NAME in listed.stdout
