"""Keyboard backends: where the reports a key produced are delivered on the host.

``stdout`` prints the text that would be typed, ``sink`` keeps it in memory for programs and
tests, ``os`` types it into the desktop (a virtual keyboard through Linux uinput, or pynput).
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
from keybridge.keyboard.layouts import Layout
from keybridge.keyboard.reports import KeyReport, decode_reports
from keybridge.keyboard.usage import LINUX_KEYCODES, LINUX_MODIFIER_KEYCODES

__all__ = [
    "BACKEND_NAMES",
    "UINPUT_PATH",
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
        held_mods = 0
        held: list[int] = []
        try:
            for raw in reports:
                report = KeyReport.from_bytes(raw)
                for usage in held:
                    if usage not in report.keys:
                        self._key(LINUX_KEYCODES[usage], 0)
                self._modifiers(held_mods & ~report.modifiers, 0)
                self._modifiers(report.modifiers & ~held_mods, 1)
                self._device.syn()
                for usage in report.keys:
                    if usage not in held:
                        self._key(LINUX_KEYCODES[usage], 1)
                self._device.syn()
                held_mods, held = report.modifiers, list(report.keys)
                # Give the compositor time to see each state; some drop too-fast events.
                await asyncio.sleep(self._key_delay)
        finally:
            # Never leave a key or modifier stuck down, even if cancelled.
            for usage in held:
                self._key(LINUX_KEYCODES[usage], 0)
            self._modifiers(held_mods, 0)
            self._device.syn()

    def _modifiers(self, bits: int, value: int) -> None:
        for flag, code in LINUX_MODIFIER_KEYCODES.items():
            if bits & flag:
                self._key(code, value)

    def _key(self, code: int, value: int) -> None:
        self._device.write(self._evdev.ecodes.EV_KEY, code, value)

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


class _PynputDriver:
    """Types the decoded text through pynput, which finds the keys in the OS layout itself."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller

    async def send(self, reports: Sequence[bytes], text: str) -> None:
        # pynput blocks while it types; keep the event loop free.
        await asyncio.to_thread(self._controller.type, text)

    def close(self) -> None:
        pass


class OsBackend:
    """Types into the desktop session.

    ``driver="auto"`` tries a Linux uinput virtual keyboard (python-evdev), then pynput. With
    uinput the OS's own layout turns keys into characters, as with a real keyboard, so the
    host's layout must be the one the reports were made for. ``settle`` is how long a new
    virtual keyboard is given to be noticed by the system before the first key.
    """

    def __init__(
        self,
        *,
        driver: Literal["auto", "evdev", "pynput"] = "auto",
        key_delay: float = 0.005,
        settle: float = 0.3,
    ) -> None:
        self._driver_choice = driver
        self._key_delay = key_delay
        self._settle = settle
        self._driver: _Driver | None = None

    async def deliver(self, reports: Sequence[bytes], layout: Layout) -> None:
        """Decode ``reports`` (typing nothing if they do not fit ``layout``), then type them."""
        text = decode_reports(reports, layout)
        if self._driver is None:
            self._driver = self._open()
            if isinstance(self._driver, _UinputDriver):
                await asyncio.sleep(self._settle)
        await self._driver.send(reports, text)

    def _open(self) -> _Driver:
        problems: list[str] = []
        if self._driver_choice in ("auto", "evdev"):
            try:
                evdev = importlib.import_module("evdev")
            except ImportError:
                problems.append("python-evdev is not installed ('pip install evdev', Linux)")
            else:
                try:
                    return _UinputDriver(evdev, self._key_delay)
                except KeyboardBackendError as exc:
                    problems.append(str(exc))
        if self._driver_choice in ("auto", "pynput"):
            try:
                keyboard = importlib.import_module("pynput.keyboard")
            except ImportError:
                problems.append("pynput is not installed ('pip install pynput')")
            except Exception as exc:  # pynput raises assorted errors without a desktop session
                problems.append(f"pynput cannot reach a desktop session ({exc})")
            else:
                return _PynputDriver(keyboard.Controller())
        raise KeyboardBackendError(
            "cannot type through the OS: "
            + "; ".join(problems)
            + " (pip install 'keybridge[keyboard]' installs both; or use --to stdout)"
        )

    def close(self) -> None:
        """Remove the virtual keyboard, if one was created."""
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
