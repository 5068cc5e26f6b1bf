"""Keyboard backends: where the reports a key produced are delivered on the host.

``stdout`` prints the text that would be typed, ``sink`` keeps it in memory for programs and
tests, ``os`` types it into the desktop (X11 XTEST, or a Linux uinput virtual keyboard).
Every backend decodes the reports first, so reports that do not fit the layout type nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType, TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

from keybridge.errors import InvalidInputError, KeyboardBackendError
from keybridge.keyboard.events import KeyEvent, KeyTracker
from keybridge.keyboard.layouts import Layout
from keybridge.keyboard.reports import decode_reports
from keybridge.keyboard.usage import LINUX_KEYCODES, LINUX_MODIFIER_KEYCODES

__all__ = [
    "BACKEND_NAMES",
    "UINPUT_PATH",
    "DriverName",
    "KeyboardBackend",
    "OsBackend",
    "SinkBackend",
    "StdoutBackend",
    "get_backend",
]

BACKEND_NAMES = ("stdout", "sink", "os")
"""Names :func:`get_backend` accepts."""

UINPUT_PATH = "/dev/uinput"


@runtime_checkable
class KeyboardBackend(Protocol):
    """Something that types a key's reports (made for ``layout``) somewhere."""

    async def deliver(self, reports: list[bytes], layout: Layout) -> None:
        """Type ``reports``; raise before typing anything if they do not decode on ``layout``."""
        ...


class StdoutBackend:
    """Prints the text the reports type, exactly as typed (Enter is a newline)."""

    def __init__(self, stream: Any = None) -> None:
        # A text stream; None means sys.stdout as it is at delivery time (so redirection works).
        self._stream = stream

    async def deliver(self, reports: Sequence[bytes], layout: Layout) -> None:
        """Decode ``reports`` and write the text."""
        text = decode_reports(reports, layout)
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(text)
        stream.flush()


class SinkBackend:
    """Keeps what was typed in memory: ``.text``, ``.reports`` and one entry per delivery.

    ``callback``, if given, receives the text of each delivery; it may be a coroutine function
    (it is awaited). A login form under test can be the callback.
    """

    def __init__(self, callback: Callable[[str], object] | None = None) -> None:
        self.callback = callback
        self.reports: list[bytes] = []
        self.deliveries: list[str] = []

    @property
    def text(self) -> str:
        """Everything typed so far."""
        return "".join(self.deliveries)

    async def deliver(self, reports: Sequence[bytes], layout: Layout) -> None:
        """Decode ``reports``, record them and their text, then call the callback."""
        text = decode_reports(reports, layout)
        self.reports.extend(reports)
        self.deliveries.append(text)
        if self.callback is not None:
            result = self.callback(text)
            if inspect.isawaitable(result):
                await result

    def clear(self) -> None:
        """Forget everything delivered so far."""
        self.reports.clear()
        self.deliveries.clear()


class _Driver(Protocol):
    async def send(self, reports: Sequence[bytes], text: str) -> None: ...

    def close(self) -> None: ...


class _UinputDriver:
    """A virtual keyboard: replays the reports as key events, so the OS layout applies."""

    def __init__(self, evdev: ModuleType, key_delay: float) -> None:
        self._evdev = evdev
        self._key_delay = key_delay
        codes = sorted({*LINUX_KEYCODES.values(), *LINUX_MODIFIER_KEYCODES.values()})
        open_errors = (OSError, getattr(evdev, "UInputError", OSError))
        try:
            self._device = evdev.UInput(
                {evdev.ecodes.EV_KEY: codes}, name="keybridge virtual keyboard"
            )
        except open_errors as exc:
            raise KeyboardBackendError(_uinput_problem(exc)) from exc

    async def send(self, reports: Sequence[bytes], text: str) -> None:
        tracker = KeyTracker()
        try:
            for raw in reports:
                before, press = tracker.step(raw)
                self._write(before)
                self._write(press)
                # Give the compositor time to see each state; some drop too-fast events.
                await asyncio.sleep(self._key_delay)
        finally:
            # Never leave a key or modifier stuck down, even if cancelled.
            self._write(tracker.release_all())

    def _write(self, events: Sequence[KeyEvent]) -> None:
        for code, down in events:
            self._device.write(self._evdev.ecodes.EV_KEY, code, int(down))
        self._device.syn()

    def close(self) -> None:
        self._device.close()


