"""``keybridge otp type NAME --to key``: the key types on its own Bluetooth keyboard; with no
bonded computer connected to it, one line says so and what to do."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner

from firmware_sim.simulator import Simulator
from keybridge.cli.main import cli

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_no_bonded_computer_is_one_line(
    make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYBRIDGE_DEVICE", make_simulator(clock="fixed:59").url)
    monkeypatch.delenv("KEYBRIDGE_PIN", raising=False)
    runner = CliRunner()
    added = runner.invoke(cli, ["otp", "add", "hes", "--secret", SECRET], prog_name="keybridge")
    assert added.exit_code == 0, added.output
    typed = runner.invoke(cli, ["otp", "type", "hes", "--to", "key"], prog_name="keybridge")
    assert typed.exit_code != 0 and "Traceback" not in typed.output
    [line] = typed.stderr.splitlines()
    assert "no bonded computer is connected to the key's keyboard" in line
    assert "Bluetooth settings" in line
