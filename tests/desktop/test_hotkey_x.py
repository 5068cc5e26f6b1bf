"""The hotkey against a bare X server: taken by another program, the display going away, the
focused window's title and class, the desktop's layout from the server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from desktop_harness import Xvfb, press_keys, set_layout

from keybridge.agent.core import TypeResult, WindowInfo
from keybridge.agent.hotkey import HotkeyService
from keybridge.agent.windows import focused_window
from keybridge.keyboard.desktop import desktop_layout


class NoKey:
    """An agent that must not be asked: these tests never press the hotkey."""

    async def type_code(self, *args: Any, **kwargs: Any) -> TypeResult:
        raise AssertionError("the key was asked")


class Told(list[str]):
    def __call__(self, text: str, urgent: bool = False) -> None:
        self.append(text)


@contextlib.contextmanager
def x_connection(display: str) -> Iterator[Any]:
    from Xlib.display import Display

    conn = Display(display)
    try:
        yield conn
    finally:
        conn.close()


async def test_a_hotkey_another_program_holds_is_one_line(xvfb: Xvfb) -> None:
    from Xlib import X

    with x_connection(xvfb.display) as other:
        keycode = other.keysym_to_keycode(ord("o"))
        other.screen().root.grab_key(keycode, X.ControlMask | X.Mod1Mask, True, 1, 1)
        other.sync()
        told = Told()
        await asyncio.wait_for(
            HotkeyService(NoKey(), display=xvfb.display, tell=told).run(), 10
        )  # returns: the agent goes on without the hotkey
    [line] = told
    assert "the hotkey ctrl+alt+o is taken by another program" in line
    assert "--hotkey" in line


async def test_the_display_going_away_turns_the_hotkey_off(xvfb: Xvfb) -> None:
    told = Told()
    service = HotkeyService(NoKey(), display=xvfb.display, tell=told)
    service.grab()  # held: a second grab of the same key by another client now fails
    with x_connection(xvfb.display) as other:
        from Xlib import X, error

        catch = error.CatchError(error.BadAccess)
        keycode = other.keysym_to_keycode(ord("o"))
        root = other.screen().root
        root.grab_key(keycode, X.ControlMask | X.Mod1Mask, True, 1, 1, onerror=catch)
        other.sync()
        assert catch.get_error() is not None
    running = asyncio.create_task(service.run())
    await asyncio.sleep(0.2)
    assert not running.done()
    xvfb.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        await asyncio.wait_for(running, 10)  # returns; nothing raised
        gc.collect()
    [line] = told
    assert line.startswith(f"the X display {xvfb.display} went away")
    assert "the hotkey is off; the agent goes on serving" in line


async def test_no_display_is_one_line() -> None:
    told = Told()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # python-xlib's failed socket
        await HotkeyService(NoKey(), display=":4711", tell=told).run()
        gc.collect()
    [line] = told
    assert line.startswith("cannot open the X display ':4711'")


def test_the_focused_window_and_the_layout_come_from_the_server(xvfb: Xvfb) -> None:
    from Xlib import X

    set_layout(xvfb.display, "uk")
    assert desktop_layout(xvfb.display) == "uk"
    with x_connection(xvfb.display) as conn:
        assert focused_window(conn) is None  # only the root window
        root = conn.screen().root
        window = root.create_window(0, 0, 100, 100, 0, X.CopyFromParent)
        window.set_wm_class("keybridge-test", "KeybridgeTest")
        window.change_property(
            conn.intern_atom("_NET_WM_NAME"),
            conn.intern_atom("UTF8_STRING"),
            8,
            "Hideez Enterprise Server — login".encode(),
        )
        window.map()
        window.set_input_focus(X.RevertToParent, X.CurrentTime)
        conn.sync()
        assert focused_window(conn) == WindowInfo(
            "Hideez Enterprise Server — login", "keybridge-test KeybridgeTest"
        )
        # A window manager says which window is active.
        other = root.create_window(0, 0, 10, 10, 0, X.CopyFromParent)
        other.set_wm_class("term", "XTerm")
        other.set_wm_name("a shell")
        root.change_property(
            conn.intern_atom("_NET_ACTIVE_WINDOW"), conn.intern_atom("WINDOW"), 32, [other.id]
        )
        conn.sync()
        assert focused_window(conn) == WindowInfo("a shell", "term XTerm")


async def test_a_display_gone_mid_code_says_how_much_was_typed(
    xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keybridge.errors import KeyboardBackendError
    from keybridge.keyboard import encode_text
    from keybridge.keyboard.x11 import X11Keyboard

    keyboard = X11Keyboard(xvfb.display, key_delay=0)
    fake = keyboard._fake
    calls = 0

    def fake_then_pull_the_plug(events: Any) -> None:
        nonlocal calls
        fake(events)
        calls += 1
        if calls == 6:  # report 3 (the "2" going down) sent; the server dies before its sync
            xvfb.stop()

    monkeypatch.setattr(keyboard, "_fake", fake_then_pull_the_plug)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(KeyboardBackendError) as caught:
            await keyboard.send(encode_text("123456\n", "us"), "123456\n")
        keyboard.close()
        gc.collect()
    message = str(caught.value)
    assert message.startswith(f"the X display '{xvfb.display}' went away after 1 of 7 keystrokes")
    assert "the field may hold part of the code" in message and "\n" not in message


class Recorder:
    """An agent whose key types nothing: it only counts the presses."""

    def __init__(self) -> None:
        self.calls = 0

    async def type_code(self, *args: Any, **kwargs: Any) -> TypeResult:
        self.calls += 1
        return TypeResult("x", "us", [], delivered=True)


async def regrabbed(service: HotkeyService, keycode: int) -> None:
    """Return once the hotkey is grabbed on another key than ``keycode``."""
    while service._keycode == keycode:
        await asyncio.sleep(0.01)


async def test_the_hotkey_follows_its_key_to_another_layout(xvfb: Xvfb) -> None:
    """Ctrl+Alt+Y: QWERTY's Y is QWERTZ's Z key; after setxkbmap de the Y key is grabbed."""
    set_layout(xvfb.display, "us")
    agent = Recorder()
    service = HotkeyService(agent, "ctrl+alt+y", display=xvfb.display, tell=Told())
    service.grab()
    running = asyncio.create_task(service.run())
    try:
        for layout, presses in (("us", 1), ("de", 2)):
            if layout != "us":
                grabbed = service._keycode
                await asyncio.to_thread(set_layout, xvfb.display, layout)
                await asyncio.wait_for(regrabbed(service, grabbed), 10)
            service.typed.clear()
            await asyncio.to_thread(press_keys, xvfb.display, ["Control_L", "Alt_L", "y"])
            await asyncio.wait_for(service.typed.wait(), 10)
            assert agent.calls == presses
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
