"""Code checks as HES performs them: TOTP window and recovery codes (pure functions).

HES (ASP.NET Core Identity 5.0, ``AuthenticatorTokenProvider``) strips spaces and ``-``, parses
the code as an integer and compares it with HMAC-SHA1 6-digit codes for the time steps
``T-2 .. T+2``, where ``T`` is computed from the server clock *rounded* to whole seconds
(``Math.Round``, ties to even), not truncated. There is no replay protection.
"""

from __future__ import annotations

import hmac
import secrets

from keybridge.errors import MalformedCodeError
from keybridge.hes.types import RECOVERY_CODE_COUNT
from keybridge.otp.codes import hotp_ints, time_step

__all__ = [
    "HES_WINDOW",
    "STRICT_WINDOW",
    "hes_time_step",
    "new_recovery_codes",
    "normalize_recovery_code",
    "parse_totp_code",
    "recovery_code_hash",
    "verify_totp",
]

HES_WINDOW = 2
"""HES accepts codes from 2 steps (60 s) before to 2 steps after the current one."""

STRICT_WINDOW = 1
"""The strict profile's default window."""

_DIGITS = 6
_ASCII_DIGITS = frozenset("0123456789")


def parse_totp_code(text: str) -> int:
    """The code's value after stripping spaces and ``-``: exactly 6 ASCII digits.

    ``str.isdigit`` is not enough: fullwidth and other Unicode digits are refused.
    """
    stripped = text.replace(" ", "").replace("-", "")
    if len(stripped) != _DIGITS or not _ASCII_DIGITS.issuperset(stripped):
        raise MalformedCodeError(
            f"{text!r} is not a one-time password: enter the 6 digits (0-9) your app or key shows"
        )
    return int(stripped)


def hes_time_step(at: float) -> int:
    """The TOTP step HES uses at unix time ``at``: clock rounded to whole seconds first."""
    # Python's round() rounds ties to even, as .NET's Math.Round does by default.
    return time_step(round(at))


def verify_totp(
    key: bytes,
    code: int,
    at: float,
    window: int = HES_WINDOW,
    *,
    hes_clock: bool = True,
    after_step: int | None = None,
    constant_time: bool = False,
) -> int | None:
    """The time step whose HMAC-SHA1 6-digit code equals ``code``, or ``None``.

    Checks ``T-window .. T+window`` in that order and, as HES does, stops at the first match.
    ``hes_clock`` rounds ``at`` as HES does (otherwise it is truncated, as RFC 6238 says).
    ``after_step`` skips steps at or below it (replay protection). ``constant_time`` checks
    every step with :func:`hmac.compare_digest` and returns the newest match.
    """
    step = hes_time_step(at) if hes_clock else time_step(at)
    # Steps before the epoch do not exist (HES would wrap them to huge counters).
    first = max(step - window, 0)
    if after_step is not None:
        first = max(first, after_step + 1)
    steps = range(first, step + window + 1)
    if not constant_time:
        for candidate, value in zip(steps, hotp_ints(key, steps), strict=True):
            if value == code:
                return candidate
        return None
    wanted = code.to_bytes(4, "big")
    found: int | None = None
    for candidate, value in zip(steps, hotp_ints(key, steps), strict=True):
        same = hmac.compare_digest(value.to_bytes(4, "big"), wanted)
        if same:
            found = candidate
    return found


def normalize_recovery_code(text: str) -> str:
    """A recovery code as HES compares it: spaces removed, otherwise exact (case-sensitive)."""
    stripped = text.replace(" ", "")
    if not stripped or not stripped.isascii() or not stripped.isprintable():
        raise MalformedCodeError(
            f"{text!r} is not a recovery code: enter one of the 8-character codes you saved"
        )
    return stripped


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` distinct codes of 8 lowercase hex characters (HES: a GUID's first 8)."""
    codes: list[str] = []
    while len(codes) < count:
        code = secrets.token_hex(4)
        if code not in codes:
            codes.append(code)
    return codes


def recovery_code_hash(store_key: bytes, code: str) -> str:
    """The keyed hash the strict profile stores instead of the code."""
    return hmac.new(store_key, code.encode("ascii"), "sha256").hexdigest()
