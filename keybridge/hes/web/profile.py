"""``/profile`` and its One-Time Password section: Add OTP App, Reset OTP app, Disable 2FA,
Generate recovery codes.

HES draws these as Blazor dialogs; here each is a page with a form, so a browser test (or a key
typing the code) drives them with plain posts. Every action that changes the account asks for a
confirmation first (a GET page with the warning), then acts on its POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from keybridge.errors import (
    InvalidCodeError,
    InvalidInputError,
    InvalidStateError,
    UnknownUserError,
)
from keybridge.hes.types import OtpSetup
from keybridge.hes.web.auth import check_csrf, sign_out, signed_in_user
from keybridge.hes.web.forms import read_form
from keybridge.hes.web.pages import redirect
from keybridge.hes.web.render import model, render
from keybridge.hes.web.templating import Errors

__all__ = ["add_otp_app", "disable_2fa", "generate_recovery_codes", "profile", "reset_otp_app"]

INVALID_VERIFICATION = "Verification code is invalid."

View = Callable[[Request, str], Awaitable[Response]]


def signed_in(view: View) -> Callable[[Request], Awaitable[Response]]:
    """Only for a signed-in user; others go to ``/login`` with ``ReturnUrl`` (as ASP.NET's
    cookie handler sends them)."""

    @wraps(view)
    async def guarded(request: Request) -> Response:
        email = signed_in_user(request)
        if email is not None:
            try:
                return await view(request, email)
            except UnknownUserError:  # the account was deleted behind the session
                sign_out(request)
        target = quote(request.url.path, safe="")
        return redirect(f"/login?ReturnUrl={target}")

    return guarded


def _qr_svg(setup: OtpSetup) -> str:
    from keybridge.otp.qr import svg_qr

    return svg_qr(setup.uri)


def _setup_page(
    request: Request, setup: OtpSetup, errors: Errors | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "otp_setup.html",
        status_code=status,
        setup=setup,
        qr_svg=_qr_svg(setup),
        errors=errors or Errors(),
    )


@signed_in
async def profile(request: Request, email: str) -> Response:
    return render(request, "profile.html", info=model(request).user(email))


@signed_in
async def add_otp_app(request: Request, email: str) -> Response:
    hes = model(request)
    if request.method == "GET":
        try:
            setup = hes.begin_otp_setup(email)
        except InvalidStateError as exc:
            return _state_error(request, email, str(exc))
        return _setup_page(request, setup)
    form = await read_form(request)
    check_csrf(request, form)
    code = form.get("Input.Code", "")
    errors = Errors()
    if not code.strip():
        errors.add("The Verification Code field is required.", "Input.Code")
    else:
        try:
            codes = hes.confirm_otp_setup(email, code)
        except InvalidStateError as exc:
            return _state_error(request, email, str(exc))
        except (InvalidCodeError, InvalidInputError):
            errors.add(INVALID_VERIFICATION, "Input.Code")
        else:
            return render(request, "otp_verified.html", codes=codes)
    try:
        setup = hes.begin_otp_setup(email)  # the same unconfirmed key, shown again
    except InvalidStateError as exc:
        return _state_error(request, email, str(exc))
    return _setup_page(request, setup, errors)


def _state_error(request: Request, email: str, message: str) -> Response:
    """The profile with the model's one line on what was wrong (400, nothing changed)."""
    errors = Errors()
    errors.add(message)
    return render(
        request, "profile.html", status_code=400, info=model(request).user(email), errors=errors
    )


async def _confirmed(request: Request) -> bool:
    """True on the confirming POST (its anti-forgery token checked); False on the GET."""
    if request.method == "GET":
        return False
    check_csrf(request, await read_form(request))
    return True


@signed_in
async def reset_otp_app(request: Request, email: str) -> Response:
    if not await _confirmed(request):
        return render(request, "confirm.html", action="reset-otp-app")
    setup = model(request).reset_otp_app(email)
    request.session["flash"] = "Your authenticator app key has been reset, you will need to "
    request.session["flash"] += "configure your authenticator app using the new key."
    return _setup_page(request, setup)


@signed_in
async def disable_2fa(request: Request, email: str) -> Response:
    if not await _confirmed(request):
        if not model(request).user(email).two_factor_enabled:
            return _state_error(request, email, "Two-factor authentication is not enabled.")
        return render(request, "confirm.html", action="disable-2fa")
    try:
        model(request).disable_2fa(email)
    except InvalidStateError as exc:
        return _state_error(request, email, str(exc))
    request.session["flash"] = "2fa has been disabled. You can reenable 2fa when you setup an "
    request.session["flash"] += "authenticator app"
    return redirect("/profile")


@signed_in
async def generate_recovery_codes(request: Request, email: str) -> Response:
    if not await _confirmed(request):
        if not model(request).user(email).two_factor_enabled:
            return _state_error(
                request,
                email,
                "Cannot generate recovery codes as you do not have 2FA enabled.",
            )
        return render(request, "confirm.html", action="generate-recovery-codes")
    try:
        codes = model(request).new_recovery_codes(email)
    except InvalidStateError as exc:
        return _state_error(request, email, str(exc))
    return render(request, "otp_verified.html", codes=codes, generated=True)
