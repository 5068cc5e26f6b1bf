"""The packaged templates, the form errors they show, and the sign-in pages already rendered.

A page for an anonymous visitor whose context holds only strings, numbers, booleans and None
(no form errors) depends on nothing but its template, that context and the session's
anti-forgery token. It is rendered once with a random marker where the token goes, checked
against a real render, and then served with each session's token put in: the sign-in pages a
browser or a load test fetches by the thousand cost a string join, not a template render.
Pages of a signed-in user (keys, QR codes, recovery codes) are never kept.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

__all__ = ["MAX_KEPT", "Errors", "Pages"]

MAX_KEPT = 256
"""Rendered pages kept (the oldest go first): one per template and return URL, in practice."""

_log = logging.getLogger(__name__)


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


class Pages:
    """Renders the emulator's templates (``csrf_token`` is given apart from the context)."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("keybridge.hes.web", "templates"),
            autoescape=select_autoescape(default=True),
            auto_reload=False,  # packaged templates do not change: no stat() per render
        )
        # Query values encoded as .NET's UrlEncoder does ('/' -> %2F), not Jinja's urlencode.
        self.env.filters["q"] = lambda value: quote(str(value), safe="")
        self._marker = secrets.token_hex(16)
        self._kept: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()

    def render(self, template: str, context: dict[str, Any], csrf_token: str) -> str:
        key = _plain_key(template, context)
        if key is None:
            return self._render(template, context, csrf_token)
        parts = self._kept.get(key)
        if parts is None:
            parts = self._render(template, context, self._marker).split(self._marker)
            page = self._render(template, context, csrf_token)
            if _fill(parts, csrf_token) != page:  # the token is not only copied into the page
                _log.warning("%s cannot be kept rendered: it transforms the token", template)
                return page
            self._kept[key] = parts
            if len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)
        return _fill(parts, csrf_token)

    def _render(self, template: str, context: dict[str, Any], csrf_token: str) -> str:
        return self.env.get_template(template).render(context, csrf_token=csrf_token)


def _fill(parts: list[str], csrf_token: str) -> str:
    return str(escape(csrf_token)).join(parts)


def _plain_key(template: str, context: dict[str, Any]) -> tuple[Any, ...] | None:
    """What the page depends on besides the token, or None when it must be rendered."""
    if context.get("user") is not None:
        return None
    items = []
    for name, value in context.items():
        if isinstance(value, Errors):
            if value:  # messages to show: rendered each time
                return None
            value = None  # no errors: one page whatever the (empty) object
        elif not isinstance(value, str | int | float | type(None)):
            return None
        items.append((name, value))
    return (template, *sorted(items))