def _uinput_problem(exc: BaseException) -> str:
    if not os.path.exists(UINPUT_PATH):
        return (
            f"cannot open {UINPUT_PATH}: it does not exist; load the uinput kernel module "
            "('sudo modprobe uinput')"
        )
    return (
        f"cannot open {UINPUT_PATH}: permission denied ({exc}); add your user to the 'input' "
        f'group and give that group the device with a udev rule (KERNEL=="uinput", '
        'GROUP="input", MODE="0660"), then log in again; or use --to stdout'
    )


DriverName = Literal["auto", "x11", "uinput"]
"""Ways :class:`OsBackend` types: ``auto`` picks X11 or uinput for the session."""


def _wayland_session() -> bool:
    return (
        bool(os.environ.get("WAYLAND_DISPLAY")) or os.environ.get("XDG_SESSION_TYPE") == "wayland"
    )


class OsBackend:
    """Types into the desktop session through its real keyboard stack.

    Both drivers press the physical keys the reports name, so the desktop's own keymap turns
    them into characters, as for a USB or BLE keyboard: the layout the reports were made for
    must be the desktop's. ``driver="auto"`` uses X11 XTEST when ``$DISPLAY`` is set (outside
    a Wayland session, whose own windows XTEST cannot reach), else a Linux uinput virtual
    keyboard (python-evdev, ``/dev/uinput`` writable). ``key_delay`` seconds pass after each
    report; ``settle`` is how long a new virtual keyboard is given to be noticed before the
    first key. ``display`` names the X display (default ``$DISPLAY``).
    """

    def __init__(
        self,
        *,
        driver: DriverName = "auto",
        key_delay: float = 0.005,
        settle: float = 0.3,
        display: str | None = None,
    ) -> None:
        self._driver_choice = driver
        self._key_delay = key_delay
        self._settle = settle
        self._display = display
        self._driver: _Driver | None = None

    async def deliver(self, reports: Sequence[bytes], layout: Layout) -> None:
        """Decode ``reports`` (typing nothing if they do not fit ``layout``), then type them."""
        text = decode_reports(reports, layout)
        if self._driver is None:
            self._driver = self._open()
            if isinstance(self._driver, _UinputDriver):
                await asyncio.sleep(self._settle)
        await self._driver.send(reports, text)

    def _choices(self) -> list[str]:
        if self._driver_choice != "auto":
            return [self._driver_choice]
        if _wayland_session() or not (self._display or os.environ.get("DISPLAY")):
            return ["uinput"]
        return ["x11", "uinput"]

    def _open(self) -> _Driver:
        problems: list[str] = []
        for choice in self._choices():
            try:
                return self._open_one(choice)
            except KeyboardBackendError as exc:
                problems.append(str(exc))
        if self._driver_choice == "auto" and _wayland_session():
            problems.insert(0, "in a Wayland session keybridge types through uinput")
        elif self._driver_choice == "auto" and not (self._display or os.environ.get("DISPLAY")):
            problems.insert(0, "no X display (DISPLAY is not set)")
        raise KeyboardBackendError(
            "cannot type through the OS: " + "; ".join(problems) + " (or use --to stdout)"
        )

    def _open_one(self, choice: str) -> _Driver:
        if choice == "x11":
            from keybridge.keyboard.x11 import X11Keyboard

            return X11Keyboard(self._display, key_delay=self._key_delay)
        if choice == "uinput":
            try:
                evdev = importlib.import_module("evdev")
            except ImportError as exc:
                raise KeyboardBackendError(
                    "python-evdev is not installed ('pip install keybridge[keyboard]', Linux)"
                ) from exc
            return _UinputDriver(evdev, self._key_delay)
        raise InvalidInputError(f"unknown OS keyboard driver {choice!r}: use auto, x11 or uinput")

    def close(self) -> None:
        """Close the X connection or remove the virtual keyboard, if one was opened."""
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def __enter__(self) -> OsBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def get_backend(name: str) -> KeyboardBackend:
    """A new backend by name: "stdout", "sink" or "os"."""
    key = name.strip().lower()
    if key == "stdout":
        return StdoutBackend()
    if key == "sink":
        return SinkBackend()
    if key == "os":
        return OsBackend()
    raise InvalidInputError(
        f"unknown keyboard backend {name!r}: use one of {', '.join(BACKEND_NAMES)}"
    )
