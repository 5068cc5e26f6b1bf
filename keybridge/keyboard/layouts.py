"""Keyboard layouts: which keystroke (modifiers + HID usage) types each character.

A key types characters by sending HID reports, which name physical keys, not characters; the
host's selected layout turns them into text. To type "1" on a French AZERTY host the key must
press Shift + the key that a US keyboard labels "1". Each :class:`Layout` holds that mapping for
one host layout (the common Windows and Linux variant of it) and its reverse for decoding.

Characters that need a dead key (a key that composes with the next one) are omitted; the layouts
list them in :attr:`Layout.notes`. Enter is "\\n", Tab is "\\t".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from keybridge.errors import InvalidInputError
from keybridge.keyboard.usage import Modifier, Usage

__all__ = [
    "LAYOUTS",
    "LAYOUT_IDS",
    "Keystroke",
    "Layout",
    "get_layout",
]


class Keystroke(NamedTuple):
    """One key press: the modifier byte and the key's HID usage."""

    modifiers: int
    usage: int


# Decoding accepts either Shift key, and treats the ANSI backslash key and the ISO hash key as
# the same key: both send the same scancode to Windows and the same KEY_BACKSLASH to Linux.
_SHIFTS = Modifier.LEFT_SHIFT | Modifier.RIGHT_SHIFT
_SAME_KEY: dict[int, int] = {
    Usage.BACKSLASH: Usage.NON_US_HASH,
    Usage.NON_US_HASH: Usage.BACKSLASH,
}


