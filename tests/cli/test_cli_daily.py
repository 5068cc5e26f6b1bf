"""Issue 15 through click's CliRunner: URIs, names, confirmation, PINs for scripts, words,
JSON, discovery, help, settings, clipboard. A simulated key per test (subprocess, pinned clock,
button pressed automatically)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim.simulator import Simulator
from keybridge.cli.errors import in_user_terms
from keybridge.cli.main import _COMMANDS, cli
from keybridge.cli.manpage import escape
from keybridge.cli.names import AmbiguousNameError, match_name
from keybridge.otp import totp
from keybridge.otp.secret import decode_secret
from keybridge.protocol.status import NotFoundError
from keybridge.userconfig import KEYS, dumps

MakeSimulator = Callable[..., Simulator]
NOW = 1_700_000_015
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
OTHER = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
URI = f"otpauth://totp/HES.Web:admin%40example.com?secret={SECRET}&issuer=HES.Web&digits=6"


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env=env, prog_name="keybridge")


def errors(result: Result) -> list[str]:
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


@pytest.fixture
def key(make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A paired key's URL, as KEYBRIDGE_DEVICE; stdin is no terminal unless a test says so."""
    url = make_simulator(clock=f"fixed:{NOW}").url
    monkeypatch.setenv("KEYBRIDGE_DEVICE", url)
    monkeypatch.delenv("KEYBRIDGE_PIN", raising=False)
    return url


def names() -> list[str]:
    result = invoke("--json", "otp", "list")
    assert result.exit_code == 0, result.output
    return [e["name"] for e in json.loads(result.stdout)]


def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keybridge.cli.common.interactive", lambda: True)


# 1. URIs -----------------------------------------------------------------------------------


