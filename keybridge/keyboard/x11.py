"""Typing on an X server through XTEST, with python-xlib.

The key's reports become XTEST key events on the X keycodes of the keys they name (X keycode =
Linux ``KEY_*`` + 8, as the X server's evdev keycodes are), modifiers as key presses of their
own. The X server's keymap turns them into characters, as for a USB or BLE keyboard, so the
layout the key typed for and the X server's must agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from keybridge.errors import KeyboardBackendError
from keybridge.keyboard.events import X_KEYCODE_OFFSET, KeyEvent, KeyTracker

if TYPE_CHECKING:
    from Xlib.display import Display

__all__ = ["X11Keyboard", "display_name", "open_display"]


def display_name(name: str | None = None) -> str:
    """``name``, else ``$DISPLAY``; one line saying what to do when neither is set."""
    chosen = name or os.environ.get("DISPLAY", "").strip()
    if not chosen:
        raise KeyboardBackendError(
            "no X display: DISPLAY is not set; run this in the desktop session (or set "
            "DISPLAY, e.g. DISPLAY=:0), or use --to stdout"
        )
    return chosen


def open_display(name: str | None = None) -> Display:
    """A connection to the X server ``name`` (default ``$DISPLAY``), or one clear line."""
    chosen = display_name(name)
    try:
        from Xlib import error
        from Xlib.display import Display
    except ImportError as exc:
        raise KeyboardBackendError(
            "python-xlib is not installed: 'pip install python-xlib' (or reinstall keybridge)"
        ) from exc
    try:
        return Display(chosen)
    except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
        raise KeyboardBackendError(
            f"cannot open the X display {chosen!r} ({exc}): is the desktop session running, "
            "and are DISPLAY and XAUTHORITY those of the session?"
        ) from exc


class X11Keyboard:
    """Types boot reports as XTEST key events on one X display (``$DISPLAY`` by default).

    ``key_delay`` seconds pass after each report; the X server queues events in order, so 0
    types as fast as the server takes them.
    """

    def __init__(self, name: str | None = None, *, key_delay: float = 0.0) -> None:
        self._display = open_display(name)
        self.name = self._display.get_display_name()
        self._key_delay = key_delay
        if not self._display.has_extension("XTEST"):
            self._display.close()
            raise KeyboardBackendError(
                f"the X server {self.name!r} has no XTEST extension, so nothing can type into "
                "it: enable XTEST, or use --to stdout"
            )

    async def send(self, reports: Sequence[bytes], text: str) -> None:
        """Press and release the reports' keys in order; never leaves a key down."""
        from Xlib import error

        tracker = KeyTracker()
        typed = 0
        try:
            for raw in reports:
                before, press = tracker.step(raw)
                self._fake(before)
                self._fake(press)
                self._display.sync()
                typed += len(press)
                await asyncio.sleep(self._key_delay)
        except (error.ConnectionClosedError, error.XError, OSError) as exc:
            raise KeyboardBackendError(
                f"the X display {self.name!r} went away after {typed} of {len(text)} keystrokes "
                f"({exc}): the field may hold part of the code; clear it and type again"
            ) from exc
        finally:
            self._release(tracker)

    def _release(self, tracker: KeyTracker) -> None:
        from Xlib import error

        if not tracker.held:
            return
        try:
            self._fake(tracker.release_all())
            self._display.sync()
        except (error.ConnectionClosedError, error.XError, OSError):
            pass  # the server is gone, and its keys with it

    def _fake(self, events: Iterable[KeyEvent]) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        for code, down in events:
            kind = X.KeyPress if down else X.KeyRelease
            xtest.fake_input(self._display, kind, code + X_KEYCODE_OFFSET)

    def close(self) -> None:
        """Close the connection to the X server."""
        from Xlib import error

        with contextlib.suppress(error.ConnectionClosedError, OSError):
            self._display.close()
