"""Suite-wide options: tests marked ``device`` need real hardware and run only when asked."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device-tests",
        action="store_true",
        default=False,
        help="run tests marked 'device' (they need a real key, BLE adapter or USB dongle)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--device-tests"):
        return
    skip = pytest.mark.skip(reason="needs real hardware: run with --device-tests")
    for item in items:
        if "device" in item.keywords:
            item.add_marker(skip)
