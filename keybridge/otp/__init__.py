"""OTP secrets, ``otpauth://`` URIs and the HOTP/TOTP maths.

The maths (:mod:`.codes`) loads with the package; the secret and URI parsers load on first use
of one of their names, so the simulated key, which needs only the maths, starts faster.
"""

from keybridge._lazy import lazy_exports
from keybridge.otp.codes import DIGITS_RANGE, Algorithm, hotp, hotp_int, time_step, totp

TYPE_CHECKING = False
if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            (
                "HES_KEY_LENGTH",
                "KEY_BYTES_RANGE",
                "SECRET_LENGTH_RANGE",
                "WeakSecretWarning",
                "decode_secret",
                "display_secret",
                "encode_secret",
                "normalize_secret",
            ),
            "secret",
        ),
        **dict.fromkeys(
            ("DEFAULT_PERIOD", "OtpKind", "OtpParams", "build_uri", "parse_uri"), "uri"
        ),
    },
)


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
