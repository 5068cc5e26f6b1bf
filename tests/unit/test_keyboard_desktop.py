"""The desktop backends' key transitions, and how the desktop's layout is told (localectl)."""

from __future__ import annotations

import logging
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import InvalidInputError
from keybridge.keyboard import LAYOUTS, encode_text
from keybridge.keyboard.desktop import desktop_layout, localectl_layout, resolve_layout
from keybridge.keyboard.events import KeyEvent, KeyTracker
from keybridge.keyboard.usage import LINUX_KEYCODES, LINUX_MODIFIER_KEYCODES

KEY_LEFTSHIFT, KEY_1 = 42, 2


def test_tracker_presses_the_modifier_before_the_key_and_releases_it_after() -> None:
    tracker = KeyTracker()
    first, second = encode_text("1", LAYOUTS["fr"])  # Shift + the US "1" key, then release
    assert tracker.step(first) == ([KeyEvent(KEY_LEFTSHIFT, True)], [KeyEvent(KEY_1, True)])
    assert tracker.held
    assert tracker.step(second) == (
        [KeyEvent(KEY_1, False), KeyEvent(KEY_LEFTSHIFT, False)],
        [],
    )
    assert not tracker.held
    assert tracker.release_all() == []


def test_tracker_releases_what_a_cut_off_sequence_left_down() -> None:
    tracker = KeyTracker()
    tracker.step(encode_text("A", LAYOUTS["us"])[0])  # Shift + A, never released
    assert tracker.release_all() == [KeyEvent(30, False), KeyEvent(KEY_LEFTSHIFT, False)]
    assert not tracker.held


@given(st.text(alphabet=LAYOUTS["de"].characters, max_size=40))
def test_tracker_events_balance_and_follow_the_reports(text: str) -> None:
    """Every key pressed is released; each character is one key-down of its own key."""
    layout = LAYOUTS["de"]
    tracker = KeyTracker()
    depth: dict[int, int] = {}
    pressed: list[int] = []
    for raw in encode_text(text, layout):
        before, press = tracker.step(raw)
        for code, down in before:
            depth[code] = depth.get(code, 0) + (1 if down else -1)
            assert depth[code] in (0, 1)
        for code, down in press:
            assert down and code not in LINUX_MODIFIER_KEYCODES.values()
            pressed.append(code)
            depth[code] = depth.get(code, 0) + 1
    assert not tracker.held
    assert all(value == 0 for value in depth.values())
    assert pressed == [LINUX_KEYCODES[layout.mapping[char].usage] for char in text]


@pytest.fixture
def fake_localectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``localectl`` on PATH that prints ``status.txt`` beside it; no X display."""
    script = tmp_path / "localectl"
    script.write_text(f'#!/bin/sh\nexec {shutil.which("cat")} "{tmp_path / "status.txt"}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DISPLAY", raising=False)
    return tmp_path / "status.txt"


STATUS = """   System Locale: LANG=de_DE.UTF-8
       VC Keymap: de-latin1
      X11 Layout: {layout}
       X11 Model: pc105
"""


@pytest.mark.parametrize(("xkb", "ours"), [("de", "de"), ("gb", "uk"), ("fr,us", "fr")])
def test_the_system_layout_from_localectl(fake_localectl: Path, xkb: str, ours: str) -> None:
    fake_localectl.write_text(STATUS.format(layout=xkb))
    assert localectl_layout() == xkb.split(",")[0]
    assert desktop_layout() == ours
    assert resolve_layout(None) == ours


def test_an_explicit_layout_wins(fake_localectl: Path) -> None:
    fake_localectl.write_text(STATUS.format(layout="de"))
    assert resolve_layout("FR") == "fr"
    with pytest.raises(InvalidInputError, match="unknown keyboard layout 'xx'"):
        resolve_layout("xx")


def test_no_layout_known_means_us(fake_localectl: Path) -> None:
    fake_localectl.write_text("   System Locale: LANG=C\n")
    assert desktop_layout() is None
    assert resolve_layout(None) == "us"


def test_a_layout_without_a_table_types_us_with_a_warning(
    fake_localectl: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_localectl.write_text(STATUS.format(layout="ru"))
    with caplog.at_level(logging.WARNING):
        assert resolve_layout(None) == "us"
    assert "'ru' has no keybridge table" in caplog.text
