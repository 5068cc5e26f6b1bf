"""What every view shares: the model, the password step off the event loop and the one way
views render pages."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from keybridge.hes.model import Hes
from keybridge.hes.types import LoginStep
from keybridge.hes.web.auth import CSRF_FIELD, csrf_token, signed_in_user
from keybridge.hes.web.templating import Errors, Pages

__all__ = ["model", "password_login", "render"]


def model(request: Request) -> Hes:
    hes: Hes = request.app.state.hes
    return hes


INLINE_KDF_MAX_COST = 2**6
"""Largest scrypt N verified on the event loop: about 0.15 ms, no more than the hop to a worker
thread costs. Only test and load-test accounts are that cheap; HES's cost is 2**14."""


async def password_login(request: Request, email: str, password: str) -> LoginStep:
    """:meth:`Hes.login`, its KDF in a worker thread when costly (HES's: ~50 ms) so that it does
    not stall other requests; a cheap one runs inline, the whole login one commit."""
    hes = model(request)
    with hes.store.transaction():
        check = hes.start_login(email)
        if check.cost <= INLINE_KDF_MAX_COST:
            check.verify(password)
            return hes.finish_login(check)
    await run_in_threadpool(check.verify, password)  # outside the transaction: no lock held
    return hes.finish_login(check)


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The page with what every page needs: the anti-forgery token and the signed-in user."""
    pages: Pages = request.app.state.pages
    context.setdefault("errors", Errors())
    context.update(
        csrf_field=CSRF_FIELD,
        user=signed_in_user(request),
        flash=request.session.pop("flash", None),
    )
    page = pages.render(template, context, csrf_token(request))
    return HTMLResponse(page, status_code=status_code)
