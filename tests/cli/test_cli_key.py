"""``keybridge info``, ``devices`` and ``reset`` through click's CliRunner."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from firmware_sim.simulator import Simulator
from keybridge.cli.main import cli

MakeSimulator = Callable[..., Simulator]
NOW = 1_700_000_015
SECRET = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def names(url: str) -> list[str]:
    result = invoke("--device", url, "--json", "otp", "list")
    assert result.exit_code == 0, result.output
    return [entry["name"] for entry in json.loads(result.stdout)]


def wait_for_announcements(directory: Path, count: int) -> None:
    """A simulator announces itself just after its READY line."""
    deadline = time.monotonic() + 5
    while len(list(directory.glob("*.json"))) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Device discovery looks for running simulators here only."""
    directory = tmp_path / "runtime"
    monkeypatch.setenv("KEYBRIDGE_RUNTIME_DIR", str(directory))
    monkeypatch.delenv("KEYBRIDGE_DEVICE", raising=False)
    return directory


def test_info_text_and_json(make_simulator: MakeSimulator) -> None:
    url = make_simulator(clock=f"fixed:{NOW}").url
    assert invoke("--device", url, "otp", "add", "a", "--secret", SECRET).exit_code == 0
    info = json.loads(invoke("--device", url, "--json", "info").stdout)
    assert info["serial"].startswith("KB") and info["protocol_version"] == 1
    assert (info["used"], info["clock_set"], info["time"]) == (1, True, NOW)
    assert info["capacity"] >= 64 and info["paired_hosts"] == 1 and info["pin_set"] is False
    assert {"us", "uk", "de", "fr"} <= set(info["layouts"])
    text = invoke("--device", url, "info")
    assert text.exit_code == 0
    assert f"serial:       {info['serial']}" in text.stdout
    assert f"credentials:  1 of {info['capacity']}" in text.stdout


def test_info_works_unpaired(make_simulator: MakeSimulator) -> None:
    url = make_simulator(pair=False).url
    result = invoke("--device", url, "--json", "info")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["paired_hosts"] == 0


def test_devices_lists_running_simulators_and_one_needs_no_url(
    runtime_dir: Path, make_simulator: MakeSimulator
) -> None:
    empty = invoke("devices")
    assert empty.exit_code == 0 and "No keys found" in empty.stdout
    assert json.loads(invoke("--json", "devices").stdout) == []
    no_key = invoke("info")
    assert no_key.exit_code == 3 and "no key found" in no_key.stderr

    sim = make_simulator(announce=True)
    wait_for_announcements(runtime_dir, 1)
    [found] = json.loads(invoke("--json", "devices").stdout)
    assert (found["url"], found["kind"]) == (sim.url, "simulator")
    assert sim.url in invoke("devices").stdout
    assert invoke("info").exit_code == 0  # the only key attached

    make_simulator(announce=True)
    wait_for_announcements(runtime_dir, 2)
    two = invoke("info")
    assert two.exit_code == 2 and "2 keys found" in two.stderr and "--device" in two.stderr


def test_reset_with_yes_erases_credentials(make_simulator: MakeSimulator) -> None:
    url = make_simulator().url
    assert invoke("--device", url, "otp", "add", "a", "--secret", SECRET).exit_code == 0
    result = invoke("--device", url, "--json", "reset", "--yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ok": True, "reset": True}
    info = json.loads(invoke("--device", url, "--json", "info").stdout)
    assert info["used"] == 0


def test_reset_asks_and_aborts_on_no(make_simulator: MakeSimulator) -> None:
    url = make_simulator().url
    assert invoke("--device", url, "otp", "add", "a", "--secret", SECRET).exit_code == 0
    for answer, why in [("n\n", "not confirmed"), ("\n", "not confirmed"), ("", "no answer")]:
        aborted = invoke("--device", url, "reset", input=answer)
        assert aborted.exit_code == 1
        # End of input leaves the error on the prompt's line; "n" and Enter end that line.
        lines = aborted.stderr.splitlines()
        assert "Erase every credential" in lines[0] and len(lines) == (1 if answer == "" else 2)
        assert lines[-1].endswith(f"Error: aborted: {why}") or why == "no answer"
        assert "Error: aborted: " in lines[-1] and why in lines[-1]
    assert names(url) == ["a"]
    confirmed = invoke("--device", url, "reset", input="y\n")
    assert confirmed.exit_code == 0 and "The key was reset." in confirmed.stdout
    assert json.loads(invoke("--device", url, "--json", "info").stdout)["used"] == 0


def test_reset_declined_on_the_key_keeps_everything(make_simulator: MakeSimulator) -> None:
    url = make_simulator(button="deny").url
    assert invoke("--device", url, "otp", "add", "a", "--secret", SECRET).exit_code == 0
    refused = invoke("--device", url, "reset", "--yes")
    assert refused.exit_code == 1 and "declined" in refused.stderr
    assert "Traceback" not in refused.output
    assert names(url) == ["a"]
