"""Boot reports as the key transitions that reproduce them on a real keyboard device.

The desktop backends (X11 XTEST, Linux uinput) do not type characters: they press and release
the physical keys the reports name, modifiers included, so the desktop's own keymap makes the
characters exactly as it does for a USB or BLE keyboard. Both use :class:`KeyTracker`, so they
press and release in the same order: keys no longer held go up, then the modifiers change, then
the new keys go down.
"""

from __future__ import annotations

from typing import NamedTuple

from keybridge.keyboard.reports import KeyReport
from keybridge.keyboard.usage import LINUX_KEYCODES, LINUX_MODIFIER_KEYCODES

__all__ = ["X_KEYCODE_OFFSET", "KeyEvent", "KeyTracker", "Transitions"]

X_KEYCODE_OFFSET = 8
"""X keycode = Linux ``KEY_*`` code + 8 (the X server's evdev keycodes)."""


class KeyEvent(NamedTuple):
    """One key going down or up, by its Linux ``KEY_*`` code."""

    code: int
    down: bool


class Transitions(NamedTuple):
    """What one report changes: ``before`` (releases and modifier changes), then ``press``.

    A backend flushes ``before`` ahead of ``press``, so a modifier is down before the key.
    """

    before: list[KeyEvent]
    press: list[KeyEvent]


def _modifier_events(bits: int, down: bool) -> list[KeyEvent]:
    return [KeyEvent(code, down) for flag, code in LINUX_MODIFIER_KEYCODES.items() if bits & flag]


class KeyTracker:
    """Follows the keys held across successive reports and says what each one changes."""

    def __init__(self) -> None:
        self._modifiers = 0
        self._keys: tuple[int, ...] = ()

    def step(self, raw: bytes) -> Transitions:
        """The transitions from the keys held now to those ``raw`` holds."""
        report = KeyReport.from_bytes(raw)
        before = [
            KeyEvent(LINUX_KEYCODES[usage], False)
            for usage in self._keys
            if usage not in report.keys
        ]
        before += _modifier_events(self._modifiers & ~report.modifiers, False)
        before += _modifier_events(report.modifiers & ~self._modifiers, True)
        press = [
            KeyEvent(LINUX_KEYCODES[usage], True)
            for usage in report.keys
            if usage not in self._keys
        ]
        self._modifiers, self._keys = report.modifiers, report.keys
        return Transitions(before, press)

    def release_all(self) -> list[KeyEvent]:
        """Releases for everything still held (keys first), forgetting it."""
        events = [KeyEvent(LINUX_KEYCODES[usage], False) for usage in self._keys]
        events += _modifier_events(self._modifiers, False)
        self._modifiers, self._keys = 0, ()
        return events

    @property
    def held(self) -> bool:
        """Whether any key or modifier is down."""
        return bool(self._modifiers or self._keys)
