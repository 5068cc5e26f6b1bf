"""The browser backend: a key's reports as key events, by physical key code, into a web page.

A keyboard sends positions, not characters; :func:`key_events` turns boot reports into the
key-down and key-up events of those positions, named by their W3C UI Events ``code`` values
(``KeyA``, ``Digit1``, ``ShiftLeft``, ``Enter``), edge by edge as a host sees them.
:class:`BrowserBackend` sends those events into a Playwright page (``keyboard.down`` /
``keyboard.up``), so the page gets real ``keydown`` / ``keyup`` / ``input`` events and its own
handling of them applies.

Playwright gives a key code the characters of a US keyboard (it has no other layout), so the
browser types reports made for ``us`` as the key meant them. Reports made for another layout
are typed only when the browser would type the same text (digits on uk or de); otherwise
(digits with Shift on fr) nothing is typed and the error says to use ``us``.

:func:`open_cdp_page` connects to a running Chromium started with ``--remote-debugging-port``
and yields its active page, for ``keybridge otp type --to browser --cdp URL``. Playwright (the
``browser`` extra) is imported only here, when a page is opened.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from keybridge.errors import (
    BrowserUnreachableError,
    InvalidInputError,
    KeyboardBackendError,
)
from keybridge.keyboard.layouts import Layout, get_layout
from keybridge.keyboard.reports import KeyReport, decode_reports
from keybridge.keyboard.usage import Modifier, Usage

__all__ = [
    "BROWSER_LAYOUT",
    "CHROMIUM_ENV",
    "CHROMIUM_FLAGS",
    "KEY_CODES",
    "MODIFIER_CODES",
    "BrowserBackend",
    "KeyEvent",
    "active_page",
    "completes",
    "find_chromium",
    "key_events",
    "launch_page",
    "open_cdp_page",
]

BROWSER_LAYOUT = "us"
"""The layout Playwright turns key codes into characters with."""

KEY_CODES: dict[int, str] = {
    **{Usage[letter]: f"Key{letter}" for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{Usage[f"DIGIT_{digit}"]: f"Digit{digit}" for digit in "1234567890"},
    Usage.ENTER: "Enter", Usage.ESCAPE: "Escape", Usage.BACKSPACE: "Backspace",
    Usage.TAB: "Tab", Usage.SPACE: "Space", Usage.MINUS: "Minus", Usage.EQUAL: "Equal",
    Usage.LEFT_BRACKET: "BracketLeft", Usage.RIGHT_BRACKET: "BracketRight",
    # UI Events names the ANSI backslash key and the ISO key left of Enter both "Backslash".
    Usage.BACKSLASH: "Backslash", Usage.NON_US_HASH: "Backslash",
    Usage.SEMICOLON: "Semicolon", Usage.APOSTROPHE: "Quote", Usage.GRAVE: "Backquote",
    Usage.COMMA: "Comma", Usage.PERIOD: "Period", Usage.SLASH: "Slash",
    Usage.NON_US_BACKSLASH: "IntlBackslash",
}  # fmt: skip
"""HID usage -> W3C UI Events ``KeyboardEvent.code`` of the same physical key."""

MODIFIER_CODES: dict[Modifier, str] = {
    Modifier.LEFT_CTRL: "ControlLeft",
    Modifier.LEFT_SHIFT: "ShiftLeft",
    Modifier.LEFT_ALT: "AltLeft",
    Modifier.LEFT_GUI: "MetaLeft",
    Modifier.RIGHT_CTRL: "ControlRight",
    Modifier.RIGHT_SHIFT: "ShiftRight",
    Modifier.RIGHT_ALT: "AltRight",
    Modifier.RIGHT_GUI: "MetaRight",
}
"""Modifier bit -> ``code`` of the modifier key."""

# Playwright's US keyboard has no ISO key, and would refuse it halfway through a code.
_NOT_IN_BROWSER = frozenset({"IntlBackslash"})

CHROMIUM_ENV = "KEYBRIDGE_CHROMIUM"
"""Names the Chromium executable to launch (default: ``chromium`` on PATH)."""

CHROMIUM_FLAGS = (
    "--no-sandbox",  # Chromium's sandbox refuses to start as root (containers, CI)
    # Without these a Chromium with no network keeps trying to reach the internet.
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
"""Flags for a Chromium that keybridge launches (its tests, ``keybridge demo --web``)."""

CDP_TIMEOUT_MS = 5000
"""How long connecting to a browser's DevTools endpoint may take."""


