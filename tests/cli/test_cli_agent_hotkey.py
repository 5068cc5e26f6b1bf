"""``keybridge agent``'s hotkey options: checked before anything starts, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--hotkey", "hyper+o"], "unknown modifier 'hyper'"),
        (["--hotkey", "ctrl+alt+o", "--no-hotkey"], "--hotkey or --no-hotkey"),
        (["--layout", "azerty"], "unknown keyboard layout 'azerty'"),
        (["--config", "{tmp}/bad.toml"], "bad.toml is not valid TOML"),
        (["--config", "{tmp}/absent.toml"], "no agent config file"),
    ],
)
@pytest.mark.parametrize("command", [[], ["start"]])
def test_bad_hotkey_options_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], args: list[str], words: str
) -> None:
    (tmp_path / "bad.toml").write_text("[[rule]\n")
    monkeypatch.setenv("KEYBRIDGE_AGENT_SOCKET", str(tmp_path / "agent.sock"))
    monkeypatch.setenv("DISPLAY", ":4711")
    argv = ["agent", *command, *(arg.format(tmp=tmp_path) for arg in args)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    assert "READY" not in result.stdout and not (tmp_path / "agent.sock").exists()


def test_agent_start_passes_the_hotkey_options_on() -> None:
    from keybridge.cli.cmd_agent import _hotkey_args

    options = {
        "hotkey": "super+F9",
        "no_hotkey": False,
        "credential": "HES.Web:me",
        "no_enter": True,
        "layout": None,
        "config": Path("rules.toml"),
    }
    assert _hotkey_args(options) == [
        "--hotkey", "super+F9", "--credential", "HES.Web:me", "--no-enter",
        "--config", "rules.toml",
    ]  # fmt: skip
