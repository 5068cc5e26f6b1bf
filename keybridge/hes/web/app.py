"""The emulator's ASGI application: routes, session middleware, body limit, error pages."""

from __future__ import annotations

import logging
import secrets

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from keybridge.errors import KeybridgeError
from keybridge.hes.model import Hes
from keybridge.hes.web.auth import SignIns
from keybridge.hes.web.forms import MAX_BODY_BYTES, BodyLimit, BodyTooLargeError
from keybridge.hes.web.render import render
from keybridge.hes.web.routes import ROUTES
from keybridge.hes.web.templating import Pages

__all__ = ["SESSION_COOKIE", "create_app"]

SESSION_COOKIE = ".AspNetCore.Identity.Application"
"""The session cookie's name (ASP.NET Core Identity's sign-in cookie)."""

_log = logging.getLogger("keybridge.hes.web")

_REASONS = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 413: "Too large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.status_code not in (404, 405) else _REASONS[exc.status_code]
    if request.url.path.startswith("/api/"):
        return JSONResponse(detail, status_code=exc.status_code)
    if "session" not in request.scope:  # raised before the session middleware ran
        return PlainTextResponse(detail, status_code=exc.status_code)
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        title=_REASONS.get(exc.status_code, "Error"),
        message=detail,
    )


async def _too_large(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=413)


async def _refused(request: Request, exc: Exception) -> Response:
    # A model error a view did not expect: one line, nothing stored (the model's transaction
    # rolled back), never a traceback.
    _log.info("refused %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return PlainTextResponse(str(exc), status_code=400)


async def _crashed(request: Request, exc: Exception) -> Response:
    _log.error("error in %s %s", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("Internal server error: see the server's log.", status_code=500)


def create_app(hes: Hes, *, secret_key: str | None = None, https: bool = False) -> Starlette:
    """The emulator over ``hes`` (the caller keeps and closes the model).

    ``secret_key`` signs the session cookie (a random one per app when None: sessions end when
    the server stops). ``https`` marks the cookie ``Secure``.
    """
    middleware = [
        Middleware(BodyLimit, limit=MAX_BODY_BYTES),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key or secrets.token_urlsafe(32),
            session_cookie=SESSION_COOKIE,
            max_age=None,  # a browser-session cookie, as Identity's without "remember me"
            same_site="lax",
            https_only=https,
        ),
    ]
    app = Starlette(
        routes=ROUTES,
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,
            BodyTooLargeError: _too_large,
            KeybridgeError: _refused,
            Exception: _crashed,
        },
    )
    app.state.hes = hes
    app.state.pages = Pages()
    app.state.sign_ins = SignIns(hes.store)
    return app
