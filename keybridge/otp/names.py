"""What a credential's name (and its label's account and issuer) may hold: the one rule.

The key enforces it on OTP_PUT and OTP_RENAME (``docs/protocol.md`` section 4); the host applies
the same rule before it connects, so bad input is one clear line and never reaches the key.
"""

from __future__ import annotations

from keybridge.errors import InvalidInputError

__all__ = ["NAME_MAX_BYTES", "check_name", "control_character", "name_problem"]

NAME_MAX_BYTES = 64
"""A credential name is 1 to this many bytes of UTF-8."""


def control_character(text: str) -> tuple[int, str] | None:
    """Position and character of the first control character (Unicode category Cc: U+0000 to
    U+001F, U+007F to U+009F) or lone surrogate in ``text``, or None."""
    if text.isprintable():  # the common case, checked in C
        return None
    import unicodedata

    for i, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cs"):
            return i, char
    return None


def name_problem(name: str, field: str = "NAME") -> str | None:
    """What is wrong with ``name`` as a credential name (1-64 bytes of UTF-8, no control
    character), or None."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= NAME_MAX_BYTES:
        return f"{field} is {size} bytes of UTF-8; it must be 1 to {NAME_MAX_BYTES}"
    found = control_character(name)
    if found is None:
        return None
    i, char = found
    return f"{field} holds {_kind(char)} U+{ord(char):04X} at position {i}"


def _kind(char: str) -> str:
    # A lone surrogate only comes from a file or a command line: the wire carries valid UTF-8.
    return "a lone surrogate" if 0xD800 <= ord(char) <= 0xDFFF else "control character"


def check_name(name: str, what: str = "the name") -> None:
    """Raise :class:`~keybridge.errors.InvalidInputError` if ``name`` breaks the rule."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if size == 0:
        raise InvalidInputError(f"{what} is empty: give 1 to {NAME_MAX_BYTES} bytes of UTF-8")
    if size > NAME_MAX_BYTES:
        raise InvalidInputError(
            f"{what} {name[:20]!r}... is {size} bytes in UTF-8: the key allows at most"
            f" {NAME_MAX_BYTES}; shorten it"
        )
    found = control_character(name)
    if found is not None:
        i, char = found
        raise InvalidInputError(
            f"{what} {name!r} holds {_kind(char)} U+{ord(char):04X} at position {i + 1}: remove it"
        )
