"""The browser backend: reports to UI Events key codes, and what it sends to a page.

The page here is a stand-in that records ``keyboard.down`` / ``keyboard.up``; the real browser
runs in ``tests/browser``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from keybridge.errors import BrowserUnreachableError, InvalidInputError, KeyboardBackendError
from keybridge.keyboard import LAYOUTS, RELEASE, KeyboardBackend, Usage, encode_text, get_layout
from keybridge.keyboard.browser import (
    KEY_CODES,
    BrowserBackend,
    KeyEvent,
    active_page,
    find_chromium,
    key_events,
    launch_page,
    open_cdp_page,
)

D, U = True, False


def press(*codes: str) -> list[KeyEvent]:
    """Codes down in order, then up in reverse: one character as a host sees it."""
    return [KeyEvent(D, c) for c in codes] + [KeyEvent(U, c) for c in reversed(codes)]


# Written out by hand from the UI Events code table and each layout's key caps.
CASES = [
    ("us", "a", press("KeyA")),
    ("us", "A", press("ShiftLeft", "KeyA")),
    ("us", "1", press("Digit1")),
    ("us", "!", press("ShiftLeft", "Digit1")),
    ("us", "0", press("Digit0")),
    ("us", "\n", press("Enter")),
    ("us", "\t", press("Tab")),
    ("us", " ", press("Space")),
    ("us", "'", press("Quote")),
    ("us", "`", press("Backquote")),
    ("us", "\\", press("Backslash")),
    ("us", "{", press("ShiftLeft", "BracketLeft")),
    ("uk", "1", press("Digit1")),
    ("uk", '"', press("ShiftLeft", "Digit2")),
    ("uk", "#", press("Backslash")),
    ("uk", "\\", press("IntlBackslash")),
    ("uk", "@", press("ShiftLeft", "Quote")),
    ("de", "1", press("Digit1")),
    ("de", "z", press("KeyY")),
    ("de", "y", press("KeyZ")),
    ("de", "@", press("AltRight", "KeyQ")),
    ("de", "ß", press("Minus")),
    ("de", "<", press("IntlBackslash")),
    ("fr", "1", press("ShiftLeft", "Digit1")),
    ("fr", "0", press("ShiftLeft", "Digit0")),
    ("fr", "é", press("Digit2")),
    ("fr", "a", press("KeyQ")),
    ("fr", "q", press("KeyA")),
    ("fr", "m", press("Semicolon")),
    ("fr", "\n", press("Enter")),
]


@pytest.mark.parametrize(("layout", "char", "events"), CASES)
def test_a_character_is_its_physical_keys(layout: str, char: str, events: list[KeyEvent]) -> None:
    assert key_events(encode_text(char, layout)) == events


def test_every_layout_covers_its_keys() -> None:
    assert {layout for layout, _, _ in CASES} == set(LAYOUTS)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_character_of_every_layout_has_key_codes(layout: str) -> None:
    for char in get_layout(layout).characters:
        events = key_events(encode_text(char, layout))
        downs = [e.code for e in events if e.down]
        ups = [e.code for e in events if not e.down]
        assert downs and ups == downs[::-1], (char, events)


def test_fr_code_has_shift_down_around_each_digit() -> None:
    events = key_events(encode_text("905\n", "fr"))
    assert events == [
        *press("ShiftLeft", "Digit9"),
        *press("ShiftLeft", "Digit0"),
        *press("ShiftLeft", "Digit5"),
        *press("Enter"),
    ]


def test_held_keys_change_edge_by_edge_and_end_released() -> None:
    reports = [
        bytes([0x02, 0, Usage.A, 0, 0, 0, 0, 0]),  # Shift + A
        bytes([0x02, 0, Usage.A, Usage.B, 0, 0, 0, 0]),  # B joins, A still held
        bytes([0x00, 0, Usage.B, 0, 0, 0, 0, 0]),  # Shift and A up
    ]
    assert key_events(reports) == [
        KeyEvent(D, "ShiftLeft"),
        KeyEvent(D, "KeyA"),
        KeyEvent(D, "KeyB"),
        KeyEvent(U, "KeyA"),
        KeyEvent(U, "ShiftLeft"),
        KeyEvent(U, "KeyB"),  # the last report held B: released at the end
    ]


def test_all_usages_have_codes() -> None:
    assert set(KEY_CODES) == set(Usage) - {Usage.NO_EVENT, Usage.ERROR_ROLL_OVER}
    assert len(set(KEY_CODES.values())) == len(KEY_CODES) - 1  # the two backslash keys


def test_bad_reports_raise() -> None:
    with pytest.raises(InvalidInputError, match="8 bytes"):
        key_events([b"\x00"])
    with pytest.raises(InvalidInputError, match="0xE8"):
        key_events([bytes([0, 0, 0xE8, 0, 0, 0, 0, 0])])


class FakeKeyboard:
    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[KeyEvent] = []
        self.fail_on = fail_on

    async def down(self, code: str) -> None:
        if code == self.fail_on:
            raise RuntimeError("page closed")
        self.events.append(KeyEvent(D, code))

    async def up(self, code: str) -> None:
        self.events.append(KeyEvent(U, code))


class FakePage:
    def __init__(self, fail_on: str | None = None) -> None:
        self.keyboard = FakeKeyboard(fail_on)


def test_is_a_keyboard_backend() -> None:
    assert isinstance(BrowserBackend(FakePage()), KeyboardBackend)


@pytest.mark.parametrize("layout", ["us", "uk", "de"])
async def test_digits_go_to_the_page_by_key_code(layout: str) -> None:
    page = FakePage()
    await BrowserBackend(page).deliver(encode_text("123456\n", layout), LAYOUTS[layout])
    assert page.keyboard.events == [e for c in "123456" for e in press(f"Digit{c}")] + press(
        "Enter"
    )


@pytest.mark.parametrize(
    ("layout", "text", "shown"),
    [
        ("fr", "123456", "would type '!' there where layout 'fr' types '1'"),
        ("fr", "a", "would type 'q' there where layout 'fr' types 'a'"),
        ("de", "2z", "would type 'y' there where layout 'de' types 'z'"),
        ("uk", "\\", "press keys a US keyboard does not have"),
    ],
)
async def test_reports_the_browser_would_type_otherwise_type_nothing(
    layout: str, text: str, shown: str
) -> None:
    page = FakePage()
    expected = f"made for layout '{layout}', {re.escape(shown)}; nothing was typed.*--layout us"
    with pytest.raises(KeyboardBackendError, match=expected) as refused:
        await BrowserBackend(page).deliver(encode_text(text, layout), LAYOUTS[layout])
    assert page.keyboard.events == []
    assert len(text) == 1 or text not in str(refused.value)  # a live code is never shown


async def test_reports_that_do_not_decode_type_nothing() -> None:
    page = FakePage()
    with pytest.raises(InvalidInputError):
        await BrowserBackend(page).deliver(
            [bytes.fromhex("0100040000000000"), RELEASE], LAYOUTS["us"]
        )
    assert page.keyboard.events == []


async def test_keys_are_released_when_typing_stops_halfway() -> None:
    page = FakePage(fail_on="Digit1")  # the page fails while Shift is down for "!"
    with pytest.raises(RuntimeError):
        await BrowserBackend(page).deliver(encode_text("a!", "us"), LAYOUTS["us"])
    assert page.keyboard.events == [*press("KeyA"), *press("ShiftLeft")]


@pytest.mark.parametrize("url", ["127.0.0.1:9222", "file:///tmp/x", "http://", "9222"])
async def test_a_cdp_url_that_is_not_one_is_bad_input(url: str) -> None:
    with pytest.raises(InvalidInputError, match="remote-debugging-port"):
        async with open_cdp_page(url):
            pass


async def test_without_playwright_the_error_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    with pytest.raises(KeyboardBackendError, match=r"pip install 'keybridge\[browser\]'"):
        async with open_cdp_page("http://127.0.0.1:9"):
            pass


async def test_no_browser_at_the_url_is_unreachable(unused_port: int) -> None:
    pytest.importorskip("playwright.async_api")
    with pytest.raises(BrowserUnreachableError, match=f"127.0.0.1:{unused_port}.*--cdp"):
        async with open_cdp_page(f"http://127.0.0.1:{unused_port}"):
            pass


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_backend_module_does_not_import_playwright() -> None:
    code = (
        "import sys, keybridge.keyboard.browser, keybridge.cli.cmd_otp;"
        "print(any(m.startswith('playwright') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_launch_without_chromium_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("playwright.async_api")
    monkeypatch.setenv("KEYBRIDGE_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(KeyboardBackendError, match="apt-get install chromium"):
        async with launch_page():
            pass


async def test_a_window_without_a_display_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("playwright.async_api")
    monkeypatch.setenv("KEYBRIDGE_CHROMIUM", sys.executable)  # found; never started
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(KeyboardBackendError, match="needs a display"):
        async with launch_page(show=True):
            pass


async def test_launch_without_playwright_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    with pytest.raises(KeyboardBackendError, match=r"pip install 'keybridge\[browser\]'"):
        async with launch_page():
            pass


def test_find_chromium_prefers_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEYBRIDGE_CHROMIUM", sys.executable)
    assert find_chromium() == sys.executable
    monkeypatch.setenv("KEYBRIDGE_CHROMIUM", str(tmp_path / "missing"))
    assert find_chromium() is None


class StatePage:
    """A page whose document reports ``focused`` and ``visible`` (or fails, navigating)."""

    def __init__(self, focused: bool, visible: bool, *, gone: bool = False) -> None:
        self.state = [focused, visible]
        self.gone = gone

    async def evaluate(self, script: str) -> list[bool]:
        if self.gone:
            raise RuntimeError("Execution context was destroyed")
        return self.state


@pytest.mark.parametrize(
    ("states", "chosen"),
    [
        ([(False, True)], 0),  # the only page
        ([(False, False)], 0),  # the only page, even hidden
        ([(False, True), (True, True), (False, False)], 1),  # the focused one
        ([(False, False), (False, True), (False, False)], 1),  # window unfocused: the visible tab
        ([(True, True), (False, True)], 0),
    ],
)
async def test_the_active_page_is_the_one_a_user_means(
    states: list[tuple[bool, bool]], chosen: int
) -> None:
    pages = [StatePage(*state) for state in states]
    assert await active_page(pages, "http://127.0.0.1:9222") is pages[chosen]


@pytest.mark.parametrize(
    "states",
    [
        [(True, True), (True, True)],  # headless: every page focused and visible
        [(False, True), (False, True)],  # two windows, neither focused
        [(False, False), (False, False)],
    ],
)
async def test_no_single_active_page_is_refused(states: list[tuple[bool, bool]]) -> None:
    pages = [StatePage(*state) for state in states]
    with pytest.raises(KeyboardBackendError, match="has 2 pages and none is the one active"):
        await active_page(pages, "http://127.0.0.1:9222")


async def test_a_page_that_is_navigating_is_not_the_active_one() -> None:
    pages = [StatePage(True, True, gone=True), StatePage(False, True)]
    assert await active_page(pages, "http://127.0.0.1:9222") is pages[1]
    with pytest.raises(KeyboardBackendError, match="no open page"):
        await active_page([], "http://127.0.0.1:9222")
