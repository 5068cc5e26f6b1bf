"""Keyboard layouts: the keystroke tables of US, UK, DE (QWERTZ) and FR (AZERTY)."""

from __future__ import annotations

import pytest

from keybridge.errors import InvalidInputError
from keybridge.keyboard import LAYOUT_IDS, LAYOUTS, Keystroke, Layout, Modifier, get_layout
from keybridge.keyboard.usage import LINUX_KEYCODES, Usage

SHIFT = 0x02
ALTGR = 0x40
PRINTABLE_ASCII = "".join(map(chr, range(0x20, 0x7F)))

# What each layout cannot type without a dead key (documented in Layout.notes).
OMITTED_ASCII = {"us": "", "uk": "", "de": "^`", "fr": "`~"}


def test_known_layout_ids() -> None:
    assert LAYOUT_IDS == ("us", "uk", "de", "fr")
    assert set(LAYOUTS) == set(LAYOUT_IDS)


@pytest.mark.parametrize(
    ("given", "expected"), [("us", "us"), ("FR", "fr"), (" de ", "de"), ("gb", "uk")]
)
def test_get_layout_by_id(given: str, expected: str) -> None:
    assert get_layout(given).id == expected


def test_get_layout_passes_a_layout_through() -> None:
    assert get_layout(LAYOUTS["de"]) is LAYOUTS["de"]


def test_unknown_layout_lists_the_known_ids() -> None:
    with pytest.raises(InvalidInputError, match=r"'dvorak'.*us, uk, de, fr"):
        get_layout("dvorak")


@pytest.mark.parametrize("layout_id", LAYOUT_IDS)
def test_layout_types_printable_ascii_except_dead_keys(layout_id: str) -> None:
    layout = LAYOUTS[layout_id]
    missing = "".join(c for c in PRINTABLE_ASCII if layout.keystroke(c) is None)
    assert missing == OMITTED_ASCII[layout_id]
    for char in missing:
        assert repr(char) in layout.notes
    assert layout.keystroke("\n") == Keystroke(0, Usage.ENTER)
    assert layout.keystroke("\t") == Keystroke(0, Usage.TAB)


@pytest.mark.parametrize(
    ("layout_id", "chars"),
    [("uk", "£¬€"), ("de", "äöüÄÖÜß§°²³€µ"), ("fr", "éèçàù£¤§°²µ€")],
)
def test_layout_specific_characters(layout_id: str, chars: str) -> None:
    layout = LAYOUTS[layout_id]
    assert all(c in layout.characters for c in chars)


@pytest.mark.parametrize("layout_id", LAYOUT_IDS)
def test_tables_use_plain_shift_or_altgr_and_keys_the_os_backend_knows(layout_id: str) -> None:
    for stroke in LAYOUTS[layout_id].mapping.values():
        assert stroke.modifiers in (0, Modifier.SHIFT, Modifier.ALTGR)
        assert stroke.usage in LINUX_KEYCODES


@pytest.mark.parametrize("layout_id", LAYOUT_IDS)
def test_reverse_table_gives_back_every_character(layout_id: str) -> None:
    layout = LAYOUTS[layout_id]
    for char, stroke in layout.mapping.items():
        assert layout.char_for(*stroke) == char


def test_right_shift_reads_as_shift() -> None:
    assert LAYOUTS["us"].char_for(Modifier.RIGHT_SHIFT, Usage.A) == "A"
    assert LAYOUTS["fr"].char_for(Modifier.RIGHT_SHIFT, Usage.DIGIT_1) == "1"


def test_ansi_backslash_key_reads_as_the_iso_hash_key() -> None:
    assert LAYOUTS["uk"].char_for(0, Usage.BACKSLASH) == "#"
    assert LAYOUTS["us"].char_for(0, Usage.NON_US_HASH) == "\\"


def test_unmapped_keystroke_is_none() -> None:
    assert LAYOUTS["us"].char_for(Modifier.LEFT_CTRL, Usage.A) is None
    assert LAYOUTS["fr"].char_for(0, Usage.LEFT_BRACKET) is None  # the dead ^ key


def test_first_unsupported() -> None:
    assert LAYOUTS["us"].first_unsupported("abc") is None
    assert LAYOUTS["us"].first_unsupported("abé") == 2


