"""The sign-in pages: HES's routes, fields, texts, redirects, lockout and the session cookie."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient
from web_helpers import (
    EMAIL,
    PASSWORD,
    Web,
    enrolled_then_signed_out,
    form_token,
    make_web,
    sign_in,
    texts,
)

from keybridge.hes.types import LOCKOUT_ATTEMPTS, LOCKOUT_SECONDS
from keybridge.hes.web import SESSION_COOKIE, create_app


def _field(page: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert found, f"no field {name}"
    return found.group(0)


def test_login_page_has_asp_net_field_names_and_ids(web: Web) -> None:
    page = web.client.get("/login")
    assert page.status_code == 200
    assert 'id="Input_Email"' in _field(page.text, "Input.Email")
    assert 'id="Input_Password"' in _field(page.text, "Input.Password")
    assert 'type="password"' in _field(page.text, "Input.Password")
    assert 'id="Input_RememberMe"' in _field(page.text, "Input.RememberMe")
    assert form_token(page.text)


@pytest.mark.parametrize(
    ("path", "phrases"),
    [
        ("/lockout", ["Locked out", "This account has been locked out, please try again later."]),
        ("/access-denied", ["Access denied", "You do not have access to this resource."]),
        ("/logout", ["You have successfully logged out of the application."]),
        ("/login-with-2fa", ["Unable to load two-factor authentication user."]),
        ("/login-with-recovery-code", ["Recovery code verification", "Unable to load"]),
    ],
)
def test_pages_show_hes_texts(web: Web, path: str, phrases: list[str]) -> None:
    page = web.client.get(path)
    assert page.status_code == 200
    for phrase in phrases:
        assert phrase in texts(page.text)


def test_password_login_without_2fa_goes_to_the_local_return_url(web: Web) -> None:
    done = web.post("/login?returnUrl=/profile", {"Input.Email": EMAIL, "Input.Password": PASSWORD})
    assert done.status_code == 302 and done.headers["location"] == "/profile"
    assert web.client.get("/profile").status_code == 200
    away = web.post(
        "/login?returnUrl=https://evil.example/",
        {"Input.Email": EMAIL, "Input.Password": PASSWORD},
        page="/login",
    )
    assert away.headers["location"] == "/"


def test_profile_needs_a_sign_in_and_sends_return_url(web: Web) -> None:
    answer = web.client.get("/profile")
    assert answer.status_code == 302
    assert answer.headers["location"] == "/login?ReturnUrl=%2Fprofile"


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        (EMAIL, "wrong", "Invalid login attempt."),
        ("nobody@example.com", PASSWORD, "Invalid login attempt."),
        ("", PASSWORD, "The Email field is required."),
        ("not-an-address", PASSWORD, "The Email field is not a valid e-mail address."),
        (EMAIL, "", "The Password field is required."),
    ],
)
def test_refused_password_login_shows_the_reason(
    web: Web, email: str, password: str, message: str
) -> None:
    page = web.post("/login", {"Input.Email": email, "Input.Password": password})
    assert page.status_code == 200
    assert message in texts(page.text)
    assert web.client.get("/profile").status_code == 302


def test_2fa_login_keeps_return_url_and_remember_me(web: Web) -> None:
    key, _ = enrolled_then_signed_out(web)
    first = web.post(
        "/login?returnUrl=/profile",
        {"Input.Email": EMAIL, "Input.Password": PASSWORD, "Input.RememberMe": "true"},
        page="/login",
    )
    assert first.status_code == 302
    target = urlsplit(first.headers["location"])
    assert target.path == "/login-with-2fa"
    assert parse_qs(target.query) == {"returnUrl": ["/profile"], "rememberMe": ["True"]}
    page = web.client.get(first.headers["location"])
    text = texts(page.text)
    assert "Your login is protected with an authenticator app." in text
    assert "Enter your authenticator code below." in text
    assert "Remember this machine" in text
    field = _field(page.text, "Input.TwoFactorCode")
    assert 'id="Input_TwoFactorCode"' in field and "autofocus" in field
    assert 'id="rememberMe"' in _field(page.text, "Input.RememberMachine")
    assert 'href="/login-with-recovery-code?returnUrl=%2Fprofile"' in page.text
    action = re.search(r'<form method="post" id="login-2fa" action="([^"]+)"', page.text)
    assert action and action.group(1) == "/login-with-2fa?returnUrl=%2Fprofile"

    wrong = web.client.post(
        action.group(1),
        data={"Input.TwoFactorCode": "000000", "__RequestVerificationToken": form_token(page.text)},
    )
    assert "Invalid authenticator code." in texts(wrong.text)
    done = web.client.post(
        action.group(1),
        data={
            "Input.TwoFactorCode": web.code(key),
            "__RequestVerificationToken": form_token(page.text),
        },
    )
    assert done.status_code == 302 and done.headers["location"] == "/profile"
    assert web.client.get("/profile").status_code == 200


def test_2fa_code_field_validation_as_hes(web: Web) -> None:
    enrolled_then_signed_out(web)
    sign_in(web)
    for code, message in [
        ("", "The Authenticator code field is required."),
        ("12345", "The Authenticator code must be at least 6 and at max 7 characters long."),
        ("12345678", "The Authenticator code must be at least 6 and at max 7 characters long."),
        ("abcdef", "Invalid authenticator code."),
    ]:
        page = web.post("/login-with-2fa", {"Input.TwoFactorCode": code})
        assert message in texts(page.text)
    assert web.hes.user(EMAIL).failed_attempts == 0  # only well-formed wrong codes count


def test_a_recovery_code_works_once(web: Web) -> None:
    _, codes = enrolled_then_signed_out(web)
    sign_in(web)
    done = web.post("/login-with-recovery-code", {"Input.RecoveryCode": codes[3]})
    assert done.status_code == 302
    assert web.client.get("/profile").status_code == 200
    assert web.hes.recovery_codes_left(EMAIL) == 9
    web.post("/logout", {})
    sign_in(web)
    again = web.post("/login-with-recovery-code", {"Input.RecoveryCode": codes[3]})
    assert again.status_code == 200
    assert "Invalid recovery code entered." in texts(again.text)
    assert web.client.get("/profile").status_code == 302
    assert web.hes.user(EMAIL).failed_attempts == 0  # HES does not count recovery failures


def test_lockout_after_exactly_ten_wrong_codes_for_fifteen_minutes(web: Web) -> None:
    key, _ = enrolled_then_signed_out(web)
    sign_in(web)
    for attempt in range(1, LOCKOUT_ATTEMPTS):
        page = web.post("/login-with-2fa", {"Input.TwoFactorCode": "000000"})
        assert page.status_code == 200, attempt
        assert web.hes.user(EMAIL).failed_attempts == attempt
    tenth = web.post("/login-with-2fa", {"Input.TwoFactorCode": "000000"})
    assert tenth.status_code == 302 and tenth.headers["location"] == "/lockout"
    right = web.post("/login-with-2fa", {"Input.TwoFactorCode": web.code(key)})
    assert right.headers["location"] == "/lockout"
    assert sign_in(web).headers["location"] == "/lockout"
    web.clock.now += LOCKOUT_SECONDS - 1
    assert sign_in(web).headers["location"] == "/lockout"
    web.clock.now += 2
    assert sign_in(web).headers["location"].startswith("/login-with-2fa")
    done = web.post("/login-with-2fa", {"Input.TwoFactorCode": web.code(key)})
    assert done.status_code == 302 and done.headers["location"] == "/"


def test_session_cookie_is_httponly_lax_and_secure_over_https() -> None:
    web = make_web()
    cookie = web.client.get("/login").headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags and "secure" not in flags
    secure = TestClient(create_app(web.hes, https=True), base_url="https://testserver")
    flags = {p.strip().lower() for p in secure.get("/login").headers["set-cookie"].split(";")}
    assert {"httponly", "samesite=lax", "secure"} <= flags


def test_login_rotates_the_session_and_logout_ends_it(web: Web) -> None:
    before = web.client.get("/login")
    old_cookie = web.client.cookies[SESSION_COOKIE]
    old_token = form_token(before.text)
    web.client.post(
        "/login",
        data={
            "Input.Email": EMAIL,
            "Input.Password": PASSWORD,
            "__RequestVerificationToken": old_token,
        },
    )
    signed_in_cookie = web.client.cookies[SESSION_COOKIE]
    assert signed_in_cookie != old_cookie
    # The token of the page before the sign-in is stale now: refused, nothing happens.
    stale = web.client.post("/logout", data={"__RequestVerificationToken": old_token})
    assert stale.status_code == 400
    assert web.client.get("/profile").status_code == 200
    # The cookie from before the sign-in does not carry it.
    other = TestClient(web.client.app, follow_redirects=False)
    other.cookies.set(SESSION_COOKIE, old_cookie)
    assert other.get("/profile").status_code == 302
    # After logging out, the signed-in cookie, replayed, is no longer signed in.
    assert web.post("/logout", {}).status_code == 302
    assert "You have successfully logged out" in texts(web.client.get("/logout").text)
    replay = TestClient(web.client.app, follow_redirects=False)
    replay.cookies.set(SESSION_COOKIE, signed_in_cookie)
    assert replay.get("/profile").status_code == 302


def test_logout_page_shows_a_logout_button_when_signed_in(web: Web) -> None:
    sign_in(web)
    page = web.client.get("/logout")
    assert 'id="logout"' in page.text and form_token(page.text)


def test_home_goes_to_login_or_profile(web: Web) -> None:
    assert web.client.get("/").headers["location"] == "/login"
    sign_in(web)
    assert web.client.get("/").headers["location"] == "/profile"


def test_no_password_or_code_reaches_any_log(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key, codes = enrolled_then_signed_out(web)
    sign_in(web)
    code = web.code(key)
    web.post("/login-with-2fa", {"Input.TwoFactorCode": "000000"})
    web.post("/login-with-2fa", {"Input.TwoFactorCode": code})
    web.post("/logout", {})
    sign_in(web)
    web.post("/login-with-recovery-code", {"Input.RecoveryCode": codes[0]})
    web.client.post("/api/Identity/Login", json={"email": EMAIL, "password": PASSWORD, "otp": "1"})
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert caplog.records  # the run did log (so the check below can fail)
    for secret in (PASSWORD, code, codes[0], key, key.lower()):
        assert secret not in logged


def test_sign_ins_are_bounded_oldest_out_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from keybridge.hes.web import auth

    monkeypatch.setattr(auth, "MAX_SIGN_INS", 3)
    monkeypatch.setattr(auth, "_TRIM_EVERY", 2)
    sign_ins = auth.SignIns()
    sids = [sign_ins.add(f"u{i}@example.com") for i in range(6)]
    # Trimmed at the 2nd, 4th and 6th sign-in (ids 2, 4, 6): the 3 newest of those made then.
    assert [sign_ins.get(sid) for sid in sids] == [None, None, None] + [
        f"u{i}@example.com" for i in (3, 4, 5)
    ]
    sids.append(sign_ins.add("u6@example.com"))  # not a trimming turn: one more is kept
    assert [sign_ins.get(sid) is not None for sid in sids] == [False] * 3 + [True] * 4


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("/profile?tab=security", "/profile?tab=security"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_only_local_return_urls_are_followed(web: Web, given: str, target: str) -> None:
    done = web.client.post(
        "/login",
        params={"returnUrl": given},
        data={
            "Input.Email": EMAIL,
            "Input.Password": PASSWORD,
            "__RequestVerificationToken": web.token(),
        },
    )
    assert done.status_code == 302 and done.headers["location"] == target


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"Input.Email": EMAIL, "Input.Password": "wrong"}),
        ("/login-with-2fa", {"Input.TwoFactorCode": "000000"}),
        ("/login-with-recovery-code", {"Input.RecoveryCode": "deadbeef"}),
        ("/logout", {}),
    ],
)
def test_sign_in_posts_without_a_token_count_nothing(
    web: Web, path: str, fields: dict[str, str]
) -> None:
    enrolled_then_signed_out(web)
    sign_in(web)  # a second factor is waiting
    for token in (None, "stale"):
        data = dict(fields) if token is None else {**fields, "__RequestVerificationToken": token}
        assert web.client.post(path, data=data).status_code == 400
    assert web.hes.user(EMAIL).failed_attempts == 0
    assert web.hes.recovery_codes_left(EMAIL) == 10
