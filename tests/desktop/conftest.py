"""The desktop tier: a real X server (Xvfb), Chromium in a window on it, the agent's hotkey.

Outside CI the tests skip with one line when Xvfb, setxkbmap, xinput or Chromium is missing
(``make test`` installs them when run as root); under ``CI=true`` they must run, so a missing
program fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from desktop_harness import Chromium, Desktop, HesDesktop, Xvfb, missing_tools


def need_tools(*tools: str) -> None:
    """Skip (fail under CI=true) unless every program of ``tools`` is installed."""
    missing = missing_tools(tools) if tools else missing_tools()
    if not missing:
        return
    message = f"needs {', '.join(missing)} (Debian: xvfb, x11-xkb-utils, xinput, chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"under CI=true the desktop tests must run: {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def desktop() -> Iterator[Desktop]:
    """Xvfb, the login page and Chromium showing it, for the module's tests."""
    need_tools()
    started = Desktop()
    yield started
    started.close()


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    """A bare X server of the test's own (no browser)."""
    need_tools("Xvfb")
    server = Xvfb()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hes_desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HesDesktop]:
    """Xvfb, the HES web emulator over a store of the module's and Chromium (DevTools open)
    showing its `/login`, for the module's tests."""
    need_tools()
    pytest.importorskip("playwright", reason="the HES login test drives Chromium with Playwright")
    pytest.importorskip("starlette", reason="the HES web emulator needs keybridge[web]")
    from firmware_sim.testing.pytest_plugin import HesClock
    from keybridge.hes import Hes
    from keybridge.hes.web import create_app
    from keybridge.hes.web.server import serve_in_thread

    store = tmp_path_factory.mktemp("hes") / "hes.sqlite3"
    hes = Hes(store, "hes", HesClock(), password_cost=16)
    xvfb = Xvfb()
    try:
        display = xvfb.start()
        with serve_in_thread(create_app(hes)) as base:
            browser = Chromium(display, f"{base}/login", devtools=True)
            browser.start()
            try:
                yield HesDesktop(display, base, hes, browser)
            finally:
                browser.stop()
    finally:
        xvfb.stop()
        hes.close()
