"""OTP secrets, the one credential model (with ``otpauth://`` URIs) and the HOTP/TOTP maths.

The maths and the enums (:mod:`.codes`) load with the package; the secret parser and the
credential model load on first use of one of their names, so the simulated key, which needs
only the maths, starts faster.
"""

from keybridge._lazy import lazy_exports
from keybridge.otp.codes import (
    DIGITS_RANGE,
    Algorithm,
    OtpKind,
    hotp,
    hotp_int,
    time_step,
    totp,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from keybridge.otp.credential import DEFAULT_PERIOD, Credential, build_uri, parse_uri
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
        **dict.fromkeys(("DEFAULT_PERIOD", "Credential", "build_uri", "parse_uri"), "credential"),
    },
)


__all__ = [
    "DEFAULT_PERIOD",
    "DIGITS_RANGE",
    "HES_KEY_LENGTH",
    "KEY_BYTES_RANGE",
    "SECRET_LENGTH_RANGE",
    "Algorithm",
    "Credential",
    "OtpKind",
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
