"""The HES login page as a keyboard target."""

from __future__ import annotations

import pytest

from keybridge.errors import InvalidCodeError, InvalidStateError
from keybridge.hes import Hes
from keybridge.hes.form import LoginForm, OtpSetupForm
from keybridge.otp import totp
from keybridge.otp.secret import decode_secret

NOW = 1_800_000_000.0


@pytest.fixture
def hes() -> Hes:
    model = Hes(":memory:", clock=lambda: NOW, password_cost=2)
    model.create_user("admin@example.com", "pw")
    setup = model.begin_otp_setup("admin@example.com")
    model.confirm_otp_setup("admin@example.com", totp(decode_secret(setup.key), NOW))
    model._demo_key = setup.key  # type: ignore[attr-defined]
    return model


def test_typed_code_with_enter_logs_in(hes: Hes) -> None:
    form = LoginForm(hes)
    assert form.sign_in("admin@example.com", "pw").status == "needs_otp"
    form.type(totp(decode_secret(hes._demo_key), NOW) + "\n")  # type: ignore[attr-defined]
    assert form.result is not None and form.result.status == "ok"
    assert form.field == ""


def test_code_without_enter_waits_in_the_field(hes: Hes) -> None:
    form = LoginForm(hes)
    form.sign_in("admin@example.com", "pw")
    code = totp(decode_secret(hes._demo_key), NOW)  # type: ignore[attr-defined]
    form.type(code)
    assert form.field == code
    assert form.result is not None and form.result.status == "needs_otp"
    assert form.submit_otp().status == "ok"


def test_wrong_typed_code_is_denied(hes: Hes) -> None:
    form = LoginForm(hes)
    form.sign_in("admin@example.com", "pw")
    form.type("000000\n")
    assert form.result is not None and form.result.status == "denied"


def test_typing_before_the_password_step_is_refused(hes: Hes) -> None:
    form = LoginForm(hes)
    with pytest.raises(InvalidStateError, match="not at the one-time-password step"):
        form.type("123456\n")


def test_setup_form_typed_code_with_enter_enables_2fa() -> None:
    model = Hes(":memory:", clock=lambda: NOW, password_cost=2)
    model.create_user("new@example.com", "pw")
    form = OtpSetupForm(model, "new@example.com")
    assert len(form.setup.key) == 32
    form.type(totp(decode_secret(form.setup.key), NOW))
    assert form.recovery_codes is None and not model.is_2fa_enabled("new@example.com")
    form.type("\n")
    assert model.is_2fa_enabled("new@example.com")
    assert form.recovery_codes is not None and len(form.recovery_codes) == 10
    assert form.field == ""


def test_setup_form_wrong_code_leaves_2fa_off() -> None:
    model = Hes(":memory:", clock=lambda: NOW, password_cost=2)
    model.create_user("new@example.com", "pw")
    form = OtpSetupForm(model, "new@example.com")
    wrong = f"{(int(totp(decode_secret(form.setup.key), NOW)) + 1) % 10**6:06d}"
    with pytest.raises(InvalidCodeError):
        form.type(wrong + "\n")
    assert not model.is_2fa_enabled("new@example.com")
    assert form.recovery_codes is None


def test_setup_form_after_reset_shows_the_new_key_and_keeps_codes(hes: Hes) -> None:
    email = "admin@example.com"
    new = hes.reset_otp_app(email)
    form = OtpSetupForm(hes, email)
    assert form.setup.key == new.key != hes._demo_key  # type: ignore[attr-defined]
    form.type(totp(decode_secret(new.key), NOW) + "\n")
    assert form.recovery_codes == []
    assert hes.recovery_codes_left(email) == 10
