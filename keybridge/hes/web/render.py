"""What every view shares: the model, the password step off the event loop, the templates
(packaged with keybridge) and the one way views render them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from keybridge.hes.model import Hes
from keybridge.hes.types import LoginStep
from keybridge.hes.web.auth import CSRF_FIELD, csrf_token, signed_in_user

__all__ = ["Errors", "make_templates", "model", "password_login", "render"]


class Errors:
    """Validation messages of one form: per field (``Input.Email``) and for the whole form."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.summary: list[str] = []

    def add(self, message: str, field: str | None = None) -> None:
        if field is not None:
            self.fields.setdefault(field, message)
        self.summary.append(message)

    def __bool__(self) -> bool:
        return bool(self.summary)


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("keybridge.hes.web", "templates"),
        autoescape=select_autoescape(default=True),
        auto_reload=False,  # packaged templates do not change: no stat() per render
    )
    # Query values encoded as .NET's UrlEncoder does ('/' -> %2F), not Jinja's urlencode.
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return Jinja2Templates(env=env)


def model(request: Request) -> Hes:
    hes: Hes = request.app.state.hes
    return hes


async def password_login(request: Request, email: str, password: str) -> LoginStep:
    """:meth:`Hes.login` in a worker thread: its KDF (~50 ms) must not stall other requests."""
    return await run_in_threadpool(model(request).login, email, password)


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The page with what every page needs: the anti-forgery token and the signed-in user."""
    templates: Jinja2Templates = request.app.state.templates
    context.setdefault("errors", Errors())
    context.update(
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request),
        user=signed_in_user(request),
        flash=request.session.pop("flash", None),
    )
    response: HTMLResponse = templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    return response