def test_a_uri_names_the_credential_and_re_adding_asks(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = invoke("otp", "add", "--uri", URI)
    assert added.exit_code == 0, added.output
    assert added.stdout == "Stored HES.Web:admin@example.com on the key.\n"
    again = invoke("otp", "add", "--uri", URI.replace(SECRET, OTHER))
    assert again.exit_code == 1 and "--force" in errors(again)[0]
    assert invoke("--json", "otp", "code", "admin").stdout.count(totp(decode_secret(SECRET), NOW))
    at_a_terminal(monkeypatch)
    declined = invoke("otp", "add", "--uri", URI.replace(SECRET, OTHER), input="n\n")
    assert declined.exit_code == 1 and "replace it" in declined.stderr
    replaced = invoke("--json", "otp", "add", "--uri", URI.replace(SECRET, OTHER), input="y\n")
    assert json.loads(replaced.stdout)["replaced"] is True
    assert names() == ["HES.Web:admin@example.com"]  # no duplicate
    code = json.loads(invoke("--json", "otp", "code", "admin").stdout)["code"]
    assert code == totp(decode_secret(OTHER), NOW)
    renamed = invoke("otp", "add", "--uri", URI, "--issuer", "HES")
    assert renamed.stdout == "Stored HES:admin@example.com on the key.\n"


def test_a_qr_code_names_the_credential_too(key: str, tmp_path: Path) -> None:
    import segno

    image = tmp_path / "qr.png"
    segno.make(URI, error="m").save(image, scale=6, border=4)
    added = invoke("otp", "add", "--qr", str(image))
    assert added.stdout == "Stored HES.Web:admin@example.com on the key.\n", added.output


def test_uri_from_stdin_takes_enable_otp_json(key: str, tmp_path: Path) -> None:
    store = str(tmp_path / "hes.sqlite3")
    assert (
        invoke("hes", "--store", store, "create-user", "me@x.org", "--password", "pw").exit_code
        == 0
    )
    enrolled = invoke("--json", "hes", "--store", store, "enable-otp", "me@x.org", "--no-qr")
    assert enrolled.exit_code == 0, enrolled.output
    added = invoke("otp", "add", "--uri", "-", input=enrolled.stdout)
    assert added.exit_code == 0, added.output
    assert names() == ["HES.Web:me@x.org"]
    plain = invoke("otp", "add", "--uri", "-", "--force", input=URI + "\n")
    assert plain.exit_code == 0 and "HES.Web:admin@example.com" in plain.stdout
    empty = invoke("otp", "add", "--uri", "-", input="")
    assert empty.exit_code == 2 and "stdin" in errors(empty)[0]
    both = invoke("--pin-stdin", "otp", "add", "--uri", "-", input=URI)
    assert both.exit_code == 2 and "KEYBRIDGE_PIN" in errors(both)[0]


# 2. Names ----------------------------------------------------------------------------------


def test_match_name_rules() -> None:
    keys = ["HES.Web:HES", "Bank:alice", "Bank:bob", "bank"]
    assert match_name("hes", keys) == "HES.Web:HES"
    assert match_name("bank", keys) == "bank"  # equal ignoring case beats a part of others
    assert match_name("ALICE", keys) == "Bank:alice"
    with pytest.raises(AmbiguousNameError, match=r"3 credentials"):
        match_name("ba", keys)
    with pytest.raises(NotFoundError, match=r"did you mean .HES\.Web:HES."):
        match_name("HES.Wbe:HES", keys)


def test_names_match_parts_and_code_alone_shows_every_code(key: str) -> None:
    for name, extra in (("HES.Web:HES", []), ("Bank:alice", []), ("Bank:bob", ["--touch"])):
        assert invoke("otp", "add", name, "--secret", SECRET, *extra).exit_code == 0
    invoke("otp", "add", "Counter", "--hotp", "--secret", OTHER)
    code = totp(decode_secret(SECRET), NOW)
    assert invoke("otp", "code", "hes", "-s").stdout == code + "\n"
    several = invoke("otp", "code", "bank")
    assert several.exit_code == 2 and "Bank:alice, Bank:bob" in errors(several)[0]
    none = invoke("otp", "code", "HES.Wbe:HES")
    assert none.exit_code == 1 and "did you mean 'HES.Web:HES'" in errors(none)[0]
    every = invoke("otp", "code")
    assert every.exit_code == 0, every.output
    lines = dict(line.split(None, 1) for line in every.stdout.splitlines())
    assert lines["HES.Web:HES"].startswith(code) and lines["Bank:alice"].startswith(code)
    assert "button" in lines["Bank:bob"] and code not in lines["Bank:bob"]
    assert "HOTP" in lines["Counter"]
    codes = json.loads(invoke("--json", "otp", "code").stdout)
    by_name = {c["name"]: c["code"] for c in codes["codes"]}
    assert codes["ok"] is True
    assert by_name == {"HES.Web:HES": code, "Bank:alice": code, "Bank:bob": None, "Counter": None}
    # HOTP was not computed: its first code is still the counter-0 one.
    assert json.loads(invoke("--json", "otp", "code", "count").stdout)["counter"] in (0, 1)
    renamed = invoke("otp", "rename", "alice", "Bank:carol")
    assert renamed.stdout == "Renamed Bank:alice to Bank:carol.\n"
    typed = invoke("otp", "type", "CAROL", "--to", "stdout")
    assert typed.stdout == code


# 3. Confirmation ---------------------------------------------------------------------------


def test_delete_asks_and_refuses_without_a_terminal(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("otp", "add", "HES.Web:HES", "--secret", SECRET)
    refused = invoke("otp", "delete", "hes")
    assert refused.exit_code == 1 and "--force" in errors(refused)[0]
    assert names() == ["HES.Web:HES"]
    at_a_terminal(monkeypatch)
    kept = invoke("otp", "delete", "hes", input="n\n")
    assert kept.exit_code == 1 and "Delete HES.Web:HES" in kept.stderr
    assert names() == ["HES.Web:HES"]
    gone = invoke("otp", "delete", "hes", input="y\n")
    assert gone.exit_code == 0 and gone.stdout == "Deleted HES.Web:HES.\n"
    assert names() == []


# 4. PIN for scripts ------------------------------------------------------------------------


def test_pin_from_stdin_and_environment_and_the_last_try(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("otp", "add", "site", "--secret", SECRET)
    assert invoke("pin", "set", "--max-retries", "2", input="2468\n2468\n").exit_code == 0
    assert invoke("--pin-stdin", "otp", "list", input="2468\n").exit_code == 0
    no_pin = invoke("--pin-stdin", "otp", "list", input="")
    assert no_pin.exit_code == 2 and "--pin-stdin" in errors(no_pin)[0]
    listed = invoke("--json", "otp", "list", env={"KEYBRIDGE_PIN": "2468"})
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["name"] == "site"
    wrong = invoke("otp", "list", env={"KEYBRIDGE_PIN": "1111"})
    assert wrong.exit_code == 1 and "1 attempt left" in errors(wrong)[0]
    # One try left: a script's PIN is not tried, and the key keeps its credentials.
    last = invoke("otp", "list", env={"KEYBRIDGE_PIN": "1111"})
    assert last.exit_code == 1 and "1 PIN attempt is left" in errors(last)[0]
    at_a_terminal(monkeypatch)
    asked = invoke("otp", "list", input="2468\n")
    assert asked.exit_code == 0, asked.output
    warning = asked.stderr.index("Warning: 1 PIN attempt is left")
    assert warning < asked.stderr.index("PIN:")  # announced before the try
    assert "site" in asked.stdout
    checked = invoke("--pin-stdin", "--json", "pin", "verify", input="2468\n")
    assert json.loads(checked.stdout)["pin_retries"] == 2  # a right PIN resets the count
    changed = invoke("pin", "change", input="1357\n1357\n", env={"KEYBRIDGE_PIN": "2468"})
    assert changed.exit_code == 0, changed.output
    assert invoke("otp", "list", env={"KEYBRIDGE_PIN": "1357"}).exit_code == 0


# 5. Words ----------------------------------------------------------------------------------


def test_messages_speak_commands_and_options() -> None:
    assert in_user_terms("a PIN is already set: change it with PIN_CHANGE") == (
        "a PIN is already set: change it with `keybridge pin change`"
    )
    assert "OTP_LIST" not in in_user_terms("OTP_LIST failed; SESSION_OPEN too")
    assert in_user_terms("open it with profile='strict'") == "open it with --profile strict"


def test_words_in_key_and_hes_output(key: str, tmp_path: Path) -> None:
    info = invoke("info")
    assert (
        "layouts:      us, uk, de, fr" in info.stdout.replace("  ", "  ")
        or "us, uk, de, fr" in info.stdout
    )
    assert "(" not in info.stdout.split("layouts:")[1].splitlines()[0]
    store = str(tmp_path / "strict.sqlite3")
    assert invoke("hes", "--store", store, "--profile", "strict", "create-user", "a@b.c",
                  "--password", "pw").exit_code == 0  # fmt: skip
    other = invoke("hes", "--store", store, "status", "a@b.c")
    assert other.exit_code != 0 and "--profile strict" in errors(other)[0]
    assert "profile=" not in other.stderr
    for _ in range(10):
        invoke("hes", "--store", store, "--profile", "strict", "login", "a@b.c", "--password", "x")
    status = invoke("hes", "--store", store, "--profile", "strict", "status", "a@b.c")
    locked = status.stdout.split("locked until:")[1].strip()
    assert "T" in locked and locked[-6] in "+-" and "." not in locked  # local ISO 8601


def test_an_unpaired_host_is_told_once(make_simulator: MakeSimulator) -> None:
    url = make_simulator(pair=False).url
    refused = invoke("--device", url, "otp", "list")
    [line] = errors(refused)
    assert refused.exit_code == 1 and "keybridge pair" in line and "(" not in line


# 6. JSON -----------------------------------------------------------------------------------


def test_success_json_says_ok_and_prompt_aborts_give_json(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = json.loads(invoke("--json", "otp", "add", "a", "--secret", SECRET).stdout)
    assert added["ok"] is True
    at_a_terminal(monkeypatch)
    aborted = invoke("--json", "otp", "delete", "a", input="")
    assert aborted.exit_code == 1
    assert json.loads(aborted.stdout)["error"]["type"] == "Aborted"


# 7. Discovery ------------------------------------------------------------------------------


def test_devices_without_a_ble_adapter_lists_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keybridge.errors import TransportError
    from keybridge.transport import ble
    from keybridge.transport.ble import FoundKey

    monkeypatch.setenv("KEYBRIDGE_RUNTIME_DIR", str(tmp_path / "runtime"))
    from keybridge.discovery import announce_simulator

    announce_simulator("socket://127.0.0.1:1", "KB-1")

    async def no_adapter(timeout: float) -> list[FoundKey]:
        raise TransportError("BLE scan failed on platform BLE: No Bluetooth adapters found.")

    monkeypatch.setattr(ble, "scan", no_adapter)
    result = invoke("devices", "--ble")
    assert result.exit_code == 0 and "socket://127.0.0.1:1" in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("Warning: BLE keys were not searched") and "adapter" in line

    async def a_hideez_key(timeout: float) -> list[FoundKey]:
        return [FoundKey("HK-1", "C3:5A:10:9E:42:7B", -60, vendor="hideez")]

    monkeypatch.setattr(ble, "scan", a_hideez_key)
    found = json.loads(invoke("--json", "devices", "--ble").stdout)
    hideez = [d for d in found if d["kind"] == "hideez"]
    assert [d["url"] for d in hideez] == ["ble://C3:5A:10:9E:42:7B"]
    assert "Hideez Client" in hideez[0]["description"]


# 8. Help -----------------------------------------------------------------------------------


def _all_commands() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: click.Command, path: list[str], ctx: click.Context) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx))

    walk(cli, [], click.Context(cli, info_name="keybridge"))
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "keybridge")
def test_every_help_fits_one_screen(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) <= 40, result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    result = invoke("completion", shell)
    assert result.exit_code == 0 and "_KEYBRIDGE_COMPLETE" in result.stdout


