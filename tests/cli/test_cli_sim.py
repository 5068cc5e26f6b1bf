"""``keybridge sim serve``: the simulator behind the keybridge command."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli


def test_sim_help_lists_serve() -> None:
    result = CliRunner().invoke(cli, ["sim", "--help"], prog_name="keybridge")
    assert result.exit_code == 0 and "serve" in result.stdout


def test_serve_help_is_the_simulators() -> None:
    result = CliRunner().invoke(cli, ["sim", "serve", "--help"])
    assert result.exit_code == 0
    for option in ("--link", "--state", "--clock", "--button", "--keys"):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bogus"], "--bogus"),
        (["--clock", "sometimes"], "sometimes"),
        (["--keys", "0"], "--keys"),
        (["--link", "carrier-pigeon"], "carrier-pigeon"),
    ],
)
def test_serve_bad_option_exits_2(args: list[str], named: str) -> None:
    result = CliRunner().invoke(cli, ["sim", "serve", *args])
    assert result.exit_code == 2, result.output
    assert named in result.stderr
    assert "Traceback" not in result.output


def _entry_point() -> Path:
    script = Path(sys.executable).with_name("keybridge")
    if not script.exists():
        pytest.skip("the keybridge console script is not installed next to this Python")
    return script


def test_serve_runs_a_key_until_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "KEYBRIDGE_RUNTIME_DIR": str(tmp_path / "runtime")}
    args = [str(_entry_point()), "sim", "serve", "--link", "tcp:127.0.0.1:0", "--no-announce"]
    args += ["--state", str(tmp_path / "key.state"), "--clock", "fixed:59"]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 15)
        assert readable, "no READY line within 15 s"
        ready = process.stdout.readline().decode()
        assert ready.startswith("READY socket://127.0.0.1:"), ready
        url = ready.split()[1]
        info = CliRunner().invoke(cli, ["--device", url, "--json", "info"])
        assert info.exit_code == 0, info.output
        assert json.loads(info.stdout)["time"] == 59  # the --clock option reached the key
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert (tmp_path / "key.state").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
