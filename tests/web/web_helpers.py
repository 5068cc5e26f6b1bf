"""Helpers of the web emulator's tests: a model with a hand-driven clock, a TestClient over it,
and what a user does on the pages (sign in, enrol)."""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass

import httpx2
from starlette.testclient import TestClient

from keybridge.hes import Hes
from keybridge.hes.web import SESSION_COOKIE, create_app
from keybridge.otp import totp

EMAIL = "user@example.com"
PASSWORD = "correct horse"
START = 1_700_000_000.0

_TOKEN = re.compile(r'name="__RequestVerificationToken" type="hidden" value="([^"]+)"')
_KEY = re.compile(r'<kbd id="sharedKey">([^<]+)</kbd>')
_CODES = re.compile(r'<code class="recovery-code">([^<]+)</code>')


class Clock:
    """The model's clock: fixed until a test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Web:
    hes: Hes
    clock: Clock
    client: TestClient

    def token(self, page: str = "/login") -> str:
        """The anti-forgery token of the form on ``page``."""
        return form_token(self.client.get(page).text)

    def session_token(self) -> str:
        """This session's anti-forgery token, read from the session cookie itself (Starlette's
        cookie is base64 JSON, then itsdangerous' timestamp and signature): the token every
        form of the session carries, without fetching a page."""
        cookie = self.client.cookies.get(SESSION_COOKIE)
        if cookie is None:
            return self.token()
        payload = json.loads(base64.b64decode(cookie.split(".")[0]))
        token: str = payload["csrf"]
        return token

    def post(self, path: str, fields: dict[str, str], page: str | None = None) -> httpx2.Response:
        token = self.token(page) if page else self.session_token()
        return self.client.post(path, data={**fields, "__RequestVerificationToken": token})

    def code(self, key: str, offset: float = 0) -> str:
        return totp(base64.b32decode(key), self.clock.now + offset)


def form_token(text: str) -> str:
    found = _TOKEN.search(text)
    assert found, "the page has no anti-forgery field"
    return found.group(1)


def shown_key(text: str) -> str:
    found = _KEY.search(text)
    assert found, "the page shows no key"
    return found.group(1).replace(" ", "").upper()


def shown_codes(text: str) -> list[str]:
    return _CODES.findall(text)


def texts(page: str) -> str:
    """The page's text without tags, whitespace collapsed (for phrase checks)."""
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([.,])", r"\1", words)


def make_web(profile: str = "hes") -> Web:
    clock = Clock()
    hes = Hes(":memory:", profile, clock, password_cost=2)
    hes.create_user(EMAIL, PASSWORD)
    client = TestClient(create_app(hes), follow_redirects=False)
    return Web(hes, clock, client)


def sign_in(web: Web, email: str = EMAIL, password: str = PASSWORD) -> httpx2.Response:
    return web.post("/login", {"Input.Email": email, "Input.Password": password})


def enrol(web: Web) -> tuple[str, list[str]]:
    """Sign in, Add OTP App, verify: the key and the recovery codes shown."""
    assert sign_in(web).status_code == 302
    page = web.client.get("/profile/add-otp-app")
    key = shown_key(page.text)
    done = web.client.post(
        "/profile/add-otp-app",
        data={"Input.Code": web.code(key), "__RequestVerificationToken": form_token(page.text)},
    )
    assert done.status_code == 200, done.text
    codes = shown_codes(done.text)
    assert len(codes) == 10
    return key, codes


def enrolled_then_signed_out(web: Web) -> tuple[str, list[str]]:
    key, codes = enrol(web)
    web.post("/logout", {})
    assert web.client.get("/profile").status_code == 302
    return key, codes
