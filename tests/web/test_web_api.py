"""HES's JSON API under /api/Identity: shapes, error names, the session it signs in."""

from __future__ import annotations

import base64

import pytest
from web_helpers import EMAIL, PASSWORD, Web, enrol

from keybridge.hes.types import LOCKOUT_ATTEMPTS
from keybridge.otp import totp

API = "/api/Identity/"


def _login(web: Web, **body: object) -> tuple[int, object]:
    answer = web.client.post(API + "Login", json=body)
    return answer.status_code, (answer.json() if answer.content else None)


def _signed_out(web: Web) -> None:
    assert web.client.post(API + "Logout").json()["succeeded"] is True
    assert web.client.get(API + "GetTwoFactorInfo").status_code == 401


def test_login_without_2fa_signs_in(web: Web) -> None:
    assert _login(web, email=EMAIL, password=PASSWORD) == (200, None)
    info = web.client.get(API + "GetTwoFactorInfo")
    assert info.json() == {
        "is2faEnabled": False,
        "hasAuthenticator": False,
        "recoveryCodesLeft": 0,
        "isMachineRemembered": False,
    }


def test_login_error_names_as_hes(web: Web) -> None:
    key, _ = enrol(web)
    _signed_out(web)
    assert _login(web, email="nobody@example.com", password="x") == (
        401,
        {"error": "Unauthorized"},
    )
    assert _login(web, email=EMAIL, password="wrong") == (401, {"error": "Unauthorized"})
    assert _login(web, email=EMAIL, password=PASSWORD) == (401, {"error": "TwoFactorRequired"})
    assert _login(web, Email=EMAIL, Password=PASSWORD, Otp="000000") == (
        401,
        {"error": "InvalidAuthenticatorCode"},
    )
    assert web.client.get(API + "GetTwoFactorInfo").status_code == 401
    good = totp(base64.b32decode(key), web.clock.now)
    assert _login(web, email=EMAIL, password=PASSWORD, otp=good) == (200, None)
    assert web.client.get(API + "GetTwoFactorInfo").json()["is2faEnabled"] is True


def test_a_sign_in_that_cannot_be_recorded_changes_nothing(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from keybridge.hes.web import auth

    key, _ = enrol(web)
    _signed_out(web)
    assert _login(web, email=EMAIL, password="wrong")[0] == 401
    assert web.hes.user(EMAIL).failed_attempts == 1

    def broken(self: auth.SignIns, email: str) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(auth.SignIns, "add", broken)
    answering = TestClient(web.client.app, raise_server_exceptions=False)
    good = totp(base64.b32decode(key), web.clock.now)
    failed = answering.post(API + "Login", json={"email": EMAIL, "password": PASSWORD, "otp": good})
    assert failed.status_code == 500
    # The accepted code's reset of the failure count was one commit with the sign-in: undone.
    assert web.hes.user(EMAIL).failed_attempts == 1


def test_login_locks_out_after_ten_wrong_codes(web: Web) -> None:
    enrol(web)
    _signed_out(web)
    answers = [
        _login(web, email=EMAIL, password=PASSWORD, otp="000000")[1]
        for _ in range(LOCKOUT_ATTEMPTS)
    ]
    assert answers[:-1] == [{"error": "InvalidAuthenticatorCode"}] * (LOCKOUT_ATTEMPTS - 1)
    assert answers[-1] == {"error": "UserIsLockedout"}
    assert _login(web, email=EMAIL, password=PASSWORD)[1] == {"error": "UserIsLockedout"}


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"null", {"content-type": "application/json"}, 400),
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 400),
        (b"email=a", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ],
)
def test_login_refuses_bodies_it_cannot_bind(
    web: Web, content: bytes, headers: dict[str, str], status: int
) -> None:
    answer = web.client.post(API + "Login", content=content, headers=headers)
    assert answer.status_code == status
    if content == b"null":
        assert answer.json() == {"error": "CredentialsNull"}


def test_login_with_password_answers_authorization_responses(web: Web) -> None:
    refused = web.client.post(API + "LoginWithPassword", json={"email": EMAIL, "password": "x"})
    assert refused.status_code == 200
    assert refused.json() == {
        "succeeded": False,
        "requiresTwoFactor": False,
        "isLockedOut": False,
        "failed": True,
        "message": None,
        "code": "InvalidLoginAttempt",
        "user": None,
    }
    enrol(web)
    _signed_out(web)
    step = web.client.post(
        API + "LoginWithPassword", json={"email": EMAIL, "password": PASSWORD, "rememberMe": False}
    ).json()
    assert step["requiresTwoFactor"] is True and step["user"]["email"] == EMAIL
    # The admin web continues on the 2FA page with the same session.
    page = web.client.get("/login-with-2fa")
    assert "Enter your authenticator code below." in page.text


