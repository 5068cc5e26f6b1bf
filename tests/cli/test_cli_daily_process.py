"""Issue 15 through the installed ``keybridge`` command, one process per call, against a
simulated key process: at least one case of each point (the CliRunner tests hold the rest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator
from keybridge.otp import totp
from keybridge.otp.secret import decode_secret

MakeSimulator = Callable[..., Simulator]
NOW = 1_700_000_015
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
CODE = totp(decode_secret(SECRET), NOW)


def entry_point() -> Path:
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        script = directory / "keybridge"
        if script.exists():
            return script
    pytest.skip("the keybridge console script is not installed (pip install -e .)")


def keybridge(
    *args: str, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(entry_point()), *args],
        env=env,
        capture_output=True,
        text=True,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def env(make_simulator: MakeSimulator, tmp_path: Path) -> dict[str, str]:
    url = make_simulator(clock=f"fixed:{NOW}").url
    base = {k: v for k, v in os.environ.items() if k not in ("KEYBRIDGE_PIN", "DISPLAY")}
    return {**base, "KEYBRIDGE_DEVICE": url, "KEYBRIDGE_RUNTIME_DIR": str(tmp_path / "run")}


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("Error:")]
    return line


def test_enrolment_json_piped_into_otp_add(env: dict[str, str], tmp_path: Path) -> None:
    store = str(tmp_path / "hes.sqlite3")
    made = keybridge(
        "hes", "--store", store, "create-user", "me@x.org", "--password", "pw", env=env
    )
    assert made.returncode == 0, made.stderr
    enrolled = keybridge("--json", "hes", "--store", store, "enable-otp", "me@x.org", env=env)
    added = keybridge("otp", "add", "--uri", "-", env=env, input=enrolled.stdout)
    assert added.returncode == 0, added.stderr
    assert added.stdout == "Stored HES.Web:me@x.org on the key.\n"
    again = keybridge("otp", "add", "--uri", "-", env=env, input=enrolled.stdout)
    assert again.returncode == 1 and "--force" in one_error(again)


def test_a_part_of_the_name_and_the_code_alone(env: dict[str, str]) -> None:
    assert keybridge("otp", "add", "HES.Web:HES", "--secret", SECRET, env=env).returncode == 0
    assert keybridge("otp", "code", "-s", "hes", env=env).stdout == CODE + "\n"
    every = keybridge("otp", "code", env=env)
    assert every.returncode == 0 and every.stdout.startswith(f"HES.Web:HES  {CODE}")


def test_delete_without_a_terminal_refuses(env: dict[str, str]) -> None:
    keybridge("otp", "add", "site", "--secret", SECRET, env=env)
    refused = keybridge("otp", "delete", "site", env=env)
    assert refused.returncode == 1 and "--force" in one_error(refused)
    assert keybridge("otp", "delete", "-f", "site", env=env).returncode == 0


def test_pin_from_the_environment_and_stdin(env: dict[str, str]) -> None:
    keybridge("otp", "add", "site", "--secret", SECRET, env=env)
    assert keybridge("pin", "set", env=env, input="2468\n2468\n").returncode == 0
    listed = keybridge("otp", "list", env={**env, "KEYBRIDGE_PIN": "2468"})
    assert listed.returncode == 0 and listed.stderr == "" and "site" in listed.stdout
    piped = keybridge("--pin-stdin", "otp", "code", "-s", "site", env=env, input="2468\n")
    assert piped.stdout == CODE + "\n" and piped.stderr == ""  # no echo warnings
    wrong = keybridge("otp", "list", env={**env, "KEYBRIDGE_PIN": "1111"})
    assert wrong.returncode == 1 and "7 attempts left" in one_error(wrong)


def test_words_and_json(env: dict[str, str]) -> None:
    info = keybridge("info", env=env)
    assert "us, uk, de, fr" in info.stdout and "('us'" not in info.stdout
    added = keybridge("--json", "otp", "add", "a", "--secret", SECRET, env=env)
    assert json.loads(added.stdout)["ok"] is True
    usage = keybridge("--json", "otp", "add", "a", "--digits", "9", env=env)
    assert usage.returncode == 2 and json.loads(usage.stdout)["error"]["type"] == "UsageError"


def test_devices_when_ble_cannot_be_searched(env: dict[str, str]) -> None:
    # A Bumble HCI transport with nothing behind it stands for a missing adapter.
    env = {**env, "KEYBRIDGE_BLE_BACKEND": "bumble:tcp-client:127.0.0.1:9"}
    found = keybridge("devices", "--ble", "--timeout", "0.2", env=env)
    assert found.returncode == 0, found.stderr
    [line] = found.stderr.splitlines()
    assert line.startswith("Warning: BLE keys were not searched")


def test_completion_man_and_doctor(env: dict[str, str]) -> None:
    script = keybridge("completion", "zsh", env=env)
    assert script.returncode == 0 and "_KEYBRIDGE_COMPLETE=zsh_complete" in script.stdout
    page = keybridge("man", env=env)
    assert page.stdout.startswith(".TH KEYBRIDGE 1") and "otp add" in page.stdout
    doctor = json.loads(keybridge("--json", "doctor", env=env).stdout)
    assert {c["name"] for c in doctor["checks"]} >= {"X display", "uinput", "BLE adapter"}
    keybridge("otp", "add", "HES.Web:HES", "--secret", SECRET, env=env)
    completed = subprocess.run(
        [str(entry_point())],
        env={**env, "_KEYBRIDGE_COMPLETE": "bash_complete", "COMP_WORDS": "keybridge otp code h",
             "COMP_CWORD": "3"},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert completed.stdout.split() == ["plain,HES.Web:HES"]


def test_settings_file_gives_the_default_device(env: dict[str, str]) -> None:
    url = env.pop("KEYBRIDGE_DEVICE")
    assert keybridge("config", "set", "device", url, env=env).returncode == 0
    path = Path(keybridge("config", "path", env=env).stdout.strip())
    assert f'device = "{url}"' in path.read_text()
    assert keybridge("info", env=env).returncode == 0


def test_copy_to_a_clipboard_tool(env: dict[str, str], tmp_path: Path) -> None:
    keybridge("otp", "add", "site", "--secret", SECRET, env=env)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    board = tmp_path / "clipboard"
    (bin_dir / "xclip").write_text(
        f'#!/bin/sh\ncase "$*" in *-out*) cat "{board}" ;; *) cat > "{board}" ;; esac\n'
    )
    (bin_dir / "xclip").chmod(0o755)
    desktop = {**env, "DISPLAY": ":99", "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    desktop.pop("WAYLAND_DISPLAY", None)
    copied = keybridge("otp", "code", "--copy", "site", env=desktop)
    assert copied.returncode == 0, copied.stderr
    assert board.read_text() == CODE and CODE not in copied.stdout
    # The helper the command started clears it when it still holds the code.
    cleared = subprocess.run(
        [sys.executable, "-m", "keybridge.clipboard", "xclip", "0"],
        input=CODE, text=True, env=desktop, timeout=30, check=False,
    )  # fmt: skip
    assert cleared.returncode == 0 and board.read_text() == ""
    none = keybridge("otp", "code", "--copy", "site", env=env)
    assert none.returncode == 1 and "--copy" in one_error(none)


def test_watch_renews_and_ctrl_c_exits_0(env: dict[str, str]) -> None:
    keybridge("otp", "add", "site", "--secret", SECRET, env=env)
    watch = subprocess.Popen(
        [str(entry_point()), "otp", "code", "--watch", "site"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert watch.stdout is not None
    first = watch.stdout.readline()
    assert first.startswith(f"{CODE}  (valid for")
    watch.send_signal(signal.SIGINT)
    _, err = watch.communicate(timeout=30)
    assert watch.returncode == 0 and "Traceback" not in err and "Error" not in err


def test_watch_at_a_terminal_counts_down_in_place(env: dict[str, str]) -> None:
    import pty

    keybridge("otp", "add", "site", "--secret", SECRET, env=env)
    master, slave = pty.openpty()
    watch = subprocess.Popen(
        [str(entry_point()), "otp", "code", "--watch", "site"],
        env=env, stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while seen.count(b"s left") < 2:  # the countdown redrawn in place, not new lines
        chunk = os.read(master, 1024)
        assert chunk, seen
        seen += chunk
    watch.send_signal(signal.SIGINT)
    assert watch.wait(timeout=30) == 0
    os.close(master)
    assert f"\rsite  {CODE}  (".encode() in seen and b"\n" not in seen.split(b"\r", 1)[1]
