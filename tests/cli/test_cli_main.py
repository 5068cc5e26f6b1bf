"""Global options of ``keybridge``: --help, --version, --device / KEYBRIDGE_DEVICE, -v, -vv,
--json, exit codes of connection errors, Ctrl-C, and click's shell completion."""

from __future__ import annotations

import importlib
import json
import logging
import re
import socket
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from firmware_sim.simulator import Simulator
from keybridge.cli.main import _COMMANDS, cli

MakeSimulator = Callable[..., Simulator]
SECRET = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"
HEX_LINE = re.compile(r"^[0-9a-f]{4}  ([0-9a-f]{2} )+", re.MULTILINE)


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, prog_name="keybridge")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """-v configures the ``keybridge`` logger for the process; undo it after the test."""
    logger = logging.getLogger("keybridge")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"keybridge, version {version('keybridge')}\n"


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    listed = re.findall(r"^  (\w+)\s{2,}", result.stdout.split("Commands:")[1], re.MULTILINE)
    assert listed == sorted(_COMMANDS)
    for option in ("--device", "--json", "--verbose", "--version"):
        assert option in result.stdout
    assert invoke("-h").stdout == result.stdout


def _readme_commands() -> set[str]:
    """The top-level commands the README's command summary documents."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    summary = readme.split("## Commands", 1)[1].split("```")[1]
    names: set[str] = set()
    for line in summary.splitlines()[2:]:  # after the fence's tail and the usage line
        match = re.match(r"^  (\w+)(?: \| (\w+))?", line)
        if match:
            names.update(n for n in match.groups() if n)
    return names


def test_the_command_table_is_the_readme_summary() -> None:
    assert _readme_commands() == set(_COMMANDS)


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_every_command_imports_has_help_and_matches_its_summary(name: str) -> None:
    module, attribute, summary = _COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)  # a missing one fails here
    assert isinstance(command, click.Command) and command.name == name
    assert summary and summary.endswith(".")
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: keybridge {name}")
    assert command.help, f"{name} has no help text"


def test_unknown_command_and_option_exit_2() -> None:
    unknown = invoke("nosuch")
    assert unknown.exit_code == 2 and "No such command 'nosuch'" in unknown.stderr
    bad_option = invoke("--nosuch", "info")
    assert bad_option.exit_code == 2 and "--nosuch" in bad_option.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "exit_code", "named"),
    [
        ("/dev/no-such-key", 3, "/dev/no-such-key"),
        (f"socket://127.0.0.1:{_closed_port()}", 3, "socket://127.0.0.1"),
        ("ftp://key", 2, "ftp://key"),  # not a device URL at all: bad input
    ],
    ids=["no-such-device", "closed-port", "not-a-device-url"],  # the port changes per run
)
def test_no_device_or_bad_url(url: str, exit_code: int, named: str) -> None:
    for args in (["info"], ["--json", "otp", "list"], ["otp", "add", "x", "--secret", SECRET]):
        result = invoke("--device", url, *args)
        assert result.exit_code == exit_code, result.output
        assert isinstance(result.exception, SystemExit)
        [line] = result.stderr.splitlines()
        assert line.startswith("Error: ") and named in line
        if "--json" in args:  # the same error as an object for scripts
            error = json.loads(result.stdout)["error"]
            assert (error["message"], error["exit_code"]) == (line[7:], exit_code)
        else:
            assert result.stdout == ""


def test_device_from_environment_and_json_everywhere(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()
    env = {"KEYBRIDGE_DEVICE": sim.url}
    assert invoke("otp", "add", "site", "--secret", SECRET, env=env).exit_code == 0
    outputs = [
        invoke("--json", *args, env=env)
        for args in (["info"], ["otp", "list"], ["otp", "code", "site"], ["devices"])
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        json.loads(result.stdout)
    # --device wins over the environment
    bad = invoke("--device", "/dev/no-such-key", "info", env=env)
    assert bad.exit_code == 3


@pytest.mark.usefixtures("restore_logging")
def test_verbose_logs_and_very_verbose_dumps_frames(make_simulator: MakeSimulator) -> None:
    url = make_simulator().url
    quiet = invoke("--device", url, "--json", "otp", "list")
    assert quiet.stderr == ""

    logged = invoke("--device", url, "-v", "--json", "otp", "list")
    assert logged.exit_code == 0
    assert "DEBUG keybridge" in logged.stderr and "encrypted session open" in logged.stderr
    assert not HEX_LINE.search(logged.stderr)
    assert json.loads(logged.stdout) == []  # logs never mix into the result

    dumped = invoke("--device", url, "-vv", "--json", "otp", "list")
    assert dumped.exit_code == 0
    assert "TRAFFIC keybridge.traffic: -> " in dumped.stderr
    assert "TRAFFIC keybridge.traffic: <- " in dumped.stderr
    assert HEX_LINE.search(dumped.stderr)
    assert json.loads(dumped.stdout) == []


@pytest.mark.usefixtures("restore_logging")
def test_verbose_error_keeps_one_line_on_the_error(make_simulator: MakeSimulator) -> None:
    url = make_simulator().url
    result = invoke("--device", url, "-v", "otp", "code", "nope")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "nope" in errors[0]
    assert "error details" in result.stderr  # -v adds the details to the log


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted() -> list[object]:
        raise KeyboardInterrupt

    monkeypatch.setattr("keybridge.discovery.running_simulators", interrupted)
    result = invoke("devices")
    assert result.exit_code == 130
    assert result.stderr == "Error: interrupted\n" and "Traceback" not in result.output


# --- shell completion -------------------------------------------------------------------------


def complete(*words: str) -> list[str]:
    """What bash completion offers after ``keybridge WORDS`` (the last word being typed)."""
    env = {
        "_KEYBRIDGE_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(("keybridge", *words)),
        "COMP_CWORD": str(len(words)),
    }
    result = invoke(env=env)
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


def test_completion_of_command_names_options_and_otp_subcommands() -> None:
    assert complete("") == sorted(_COMMANDS)
    assert complete("o") == ["otp"]
    assert complete("otp", "") == ["add", "code", "delete", "list", "rename", "type"]
    assert complete("otp", "r") == ["rename"]
    assert "--json" in complete("--j")
    assert complete("otp", "add", "x", "--alg") == ["--algorithm"]
    assert [c.upper() for c in complete("otp", "add", "x", "--algorithm", "SHA2")] == ["SHA256"]
    assert complete("otp", "type", "x", "--to", "") == ["os", "stdout", "browser", "key"]


def test_completion_script_for_bash() -> None:
    result = invoke(env={"_KEYBRIDGE_COMPLETE": "bash_source"})
    assert result.exit_code == 0
    assert "_KEYBRIDGE_COMPLETE=bash_complete" in result.stdout
    assert "complete -o nosort -F _keybridge_completion keybridge" in result.stdout
