"""The HES two-factor model: the oracle the key's codes are checked against.

``Hes(store, profile, clock)`` behaves as the Hideez Enterprise Server's sign-in does
(``profile="hes"``, the default) or fixes its weaknesses (``profile="strict"``).
"""

from keybridge.hes.enrolment import authenticator_uri, format_key
from keybridge.hes.model import Hes
from keybridge.hes.store import default_store_path
from keybridge.hes.types import LoginStatus, LoginStep, OtpSetup, Profile, UserInfo
from keybridge.hes.verify import hes_time_step, parse_totp_code, verify_totp

__all__ = [
    "Hes",
    "LoginStatus",
    "LoginStep",
    "OtpSetup",
    "Profile",
    "UserInfo",
    "authenticator_uri",
    "default_store_path",
    "format_key",
    "hes_time_step",
    "parse_totp_code",
    "verify_totp",
]
