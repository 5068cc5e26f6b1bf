"""OTP secrets as people type them: Base32 text in, canonical Base32 or raw key bytes out.

HES shows its key as 32 lowercase Base32 characters in groups of four (``abcd efgh ...``) and
says that spaces and casing do not matter. :func:`normalize_secret` accepts that and every other
common way of writing a key (upper case, hyphens, other whitespace, trailing ``=`` padding) and
returns the canonical form: uppercase, unpadded RFC 4648 Base32.

Rules, and why:

- 16..103 characters, i.e. keys of 10..64 bytes (80..512 bits), the limits the key enforces.
  Keys under 16 bytes (128 bits) are accepted with a :class:`WeakSecretWarning`.
- Separators are whitespace (any Unicode space), ``-`` and other Unicode dashes, anywhere.
  ``=`` is padding and may only come at the end: up to 7 pass, whatever the length (padding
  carries nothing); 8 or more (a whole block of ``=``, which no encoder writes) are refused.
- The bits after the last whole byte must be zero, as every Base32 encoder writes them. Most
  decoders ignore them, but a key with non-zero trailing bits is almost always one with a
  character missing or extra; rejecting it catches the typo now rather than as wrong codes later.
  (A 31-character key that happens to be the canonical encoding of 19 bytes is accepted: it is a
  valid key and cannot be told from a mistyped one.)
- Errors name the position in the text as given (1-based, counting separators), so the user can
  find the character, and suggest the letter a look-alike digit probably stands for.
"""

from __future__ import annotations

import base64
import unicodedata
import warnings

from keybridge.errors import InvalidSecretError

__all__ = [
    "HES_KEY_LENGTH",
    "KEY_BYTES_RANGE",
    "SECRET_LENGTH_RANGE",
    "WEAK_KEY_BYTES",
    "WeakSecretWarning",
    "decode_secret",
    "display_secret",
    "encode_secret",
    "normalize_secret",
]

HES_KEY_LENGTH = 32
"""Characters in an HES key (20 random bytes)."""

KEY_BYTES_RANGE = range(10, 65)
"""Key sizes accepted, in bytes (80..512 bits)."""

SECRET_LENGTH_RANGE = range(16, 104)
"""Base32 lengths accepted, in characters, after normalisation."""

WEAK_KEY_BYTES = 16
"""Keys shorter than this many bytes (128 bits) draw a :class:`WeakSecretWarning`."""

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_VALUES = {char: value for value, char in enumerate(_ALPHABET)}

# Digits that are not in the Base32 alphabet but look like letters that are.
_LOOK_ALIKES = {"0": "'O'", "1": "'I' or 'L'", "8": "'B'"}

# Unpadded lengths modulo 8 that no whole number of bytes encodes to.
_IMPOSSIBLE_REMAINDERS = frozenset({1, 3, 6})
_MAX_PADDING = 6  # RFC 4648 pads a block with at most 6


class WeakSecretWarning(UserWarning):
    """The key is shorter than 128 bits: it works, but RFC 4226 asks for at least 128."""


def _is_separator(char: str) -> bool:
    return char.isspace() or char == "-" or unicodedata.category(char) == "Pd"


def _show(char: str) -> str:
    """Quote a character for an error message; name code points that do not print clearly."""
    if char.isprintable() and char.isascii():
        return f"'{char}'"
    if char.isprintable():
        return f"'{char}' (U+{ord(char):04X})"
    return f"U+{ord(char):04X}"


def _bad_character(position: int, char: str) -> InvalidSecretError:
    # NFKC folds fullwidth and other compatibility forms ('Ａ', '１') to ASCII.
    folded = unicodedata.normalize("NFKC", char).upper()
    if folded in _VALUES:
        hint = f"did you mean '{folded}'?"
    elif folded in _LOOK_ALIKES:
        hint = f"did you mean {_LOOK_ALIKES[folded]}?"
    elif char == "=":
        hint = "'=' is padding and may only come at the end"
    else:
        hint = "Base32 uses only the letters A-Z and the digits 2-7"
    return InvalidSecretError(f"character {position} {_show(char)} is not Base32: {hint}")


def _hes_hint(length: int) -> str:
    missing = HES_KEY_LENGTH - length
    if missing > 0:
        fix = f"{missing} missing" if missing > 1 else "one missing"
    else:
        fix = f"{-missing} too many" if missing < -1 else "one too many"
    return f"{length} characters: an HES key has {HES_KEY_LENGTH} ({fix}?)"


