"""Reading what a browser or client posts: size limit, form and JSON bodies, query values.

Every body goes through :class:`BodyLimit` (an ASGI middleware): a declared or streamed body
over the limit is answered 413 before a view sees it. A body that cannot be parsed is a 400 with
one line saying why, never a server error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_FIELDS",
    "BodyLimit",
    "BodyTooLargeError",
    "local_url",
    "parse_bool",
    "read_form",
    "read_json",
]

MAX_BODY_BYTES = 16 * 1024
"""Largest request body accepted: HES's forms and JSON requests are a few hundred bytes."""

MAX_FIELDS = 32
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES} bytes: send the form's fields only."


class BodyTooLargeError(Exception):
    """A streamed body went past the limit (answered 413 by the app's handler)."""


class BodyLimit:
    """Refuse bodies over ``limit`` bytes, declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            status = 413 if declared.isdigit() else 400
            text = _TOO_LARGE if status == 413 else "The Content-Length header is not a number."
            await PlainTextResponse(text, status_code=status)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLargeError(_TOO_LARGE)
            return message

        await self.app(scope, limited, send)


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the first value of each name, as ASP.NET binds them)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(_FORM_TYPES):
        raise HTTPException(
            400, "The request is not a form post: send application/x-www-form-urlencoded."
        )
    if content_type.startswith(_FORM_TYPES[0]):
        # What browsers post: the standard library's parser, a fraction of the general one's cost.
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        if len(pairs) > MAX_FIELDS:
            raise HTTPException(400, f"The form has more than {MAX_FIELDS} fields.")
        return _first_values(pairs)
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except BodyTooLargeError:
        raise
    except HTTPException:
        raise
    except Exception:  # python-multipart's parse errors have no common base
        raise HTTPException(400, "The form could not be read: send well-formed fields.") from None
    return _first_values((k, v) for k, v in form.multi_items() if isinstance(v, str))


def _first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def read_json(request: Request) -> Any:
    """The JSON body (415 for another content type, 400 for malformed JSON)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise HTTPException(415, "Send the request as application/json.")
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPException(400, "The request body is not valid JSON.") from None


def local_url(url: str | None) -> str:
    """``url`` when it stays on this site (as ASP.NET's ``Url.IsLocalUrl``), else ``/``."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 for c in url):
        return "/"
    return url


def parse_bool(value: str | None) -> bool:
    """ASP.NET's bool binding: ``true`` in any case is true; anything else false."""
    return (value or "").strip().lower() == "true"