class KeyEvent(NamedTuple):
    """One key going down or up: ``code`` is the key's UI Events code."""

    down: bool
    code: str


def _modifier_codes(bits: int) -> list[str]:
    return [code for flag, code in MODIFIER_CODES.items() if bits & flag]


def key_events(reports: Sequence[bytes]) -> list[KeyEvent]:
    """The key events a host sees for ``reports``, ending with every key up.

    Per report: keys no longer held go up, then released modifiers, then new modifiers go down,
    then new keys, so a shifted character has Shift down before its key and up after it.
    Raises :class:`~keybridge.errors.InvalidInputError` for a malformed report or a usage that
    has no key code here.
    """
    events: list[KeyEvent] = []
    held_mods = 0
    held: tuple[int, ...] = ()
    for index, raw in enumerate(reports):
        report = KeyReport.from_bytes(raw)
        for usage in report.keys:
            if usage not in KEY_CODES:
                raise InvalidInputError(
                    f"report {index + 1} ({raw.hex(' ')}) presses usage 0x{usage:02X}, "
                    "which has no key code for a browser"
                )
        events += [KeyEvent(False, KEY_CODES[u]) for u in held if u not in report.keys]
        events += [KeyEvent(False, c) for c in _modifier_codes(held_mods & ~report.modifiers)]
        events += [KeyEvent(True, c) for c in _modifier_codes(report.modifiers & ~held_mods)]
        events += [KeyEvent(True, KEY_CODES[u]) for u in report.keys if u not in held]
        held_mods, held = report.modifiers, report.keys
    events += [KeyEvent(False, KEY_CODES[u]) for u in held]
    events += [KeyEvent(False, c) for c in _modifier_codes(held_mods)]
    return events


class BrowserBackend:
    """Types into a Playwright page (the async API's ``Page``) as a keyboard: the focused
    element gets the key events, and the characters of a US keyboard (see the module doc)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def deliver(self, reports: Sequence[bytes], layout: Layout) -> None:
        """Check that ``reports`` type the text meant for ``layout`` in the browser, then
        send their key events; nothing is typed if they do not."""
        meant = decode_reports(reports, layout)
        events = key_events(reports)
        _check_browser_types(reports, get_layout(layout), meant, events)
        keyboard = self.page.keyboard
        down: list[str] = []
        try:
            for event in events:
                if event.down:
                    await keyboard.down(event.code)
                    down.append(event.code)
                else:
                    await keyboard.up(event.code)
                    down.remove(event.code)
        finally:
            # Never leave a key or modifier held in the page if typing stopped halfway.
            for code in reversed(down):
                with suppress(Exception):
                    await keyboard.up(code)


def _check_browser_types(
    reports: Sequence[bytes], layout: Layout, meant: str, events: Sequence[KeyEvent]
) -> None:
    missing = sorted({e.code for e in events} & _NOT_IN_BROWSER)
    try:
        typed = None if missing else decode_reports(reports, BROWSER_LAYOUT)
    except InvalidInputError:
        typed = None
    if typed == meant:
        return
    # Name one character, never the whole text: it is usually a live one-time code.
    if typed is None:
        what = "press keys a US keyboard does not have"
    else:
        at = next(i for i, (a, b) in enumerate(zip(typed, meant, strict=False)) if a != b)
        what = f"would type {typed[at]!r} there where layout {layout.id!r} types {meant[at]!r}"
    raise KeyboardBackendError(
        f"the browser types key codes as a US keyboard: these reports, made for layout "
        f"{layout.id!r}, {what}; nothing was typed: have the key type for layout us (--layout us)"
    )


def find_chromium() -> str | None:
    """The Chromium to launch: ``$KEYBRIDGE_CHROMIUM`` if executable, else ``chromium`` (or
    ``chromium-browser``) on PATH; None if there is none (Debian: apt-get install chromium)."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _check_cdp_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise InvalidInputError(
            f"{url!r} is not a DevTools URL: give the browser's remote-debugging address, "
            "e.g. http://127.0.0.1:9222 (start Chromium with --remote-debugging-port=9222)"
        )


