"""A damaged pairing file through the real entry points: one line on stderr (and the JSON error
with ``--json``), exit 1, no traceback, and the file is never replaced, not even by ``pair``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_sim.simulator import Simulator
from keybridge.cli.main import cli

MakeSimulator = Callable[..., Simulator]
DAMAGE = {
    "a 0xFF byte": b"\xff",
    "UTF-16 text": '{"version": 1, "host_id": "00", "keys": {}}'.encode("utf-16"),
    "nested": b"[" * 100_000 + b"]" * 100_000,
    "wrong types": b'{"version": 1, "host_id": 7, "keys": []}',
}


def damaged_pairings(case: str) -> tuple[Path, bytes]:
    path = Path(os.environ["KEYBRIDGE_CONFIG_DIR"]) / "pairings.json"
    data = DAMAGE[case]
    path.write_bytes(data)
    return path, data


def check_line(stderr: str, path: Path) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"Error: the pairing file {path} is damaged (")
    assert "move it aside and pair your keys again" in lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", list(DAMAGE))
def test_info_and_pair_on_a_damaged_pairing_file(make_simulator: MakeSimulator, case: str) -> None:
    url = make_simulator().url
    path, data = damaged_pairings(case)
    runner = CliRunner()
    for command in (["info"], ["otp", "list"], ["pair", "--yes"]):
        result = runner.invoke(cli, ["--device", url, *command])
        assert result.exit_code == 1, (command, result.output)
        assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
        check_line(result.stderr, path)
        assert path.read_bytes() == data
    result = runner.invoke(cli, ["--device", url, "--json", "info"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ConfigError" and error["exit_code"] == 1
    assert str(path) in error["message"]
    assert path.read_bytes() == data


def test_info_in_a_process_on_a_damaged_pairing_file(make_simulator: MakeSimulator) -> None:
    url = make_simulator().url
    path, data = damaged_pairings("a 0xFF byte")
    result = subprocess.run(
        [sys.executable, "-m", "keybridge", "--device", url, "info"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    check_line(result.stderr, path)
    assert path.read_bytes() == data
