"""The authenticator key as HES makes and shows it (ASP.NET Core Identity 5.0)."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote

from keybridge.hes.types import ISSUER, OtpSetup

__all__ = ["KEY_BYTES", "authenticator_uri", "format_key", "new_authenticator_key", "otp_setup"]

KEY_BYTES = 20
"""Identity's authenticator key: 20 random bytes, 32 Base32 characters."""


def new_authenticator_key() -> str:
    """A fresh key: Base32 of 20 random bytes, uppercase, no padding (160 bits -> 32 chars)."""
    return base64.b32encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def format_key(key: str) -> str:
    """HES's display form: lowercase, groups of 4 separated by single spaces."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4)).lower()


def _url_encode(text: str) -> str:
    # .NET's UrlEncoder leaves only unreserved characters as they are ('@' -> '%40').
    return quote(text, safe="")


def authenticator_uri(email: str, key: str) -> str:
    """The URI behind HES's QR code, built as HES formats it."""
    issuer = _url_encode(ISSUER)
    return f"otpauth://totp/{issuer}:{_url_encode(email)}?secret={key}&issuer={issuer}&digits=6"


def otp_setup(email: str, key: str) -> OtpSetup:
    return OtpSetup(key=key, display_key=format_key(key), uri=authenticator_uri(email, key))
