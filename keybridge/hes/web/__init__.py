"""HES's sign-in and two-factor web pages and JSON API, served over the HES model.

``create_app(hes)`` is an ASGI application (Starlette, Jinja2 templates) over the same SQLite
store as ``keybridge hes``; :mod:`keybridge.hes.web.server` runs it under uvicorn. Needs the
``web`` extra.
"""

from keybridge.hes.web.app import SESSION_COOKIE, create_app

__all__ = ["SESSION_COOKIE", "create_app"]
