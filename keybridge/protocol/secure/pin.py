"""PIN format and hashing for the key (the retry counter lives in the firmware, not here)."""

from __future__ import annotations

import hashlib

from keybridge.protocol.secure._primitives import macs_equal, random_bytes
from keybridge.protocol.secure.errors import PinFormatError

__all__ = [
    "DEFAULT_PIN_ITERATIONS",
    "PIN_HASH_LENGTH",
    "PIN_MAX_LENGTH",
    "PIN_MIN_LENGTH",
    "PIN_SALT_LENGTH",
    "check_pin_format",
    "hash_pin",
    "new_pin_salt",
    "verify_pin",
]

PIN_MIN_LENGTH = 4
PIN_MAX_LENGTH = 16
PIN_SALT_LENGTH = 16
PIN_HASH_LENGTH = 32
DEFAULT_PIN_ITERATIONS = 100_000
"""PBKDF2 rounds. Guessing online is stopped by the retry counter, not by this cost; the cost
only slows an offline attack on a stolen state file, which also needs the device key."""
_DIGITS = frozenset(b"0123456789")


def check_pin_format(pin: str | bytes) -> bytes:
    """The PIN as ASCII bytes if it is 4 to 16 digits 0-9, else :class:`PinFormatError`.

    Look-alike digits (fullwidth, Arabic-Indic, ...) are refused, and the message never
    echoes the PIN.
    """
    if isinstance(pin, str):
        if not pin.isascii():
            position = next(i for i, ch in enumerate(pin, 1) if not ch.isascii())
            raise PinFormatError(
                f"PIN character {position} is not an ASCII digit 0-9: type the PIN with the "
                "digits 0-9 only"
            )
        raw = pin.encode("ascii")
    else:
        raw = bytes(pin)
    if not PIN_MIN_LENGTH <= len(raw) <= PIN_MAX_LENGTH:
        raise PinFormatError(
            f"a PIN has {PIN_MIN_LENGTH} to {PIN_MAX_LENGTH} digits, this one has {len(raw)}"
        )
    for position, byte in enumerate(raw, 1):
        if byte not in _DIGITS:
            raise PinFormatError(
                f"PIN character {position} is not a digit 0-9: a PIN holds digits only"
            )
    return raw


def new_pin_salt() -> bytes:
    return random_bytes(PIN_SALT_LENGTH)


def hash_pin(pin: str | bytes, salt: bytes, *, iterations: int = DEFAULT_PIN_ITERATIONS) -> bytes:
    """PBKDF2-HMAC-SHA256 of a well-formed PIN (checked first); 32 bytes."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    if len(salt) < 8:
        raise ValueError("a PIN salt has at least 8 bytes")
    return hashlib.pbkdf2_hmac("sha256", check_pin_format(pin), salt, iterations, PIN_HASH_LENGTH)


def verify_pin(
    pin: str | bytes, salt: bytes, expected: bytes, *, iterations: int = DEFAULT_PIN_ITERATIONS
) -> bool:
    """Whether ``pin`` hashes to ``expected`` (constant-time compare).

    A malformed PIN raises :class:`PinFormatError`; the firmware decides whether that costs a
    retry (it should: decrement and persist the counter before calling this).
    """
    return macs_equal(hash_pin(pin, salt, iterations=iterations), expected)
