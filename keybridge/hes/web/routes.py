"""Every route of the emulator in one table: HES's paths, methods and views."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from keybridge.hes.web import api, pages, profile

__all__ = ["ROUTES"]

_GET = ["GET"]
_POST = ["POST"]
_BOTH = ["GET", "POST"]
_API = "/api/Identity/"

ROUTES: list[BaseRoute] = [
    Route("/", pages.home, methods=_GET),
    Route("/login", pages.login, methods=_BOTH),
    Route("/login-with-2fa", pages.login_with_2fa, methods=_BOTH),
    Route("/login-with-recovery-code", pages.login_with_recovery_code, methods=_BOTH),
    Route("/lockout", pages.lockout, methods=_GET),
    Route("/logout", pages.logout, methods=_BOTH),
    Route("/access-denied", pages.access_denied, methods=_GET),
    Route("/profile", profile.profile, methods=_GET),
    Route("/profile/add-otp-app", profile.add_otp_app, methods=_BOTH),
    Route("/profile/reset-otp-app", profile.reset_otp_app, methods=_BOTH),
    Route("/profile/disable-2fa", profile.disable_2fa, methods=_BOTH),
    Route("/profile/generate-recovery-codes", profile.generate_recovery_codes, methods=_BOTH),
    Route(_API + "Login", api.login, methods=_POST),
    Route(_API + "LoginWithPassword", api.login_with_password, methods=_POST),
    Route(_API + "Logout", api.logout, methods=_POST),
    Route(_API + "GetTwoFactorInfo", api.get_two_factor_info, methods=_GET),
    Route(_API + "LoadSharedKeyAndQrCodeUri", api.load_shared_key, methods=_GET),
    Route(_API + "ResetAuthenticatorKey", api.reset_authenticator_key, methods=_POST),
    Route(_API + "VerifyTwoFactor", api.verify_two_factor, methods=_POST),
    Route(_API + "DisableTwoFactor", api.disable_two_factor, methods=_POST),
    Route(_API + "GenerateNewTwoFactorRecoveryCodes", api.generate_recovery_codes, methods=_POST),
    Mount("/css", StaticFiles(packages=[("keybridge.hes.web", "static")]), name="css"),
]
