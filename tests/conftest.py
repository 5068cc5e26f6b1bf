"""Suite-wide options: tests marked ``device`` need real hardware and run only when asked;
``--reliability-long`` runs the reliability tests at their long size (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis' per-example deadline is a timed assertion: on a loaded 2-core machine a slow
# example fails a correct test. Speed is the benchmarks' business (bench/), not the tests'.
settings.register_profile("keybridge", deadline=None)
settings.load_profile("keybridge")


@pytest.fixture(autouse=True)
def _host_config_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Host pairings go to the test's tmp_path, never to the user's config directory."""
    monkeypatch.setenv("KEYBRIDGE_CONFIG_DIR", str(tmp_path / "host-config"))


@pytest.fixture(autouse=True)
def _simulators_announced_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulators a test starts announce themselves to that test only: "the only key
    attached" never finds another test's key (tests run in parallel) nor the user's."""
    monkeypatch.setenv("KEYBRIDGE_RUNTIME_DIR", str(tmp_path / "runtime"))


@pytest.fixture(autouse=True)
def _no_user_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands connect directly unless a test starts its own agent: never the user's."""
    monkeypatch.setenv("KEYBRIDGE_AGENT_SOCKET", str(tmp_path / "no-agent.sock"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device-tests",
        action="store_true",
        default=False,
        help="run tests marked 'device' (they need a real key, BLE adapter or USB dongle)",
    )
    parser.addoption(
        "--reliability-long",
        action="store_true",
        default=False,
        help="run the reliability tests at their long size (minutes; see docs/reliability.md)",
    )


@pytest.fixture
def reliability_long(request: pytest.FixtureRequest) -> bool:
    """Whether the reliability tests run long (``--reliability-long``) or short (CI)."""
    return bool(request.config.getoption("--reliability-long"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--device-tests"):
        return
    skip = pytest.mark.skip(reason="needs real hardware: run with --device-tests")
    for item in items:
        if "device" in item.keywords:
            item.add_marker(skip)
