"""``python -m firmware_sim serve``: options, READY lines, many keys, signals, dead processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.serve import ServeOptions, parse_args, parse_link
from firmware_sim.simulator import Simulator, SimulatorError
from firmware_sim.state_files import state_paths
from keybridge.errors import InvalidInputError
from keybridge.otp.credential import Credential
from keybridge.protocol.status import ButtonError
from keybridge.session import ConnectOptions, KeySession

MakeSimulator = Callable[..., Simulator]


def test_defaults() -> None:
    assert parse_args([]) == ServeOptions()


def test_options() -> None:
    options = parse_args(
        ["--link=tcp:0.0.0.0:7000", "--state", "s", "--clock", "fixed:59", "--keys", "3", "-v"]
    )
    assert (options.link, options.host, options.port, options.keys) == ("tcp", "0.0.0.0", 7000, 3)
    assert (options.state, options.clock, options.verbosity) == (Path("s"), "fixed:59", 1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pty", ("pty", "", 0)),
        ("tcp", ("tcp", "127.0.0.1", 0)),
        ("tcp:7000", ("tcp", "127.0.0.1", 7000)),
        ("tcp:[::1]:0", ("tcp", "::1", 0)),
    ],
)
def test_parse_link(spec: str, expected: tuple[str, str, int]) -> None:
    assert parse_link(spec) == expected


@pytest.mark.parametrize("spec", ["serial", "pty:x", "tcp:host:port", "tcp:1:70000", "tcp:-1"])
def test_parse_link_refuses(spec: str) -> None:
    with pytest.raises(InvalidInputError, match=r"pty|port"):
        parse_link(spec)


@pytest.mark.parametrize(
    "argv",
    [
        ["--clock", "sometimes"],
        ["--clock", "fixed:yesterday"],
        ["--button", "maybe"],
        ["--keys", "0"],
        ["--keys", "many"],
        ["--link", "usb"],
        ["--link", "tcp:127.0.0.1:65535", "--keys", "2"],
        ["--frobnicate"],
        ["--state"],
        ["-v", "-q"],
    ],
)
def test_bad_options_give_one_line_and_status_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err


def test_state_paths() -> None:
    assert state_paths(Path("d/key.state"), 3) == [
        Path("d/key.state"),
        Path("d/key.state.2"),
        Path("d/key.state.3"),
    ]


@pytest.mark.parametrize(
    ("argv", "status"), [([], 2), (["flash"], 2), (["serve", "--clock", "x"], 2), (["-h"], 0)]
)
def test_module_command_line(argv: list[str], status: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "firmware_sim", *argv], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == status
    if status:
        assert result.stdout == "" and result.stderr.count("\n") == 1


# -- as a process -----------------------------------------------------------------------------


async def test_many_keys_on_ptys_with_derived_state_files(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    state = tmp_path / "fleet.state"
    sim = make_simulator(state=state, keys=3)
    assert len(sim.urls) == 3 and all(re.fullmatch(r"/dev/\S+", url) for url in sim.urls)
    serials = set()
    for url in sim.urls:
        async with KeySession.connect(url) as key:
            serials.add((await key.info()).serial)
    assert len(serials) == 3  # independent keys
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fleet.state",
        "fleet.state.2",
        "fleet.state.2.devkey",  # each key's device key, apart from its state
        "fleet.state.3",
        "fleet.state.3.devkey",
        "fleet.state.devkey",
        "host-config",  # the test host's pairings
    ]


async def test_tcp_keys_report_their_real_ports(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(link="tcp:127.0.0.1:0", keys=2)
    ports = [int(re.fullmatch(r"socket://127\.0\.0\.1:(\d+)", url)[1]) for url in sim.urls]  # type: ignore[index]
    assert len(set(ports)) == 2 and 0 not in ports
    async with KeySession.connect(sim.urls[1]) as key:
        assert await key.ping(b"tcp") == b"tcp"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_removes_the_temporary_state(signum: int) -> None:
    sim = Simulator()  # no --state: a temporary directory
    sim.start()
    try:
        assert sim.process is not None
        match = re.search(r"\(state (\S+)\)", sim.log_text())
        assert match, sim.log_text()
        state_dir = Path(match[1]).parent
        assert state_dir.is_dir()
        sim.process.send_signal(signum)
        assert sim.process.wait(10) == 0
        assert not state_dir.exists()
        assert "Traceback" not in sim.log_text()
    finally:
        sim.stop()


async def test_signals_press_and_decline_a_manual_button(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(button="manual")

    def pressed_by_signal(reason: object, ms_left: int) -> None:
        sim.press()

    def declined_by_signal(reason: object, ms_left: int) -> None:
        sim.decline()

    async with KeySession.connect(sim.url, ConnectOptions(on_keepalive=pressed_by_signal)) as key:
        await key.otp_put(
            Credential.from_secret(b"12345678901234567890"), "gated", require_button=True
        )
        code = await key.otp_calculate("gated")
        assert code.code.isdigit()
        key.on_keepalive = declined_by_signal
        with pytest.raises(ButtonError):
            await key.otp_calculate("gated")


def test_a_corrupt_state_file_fails_the_start_with_its_log(tmp_path: Path) -> None:
    state = tmp_path / "key.state"
    state.write_bytes(b"this is not a key state file")
    sim = Simulator(state=state)
    with pytest.raises(SimulatorError, match="exited with status 1") as error:
        sim.start()
    assert str(state) in str(error.value)
    assert state.read_bytes() == b"this is not a key state file"  # never silently reset