def test_enrolment_through_the_api(web: Web) -> None:
    assert web.client.get(API + "LoadSharedKeyAndQrCodeUri").status_code == 401
    _login(web, email=EMAIL, password=PASSWORD)
    shared = web.client.get(API + "LoadSharedKeyAndQrCodeUri").json()
    assert set(shared) == {"sharedKey", "authenticatorUri"}
    key = shared["sharedKey"].replace(" ", "").upper()
    assert shared["authenticatorUri"] == (
        f"otpauth://totp/HES.Web:user%40example.com?secret={key}&issuer=HES.Web&digits=6"
    )
    wrong = web.client.post(API + "VerifyTwoFactor", json={"code": "000000"}).json()
    assert wrong == {"isTwoFactorTokenValid": False, "recoveryCodes": None}
    assert web.client.get(API + "GetTwoFactorInfo").json()["hasAuthenticator"] is True
    code = totp(base64.b32decode(key), web.clock.now)
    done = web.client.post(API + "VerifyTwoFactor", json={"Code": code}).json()
    assert done["isTwoFactorTokenValid"] is True and len(done["recoveryCodes"]) == 10
    info = web.client.get(API + "GetTwoFactorInfo").json()
    assert info["is2faEnabled"] is True and info["recoveryCodesLeft"] == 10

    codes = web.client.post(API + "GenerateNewTwoFactorRecoveryCodes").json()
    assert len(codes) == 10 and not set(codes) & set(done["recoveryCodes"])

    assert web.client.post(API + "ResetAuthenticatorKey").status_code == 200
    info = web.client.get(API + "GetTwoFactorInfo").json()
    assert info["is2faEnabled"] is False and info["recoveryCodesLeft"] == 10
    new_key = web.client.get(API + "LoadSharedKeyAndQrCodeUri").json()["sharedKey"]
    assert new_key.replace(" ", "").upper() != key
    again = web.client.post(
        API + "VerifyTwoFactor",
        json={"code": totp(base64.b32decode(new_key.replace(" ", "").upper()), web.clock.now)},
    ).json()
    assert again == {"isTwoFactorTokenValid": True, "recoveryCodes": None}  # codes kept

    assert web.client.post(API + "DisableTwoFactor").status_code == 200
    info = web.client.get(API + "GetTwoFactorInfo").json()
    assert info == {
        "is2faEnabled": False,
        "hasAuthenticator": False,
        "recoveryCodesLeft": 0,
        "isMachineRemembered": False,
    }


def test_wrong_state_is_a_400_with_one_line(web: Web) -> None:
    _login(web, email=EMAIL, password=PASSWORD)
    for call in ("GenerateNewTwoFactorRecoveryCodes", "DisableTwoFactor"):
        answer = web.client.post(API + call)
        assert answer.status_code == 400
        assert "not on" in answer.json()
    missing = web.client.post(API + "VerifyTwoFactor", json={})
    assert missing.status_code == 400 and "Code" in str(missing.json()["errors"])
    assert not web.hes.is_2fa_enabled(EMAIL)


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("GET", "GetTwoFactorInfo"),
        ("GET", "LoadSharedKeyAndQrCodeUri"),
        ("POST", "ResetAuthenticatorKey"),
        ("POST", "VerifyTwoFactor"),
        ("POST", "DisableTwoFactor"),
        ("POST", "GenerateNewTwoFactorRecoveryCodes"),
    ],
)
def test_authorized_calls_need_a_session(web: Web, method: str, call: str) -> None:
    enrol(web)
    _signed_out(web)
    before = web.hes.user(EMAIL)
    assert web.client.request(method, API + call, json={"code": "1"}).status_code == 401
    assert web.hes.user(EMAIL) == before


def test_strict_profile_refuses_a_replayed_code(strict_web: Web) -> None:
    key, _ = enrol(strict_web)
    _signed_out(strict_web)
    code = totp(base64.b32decode(key), strict_web.clock.now)  # the code confirmation used
    answer = _login(strict_web, email=EMAIL, password=PASSWORD, otp=code)
    assert answer == (401, {"error": "InvalidAuthenticatorCode"})


def test_hes_profile_accepts_the_same_code_again(web: Web) -> None:
    key, _ = enrol(web)
    _signed_out(web)
    code = totp(base64.b32decode(key), web.clock.now)
    assert _login(web, email=EMAIL, password=PASSWORD, otp=code) == (200, None)
