"""A real browser for the tests in this folder: Debian's Chromium driven by Playwright.

Fixtures in pytest-playwright's style, on Playwright's async API (the suite runs pytest-asyncio
in auto mode, and Playwright's sync API cannot run inside an event loop): one ``browser`` for
the whole session, a fresh ``context`` and ``page`` for every test, and a screenshot of the page
in ``test-results/`` when a test fails. Playwright's objects belong to the event loop that
made them, so every test module here runs in the session's loop, the browser's:
``pytestmark = pytest.mark.asyncio(loop_scope="session")``.

Chromium is found as ``$KEYBRIDGE_CHROMIUM`` or ``chromium`` on PATH (Playwright's
``executable_path``: nothing is downloaded). Where it or Playwright is missing the tests skip
with one line saying how to get it; under ``CI=true`` they fail instead.

``KEYBRIDGE_SCREENSHOTS=DIR`` makes the ``shot`` fixture save each step's screenshot in DIR
(``make screenshots`` writes those of ``docs/img``); otherwise ``shot`` takes none.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from keybridge.keyboard.browser import CHROMIUM_ENV, CHROMIUM_FLAGS, find_chromium

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
FAILURES = ROOT / "test-results"

SCREENSHOTS_ENV = "KEYBRIDGE_SCREENSHOTS"

VIEWPORT = {"width": 900, "height": 720}
"""Pages are drawn 900 px wide: the docs' screenshots are that size."""

ACTION_TIMEOUT_MS = 10_000
"""A click or fill waits this long for its element (Playwright's default is 30 s)."""

Shot = Callable[[str], Awaitable[None]]


def _unavailable(why: str) -> None:
    message = (
        f"browser tests need {why}: apt-get install chromium (Debian), or point "
        f"{CHROMIUM_ENV} at a Chromium; Playwright comes with pip install -e '.[test]'"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium to drive, with Playwright importable; skips (fails under CI) otherwise."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright's Python package")
    executable = find_chromium()
    if executable is None:
        _unavailable("Chromium")
    assert executable is not None
    return executable


@pytest.fixture(scope="session")
def devtools_url() -> str:
    """The session browser's DevTools address (as ``--cdp`` takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: str, devtools_url: str) -> AsyncIterator[Any]:
    """One headless Chromium for the whole session, also on ``devtools_url``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium,
            args=[*CHROMIUM_FLAGS, f"--remote-debugging-port={urlsplit(devtools_url).port}"],
            headless=True,
        )
        yield launched
        await launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    # The page fixture reads this at teardown to screenshot a failed test's page.
    item.stash.setdefault(_OUTCOMES, {})[report.when] = report.failed
    return report


_OUTCOMES = pytest.StashKey[dict[str, bool]]()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context (cookies, storage) for each test."""
    ctx = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    yield ctx
    await ctx.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A new page; a test that fails leaves its screenshot in ``test-results/``."""
    new_page = await context.new_page()
    yield new_page
    if request.node.stash.get(_OUTCOMES, {}).get("call", False):
        FAILURES.mkdir(exist_ok=True)
        path = FAILURES / f"{request.node.name}.png"
        await new_page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failed page: {path}")


@pytest.fixture
def expect(browser: Any) -> Any:
    """Playwright's auto-waiting ``expect`` (a fixture, so a missing Playwright skips)."""
    from playwright.async_api import expect

    return expect


@pytest.fixture
def shot(page: Any) -> Shot:
    """``await shot("name")`` saves the page as ``$KEYBRIDGE_SCREENSHOTS/name.png`` (small,
    palette PNG), when that variable is set; does nothing otherwise."""
    directory = os.environ.get(SCREENSHOTS_ENV)

    async def take(name: str) -> None:
        if not directory:
            return
        Path(directory).mkdir(parents=True, exist_ok=True)
        png = await page.screenshot(full_page=True)
        save_small_png(png, Path(directory) / f"{name}.png")

    return take


def save_small_png(png: bytes, path: Path) -> None:
    """Write ``png`` as an optimised 8-bit palette PNG (a page shot shrinks about 3-4x)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