@dataclass(frozen=True)
class Layout:
    """A host keyboard layout: ``mapping`` from character to the keystroke that types it.

    Layouts compare and hash by ``id`` and ``name``.
    """

    id: str
    name: str
    mapping: Mapping[str, Keystroke] = field(repr=False, compare=False)
    notes: str = field(default="", repr=False, compare=False)
    reverse: Mapping[Keystroke, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reverse: dict[Keystroke, str] = {}
        for char, stroke in self.mapping.items():
            reverse.setdefault(stroke, char)
        for stroke, char in list(reverse.items()):
            twin = _SAME_KEY.get(stroke.usage)
            if twin is not None:
                reverse.setdefault(Keystroke(stroke.modifiers, twin), char)
        object.__setattr__(self, "mapping", MappingProxyType(dict(self.mapping)))
        object.__setattr__(self, "reverse", MappingProxyType(reverse))

    @property
    def characters(self) -> str:
        """Every character this layout types, in code point order."""
        return "".join(sorted(self.mapping))

    def keystroke(self, char: str) -> Keystroke | None:
        """The keystroke that types ``char``, or None if this layout cannot type it."""
        return self.mapping.get(char)

    def char_for(self, modifiers: int, usage: int) -> str | None:
        """The character a key press types on this layout, or None if it types none."""
        if modifiers & _SHIFTS:
            # Either Shift key gives the shifted level.
            modifiers = (modifiers & ~_SHIFTS) | Modifier.SHIFT
        return self.reverse.get(Keystroke(modifiers, usage))

    def first_unsupported(self, text: str) -> int | None:
        """Index of the first character of ``text`` this layout cannot type, or None."""
        for index, char in enumerate(text):
            if char not in self.mapping:
                return index
        return None


_LEVELS = (Modifier.NONE, Modifier.SHIFT, Modifier.ALTGR)


def _build(keys: Mapping[int, tuple[str, ...]]) -> dict[str, Keystroke]:
    """Turn ``usage -> (plain, shifted, altgr)`` rows ("" = nothing) into ``char -> keystroke``."""
    mapping: dict[str, Keystroke] = {}
    for usage, chars in keys.items():
        for level, char in zip(_LEVELS, chars, strict=False):
            if not char:
                continue
            if char in mapping:  # a table typo would make decoding ambiguous
                raise ValueError(f"character {char!r} appears twice in a layout table")
            mapping[char] = Keystroke(int(level), int(usage))
    return mapping


def _letters(row: str) -> dict[int, tuple[str, ...]]:
    """The 26 letter keys (usages A..Z in order) typing ``row``'s characters and their capitals."""
    return {Usage.A + i: (char, char.upper()) for i, char in enumerate(row)}


_COMMON: dict[int, tuple[str, ...]] = {
    Usage.ENTER: ("\n",),
    Usage.TAB: ("\t",),
    Usage.SPACE: (" ",),
}

_US: dict[int, tuple[str, ...]] = {
    **_COMMON,
    **_letters("abcdefghijklmnopqrstuvwxyz"),
    Usage.DIGIT_1: ("1", "!"),
    Usage.DIGIT_2: ("2", "@"),
    Usage.DIGIT_3: ("3", "#"),
    Usage.DIGIT_4: ("4", "$"),
    Usage.DIGIT_5: ("5", "%"),
    Usage.DIGIT_6: ("6", "^"),
    Usage.DIGIT_7: ("7", "&"),
    Usage.DIGIT_8: ("8", "*"),
    Usage.DIGIT_9: ("9", "("),
    Usage.DIGIT_0: ("0", ")"),
    Usage.MINUS: ("-", "_"),
    Usage.EQUAL: ("=", "+"),
    Usage.LEFT_BRACKET: ("[", "{"),
    Usage.RIGHT_BRACKET: ("]", "}"),
    Usage.BACKSLASH: ("\\", "|"),
    Usage.SEMICOLON: (";", ":"),
    Usage.APOSTROPHE: ("'", '"'),
    Usage.GRAVE: ("`", "~"),
    Usage.COMMA: (",", "<"),
    Usage.PERIOD: (".", ">"),
    Usage.SLASH: ("/", "?"),
}

_UK: dict[int, tuple[str, ...]] = {
    **_COMMON,
    **_letters("abcdefghijklmnopqrstuvwxyz"),
    Usage.DIGIT_1: ("1", "!"),
    Usage.DIGIT_2: ("2", '"'),
    Usage.DIGIT_3: ("3", "£"),
    Usage.DIGIT_4: ("4", "$", "€"),
    Usage.DIGIT_5: ("5", "%"),
    Usage.DIGIT_6: ("6", "^"),
    Usage.DIGIT_7: ("7", "&"),
    Usage.DIGIT_8: ("8", "*"),
    Usage.DIGIT_9: ("9", "("),
    Usage.DIGIT_0: ("0", ")"),
    Usage.MINUS: ("-", "_"),
    Usage.EQUAL: ("=", "+"),
    Usage.LEFT_BRACKET: ("[", "{"),
    Usage.RIGHT_BRACKET: ("]", "}"),
    Usage.NON_US_HASH: ("#", "~"),
    Usage.SEMICOLON: (";", ":"),
    Usage.APOSTROPHE: ("'", "@"),
    Usage.GRAVE: ("`", "¬"),
    Usage.COMMA: (",", "<"),
    Usage.PERIOD: (".", ">"),
    Usage.SLASH: ("/", "?"),
    Usage.NON_US_BACKSLASH: ("\\", "|"),
}

_DE: dict[int, tuple[str, ...]] = {
    **_COMMON,
    **_letters("abcdefghijklmnopqrstuvwxzy"),  # QWERTZ: the Y and Z keys swap
    Usage.Q: ("q", "Q", "@"),
    Usage.E: ("e", "E", "€"),
    Usage.M: ("m", "M", "µ"),
    Usage.DIGIT_1: ("1", "!"),
    Usage.DIGIT_2: ("2", '"', "²"),
    Usage.DIGIT_3: ("3", "§", "³"),
    Usage.DIGIT_4: ("4", "$"),
    Usage.DIGIT_5: ("5", "%"),
    Usage.DIGIT_6: ("6", "&"),
    Usage.DIGIT_7: ("7", "/", "{"),
    Usage.DIGIT_8: ("8", "(", "["),
    Usage.DIGIT_9: ("9", ")", "]"),
    Usage.DIGIT_0: ("0", "=", "}"),
    Usage.MINUS: ("ß", "?", "\\"),
    # Usage.EQUAL is the dead-key accent key (´ and `): omitted.
    Usage.LEFT_BRACKET: ("ü", "Ü"),
    Usage.RIGHT_BRACKET: ("+", "*", "~"),
    Usage.NON_US_HASH: ("#", "'"),
    Usage.SEMICOLON: ("ö", "Ö"),
    Usage.APOSTROPHE: ("ä", "Ä"),
    Usage.GRAVE: ("", "°"),  # plain level is the dead circumflex
    Usage.COMMA: (",", ";"),
    Usage.PERIOD: (".", ":"),
    Usage.SLASH: ("-", "_"),
    Usage.NON_US_BACKSLASH: ("<", ">", "|"),
}

_FR: dict[int, tuple[str, ...]] = {
    **_COMMON,
    # AZERTY: A/Q and Z/W swap, M sits on the US ';' key and ',' on the US 'M' key.
    **_letters("qbcdefghijkl,noparstuvzxyw"),
    Usage.M: (",", "?"),
    Usage.E: ("e", "E", "€"),
    Usage.SEMICOLON: ("m", "M"),
    # Digits are the shifted level of the number row; its AltGr level on 2 and 7 is dead.
    Usage.DIGIT_1: ("&", "1"),
    Usage.DIGIT_2: ("é", "2"),
    Usage.DIGIT_3: ('"', "3", "#"),
    Usage.DIGIT_4: ("'", "4", "{"),
    Usage.DIGIT_5: ("(", "5", "["),
    Usage.DIGIT_6: ("-", "6", "|"),
    Usage.DIGIT_7: ("è", "7"),
    Usage.DIGIT_8: ("_", "8", "\\"),
    Usage.DIGIT_9: ("ç", "9", "^"),
    Usage.DIGIT_0: ("à", "0", "@"),
    Usage.MINUS: (")", "°", "]"),
    Usage.EQUAL: ("=", "+", "}"),
    # Usage.LEFT_BRACKET is the dead-key ^ and ¨ key: omitted.
    Usage.RIGHT_BRACKET: ("$", "£", "¤"),
    Usage.APOSTROPHE: ("ù", "%"),
    Usage.NON_US_HASH: ("*", "µ"),
    Usage.GRAVE: ("²",),
    Usage.COMMA: (";", "."),
    Usage.PERIOD: (":", "/"),
    Usage.SLASH: ("!", "§"),
    Usage.NON_US_BACKSLASH: ("<", ">"),
}

US = Layout("us", "English (US) QWERTY", _build(_US))
UK = Layout(
    "uk",
    "English (UK) QWERTY",
    _build(_UK),
    notes="'¦' (AltGr+` on Windows only) is omitted.",
)
DE = Layout(
    "de",
    "German QWERTZ",
    _build(_DE),
    notes="'^', '`' and '´' need a dead key and are omitted.",
)
FR = Layout(
    "fr",
    "French AZERTY",
    _build(_FR),
    notes="'~' and '`' (AltGr+2, AltGr+7) and '¨' need a dead key and are omitted.",
)

LAYOUTS: Mapping[str, Layout] = MappingProxyType({layout.id: layout for layout in (US, UK, DE, FR)})
"""Every layout, by id."""

LAYOUT_IDS: tuple[str, ...] = tuple(LAYOUTS)
"""The known layout ids, in a stable order ("us", "uk", "de", "fr")."""

_ALIASES = {"gb": "uk", "en-us": "us", "en-gb": "uk", "de-de": "de", "fr-fr": "fr"}


def get_layout(layout_id: str | Layout) -> Layout:
    """The layout with this id (case-insensitive; "gb" means "uk"); a Layout is returned as is."""
    if isinstance(layout_id, Layout):
        return layout_id
    key = layout_id.strip().lower()
    layout = LAYOUTS.get(_ALIASES.get(key, key))
    if layout is None:
        known = ", ".join(LAYOUT_IDS)
        raise InvalidInputError(f"unknown keyboard layout {layout_id!r}: use one of {known}")
    return layout
