"""HES's JSON API under ``/api/Identity/...`` (``IdentityController``), over the same model.

Shapes are HES's as ASP.NET Core serialises them (camelCase, property names matched
case-insensitively on input). ``Login`` answers 200 with an empty body or 401 with
``{"error": "TwoFactorRequired" | "InvalidAuthenticatorCode" | "UserIsLockedout" |
"Unauthorized"}``; the calls behind ``[Authorize]`` answer 401 without a signed-in session and
400 with a one-line message (a JSON string, as ``BadRequest(ex.Message)``) when the account's
state does not allow them. POSTs with a body must be ``application/json`` (415 otherwise), so a
cross-site HTML form cannot reach them; the session cookie is ``SameSite=Lax`` besides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keybridge.errors import (
    InvalidCodeError,
    InvalidInputError,
    InvalidStateError,
    UnknownUserError,
)
from keybridge.hes.types import LoginStatus
from keybridge.hes.web.auth import sign_in, sign_out, signed_in_user, start_second_factor
from keybridge.hes.web.forms import read_json
from keybridge.hes.web.render import model, password_login

__all__ = [
    "disable_two_factor",
    "generate_recovery_codes",
    "get_two_factor_info",
    "load_shared_key",
    "login",
    "login_with_password",
    "logout",
    "reset_authenticator_key",
    "verify_two_factor",
]

View = Callable[[Request, str], Awaitable[Response]]


def _error(name: str, status: int = 401) -> JSONResponse:
    return JSONResponse({"error": name}, status_code=status)


def _validation(field: str, message: str) -> JSONResponse:
    # ASP.NET's [ApiController] answers a model that does not bind with a problem document.
    body = {
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {field: [message]},
    }
    return JSONResponse(body, status_code=400)


def _fields(body: Any, *names: str) -> dict[str, Any] | None:
    """The named properties of a JSON object (case-insensitive), or None if not an object."""
    if not isinstance(body, dict):
        return None
    lowered = {str(k).lower(): v for k, v in body.items()}
    return {name: lowered.get(name.lower()) for name in names}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def authorized(view: View) -> Callable[[Request], Awaitable[Response]]:
    """``[Authorize]``: 401 without a signed-in session."""

    @wraps(view)
    async def guarded(request: Request) -> Response:
        email = signed_in_user(request)
        if email is None:
            return Response(status_code=401)
        try:
            return await view(request, email)
        except UnknownUserError:
            sign_out(request)
            return Response(status_code=401)
        except InvalidStateError as exc:
            return JSONResponse(str(exc), status_code=400)

    return guarded


async def login(request: Request) -> Response:
    """``Login`` (``LoginDto``: email, password, otp): the password and the code in one call."""
    body = await read_json(request)
    if body is None:
        return _error("CredentialsNull", 400)
    fields = _fields(body, "email", "password", "otp")
    if fields is None:
        return _validation("$", "The JSON value could not be converted to LoginDto.")
    email, password, otp = (_text(fields[n]) for n in ("email", "password", "otp"))
    hes = model(request)
    try:
        step = await password_login(request, email or "", password or "")
    except InvalidInputError:
        return _error("Unauthorized")
    if step.status is LoginStatus.OK:
        sign_in(request, hes.user(email or "").email)
        return Response(status_code=200)
    if step.status is LoginStatus.LOCKED:
        return _error("UserIsLockedout")
    if step.status is not LoginStatus.NEEDS_OTP or step.token is None:
        return _error("Unauthorized")
    if not otp or not otp.strip():
        return _error("TwoFactorRequired")
    try:
        with hes.store.transaction():  # the code and the sign-in it earns: one commit
            second = hes.login_otp(step.token, otp)
            if second.status is LoginStatus.OK:
                sign_in(request, hes.user(email or "").email)
    except InvalidInputError:
        return _error("InvalidAuthenticatorCode")
    if second.status is LoginStatus.OK:
        return Response(status_code=200)
    if second.status is LoginStatus.LOCKED:
        return _error("UserIsLockedout")
    return _error("InvalidAuthenticatorCode")


def _authorization(
    succeeded: bool = False,
    requires_two_factor: bool = False,
    locked_out: bool = False,
    code: str | None = None,
    user: str | None = None,
) -> JSONResponse:
    """HES's ``AuthorizationResponse``."""
    return JSONResponse(
        {
            "succeeded": succeeded,
            "requiresTwoFactor": requires_two_factor,
            "isLockedOut": locked_out,
            "failed": code is not None,
            "message": None,
            "code": code,
            "user": None if user is None else {"email": user, "userName": user},
        }
    )


async def login_with_password(request: Request) -> Response:
    """``LoginWithPassword`` (``PasswordSignInModel``): the admin web's first step."""
    fields = _fields(await read_json(request), "email", "password", "rememberMe")
    if fields is None:
        return _validation("$", "The JSON value could not be converted to PasswordSignInModel.")
    email, password = _text(fields["email"]), _text(fields["password"])
    hes = model(request)
    try:
        step = await password_login(request, email or "", password or "")
    except InvalidInputError:
        return _authorization(code="InvalidLoginAttempt")
    if step.status is LoginStatus.DENIED:
        return _authorization(code="InvalidLoginAttempt")
    account = hes.user(email or "").email
    if step.status is LoginStatus.OK:
        sign_in(request, account)
        return _authorization(succeeded=True, user=account)
    if step.status is LoginStatus.NEEDS_OTP and step.token:
        # The same session continues on /login-with-2fa, as HES's Blazor login does.
        start_second_factor(request, step.token, account)
        return _authorization(requires_two_factor=True, user=account)
    return _authorization(locked_out=True, user=account)


async def logout(request: Request) -> Response:
    sign_out(request)
    return _authorization(succeeded=True)


@authorized
async def get_two_factor_info(request: Request, email: str) -> Response:
    info = model(request).user(email)
    return JSONResponse(
        {
            "is2faEnabled": info.two_factor_enabled,
            "hasAuthenticator": info.has_authenticator,
            "recoveryCodesLeft": info.recovery_codes_left,
            "isMachineRemembered": False,
        }
    )


@authorized
async def load_shared_key(request: Request, email: str) -> Response:
    setup = model(request).begin_otp_setup(email)
    return JSONResponse({"sharedKey": setup.display_key, "authenticatorUri": setup.uri})


@authorized
async def reset_authenticator_key(request: Request, email: str) -> Response:
    model(request).reset_otp_app(email)
    return Response(status_code=200)


@authorized
async def verify_two_factor(request: Request, email: str) -> Response:
    fields = _fields(await read_json(request), "code")
    code = None if fields is None else _text(fields["code"])
    if code is None:
        return _validation("code", "The Code field is required.")
    try:
        codes = model(request).confirm_otp_setup(email, code)
    except (InvalidCodeError, InvalidInputError):
        return JSONResponse({"isTwoFactorTokenValid": False, "recoveryCodes": None})
    return JSONResponse({"isTwoFactorTokenValid": True, "recoveryCodes": codes or None})


@authorized
async def disable_two_factor(request: Request, email: str) -> Response:
    model(request).disable_2fa(email)
    return Response(status_code=200)


@authorized
async def generate_recovery_codes(request: Request, email: str) -> Response:
    return JSONResponse(model(request).new_recovery_codes(email))
