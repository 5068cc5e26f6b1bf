"""OTP secrets, ``otpauth://`` URIs and the HOTP/TOTP maths."""

from keybridge.otp.codes import DIGITS_RANGE, Algorithm, hotp, hotp_int, time_step, totp
from keybridge.otp.secret import (
    HES_KEY_LENGTH,
    KEY_BYTES_RANGE,
    SECRET_LENGTH_RANGE,
    WeakSecretWarning,
    decode_secret,
    display_secret,
    encode_secret,
    normalize_secret,
)
from keybridge.otp.uri import DEFAULT_PERIOD, OtpKind, OtpParams, build_uri, parse_uri

__all__ = [
    "DEFAULT_PERIOD",
    "DIGITS_RANGE",
    "HES_KEY_LENGTH",
    "KEY_BYTES_RANGE",
    "SECRET_LENGTH_RANGE",
    "Algorithm",
    "OtpKind",
    "OtpParams",
    "WeakSecretWarning",
    "build_uri",
    "decode_secret",
    "display_secret",
    "encode_secret",
    "hotp",
    "hotp_int",
    "normalize_secret",
    "parse_uri",
    "time_step",
    "totp",
]
