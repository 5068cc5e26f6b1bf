"""The installed ``keybridge`` console script, run as a process, against a simulator process on
a pty: the HES key in its grouped form goes on the key, and the code it computes and types is
the one HES accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator
from keybridge.hes import Hes
from keybridge.otp import totp
from keybridge.otp.secret import decode_secret

MakeSimulator = Callable[..., Simulator]
NOW = 1_700_000_015
EMAIL = "admin@example.com"


def entry_point() -> Path:
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        script = directory / "keybridge"
        if script.exists():
            return script
    pytest.skip("the keybridge console script is not installed (pip install -e .)")


def keybridge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(entry_point()), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_hes_key_stored_computed_and_typed(make_simulator: MakeSimulator) -> None:
    hes = Hes(":memory:", clock=lambda: NOW)
    hes.create_user(EMAIL, "correct horse")
    setup = hes.begin_otp_setup(EMAIL)
    assert setup.display_key == setup.display_key.lower() and " " in setup.display_key

    sim = make_simulator(clock=f"fixed:{NOW}")
    # make_simulator paired this test's host config (KEYBRIDGE_CONFIG_DIR): pass it on.
    env = {**os.environ, "KEYBRIDGE_DEVICE": sim.url}
    assert "KEYBRIDGE_CONFIG_DIR" in env

    added = keybridge("otp", "add", EMAIL, "--issuer", "HES.Web", "--secret", setup.display_key,
                      env=env)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"Stored HES.Web:{EMAIL} on the key.\n"
    assert setup.key not in added.stdout + added.stderr

    name = f"HES.Web:{EMAIL}"
    code = keybridge("--json", "otp", "code", name, env=env)
    assert code.returncode == 0, code.stderr
    result = json.loads(code.stdout)
    expected = totp(decode_secret(setup.key), NOW)
    assert result["code"] == expected

    typed = keybridge("otp", "type", name, "--to", "stdout", "--enter", env=env)
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout == expected + "\n"  # the stdout backend prints Enter as a newline

    # The code the key typed confirms the OTP app on the HES model.
    assert len(hes.confirm_otp_setup(EMAIL, typed.stdout.strip())) == 10


def test_errors_from_the_process_are_one_line(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()
    env = {**os.environ, "KEYBRIDGE_DEVICE": sim.url}
    bad = keybridge("otp", "add", "x", "--secret", "gezd gnbv gy3t qojq gezd gnbv gy3t qoj0",
                    env=env)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: character 39 '0' is not Base32")
    assert len(bad.stderr.splitlines()) == 1 and bad.stdout == ""
    short = keybridge("otp", "add", "short", "--secret", "JBSWY3DPEHPK3PXP", env=env)
    assert short.returncode == 0
    assert short.stderr == "Warning: the key has only 80 bits: RFC 4226 asks for at least 128\n"
    listed = keybridge("--json", "otp", "list", env=env)
    assert [e["name"] for e in json.loads(listed.stdout)] == ["short"]
    gone = keybridge("--device", "/dev/no-such-key", "info", env=env)
    assert gone.returncode == 3 and len(gone.stderr.splitlines()) == 1


def test_shell_completion_through_the_script(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "_KEYBRIDGE_COMPLETE": "bash_complete",
        "COMP_WORDS": "keybridge otp ",
        "COMP_CWORD": "2",
    }
    otp = keybridge(env=env)
    assert otp.returncode == 0, otp.stderr
    assert otp.stdout.split() == [f"plain,{c}" for c in ("add", "code", "delete", "list",
                                                          "rename", "type")]  # fmt: skip
    top = keybridge(env={**env, "COMP_WORDS": "keybridge ", "COMP_CWORD": "1"})
    offered = {line.split(",", 1)[1] for line in top.stdout.split()}
    assert {"devices", "info", "otp", "reset", "sim", "hes", "pair", "pin"} <= offered


def test_help_imports_no_command_module_nor_heavy_library() -> None:
    code = (
        "import sys\n"
        "from keybridge.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    loaded = set(result.stderr.split())
    assert "keybridge.cli.main" in loaded
    heavy = {
        "asyncio",
        "bleak",
        "bumble",
        "segno",
        "zxingcpp",
        "PIL",
        "cryptography",
        "serial",
        "keybridge.session",
        "keybridge.hes",
        "keybridge.cli.cmd_otp",
        "keybridge.cli.cmd_hes",
        "keybridge.cli.cmd_demo",
        "starlette",
        "uvicorn",
        "jinja2",
    }
    assert heavy & loaded == set()
