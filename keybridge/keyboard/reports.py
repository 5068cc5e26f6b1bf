"""HID boot-keyboard reports: text to reports for a layout, and back.

A boot report is 8 bytes: the modifier byte, a reserved 0, then up to 6 usages of keys held
down. The key types a character as one press report followed by an all-zero release report, so
repeated characters ("00") are two distinct presses. Decoding follows what a host does: a
character is typed when a usage appears that the previous report did not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from keybridge.errors import InvalidInputError, UnsupportedCharacterError
from keybridge.keyboard.layouts import Keystroke, Layout, get_layout
from keybridge.keyboard.usage import Usage

__all__ = [
    "MAX_KEYS",
    "RELEASE",
    "REPORT_SIZE",
    "KeyReport",
    "bytes_to_reports",
    "decode_reports",
    "encode_keystroke",
    "encode_text",
    "reports_to_bytes",
]

REPORT_SIZE = 8
"""Bytes in a boot-keyboard report."""

MAX_KEYS = 6
"""Usages a boot report can hold at once."""

RELEASE = bytes(REPORT_SIZE)
"""The all-zero report: every key up."""


@dataclass(frozen=True)
class KeyReport:
    """A parsed boot-keyboard report: modifier bits and the usages held (zeros dropped)."""

    modifiers: int = 0
    keys: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.modifiers <= 0xFF:
            raise InvalidInputError(f"modifier byte {self.modifiers} is not in 0..255")
        if len(self.keys) > MAX_KEYS:
            raise InvalidInputError(
                f"a boot report holds at most {MAX_KEYS} keys, got {len(self.keys)}"
            )
        for usage in self.keys:
            if not 0 < usage <= 0xFF:
                raise InvalidInputError(f"key usage {usage} is not in 1..255")

    def to_bytes(self) -> bytes:
        """The 8-byte report."""
        slots = self.keys + (0,) * (MAX_KEYS - len(self.keys))
        return bytes((self.modifiers, 0, *slots))

    @classmethod
    def from_bytes(cls, report: bytes) -> KeyReport:
        """Parse an 8-byte report; the reserved byte is ignored, as hosts do."""
        if len(report) != REPORT_SIZE:
            raise InvalidInputError(
                f"a boot-keyboard report is {REPORT_SIZE} bytes, got {len(report)}"
            )
        return cls(report[0], tuple(usage for usage in report[2:] if usage))


def encode_keystroke(stroke: Keystroke) -> list[bytes]:
    """The press and release reports that type one keystroke."""
    return [KeyReport(stroke.modifiers, (stroke.usage,)).to_bytes(), RELEASE]


def _unsupported(text: str, index: int, layout: Layout) -> UnsupportedCharacterError:
    char = text[index]
    if char == "\r":
        hint = "write Enter as '\\n'"
    elif not char.isprintable() and char not in "\n\t":
        hint = "of the control characters only '\\n' (Enter) and '\\t' (Tab) can be typed"
    else:
        hint = (
            f"layout {layout.id!r} types {_describe_charset(layout)}; remove the character or "
            "choose the layout the host uses"
        )
    return UnsupportedCharacterError(
        f"layout {layout.id!r} ({layout.name}) cannot type {char!r} (U+{ord(char):04X}), "
        f"character {index + 1} of {len(text)}; nothing was typed: {hint}",
        char=char,
        position=index,
        layout_id=layout.id,
    )


def _describe_charset(layout: Layout) -> str:
    missing = " ".join(c for c in map(chr, range(0x20, 0x7F)) if c not in layout.mapping)
    extra = "".join(c for c in layout.characters if not c.isascii())
    described = "printable ASCII" + (f" except {missing}" if missing else "")
    return described + (f", plus {extra}" if extra else "")


def encode_text(text: str, layout: Layout | str) -> list[bytes]:
    """Reports that type ``text`` on a host set to ``layout``: a press and a release each.

    Raises :class:`~keybridge.errors.UnsupportedCharacterError` naming the first character the
    layout cannot type, before producing any report.
    """
    layout = get_layout(layout)
    bad = layout.first_unsupported(text)
    if bad is not None:
        raise _unsupported(text, bad, layout)
    reports: list[bytes] = []
    for char in text:
        reports.extend(encode_keystroke(layout.mapping[char]))
    return reports


def decode_reports(reports: Iterable[bytes], layout: Layout | str) -> str:
    """The text a host set to ``layout`` types when it receives ``reports`` in order.

    A character is typed on each key-down edge (a usage not held in the previous report), with
    the modifiers of the report that pressed it. Raises
    :class:`~keybridge.errors.InvalidInputError` for a report of the wrong size, a rollover
    error report, or a key press that types nothing on this layout.
    """
    layout = get_layout(layout)
    held: frozenset[int] = frozenset()
    out: list[str] = []
    for index, raw in enumerate(reports):
        report = KeyReport.from_bytes(raw)
        if Usage.ERROR_ROLL_OVER in report.keys:
            raise InvalidInputError(f"report {index + 1} ({raw.hex(' ')}) signals key rollover")
        for usage in report.keys:
            if usage in held:
                continue
            char = layout.char_for(report.modifiers, usage)
            if char is None:
                raise InvalidInputError(
                    f"report {index + 1} ({raw.hex(' ')}) presses a key that types nothing on "
                    f"layout {layout.id!r} ({layout.name}): modifiers 0x{report.modifiers:02X}, "
                    f"usage 0x{usage:02X}; were the reports made for another layout?"
                )
            out.append(char)
        held = frozenset(report.keys)
    return "".join(out)


def reports_to_bytes(reports: Sequence[bytes]) -> bytes:
    """Pack reports into one field (``len(reports) * 8`` bytes), as the protocol carries them."""
    for index, report in enumerate(reports):
        if len(report) != REPORT_SIZE:
            raise InvalidInputError(
                f"report {index + 1} is {len(report)} bytes; a boot-keyboard report is "
                f"{REPORT_SIZE}"
            )
    return b"".join(reports)


def bytes_to_reports(data: bytes) -> list[bytes]:
    """Split a packed field back into 8-byte reports."""
    if len(data) % REPORT_SIZE:
        raise InvalidInputError(
            f"{len(data)} bytes of keyboard reports is not a multiple of {REPORT_SIZE}: "
            "the field is truncated"
        )
    return [bytes(data[i : i + REPORT_SIZE]) for i in range(0, len(data), REPORT_SIZE)]