def test_layouts_compare_by_id() -> None:
    assert LAYOUTS["us"] == get_layout("us")
    assert LAYOUTS["us"] != LAYOUTS["uk"]
    assert len({*LAYOUTS.values()}) == 4
    assert isinstance(LAYOUTS["us"], Layout)


KNOWN_KEYSTROKES = [
    ("us", "a", 0, 0x04),
    ("us", "A", SHIFT, 0x04),
    ("us", "1", 0, 0x1E),
    ("us", "0", 0, 0x27),
    ("us", "!", SHIFT, 0x1E),
    ("us", "@", SHIFT, 0x1F),
    ("us", "\n", 0, 0x28),
    ("us", " ", 0, 0x2C),
    ("us", "~", SHIFT, 0x35),
    ("us", '"', SHIFT, 0x34),
    ("uk", '"', SHIFT, 0x1F),
    ("uk", "@", SHIFT, 0x34),
    ("uk", "#", 0, 0x32),
    ("uk", "~", SHIFT, 0x32),
    ("uk", "£", SHIFT, 0x20),
    ("uk", "\\", 0, 0x64),
    ("uk", "|", SHIFT, 0x64),
    ("uk", "€", ALTGR, 0x21),
    ("de", "z", 0, 0x1C),
    ("de", "y", 0, 0x1D),
    ("de", "Z", SHIFT, 0x1C),
    ("de", "@", ALTGR, 0x14),
    ("de", "1", 0, 0x1E),
    ("de", "§", SHIFT, 0x20),
    ("de", "$", SHIFT, 0x21),
    ("de", "&", SHIFT, 0x23),
    ("de", "/", SHIFT, 0x24),
    ("de", "(", SHIFT, 0x25),
    ("de", ")", SHIFT, 0x26),
    ("de", "=", SHIFT, 0x27),
    ("de", "ß", 0, 0x2D),
    ("de", "?", SHIFT, 0x2D),
    ("de", "\\", ALTGR, 0x2D),
    ("de", "ü", 0, 0x2F),
    ("de", "ö", 0, 0x33),
    ("de", "ä", 0, 0x34),
    ("de", "+", 0, 0x30),
    ("de", "#", 0, 0x32),
    ("de", "-", 0, 0x38),
    ("de", "<", 0, 0x64),
    ("de", "|", ALTGR, 0x64),
    ("de", "€", ALTGR, 0x08),
    ("de", "{", ALTGR, 0x24),
    ("fr", "1", SHIFT, 0x1E),
    ("fr", "0", SHIFT, 0x27),
    ("fr", "a", 0, 0x14),
    ("fr", "q", 0, 0x04),
    ("fr", "z", 0, 0x1A),
    ("fr", "w", 0, 0x1D),
    ("fr", "m", 0, 0x33),
    ("fr", ",", 0, 0x10),
    ("fr", "?", SHIFT, 0x10),
    ("fr", "&", 0, 0x1E),
    ("fr", "é", 0, 0x1F),
    ("fr", '"', 0, 0x20),
    ("fr", "'", 0, 0x21),
    ("fr", "(", 0, 0x22),
    ("fr", "-", 0, 0x23),
    ("fr", "è", 0, 0x24),
    ("fr", "_", 0, 0x25),
    ("fr", "ç", 0, 0x26),
    ("fr", "à", 0, 0x27),
    ("fr", "@", ALTGR, 0x27),
    ("fr", ";", 0, 0x36),
    ("fr", ".", SHIFT, 0x36),
    ("fr", ":", 0, 0x37),
    ("fr", "/", SHIFT, 0x37),
    ("fr", "!", 0, 0x38),
    ("fr", "*", 0, 0x32),
    ("fr", "ù", 0, 0x34),
    ("fr", "%", SHIFT, 0x34),
]


@pytest.mark.parametrize(("layout_id", "char", "modifiers", "usage"), KNOWN_KEYSTROKES)
def test_known_keystrokes(layout_id: str, char: str, modifiers: int, usage: int) -> None:
    assert LAYOUTS[layout_id].keystroke(char) == (modifiers, usage)
