"""The profile's One-Time Password section: Add OTP App, Reset OTP app, Disable 2FA, Generate
recovery codes; each change behind a confirmation and an anti-forgery token."""

from __future__ import annotations

import re

import pytest
from web_helpers import (
    EMAIL,
    Web,
    enrol,
    form_token,
    shown_codes,
    shown_key,
    sign_in,
    texts,
)

from keybridge.hes.enrolment import authenticator_uri
from keybridge.otp.qr import svg_qr


def test_add_otp_app_shows_the_key_qr_and_verification_field(web: Web) -> None:
    sign_in(web)
    page = web.client.get("/profile/add-otp-app")
    assert page.status_code == 200
    shown = re.search(r'<kbd id="sharedKey">([^<]+)</kbd>', page.text)
    assert shown and re.fullmatch(r"([a-z2-7]{4} ){7}[a-z2-7]{4}", shown.group(1))
    assert "Spaces and casing do not matter." in texts(page.text)
    key = shown_key(page.text)
    assert f'data-url="{authenticator_uri(EMAIL, key).replace("&", "&amp;")}"' in page.text
    qr = re.search(r'<div id="qrCode">(.*?)</div>', page.text, re.S)
    assert qr and qr.group(1).startswith("<svg")
    assert qr.group(1) == svg_qr(authenticator_uri(EMAIL, key))  # the QR of HES's URI
    assert 'name="Input.Code"' in page.text and 'id="Input_Code"' in page.text
    # The unconfirmed key is shown again, as HES does, until it is confirmed.
    assert shown_key(web.client.get("/profile/add-otp-app").text) == key
    assert not web.hes.is_2fa_enabled(EMAIL)


def test_verification_issues_ten_codes_and_enables_2fa(web: Web) -> None:
    sign_in(web)
    page = web.client.get("/profile/add-otp-app")
    token, key = form_token(page.text), shown_key(page.text)
    wrong = web.client.post(
        "/profile/add-otp-app", data={"Input.Code": "000000", "__RequestVerificationToken": token}
    )
    assert wrong.status_code == 200
    assert "Verification code is invalid." in texts(wrong.text)
    assert shown_key(wrong.text) == key and not web.hes.is_2fa_enabled(EMAIL)
    done = web.client.post(
        "/profile/add-otp-app",
        data={"Input.Code": web.code(key), "__RequestVerificationToken": token},
    )
    codes = shown_codes(done.text)
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes)
    assert "Put these codes in a safe place." in texts(done.text)
    assert web.hes.user(EMAIL).two_factor_enabled
    assert web.hes.recovery_codes_left(EMAIL) == 10
    profile = texts(web.client.get("/profile").text)
    assert "Two-factor authentication is enabled." in profile
    assert "You have 10 recovery codes left." in profile


def _confirm(web: Web, action: str) -> str:
    """Open the confirmation page, check it changed nothing yet, then confirm."""
    page = web.client.get(f"/profile/{action}")
    assert page.status_code == 200 and 'id="confirm"' in page.text
    return form_token(page.text)


def test_disable_asks_first_then_re_enabling_issues_new_codes(web: Web) -> None:
    _, first_codes = enrol(web)
    token = _confirm(web, "disable-2fa")
    assert "This action only disables 2FA." in texts(web.client.get("/profile/disable-2fa").text)
    assert web.hes.is_2fa_enabled(EMAIL)  # the GET asked, nothing changed
    done = web.client.post("/profile/disable-2fa", data={"__RequestVerificationToken": token})
    assert done.status_code == 302 and done.headers["location"] == "/profile"
    assert "2fa has been disabled." in texts(web.client.get("/profile").text)
    assert not web.hes.is_2fa_enabled(EMAIL) and web.hes.recovery_codes_left(EMAIL) == 0
    page = web.client.get("/profile/add-otp-app")
    again = web.client.post(
        "/profile/add-otp-app",
        data={
            "Input.Code": web.code(shown_key(page.text)),
            "__RequestVerificationToken": form_token(page.text),
        },
    )
    new_codes = shown_codes(again.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(first_codes)


def test_reset_keeps_codes_and_disables_2fa_until_confirmed(web: Web) -> None:
    old_key, codes = enrol(web)
    token = _confirm(web, "reset-otp-app")
    assert "until you verify your authenticator app" in texts(
        web.client.get("/profile/reset-otp-app").text
    )
    page = web.client.post("/profile/reset-otp-app", data={"__RequestVerificationToken": token})
    assert page.status_code == 200
    new_key = shown_key(page.text)
    assert new_key != old_key
    assert "Your authenticator app key has been reset" in texts(page.text)
    info = web.hes.user(EMAIL)
    assert not info.two_factor_enabled and info.recovery_codes_left == 10
    done = web.client.post(
        "/profile/add-otp-app",
        data={"Input.Code": web.code(new_key), "__RequestVerificationToken": form_token(page.text)},
    )
    assert "Your authenticator app has been verified." in texts(done.text)
    assert shown_codes(done.text) == []  # the codes were kept, none issued now
    assert web.hes.is_2fa_enabled(EMAIL) and web.hes.recovery_codes_left(EMAIL) == len(codes)


def test_generate_recovery_codes_replaces_them(web: Web) -> None:
    _, old = enrol(web)
    token = _confirm(web, "generate-recovery-codes")
    done = web.client.post(
        "/profile/generate-recovery-codes", data={"__RequestVerificationToken": token}
    )
    new = shown_codes(done.text)
    assert len(new) == 10 and not set(new) & set(old)
    assert "Put these codes in a safe place." in texts(done.text)
    assert web.hes.recovery_codes_left(EMAIL) == 10


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/profile/disable-2fa", "Two-factor authentication is not enabled."),
        ("/profile/generate-recovery-codes", "Cannot generate recovery codes"),
    ],
)
def test_actions_that_need_2fa_say_so_without_it(web: Web, path: str, message: str) -> None:
    sign_in(web)
    page = web.client.get(path)
    assert page.status_code == 400 and message in texts(page.text)
    assert 'id="confirm"' not in page.text


def test_confirming_with_no_setup_under_way_is_refused(web: Web) -> None:
    enrol(web)
    before = web.hes.user(EMAIL)
    page = web.post("/profile/add-otp-app", {"Input.Code": "123456"}, page="/logout")
    assert page.status_code == 400
    assert "already on" in texts(page.text)
    assert web.hes.user(EMAIL) == before


@pytest.mark.parametrize(
    "path",
    [
        "/profile/add-otp-app",
        "/profile/reset-otp-app",
        "/profile/disable-2fa",
        "/profile/generate-recovery-codes",
    ],
)
@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_post_without_a_valid_token_changes_nothing(
    web: Web, path: str, token: str | None
) -> None:
    key, _ = enrol(web)
    before = web.hes.user(EMAIL)
    data = {"Input.Code": web.code(key)}
    if token is not None:
        data["__RequestVerificationToken"] = token
    answer = web.client.post(path, data=data)
    assert answer.status_code == 400
    assert "anti-forgery token" in texts(answer.text)
    assert web.hes.user(EMAIL) == before
    assert web.hes.recovery_codes_left(EMAIL) == 10


def test_a_token_from_another_session_is_refused(web: Web) -> None:
    enrol(web)
    other = make_other_session_token(web)
    answer = web.client.post("/profile/disable-2fa", data={"__RequestVerificationToken": other})
    assert answer.status_code == 400 and web.hes.is_2fa_enabled(EMAIL)


def make_other_session_token(web: Web) -> str:
    from starlette.testclient import TestClient

    stranger = TestClient(web.client.app)
    return form_token(stranger.get("/login").text)
