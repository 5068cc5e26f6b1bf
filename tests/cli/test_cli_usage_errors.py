"""click's usage errors and aborted prompts: one line on stderr that says what was wrong and
names --help (no "Usage:" or "Try" lines), the README's exit code, and with --json the JSON
error object on stdout, for every command."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner, Result

from keybridge.cli.main import cli

USAGE_ERRORS = [
    (["--nosuch", "info"], "No such option '--nosuch'", "cli"),
    (["nosuch"], "No such command 'nosuch'", "cli"),
    (["info", "--nosuch"], "No such option '--nosuch'", "cli info"),
    (["otp", "add"], "give NAME: only a URI or QR code names the credential", "cli otp add"),
    (["otp", "add", "x", "--algorithm", "MD5"], "'MD5' is not one of", "cli otp add"),
    (["otp", "add", "x", "--period", "abc"], "'abc' is not a valid integer", "cli otp add"),
    (["otp", "add", "x", "--digits", "9"], "Invalid value for '--digits'", "cli otp add"),
    (["otp", "type"], "Missing argument 'NAME'", "cli otp type"),
    (["otp", "nosuch"], "No such command 'nosuch'", "cli otp"),
    (["otp", "list", "extra"], "Got unexpected extra argument (extra)", "cli otp list"),
    (["pin", "set", "--max-retries", "x"], "'x' is not a valid integer", "cli pin set"),
    (["sim", "serve", "--bogus"], "--bogus", "cli sim"),
]


class Interrupting(io.BytesIO):
    """Standard input on which the user presses Ctrl-C."""

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:  # click's probe for a binary stream
            return b""
        raise KeyboardInterrupt

    def readinto(self, buffer: object) -> int:
        raise KeyboardInterrupt

    read1 = read
    readinto1 = readinto


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


@pytest.mark.parametrize(("args", "words", "command"), USAGE_ERRORS)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], words: str, command: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    if args[0] != "sim":  # sim serve has the simulator's own parser and its one-line errors
        assert lines[0].startswith("Error: ") and lines[0].endswith(f" (see `{command} --help`)")
    assert "--help" in lines[0]
    for noise in ("Usage:", "Try ", "Traceback"):
        assert noise not in result.output


@pytest.mark.parametrize(("args", "words", "command"), USAGE_ERRORS[:-1])
def test_a_usage_error_with_json_is_also_a_json_object(
    args: list[str], words: str, command: str
) -> None:
    result = invoke("--json", *args)
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc == {
        "ok": False,
        "error": {
            "type": "UsageError",
            "message": result.stderr.removeprefix("Error: ").rstrip("\n"),
            "exit_code": 2,
        },
    }
    assert words in doc["error"]["message"] and len(result.stderr.splitlines()) == 1


def test_keybridge_alone_still_shows_the_help() -> None:
    result = invoke()
    assert result.exit_code == 2 and result.output.startswith("Usage: cli [OPTIONS] COMMAND")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_end_of_input_at_a_prompt_is_one_line(json_flag: list[str]) -> None:
    result = invoke(*json_flag, "otp", "add", "x", input="")
    assert result.exit_code == 1
    # The hidden prompt ends its own line; the error is the one line after it.
    prompt, error = [line for line in result.stderr.splitlines() if line]
    assert prompt == "Secret (Base32, as shown by HES): "
    assert error == (
        "Error: aborted: the prompt got no answer (end of input); answer it, or see --help"
    )
    if json_flag:
        error = json.loads(result.stdout)["error"]
        assert (error["type"], error["exit_code"]) == ("Aborted", 1)
        assert error["message"].startswith("aborted: the prompt got no answer")
    else:
        assert result.stdout == ""


def test_a_declined_confirmation_with_json() -> None:
    result = invoke("--json", "reset", input="n\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: aborted: not confirmed"
    assert json.loads(result.stdout)["error"] == {
        "type": "Aborted",
        "message": "aborted: not confirmed",
        "exit_code": 1,
    }


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_ctrl_c_at_a_prompt_exits_130(json_flag: list[str]) -> None:
    result = CliRunner().invoke(cli, [*json_flag, "reset"], input=Interrupting())
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1].endswith("Error: interrupted")
    assert "Aborted!" not in result.stderr
    if json_flag:
        assert json.loads(result.stdout)["error"]["exit_code"] == 130


def test_a_usage_error_in_a_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "keybridge", "otp", "add", "x", "--digits", "nine"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: Invalid value for '--digits': 'nine' is not a valid integer range "
        "(see `keybridge otp add --help`)\n"
    )
