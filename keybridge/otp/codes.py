"""HOTP (RFC 4226) and TOTP (RFC 6238) codes.

This is the one implementation of the OTP maths in the project: the host, the HES model and the
simulated key's firmware all call it. It works on raw key bytes (decode Base32 once, with
:mod:`keybridge.otp.secret`) and uses :func:`hmac.digest`, the one-shot C path, which is what
makes it several times faster than :mod:`pyotp` (the reference it is property-tested against).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from collections.abc import Iterable, Iterator
from enum import IntEnum

from keybridge.errors import InvalidInputError

__all__ = [
    "DIGITS_RANGE",
    "Algorithm",
    "OtpKind",
    "hotp",
    "hotp_int",
    "hotp_ints",
    "time_step",
    "totp",
]

DIGITS_RANGE = range(6, 9)
"""Code lengths keybridge supports (6, 7 or 8 digits), as the Key URI Format allows."""

_COUNTER = struct.Struct(">Q")
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class OtpKind(IntEnum):
    """Counter-based (HOTP, RFC 4226) or time-based (TOTP, RFC 6238); the values are the codes
    the protocol sends (``docs/protocol.md``)."""

    TOTP = 0x01
    HOTP = 0x02

    @classmethod
    def parse(cls, text: str | OtpKind) -> OtpKind:
        """Accept a member or its name in any casing (``"totp"``)."""
        if isinstance(text, cls):
            return text
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise InvalidInputError(
                f"OTP kind {text!r} is not supported: use totp or hotp"
            ) from None


class Algorithm(IntEnum):
    """HMAC hash of an OTP credential; the values are the codes the protocol sends."""

    SHA1 = 0x01
    SHA256 = 0x02
    SHA512 = 0x03

    @classmethod
    def parse(cls, text: str | Algorithm) -> Algorithm:
        """Accept a member, or its name in any casing with an optional dash (``sha-256``)."""
        if isinstance(text, cls):
            return text
        name = str(text).strip().upper().replace("-", "")
        try:
            return cls[name]
        except KeyError:
            raise InvalidInputError(
                f"algorithm {text!r} is not supported: use SHA1, SHA256 or SHA512"
            ) from None

    @property
    def digest_name(self) -> str:
        """The :mod:`hashlib` name (``"sha256"``)."""
        return self.name.lower()


def _check_digits(digits: int) -> None:
    if digits not in DIGITS_RANGE:
        raise InvalidInputError(f"{digits} digits is not supported: use 6, 7 or 8")


def _truncate(mac: bytes, digits: int) -> int:
    offset = mac[-1] & 0x0F
    modulus: int = 10**digits  # typeshed types int ** int as Any (negative exponents)
    return (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % modulus


def hotp_ints(
    key: bytes,
    counters: Iterable[int],
    digits: int = 6,
    algorithm: Algorithm = Algorithm.SHA1,
) -> Iterator[int]:
    """HOTP values for several counters, lazily, keying the HMAC once.

    HMAC (RFC 2104) is ``H(key ^ opad || H(key ^ ipad || message))``: the two hash states after
    the padded key are computed once and copied per counter, which is about three times faster
    than :func:`hmac.digest` per counter. A verifier checking a window of steps wants this (and
    may stop at the first match). Property-tested equal to :func:`hotp_int`.
    """
    constructor = getattr(hashlib, algorithm.digest_name)
    inner, outer = constructor(), constructor()
    block = inner.block_size
    if len(key) > block:
        key = constructor(key).digest()
    key = key.ljust(block, b"\0")
    inner.update(key.translate(_IPAD))
    outer.update(key.translate(_OPAD))
    for counter in counters:
        i = inner.copy()
        i.update(_COUNTER.pack(counter))
        o = outer.copy()
        o.update(i.digest())
        yield _truncate(o.digest(), digits)


def hotp_int(
    key: bytes, counter: int, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1
) -> int:
    """The HOTP value as an integer (``0 <= value < 10**digits``)."""
    return _truncate(hmac.digest(key, _COUNTER.pack(counter), algorithm.digest_name), digits)


def hotp(key: bytes, counter: int, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1) -> str:
    """The HOTP code for ``counter`` as a zero-padded decimal string."""
    _check_digits(digits)
    if not 0 <= counter < 2**64:
        raise InvalidInputError(f"HOTP counter {counter} is out of range (0 .. 2**64-1)")
    return str(hotp_int(key, counter, digits, algorithm)).zfill(digits)


def time_step(at: float, period: int = 30, t0: int = 0) -> int:
    """The TOTP time step ``T = floor((at - t0) / period)``."""
    if period <= 0:
        raise InvalidInputError(f"period {period} s is not positive")
    return math.floor((at - t0) / period)


def totp(
    key: bytes,
    at: float,
    period: int = 30,
    digits: int = 6,
    algorithm: Algorithm = Algorithm.SHA1,
    t0: int = 0,
) -> str:
    """The TOTP code at unix time ``at``."""
    step = time_step(at, period, t0)
    if step < 0:
        raise InvalidInputError(f"time {at} is before the TOTP epoch {t0}")
    return hotp(key, step, digits, algorithm)
