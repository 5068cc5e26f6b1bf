"""HES's sign-in pages: ``/login``, ``/login-with-2fa``, ``/login-with-recovery-code``,
``/lockout``, ``/logout``, ``/access-denied``; thin views over :class:`~keybridge.hes.Hes`.

Behaviour follows HES's page models (ASP.NET Core Identity): a password login of a 2FA account
redirects to the second step keeping ``returnUrl``; a locked account goes to ``/lockout``; a
failed second factor re-renders the page with HES's message (status 200, as ``Page()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keybridge.errors import InvalidInputError, InvalidStateError
from keybridge.hes.types import LoginStatus, LoginStep
from keybridge.hes.web.auth import (
    check_csrf,
    second_factor,
    sign_in,
    sign_out,
    signed_in_user,
    start_second_factor,
)
from keybridge.hes.web.forms import local_url, parse_bool, read_form
from keybridge.hes.web.render import model, password_login, render
from keybridge.hes.web.templating import Errors

__all__ = [
    "access_denied",
    "home",
    "lockout",
    "login",
    "login_with_2fa",
    "login_with_recovery_code",
    "logout",
]

NO_2FA_USER = "Unable to load two-factor authentication user."
INVALID_LOGIN = "Invalid login attempt."
INVALID_CODE = "Invalid authenticator code."
INVALID_RECOVERY = "Invalid recovery code entered."
CODE_LABEL = "Authenticator code"


def redirect(url: str) -> RedirectResponse:
    """302 Found, as ASP.NET's ``Redirect`` / ``LocalRedirect``."""
    return RedirectResponse(url, status_code=302)


def return_url(request: Request) -> str | None:
    # ASP.NET binds query values case-insensitively: the cookie handler sends ReturnUrl.
    for name, value in request.query_params.multi_items():
        if name.lower() == "returnurl":
            return value
    return None


async def home(request: Request) -> Response:
    return redirect("/profile" if signed_in_user(request) else "/login")


async def login(request: Request) -> Response:
    back = return_url(request)
    if request.method == "GET":
        return render(request, "login.html", return_url=back, email="", remember_me=False)
    form = await read_form(request)
    check_csrf(request, form)
    email = form.get("Input.Email", "").strip()
    password = form.get("Input.Password", "")
    remember_me = parse_bool(form.get("Input.RememberMe"))
    errors = Errors()
    if not email:
        errors.add("The Email field is required.", "Input.Email")
    elif "@" not in email:
        errors.add("The Email field is not a valid e-mail address.", "Input.Email")
    if not password:
        errors.add("The Password field is required.", "Input.Password")
    if not errors:
        try:
            step = await password_login(request, email, password)
        except InvalidInputError:
            errors.add(INVALID_LOGIN)
        else:
            if step.status is LoginStatus.OK:
                sign_in(request, email)  # look-ups ignore case, as Identity's
                return redirect(local_url(back))
            if step.status is LoginStatus.NEEDS_OTP and step.token:
                start_second_factor(request, step.token, email)
                query = {"returnUrl": back or "/", "rememberMe": str(remember_me)}
                return redirect(f"/login-with-2fa?{urlencode(query)}")
            if step.status is LoginStatus.LOCKED:
                return redirect("/lockout")
            errors.add(INVALID_LOGIN)
    return render(
        request,
        "login.html",
        return_url=back,
        email=email,
        remember_me=remember_me,
        errors=errors,
    )


async def login_with_2fa(request: Request) -> Response:
    back = return_url(request)
    remember_me = parse_bool(request.query_params.get("rememberMe"))
    waiting = second_factor(request)
    page: dict[str, Any] = {
        "return_url": back,
        "remember_me": remember_me,
        "no_user": waiting is None,
    }
    if request.method == "GET":
        return render(request, "login_2fa.html", **page)
    form = await read_form(request)
    check_csrf(request, form)
    remember_me = parse_bool(form.get("RememberMe")) or remember_me
    page["remember_me"] = remember_me
    code = form.get("Input.TwoFactorCode", "")
    errors = Errors()
    if not code:
        errors.add(f"The {CODE_LABEL} field is required.", "Input.TwoFactorCode")
    elif not 6 <= len(code) <= 7:
        errors.add(
            f"The {CODE_LABEL} must be at least 6 and at max 7 characters long.",
            "Input.TwoFactorCode",
        )
    if errors:
        return render(request, "login_2fa.html", errors=errors, **page)
    if waiting is None:
        return render(request, "login_2fa.html", **page)
    hes = model(request)
    try:
        status = _second_factor(request, waiting, lambda: hes.login_otp(waiting[0], code))
    except InvalidInputError:  # not 6 digits: HES finds no matching code either
        errors.add(INVALID_CODE)
        return render(request, "login_2fa.html", errors=errors, **page)
    except InvalidStateError:  # the step token expired or 2FA was turned off meanwhile
        page["no_user"] = True
        return render(request, "login_2fa.html", **page)
    return _second_factor_done(request, status, back, INVALID_CODE, page)


async def login_with_recovery_code(request: Request) -> Response:
    back = return_url(request)
    waiting = second_factor(request)
    page: dict[str, Any] = {"return_url": back, "no_user": waiting is None}
    if request.method == "GET":
        return render(request, "login_recovery.html", **page)
    form = await read_form(request)
    check_csrf(request, form)
    code = form.get("Input.RecoveryCode", "")
    errors = Errors()
    if not code.strip():
        errors.add("The Recovery Code field is required.", "Input.RecoveryCode")
        return render(request, "login_recovery.html", errors=errors, **page)
    if waiting is None:
        return render(request, "login_recovery.html", **page)
    hes = model(request)
    try:
        status = _second_factor(request, waiting, lambda: hes.login_recovery(waiting[0], code))
    except InvalidStateError:
        page["no_user"] = True
        return render(request, "login_recovery.html", **page)
    return _second_factor_done(request, status, back, INVALID_RECOVERY, page, "login_recovery.html")


def _second_factor(
    request: Request, waiting: tuple[str, str], check: Callable[[], LoginStep]
) -> LoginStatus:
    """``check`` the second factor and, if it passes, sign in: one commit for both."""
    with model(request).store.transaction():
        status = check().status
        if status is LoginStatus.OK:
            sign_in(request, waiting[1])
        return status


def _second_factor_done(
    request: Request,
    status: LoginStatus,
    back: str | None,
    message: str,
    page: dict[str, Any],
    template: str = "login_2fa.html",
) -> Response:
    if status is LoginStatus.OK:
        return redirect(local_url(back))
    if status is LoginStatus.LOCKED:
        return redirect("/lockout")
    errors = Errors()
    errors.add(message)
    return render(request, template, errors=errors, **page)


async def lockout(request: Request) -> Response:
    return render(request, "lockout.html")


async def access_denied(request: Request) -> Response:
    return render(request, "access_denied.html")


async def logout(request: Request) -> Response:
    if request.method == "POST":
        form = await read_form(request)
        check_csrf(request, form)
        sign_out(request)
        return redirect("/logout")
    return render(request, "logout.html")