def complete(*words: str, env: dict[str, str] | None = None) -> list[str]:
    result = invoke(env={
        "_KEYBRIDGE_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(("keybridge", *words)),
        "COMP_CWORD": str(len(words)),
        **(env or {}),
    })  # fmt: skip
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_of_layouts_and_credential_names(key: str) -> None:
    assert complete("otp", "type", "x", "--layout", "") == ["us", "uk", "de", "fr"]
    assert complete("otp", "add", "--layout", "d") == ["de"]
    invoke("otp", "add", "HES.Web:HES", "--secret", SECRET)
    invoke("otp", "add", "Bank:alice", "--secret", SECRET)
    assert complete("otp", "code", "") == ["Bank:alice", "HES.Web:HES"]
    assert complete("otp", "delete", "hes") == ["HES.Web:HES"]
    # A key with a PIN completes no names (completion never tries a PIN).
    invoke("pin", "set", input="2468\n2468\n")
    assert complete("otp", "code", "", env={"KEYBRIDGE_PIN": "2468"}) == []


def test_man_page_holds_every_command() -> None:
    page = invoke("man").stdout
    assert page.startswith(".TH KEYBRIDGE 1")
    for path in _all_commands()[1:]:
        assert f"\\fBkeybridge {escape(' '.join(path))}\\fR" in page, path
    assert "KEYBRIDGE_PIN" in page and ".SH EXIT STATUS" in page


