"""The emulator's rendering: sign-in pages rendered once and refilled with each session's token,
every other page rendered each time; the password's KDF inline or in a worker thread by its
cost; the second factor and the sign-in committed together."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import DictLoader
from starlette.testclient import TestClient
from web_helpers import EMAIL, PASSWORD, Web, enrolled_then_signed_out, form_token, sign_in

from keybridge.hes.web import auth, render, templating
from keybridge.hes.web.templating import Errors, Pages

CSRF = auth.CSRF_FIELD
PLAIN = {
    "return_url": None,
    "email": "",
    "remember_me": False,
    "csrf_field": auth.CSRF_FIELD,
    "flash": None,
}


def counting(pages: Pages, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    rendered: list[str] = []
    real = pages._render

    def spy(template: str, context: dict[str, Any], csrf_token: str) -> str:
        rendered.append(template)
        return real(template, context, csrf_token)

    monkeypatch.setattr(pages, "_render", spy)
    return rendered


def test_a_sign_in_page_is_rendered_once_then_refilled(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = Pages()
    rendered = counting(pages, monkeypatch)
    first = pages.render("login.html", {**PLAIN, "errors": Errors()}, "token-one")
    assert len(rendered) == 2  # with the marker, and once for real to check the refill
    second = pages.render("login.html", {**PLAIN, "errors": Errors()}, "token-two")
    assert len(rendered) == 2  # refilled, not rendered
    assert form_token(first) == "token-one" and form_token(second) == "token-two"
    assert second == first.replace("token-one", "token-two")
    assert second == pages._render("login.html", {**PLAIN, "errors": Errors()}, "token-two")


def test_the_token_is_escaped_as_the_template_would(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = Pages()
    pages.render("login.html", {**PLAIN, "errors": Errors()}, "plain")
    odd = pages.render("login.html", {**PLAIN, "errors": Errors()}, '"><b>x')
    assert '"&gt;&lt;b&gt;x' in odd.replace("&#34;", '"')
    assert odd == pages._render("login.html", {**PLAIN, "errors": Errors()}, '"><b>x')


@pytest.mark.parametrize(
    "context",
    [
        {"user": EMAIL},  # a signed-in user's page: keys, QR codes, recovery codes
        {"codes": ["a1b2c3d4"]},  # anything but plain values
    ],
)
def test_pages_of_users_or_with_objects_are_rendered_each_time(
    monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    pages = Pages()
    rendered = counting(pages, monkeypatch)
    for token in ("one", "two"):
        pages.render("login.html", {**PLAIN, "errors": Errors(), **context}, token)
    assert len(rendered) == 2
    assert not pages._kept


def test_a_page_with_form_errors_is_rendered_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = Pages()
    rendered = counting(pages, monkeypatch)
    errors = Errors()
    errors.add("Invalid login attempt.")
    for token in ("one", "two"):
        page = pages.render("login.html", {**PLAIN, "errors": errors}, token)
        assert "Invalid login attempt." in page and form_token(page) == token
    assert len(rendered) == 2 and not pages._kept


def test_a_template_that_transforms_the_token_is_not_kept() -> None:
    pages = Pages()
    pages.env.loader = DictLoader({"odd.html": "<i>{{ csrf_token | upper }}</i>"})
    assert pages.render("odd.html", {}, "abc") == "<i>ABC</i>"
    assert pages.render("odd.html", {}, "xyz") == "<i>XYZ</i>"
    assert not pages._kept


def test_kept_pages_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "MAX_KEPT", 4)
    pages = Pages()
    for n in range(10):  # return URLs are the visitor's to choose
        context = {**PLAIN, "return_url": f"/p{n}", "errors": Errors()}
        page = pages.render("login.html", context, "t")
        assert f"%2Fp{n}" in page
    kept = [dict(key[1:])["return_url"] for key in pages._kept]
    assert kept == ["/p6", "/p7", "/p8", "/p9"]  # the newest


def test_the_login_page_served_twice_differs_only_in_its_token(web: Web) -> None:
    first = web.client.get("/login").text
    web.client.cookies.clear()
    second = web.client.get("/login").text
    assert form_token(first) != form_token(second)
    assert second == first.replace(form_token(first), form_token(second))


@pytest.mark.parametrize(("cost", "in_thread"), [(2, False), (2**6, False), (2**7, True)])
def test_the_kdf_leaves_the_event_loop_only_when_costly(
    web: Web, monkeypatch: pytest.MonkeyPatch, cost: int, in_thread: bool
) -> None:
    monkeypatch.setattr(web.hes, "_password_cost", cost)
    web.hes.create_user("costly@example.com", PASSWORD)
    threads: list[object] = []
    real = render.run_in_threadpool

    async def recorded(func: Any, *args: Any) -> Any:
        threads.append(func)
        return await real(func, *args)

    monkeypatch.setattr(render, "run_in_threadpool", recorded)
    done = sign_in(web, "costly@example.com")
    assert done.status_code == 302 and done.headers["location"] == "/"
    assert len(threads) == int(in_thread)


def test_a_sign_in_that_cannot_be_recorded_leaves_the_code_unused(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = enrolled_then_signed_out(web)
    assert sign_in(web).status_code == 302
    failures = web.hes.user(EMAIL).failed_attempts

    def broken(self: auth.SignIns, email: str) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(auth.SignIns, "add", broken)
    page = "/login-with-2fa?returnUrl=%2F&rememberMe=False"
    answering = TestClient(web.client.app, raise_server_exceptions=False, follow_redirects=False)
    answering.cookies = web.client.cookies
    failed = answering.post(
        page,
        data={"Input.TwoFactorCode": web.code(key), CSRF: web.session_token()},
    )
    assert failed.status_code == 500 and "Internal server error" in failed.text
    monkeypatch.undo()
    assert web.hes.user(EMAIL).failed_attempts == failures
    retried = web.post(page, {"Input.TwoFactorCode": web.code(key)})  # the login still waits
    assert retried.status_code == 302 and retried.headers["location"] == "/"
    assert web.client.get("/profile").status_code == 200