async def _page_state(page: Any) -> tuple[bool, bool]:
    """(has the focus, is visible) of a page; a page that is navigating or gone has neither."""
    try:
        focused, visible = await page.evaluate(
            "[document.hasFocus(), document.visibilityState === 'visible']"
        )
    except Exception:
        return False, False
    return bool(focused), bool(visible)


async def active_page(pages: Sequence[Any], url: str) -> Any:
    """The one page of ``pages`` a user means: the one whose document has the focus, else the
    one visible (the active tab, when the browser window is not focused), else the only page.
    Several candidates (a headless browser counts every page as focused and visible) are
    refused: a code typed into the wrong page is a code given to the wrong site."""
    if not pages:
        raise KeyboardBackendError(f"the browser at {url} has no open page: open the login page")
    states = [await _page_state(page) for page in pages]
    for wanted in (0, 1):
        chosen = [page for page, state in zip(pages, states, strict=True) if state[wanted]]
        if len(chosen) == 1:
            return chosen[0]
    if len(pages) == 1:
        return pages[0]
    raise KeyboardBackendError(
        f"the browser at {url} has {len(pages)} pages and none is the one active page: close "
        "the others, or focus the login page's window, and run the command again"
    )


@asynccontextmanager
async def open_cdp_page(url: str) -> AsyncIterator[Any]:
    """The active page of the Chromium at the DevTools ``url`` (see :func:`active_page`);
    disconnects afterwards, leaving the browser open."""
    _check_cdp_url(url)
    try:
        from playwright.async_api import Error, async_playwright
    except ImportError:
        raise KeyboardBackendError(
            "typing into a browser needs Playwright: pip install 'keybridge[browser]'"
        ) from None
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.connect_over_cdp(url, timeout=CDP_TIMEOUT_MS)
        except Error as exc:
            raise BrowserUnreachableError(
                f"no browser answers at {url} ({_first_line(exc)}): start Chromium with "
                "--remote-debugging-port=PORT and give --cdp http://127.0.0.1:PORT"
            ) from None
        try:
            yield await active_page([p for c in browser.contexts for p in c.pages], url)
        finally:
            with suppress(Error):
                await browser.close()


@asynccontextmanager
async def launch_page(
    *, show: bool = False, width: int = 900, height: int = 720
) -> AsyncIterator[Any]:
    """A new page in a Chromium launched for it (:func:`find_chromium`, :data:`CHROMIUM_FLAGS`),
    headless unless ``show``. A Playwright failure inside (an element that never came) leaves as
    :class:`~keybridge.errors.KeyboardBackendError`, its first line kept."""
    try:
        from playwright.async_api import Error, async_playwright
    except ImportError:
        raise KeyboardBackendError(
            "driving a browser needs Playwright: pip install 'keybridge[browser]'"
        ) from None
    executable = find_chromium()
    if executable is None:
        raise KeyboardBackendError(
            f"no Chromium found: apt-get install chromium (Debian), or set {CHROMIUM_ENV}"
        )
    if show and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise KeyboardBackendError(
            "a browser window needs a display (DISPLAY is not set): run headless, or under xvfb-run"
        )
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=list(CHROMIUM_FLAGS), headless=not show
            )
            page = await browser.new_page(viewport={"width": width, "height": height})
        except Error as exc:
            raise KeyboardBackendError(f"cannot start {executable}: {_first_line(exc)}") from None
        try:
            yield page
        except Error as exc:
            raise KeyboardBackendError(f"the browser failed: {_first_line(exc)}") from None
        finally:
            with suppress(Error):
                await browser.close()


async def completes(wait: Awaitable[object]) -> bool:
    """True when a Playwright wait (``page.wait_for_selector(...)``, ``wait_for_url``)
    completes, False when it times out or fails."""
    from playwright.async_api import Error

    try:
        await wait
    except Error:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
