"""``keybridge agent``'s hotkey options: checked before anything starts, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli


@pytest.mark.parametrize(
    ("args", "words", "status"),
    [
        (["--hotkey", "hyper+o"], "unknown modifier 'hyper'", 2),
        (["--hotkey", "ctrl+alt+o", "--no-hotkey"], "--hotkey or --no-hotkey", 2),
        (["--layout", "azerty"], "unknown keyboard layout 'azerty'", 2),
        (["--config", "{tmp}/absent.toml"], "absent.toml' does not exist", 2),
        # A damaged settings file stops every command with exit 1, the agent's too.
        (["--config", "{tmp}/bad.toml"], "bad.toml is not valid TOML", 1),
        (["--config", "{tmp}/rule.toml"], "rule.toml: hotkey rule 1 needs a title or a class", 1),
    ],
)
@pytest.mark.parametrize("command", [[], ["start"]])
def test_bad_hotkey_options_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    args: list[str],
    words: str,
    status: int,
) -> None:
    (tmp_path / "bad.toml").write_text("[[hotkey.rules]\n")
    (tmp_path / "rule.toml").write_text('[[hotkey.rules]]\ncredential = "HES"\n')
    monkeypatch.setenv("KEYBRIDGE_AGENT_SOCKET", str(tmp_path / "agent.sock"))
    monkeypatch.setenv("DISPLAY", ":4711")
    argv = ["agent", *command, *(arg.format(tmp=tmp_path) for arg in args)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == status, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    assert "READY" not in result.stdout and not (tmp_path / "agent.sock").exists()


def test_agent_start_passes_the_hotkey_options_on() -> None:
    from keybridge.cli.cmd_agent import _hotkey_args

    options = {
        "hotkey": "super+F9",
        "no_hotkey": False,
        "credential": "HES.Web:me",
        "enter": False,
        "layout": None,
        "config": Path("config.toml"),
    }
    assert _hotkey_args(options) == [
        "--hotkey", "super+F9", "--credential", "HES.Web:me", "--no-enter",
        "--config", "config.toml",
    ]  # fmt: skip
    assert "--enter" in _hotkey_args({**options, "enter": True})
    assert not {"--enter", "--no-enter"} & set(_hotkey_args({**options, "enter": None}))


SETTINGS = """\
[agent]
pin_timeout = 60

[hotkey]
keys = "super+F9"
credential = "HES"
enter = false

[[hotkey.rules]]
credential = "GitLab:me"
class = "^firefox"
"""


def hotkey_options(**given: Any) -> dict[str, Any]:
    """The hotkey options as click hands them over, nothing given unless in ``given``."""
    none = {"hotkey": None, "credential": None, "enter": None, "layout": None, "config": None}
    return {**none, "no_hotkey": False, **given}


def test_the_settings_file_gives_the_agents_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keybridge.cli.cmd_agent import _hotkey_from, _pin_timeout
    from keybridge.userconfig import UserConfig

    monkeypatch.setenv("DISPLAY", ":4711")
    config = tmp_path / "config.toml"
    config.write_text(SETTINGS)
    settings = UserConfig.load(config)
    options = _hotkey_from(hotkey_options(), settings)
    assert options is not None
    assert (options.hotkey.spec, options.credential, options.enter) == ("super+F9", "HES", False)
    assert [rule.credential for rule in options.rules] == ["GitLab:me"]
    assert _pin_timeout(None, settings) == 60
    # The command line wins.
    given = hotkey_options(hotkey="ctrl+alt+k", credential="GitLab:me", enter=True)
    options = _hotkey_from(given, settings)
    assert options is not None
    assert (options.hotkey.spec, options.credential, options.enter) == (
        "ctrl+alt+k",
        "GitLab:me",
        True,
    )
    assert _pin_timeout(5, settings) == 5
    # Nothing set anywhere: the built-in defaults.
    empty = UserConfig.load(tmp_path / "absent.toml")
    options = _hotkey_from(hotkey_options(), empty)
    assert options is not None
    assert (options.hotkey.spec, options.credential, options.enter) == ("ctrl+alt+o", None, True)
    assert _pin_timeout(None, empty) == 900


def test_an_old_rules_file_is_pointed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from keybridge.cli.cmd_agent import _warn_of_an_old_rules_file

    monkeypatch.setenv("KEYBRIDGE_CONFIG_DIR", str(tmp_path))
    _warn_of_an_old_rules_file()
    assert capsys.readouterr().err == ""
    (tmp_path / "agent.toml").write_text('[[rule]]\ncredential = "HES"\nclass = "."\n')
    _warn_of_an_old_rules_file()
    [line] = capsys.readouterr().err.splitlines()
    assert "agent.toml is no longer read" in line and "[[hotkey.rules]]" in line
