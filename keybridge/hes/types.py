"""Value types and HES's fixed settings shared by the HES model's modules."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keybridge.otp.credential import Credential

__all__ = [
    "ISSUER",
    "LOCKOUT_ATTEMPTS",
    "LOCKOUT_SECONDS",
    "RECOVERY_CODE_COUNT",
    "STEP_TOKEN_SECONDS",
    "EnrolledUser",
    "LoginStatus",
    "LoginStep",
    "OtpSetup",
    "Profile",
    "UserInfo",
]

ISSUER = "HES.Web"
"""Issuer HES puts in the label and the ``issuer`` parameter of its ``otpauth://`` URI."""

RECOVERY_CODE_COUNT = 10
"""Recovery codes HES issues at a time (8 lowercase hex characters each)."""

LOCKOUT_ATTEMPTS = 10
"""Failed sign-in attempts after which HES locks the account."""

LOCKOUT_SECONDS = 15 * 60
"""How long a locked account stays locked."""

STEP_TOKEN_SECONDS = 5 * 60
"""Life of the token between the password and the second step (ASP.NET's two-factor cookie)."""


class Profile(StrEnum):
    """``hes``: behave exactly as HES does. ``strict``: fix HES's known weaknesses."""

    HES = "hes"
    STRICT = "strict"


class LoginStatus(StrEnum):
    """Outcome of one login step; compares equal to its plain string."""

    OK = "ok"
    NEEDS_OTP = "needs_otp"
    LOCKED = "locked"
    DENIED = "denied"


@dataclass(frozen=True)
class OtpSetup:
    """What HES shows on "Add OTP App".

    ``key`` is the 32-character Base32 secret (what the Hideez key needs), ``display_key`` the
    same in lowercase groups of 4, ``uri`` the ``otpauth://`` URI behind the QR code.
    """

    key: str
    display_key: str
    uri: str

    @property
    def credential(self) -> Credential:
        """The credential an authenticator (or the key) enrols: what the QR code holds."""
        from keybridge.otp.credential import Credential  # the URI parser: only when asked

        return Credential.from_uri(self.uri)


@dataclass(frozen=True)
class LoginStep:
    """Result of :meth:`Hes.login`, :meth:`Hes.login_otp` or :meth:`Hes.login_recovery`.

    ``token`` is set with ``needs_otp`` and with ``denied`` after a wrong second factor (the same
    token can be tried again until it expires). ``locked_until`` is set with ``locked``.
    ``accepted_step`` is the TOTP time step a successful ``login_otp`` matched.
    """

    status: LoginStatus
    token: str | None = None
    locked_until: float | None = None
    accepted_step: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is LoginStatus.OK


@dataclass(frozen=True)
class UserInfo:
    """What an administrator can see about an account (no secrets)."""

    email: str
    two_factor_enabled: bool
    has_authenticator: bool
    recovery_codes_left: int
    failed_attempts: int
    locked_until: float | None


@dataclass(frozen=True)
class EnrolledUser:
    """An account made with 2FA already on (bulk provisioning for load tests).

    ``password_hash`` is :func:`~keybridge.hes.passwords.hash_password`'s form; ``otp_key`` the
    Base32 authenticator key; ``recovery_codes`` the codes as issued (stored as the profile
    stores them).
    """

    email: str
    password_hash: str
    otp_key: str
    recovery_codes: tuple[str, ...]