def test_man_page_date_is_reproducible() -> None:
    page = invoke("man", env={"SOURCE_DATE_EPOCH": "1700000000"}).stdout
    assert page.splitlines()[0].startswith('.TH KEYBRIDGE 1 "2023-11-14"')


def test_doctor_says_what_is_missing_and_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    report = json.loads(invoke("--json", "doctor").stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert {"bleak", "X display", "uinput", "BLE adapter", "clipboard tool"} <= set(checks)
    assert checks["bleak"]["ok"] is True  # the test extra installs it
    display = checks["X display"]
    assert display["ok"] is False and display["disables"] and display["fix"]
    text = invoke("doctor").stdout
    assert "missing  X display" in text and "to get it:" in text
    monkeypatch.setenv("DISPLAY", ":4242")  # no server: the socket would be /tmp/.X11-unix/X4242
    if not Path("/tmp/.X11-unix/X4242").exists():
        assert "no X server listens there" in invoke("doctor").stdout


# 9. Settings -------------------------------------------------------------------------------


def test_config_set_get_path_and_the_default_device(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(invoke("config", "path").stdout.strip())
    assert path.name == "config.toml" and not path.exists()
    assert invoke("config", "set", "device", key).exit_code == 0
    assert invoke("config", "set", "layout", "GB").stdout == "layout = uk\n"
    assert invoke("config", "set", "agent.use", "no").exit_code == 0
    assert invoke("config", "get", "layout").stdout == "uk\n"
    assert json.loads(invoke("--json", "config", "get").stdout) == {
        "ok": True, "device": key, "layout": "uk", "agent.use": False,
    }  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.delenv("KEYBRIDGE_DEVICE")
    assert invoke("info").exit_code == 0  # the device from the settings file
    invoke("otp", "add", "site", "--secret", SECRET)
    typed = json.loads(invoke("--json", "otp", "type", "site", "--to", "stdout").stdout)
    assert typed["layout"] == "uk"  # this computer's layout from the settings file
    bad = invoke("config", "set", "agent.pin_timeout", "soon")
    assert bad.exit_code == 2 and "whole number" in errors(bad)[0]
    unknown = invoke("config", "set", "colour", "red")
    assert unknown.exit_code == 2 and "hotkey.enter" in errors(unknown)[0]
    assert invoke("config", "unset", "device").exit_code == 0
    path.write_text('layout = "xx"\n')
    unknown_layout = invoke("otp", "type", "x", "--to", "stdout")
    assert unknown_layout.exit_code == 1 and "layout in" in errors(unknown_layout)[0]
    path.write_text("layout = 3\n")
    damaged = invoke("otp", "type", "x", "--to", "stdout")
    assert damaged.exit_code == 1 and str(path) in errors(damaged)[0]


def test_config_issuer_names_a_bare_secret(key: str) -> None:
    invoke("config", "set", "issuer", "HES.Web")
    assert (
        invoke("otp", "add", "me", "--secret", SECRET).stdout == "Stored HES.Web:me on the key.\n"
    )


values = st.fixed_dictionaries(
    {},
    optional={
        key: (
            st.booleans() if s.type is bool
            else st.integers(0, 10**9) if s.type is int
            else st.text(min_size=1)
        )
        for key, s in KEYS.items()
    },
)  # fmt: skip


@given(values)
def test_the_settings_writer_is_read_back_by_tomllib(config: dict[str, Any]) -> None:
    import tomllib

    document = tomllib.loads(dumps(config))
    flat = {
        (f"{k}.{n}" if isinstance(v, dict) else k): (v[n] if isinstance(v, dict) else v)
        for k, v in document.items()
        for n in (v if isinstance(v, dict) else [None])
    }
    assert flat == config


# 10. Clipboard -----------------------------------------------------------------------------


def fake_xclip(tmp_path: Path) -> Path:
    """An ``xclip`` on PATH keeping the clipboard in a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    board = tmp_path / "clipboard"
    script = bin_dir / "xclip"
    script.write_text(
        f'#!/bin/sh\ncase "$*" in *-out*) cat "{board}" ;; *) cat > "{board}" ;; esac\n'
    )
    script.chmod(0o755)
    return bin_dir


def test_copy_puts_the_code_on_the_clipboard_and_the_helper_clears_it(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keybridge import clipboard

    invoke("otp", "add", "site", "--secret", SECRET)
    monkeypatch.setenv("PATH", f"{fake_xclip(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    started: list[tuple[str, float]] = []
    monkeypatch.setattr(
        clipboard, "clear_later", lambda tool, text, after: started.append((text, after))
    )
    copied = invoke("otp", "code", "site", "--copy")
    assert copied.exit_code == 0, copied.output
    code = totp(decode_secret(SECRET), NOW)
    assert code not in copied.stdout and "cleared in 30 s" in copied.stdout
    assert (tmp_path / "clipboard").read_text() == code
    assert started == [(code, 30)]
    tool = clipboard.find_clipboard()
    assert tool.clear_if_holding("another text") is False
    assert tool.clear_if_holding(code) is True
    assert (tmp_path / "clipboard").read_text() == ""


def test_copy_without_a_tool_is_one_line(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = invoke("otp", "code", "site", "--copy")
    assert result.exit_code == 1 and len(errors(result)) == 1 and "--copy" in errors(result)[0]


def test_every_top_level_command_is_in_the_help() -> None:
    shown = invoke("--help").stdout
    assert all(name in shown for name in _COMMANDS)
