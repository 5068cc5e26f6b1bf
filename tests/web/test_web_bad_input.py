"""Bad input on every route: malformed, oversized and forged posts get HES's status code and a
one-line reason, change nothing, and never answer 500 or show a traceback."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from web_helpers import EMAIL, Web, enrol, form_token, make_web, sign_in

from keybridge.hes.web.forms import MAX_BODY_BYTES
from keybridge.hes.web.routes import ROUTES

FORM = "application/x-www-form-urlencoded"
ENDPOINTS = [
    (route.path, method)
    for route in ROUTES
    if isinstance(route, Route)
    for method in sorted(route.methods or ())
    if method != "HEAD"
]
GARBAGE: list[tuple[bytes, dict[str, str]]] = [
    (b"\xff\xfe\x00garbage=%zz&&==&Input.Email=%ff", {"content-type": FORM}),
    (b"Input.Code=" + b"9" * 5000, {"content-type": FORM}),
    (b"&".join(b"f%d=1" % i for i in range(100)), {"content-type": FORM}),
    (
        b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n",
        {"content-type": "multipart/form-data"},
    ),
    (
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nx\r\n--b--\r\n',
        {"content-type": "multipart/form-data; boundary=b"},
    ),
    (b"[" * 5000, {"content-type": "application/json"}),
    (
        b'{"email": ["a"], "password": {"x": 1}, "otp": 7, "code": null}',
        {"content-type": "application/json"},
    ),
    (b"plain words", {"content-type": "text/plain"}),
    (b"", {}),
]


def _assert_clean(answer: object, what: str) -> None:
    status = answer.status_code  # type: ignore[attr-defined]
    text = answer.text  # type: ignore[attr-defined]
    assert status < 500, f"{what}: {status}"
    assert "Traceback" not in text and 'File "' not in text, what


def _state(web: Web) -> object:
    return web.hes.user(EMAIL), web.hes.recovery_codes_left(EMAIL)


@pytest.mark.parametrize("signed_in", [False, True])
def test_garbage_to_every_route_never_crashes_or_changes_state(signed_in: bool) -> None:
    web = make_web()
    enrol(web)
    if not signed_in:
        web.post("/logout", {})
        sign_in(web)  # half-way: waiting for the second factor
    before = _state(web)
    for path, method in ENDPOINTS:
        for body, headers in GARBAGE if method == "POST" else GARBAGE[:1]:
            answer = web.client.request(method, path, content=body, headers=headers)
            _assert_clean(answer, f"{method} {path} {body[:20]!r}")
            if method == "POST" and not path.startswith("/api/"):
                # Signed out, the profile's pages send to /login before reading anything.
                expected = 302 if path.startswith("/profile") and not signed_in else 400
                assert answer.status_code == expected, f"{method} {path} {body[:20]!r}"
    if not signed_in:
        assert _state(web) == before


def test_oversized_bodies_are_413_and_store_nothing(web: Web) -> None:
    sign_in(web)
    token = form_token(web.client.get("/profile/add-otp-app").text)
    body = f"__RequestVerificationToken={token}&Input.Code=".encode() + b"1" * MAX_BODY_BYTES
    for headers in ({"content-type": FORM}, {"content-type": FORM, "transfer-encoding": "chunked"}):
        answer = web.client.post("/profile/add-otp-app", content=body, headers=headers)
        assert answer.status_code == 413
        assert "larger than" in answer.text
    api = web.client.post(
        "/api/Identity/Login",
        content=b" " * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert api.status_code == 413
    assert not web.hes.user(EMAIL).has_authenticator or not web.hes.is_2fa_enabled(EMAIL)


def test_a_streamed_body_over_the_limit_is_413(web: Web) -> None:
    def chunks() -> object:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"x" * 1024

    answer = web.client.post("/login", content=chunks(), headers={"content-type": FORM})  # type: ignore[arg-type]
    assert answer.status_code == 413


def test_unknown_paths_and_methods_answer_404_and_405(web: Web) -> None:
    assert web.client.get("/no-such-page").status_code == 404
    assert web.client.delete("/login").status_code == 405
    assert web.client.get("/api/Identity/Login").status_code == 405


_text = st.text(st.characters(codec="utf-8"), max_size=80)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        ["/login", "/login-with-2fa", "/login-with-recovery-code", "/profile/add-otp-app"]
    ),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "Input.Email",
                "Input.Password",
                "Input.TwoFactorCode",
                "Input.RecoveryCode",
                "Input.Code",
                "RememberMe",
            ]
        ),
        _text,
    ),
)
def test_any_field_values_with_a_valid_token_are_answered_cleanly(
    web: Web, path: str, fields: dict[str, str]
) -> None:
    if web.client.get("/profile").status_code != 200:
        sign_in(web)  # the profile's pages need it; the others do not mind
    token = form_token(web.client.get("/login").text)
    answer = web.client.post(path, data={**fields, "__RequestVerificationToken": token})
    _assert_clean(answer, f"{path} {fields!r}")
    assert answer.status_code in (200, 302, 400)