def normalize_secret(text: str) -> str:
    """Canonical uppercase unpadded Base32 for a key typed or pasted in any common form.

    Raises :class:`~keybridge.errors.InvalidSecretError` naming what is wrong and where; warns
    with :class:`WeakSecretWarning` for keys under 128 bits.
    """
    chars: list[str] = []
    last_position = 0  # 1-based position of the last key character, for the trailing-bits error
    padding_at = 0  # 1-based position of the first '=' seen, 0 if none yet
    padding = 0  # how many '=' end the secret
    for position, char in enumerate(text, start=1):
        if _is_separator(char):
            continue
        if char == "=":
            padding_at = padding_at or position
            padding += 1
            continue
        if padding_at:
            raise InvalidSecretError(
                f"character {padding_at} '=' is padding in the middle of the secret:"
                " '=' may only come at the end"
            )
        upper = char.upper()
        # upper() maps a few non-ASCII letters to ASCII ones (e.g. U+0131 dotless i -> 'I').
        if upper not in _VALUES or not char.isascii():
            raise _bad_character(position, char)
        chars.append(upper)
        last_position = position
    length = len(chars)
    if length == 0:
        raise InvalidSecretError(
            "empty secret: enter the key as shown (an HES key has 32 characters)"
        )
    impossible = length % 8 in _IMPOSSIBLE_REMAINDERS
    spare_bits = length * 5 % 8  # bits of the last character past the last whole byte
    stray_bits = not impossible and _VALUES[chars[-1]] & ((1 << spare_bits) - 1) != 0
    if (impossible or stray_bits) and abs(length - HES_KEY_LENGTH) <= 2:
        raise InvalidSecretError(_hes_hint(length))
    if length < SECRET_LENGTH_RANGE.start:
        raise InvalidSecretError(
            f"{length} characters is too short: a key needs at least"
            f" {SECRET_LENGTH_RANGE.start} (80 bits); an HES key has {HES_KEY_LENGTH}"
        )
    if length >= SECRET_LENGTH_RANGE.stop:
        raise InvalidSecretError(
            f"{length} characters is too long: a key has at most"
            f" {SECRET_LENGTH_RANGE.stop - 1} (512 bits)"
        )
    if impossible:
        raise InvalidSecretError(
            f"{length} characters is not a possible Base32 length:"
            " a character is missing or one too many"
        )
    if stray_bits:
        raise InvalidSecretError(
            f"character {last_position} '{text[last_position - 1]}' ends the key with"
            f" non-zero bits past its last byte: a character is missing or one too many"
        )
    if padding > _MAX_PADDING:
        # Padding carries nothing, so up to 6 '=' of any count pass (a typed key's padding need
        # not match its length); more is no Base32 text's padding: a paste went wrong.
        raise InvalidSecretError(
            f"the secret ends with {padding} '=': Base32 padding is at most 6; leave the '=' out"
        )
    if length * 5 // 8 < WEAK_KEY_BYTES:
        warnings.warn(
            f"the key has only {length * 5 // 8 * 8} bits: RFC 4226 asks for at least 128",
            WeakSecretWarning,
            stacklevel=2,
        )
    return "".join(chars)


def decode_secret(text: str) -> bytes:
    """The raw key bytes of a Base32 secret in any form :func:`normalize_secret` accepts."""
    canonical = normalize_secret(text)
    return base64.b32decode(canonical + "=" * (-len(canonical) % 8))


def encode_secret(key: bytes) -> str:
    """Canonical uppercase unpadded Base32 of ``key`` (10..64 bytes)."""
    if len(key) not in KEY_BYTES_RANGE:
        raise InvalidSecretError(
            f"a key of {len(key)} bytes is not supported: use"
            f" {KEY_BYTES_RANGE.start}..{KEY_BYTES_RANGE.stop - 1} bytes"
        )
    return base64.b32encode(key).decode("ascii").rstrip("=")


def display_secret(key_or_text: bytes | str) -> str:
    """The key as HES shows it: lowercase Base32 in groups of four (``"abcd efgh ..."``)."""
    if isinstance(key_or_text, bytes):
        canonical = encode_secret(key_or_text)
    else:
        canonical = normalize_secret(key_or_text)
    lower = canonical.lower()
    return " ".join(lower[i : i + 4] for i in range(0, len(lower), 4))
