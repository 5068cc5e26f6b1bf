"""`keybridge demo`: the end-to-end story, its checks, its failures and its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli
from keybridge.hes import Hes, LoginStatus
from keybridge.hes.types import LoginStep
from keybridge.protocol.secure.errors import PairingRejectedError
from keybridge.session import Pairings

# The story's steps, as the issue tells them; each must appear as a heading.
STEPS = [
    "Create the HES administrator",
    "Add OTP App",
    "Pair this host with the key",
    "Store the key on the key",
    "The key types the verification code",
    "HES shows the recovery codes",
    "Log in: password, then the code the key types",
    "log in with the recovery code",
    "Disable 2FA, then Add OTP App again",
    "Reset the OTP app",
]


def test_demo_tells_every_step_and_exits_0() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    positions = [out.find(step) for step in STEPS]
    assert -1 not in positions, [s for s, p in zip(STEPS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "✗" not in out and "FAILED" not in out
    assert "behaved as HES does" in out.splitlines()[-1]
    # The grouped lowercase key is what gets stored, and the QR code is drawn once.
    assert "--secret '" in out
    assert sum(1 for line in out.splitlines() if set(line.strip()) == {"▀"}) == 1


def test_demo_json_lists_passing_checks() -> None:
    result = CliRunner().invoke(cli, ["--json", "demo"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["failed"] == []
    assert len(data["checks"]) >= 25
    assert {c["step"] for c in data["checks"]} == set(range(1, len(STEPS) + 1))
    labels = [c["label"] for c in data["checks"]]
    assert "the same code is refused the second time" in labels
    assert "the 10 recovery codes are kept" in labels


def test_demo_fails_when_hes_accepts_a_used_recovery_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def always_ok(self: Hes, step_token: str, code: str) -> LoginStep:
        return LoginStep(LoginStatus.OK)

    monkeypatch.setattr(Hes, "login_recovery", always_ok)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1
    assert "checks failed" in result.output
    assert "the same code is refused the second time" in result.output.split("checks failed")[1]


def test_demo_reports_an_error_mid_story_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(self: Pairings, confirm: object) -> None:
        raise PairingRejectedError("the key declined the pairing")

    monkeypatch.setattr(Pairings, "pair", refuse)
    result = CliRunner().invoke(cli, ["--json", "demo"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False
    assert data["failed"][-1]["label"] == "the story ran to its end"
    assert "declined the pairing" in data["failed"][-1]["detail"]


def test_installed_demo_touches_nothing_outside_its_temp_dir(tmp_path: Path) -> None:
    home, config, tmp = tmp_path / "home", tmp_path / "config", tmp_path / "tmp"
    for d in (home, config, tmp):
        d.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config),
        "XDG_DATA_HOME": str(home / "data"),
        "KEYBRIDGE_CONFIG_DIR": str(config / "keybridge"),
        "TMPDIR": str(tmp),
    }
    exe = Path(sys.executable).with_name("keybridge")
    done = subprocess.run(
        [str(exe), "demo"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "behaved as HES does" in done.stdout
    assert "Traceback" not in done.stderr
    assert [list(d.iterdir()) for d in (home, config, tmp)] == [[], [], []]
