"""Who the browser is: signed session cookie, server-side sign-ins, anti-forgery tokens.

The session is Starlette's ``SessionMiddleware`` (a cookie signed with itsdangerous). It holds
only random handles: ``sid`` (a sign-in, looked up in :class:`SignIns` in the store, so every
worker process on that store knows it and logging out ends it for good even if the cookie is
replayed), ``csrf`` (the anti-forgery
token, bound to this session and compared with :func:`secrets.compare_digest`) and ``tfa`` (the
model's step token between the password and the second factor, with the address it belongs to:
the cookie is signed, so a browser cannot change it). Signing in clears the session and issues
new handles, so no token from before the sign-in works after it.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request

from keybridge.hes.store import MEMORY, Store
from keybridge.hes.types import Profile

__all__ = [
    "CSRF_FIELD",
    "SignIns",
    "check_csrf",
    "csrf_token",
    "second_factor",
    "sign_in",
    "sign_out",
    "signed_in_user",
    "start_second_factor",
]

CSRF_FIELD = "__RequestVerificationToken"
"""The anti-forgery field ASP.NET Core renders into every form."""

_TOKEN_BYTES = 32
MAX_SIGN_INS = 100_000
"""Sign-ins kept: those among the last this many made (give or take :data:`_TRIM_EVERY`); older
ones are signed out (a load test cannot grow the store)."""
_TRIM_EVERY = 256
"""The oldest sign-ins are dropped at every this many sign-ins, not at each."""


class SignIns:
    """Live sign-ins, kept in the HES store: a session handle -> the e-mail address.

    In the store, so every worker process serving that store sees a sign-in made by any of them
    and a sign-out ends it at all of them. A handle is ``NUMBER.SECRET``: the row's number (the
    selector: one look-up in the table's own B-tree, no index to keep) and 32 random bytes of
    which the table holds the SHA-256 alone, compared in constant time (the verifier), as the
    model keeps its login step tokens. ``store`` defaults to a private in-memory one (one
    process). Past :data:`MAX_SIGN_INS` the oldest sign-ins are signed out.
    """

    def __init__(self, store: Store | None = None) -> None:
        self._store = Store(MEMORY, Profile.HES) if store is None else store

    def add(self, email: str) -> str:
        secret = secrets.token_hex(_TOKEN_BYTES)
        with self._store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO sign_ins (secret_hash, email, created) VALUES (?, ?, ?)",
                (_hash(secret), email, time.time()),
            )
            # Numbers grow with each sign-in: a range on the key drops the oldest without a count.
            number = cursor.lastrowid or 0
            if number % _TRIM_EVERY == 0:
                conn.execute("DELETE FROM sign_ins WHERE id <= ?", (number - MAX_SIGN_INS,))
        return f"{number}.{secret}"

    def get(self, sid: object) -> str | None:
        row = self._find(sid)
        return None if row is None else str(row["email"])

    def discard(self, sid: object) -> None:
        row = self._find(sid)
        if row is not None:
            with self._store.transaction() as conn:
                conn.execute("DELETE FROM sign_ins WHERE id = ?", (row["id"],))

    def _find(self, sid: object) -> sqlite3.Row | None:
        if not isinstance(sid, str):
            return None
        number, dot, secret = sid.partition(".")
        if not dot or not number.isascii() or not number.isdigit() or len(number) > 19:
            return None
        row = self._store.read(
            "SELECT id, secret_hash, email FROM sign_ins WHERE id = ?", (int(number),)
        )
        if row is None or not secrets.compare_digest(str(row["secret_hash"]), _hash(secret)):
            return None
        return row


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def _sign_ins(request: Request) -> SignIns:
    sign_ins: SignIns = request.app.state.sign_ins
    return sign_ins


def csrf_token(request: Request) -> str:
    """This session's anti-forgery token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """400 unless the form carries this session's anti-forgery token (fails closed)."""
    expected = request.session.get("csrf")
    given = form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not secrets.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8")
    ):
        raise HTTPException(
            400,
            "The anti-forgery token is missing or does not belong to this session: "
            "reload the page and submit the form again.",
        )


def signed_in_user(request: Request) -> str | None:
    """The e-mail address of the signed-in user, or None."""
    return _sign_ins(request).get(request.session.get("sid"))


def _rotate(request: Request) -> None:
    _sign_ins(request).discard(request.session.get("sid"))
    request.session.clear()
    request.session["csrf"] = secrets.token_urlsafe(_TOKEN_BYTES)


def sign_in(request: Request, email: str) -> None:
    """A fresh session for ``email``: every earlier handle and token is dropped."""
    _rotate(request)
    request.session["sid"] = _sign_ins(request).add(email)


def sign_out(request: Request) -> None:
    _rotate(request)


def start_second_factor(request: Request, token: str, email: str) -> None:
    """Remember the model's step token (and whose it is) until the second factor is given.

    The browser is still anonymous, so its anti-forgery token stays (as ASP.NET's, which is
    bound to the signed-in identity): the code can be posted with the login page's token.
    """
    csrf = csrf_token(request)
    _sign_ins(request).discard(request.session.get("sid"))
    request.session.clear()
    request.session["csrf"] = csrf
    request.session["tfa"] = [token, email]


def second_factor(request: Request) -> tuple[str, str] | None:
    """The waiting login's step token and e-mail address, or None."""
    value = request.session.get("tfa")
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    return None
