"""OTP secrets, ``otpauth://`` URIs and the HOTP/TOTP maths."""

from keybridge.otp.codes import DIGITS_RANGE, Algorithm, hotp, hotp_int, time_step, totp

__all__ = ["DIGITS_RANGE", "Algorithm", "hotp", "hotp_int", "time_step", "totp"]
