"""Enrolment and recovery codes of the HES model, one test per behaviour of the vendor guide."""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybridge.errors import (
    InvalidCodeError,
    InvalidInputError,
    InvalidStateError,
    KeybridgeError,
    MalformedCodeError,
    UnknownUserError,
)
from keybridge.hes import Hes, LoginStatus
from keybridge.otp.codes import hotp, time_step, totp

EMAIL = "admin@example.com"
PASSWORD = "s3cret pass"
START = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["hes", "strict"])
def hes(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Hes]:
    with Hes(":memory:", profile=request.param, clock=clock, password_cost=16) as model:
        model.create_user(EMAIL, PASSWORD)
        yield model


@pytest.fixture
def faithful(clock: Clock) -> Iterator[Hes]:
    with Hes(":memory:", clock=clock, password_cost=16) as model:
        model.create_user(EMAIL, PASSWORD)
        yield model


def key_of(setup_key: str) -> bytes:
    return base64.b32decode(setup_key)


def enable(hes: Hes, clock: Clock) -> tuple[bytes, list[str]]:
    key = key_of(hes.begin_otp_setup(EMAIL).key)
    codes = hes.confirm_otp_setup(EMAIL, totp(key, clock.now))
    clock.now += 30  # the strict profile refuses the confirming step afterwards
    return key, codes


def recover(hes: Hes, code: str) -> LoginStatus:
    step = hes.login(EMAIL, PASSWORD)
    assert step.status == LoginStatus.NEEDS_OTP and step.token
    return hes.login_recovery(step.token, code).status


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


# -- Step 2/3: Add OTP App --------------------------------------------------------------------


def test_add_otp_app_shows_a_32_char_key_grouped_lowercase_and_the_hes_uri(hes: Hes) -> None:
    setup = hes.begin_otp_setup(EMAIL)
    assert re.fullmatch(r"[A-Z2-7]{32}", setup.key)
    assert setup.display_key == " ".join(setup.key.lower()[i : i + 4] for i in range(0, 32, 4))
    assert setup.uri == (
        f"otpauth://totp/HES.Web:admin%40example.com?secret={setup.key}&issuer=HES.Web&digits=6"
    )


def test_an_unconfirmed_key_is_shown_again(hes: Hes) -> None:
    assert hes.begin_otp_setup(EMAIL) == hes.begin_otp_setup(EMAIL)


def test_each_user_gets_a_different_key(hes: Hes) -> None:
    hes.create_user("other@example.com", PASSWORD)
    assert hes.begin_otp_setup(EMAIL).key != hes.begin_otp_setup("other@example.com").key


def test_the_32_char_secret_key_is_what_a_hideez_key_needs(hes: Hes, clock: Clock) -> None:
    # Guide: enter the 32-character Secret Key of Step 3 in the key's account; its codes work.
    setup = hes.begin_otp_setup(EMAIL)
    typed = setup.display_key.upper().replace(" ", "")
    assert typed == setup.key
    hes.confirm_otp_setup(EMAIL, totp(key_of(typed), clock.now))
    assert hes.is_2fa_enabled(EMAIL)


@pytest.mark.parametrize("shape", ["{}", "{0}{1}{2} {3}{4}{5}", "{0}{1}{2}-{3}{4}{5}"])
def test_confirm_takes_the_current_code_with_spaces_and_dashes(
    hes: Hes, clock: Clock, shape: str
) -> None:
    key = key_of(hes.begin_otp_setup(EMAIL).key)
    code = totp(key, clock.now)
    hes.confirm_otp_setup(EMAIL, shape.format(*code) if shape != "{}" else code)
    assert hes.is_2fa_enabled(EMAIL)


def test_wrong_confirm_code_changes_nothing(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "hes.sqlite3"
    with Hes(path, clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        key = key_of(hes.begin_otp_setup(EMAIL).key)
        before = dump(path)
        wrong = hotp(key, time_step(clock.now) + 10)
        with pytest.raises(InvalidCodeError, match="invalid"):
            hes.confirm_otp_setup(EMAIL, wrong)
        assert dump(path) == before
        assert not hes.is_2fa_enabled(EMAIL)
        assert hes.recovery_codes_left(EMAIL) == 0


# -- Step 4: recovery codes -------------------------------------------------------------------


def test_enabling_issues_10_distinct_recovery_codes_of_8_lowercase_hex(
    hes: Hes, clock: Clock
) -> None:
    _, codes = enable(hes, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes)
    assert hes.recovery_codes_left(EMAIL) == 10


def test_two_factor_is_now_configured(hes: Hes, clock: Clock) -> None:
    enable(hes, clock)
    assert hes.is_2fa_enabled(EMAIL)
    assert hes.login(EMAIL, PASSWORD).status == LoginStatus.NEEDS_OTP


# -- Logging in with a recovery code ----------------------------------------------------------


def test_login_with_a_recovery_code(hes: Hes, clock: Clock) -> None:
    _, codes = enable(hes, clock)
    assert recover(hes, codes[3]) == LoginStatus.OK
    assert hes.recovery_codes_left(EMAIL) == 9


def test_a_recovery_code_works_once(hes: Hes, clock: Clock) -> None:
    _, codes = enable(hes, clock)
    assert recover(hes, codes[0]) == LoginStatus.OK
    assert recover(hes, codes[0]) == LoginStatus.DENIED


def test_recovery_code_spaces_are_stripped(hes: Hes, clock: Clock) -> None:
    _, codes = enable(hes, clock)
    assert recover(hes, f" {codes[0][:4]} {codes[0][4:]} ") == LoginStatus.OK


def test_recovery_codes_match_exactly_as_hes(hes: Hes, clock: Clock) -> None:
    _, codes = enable(hes, clock)
    code = next((c for c in codes if re.search("[a-f]", c)), None)
    assert code is not None
    assert recover(hes, code.upper()) == LoginStatus.DENIED
    assert recover(hes, code[:7]) == LoginStatus.DENIED
    assert recover(hes, code + "0") == LoginStatus.DENIED
    assert recover(hes, code) == LoginStatus.OK


def test_every_recovery_code_works_then_none_are_left(hes: Hes, clock: Clock) -> None:
    _, codes = enable(hes, clock)
    assert [recover(hes, c) for c in codes] == [LoginStatus.OK] * 10
    assert hes.recovery_codes_left(EMAIL) == 0


# -- Disabling 2FA and resetting codes ----------------------------------------------------------


def test_disable_2fa(hes: Hes, clock: Clock) -> None:
    enable(hes, clock)
    hes.disable_2fa(EMAIL)
    assert not hes.is_2fa_enabled(EMAIL)
    assert hes.login(EMAIL, PASSWORD).status == LoginStatus.OK


def test_2fa_can_be_enabled_again_after_disabling(hes: Hes, clock: Clock) -> None:
    enable(hes, clock)
    hes.disable_2fa(EMAIL)
    enable(hes, clock)
    assert hes.is_2fa_enabled(EMAIL)


def test_disable_then_reenable_resets_recovery_codes(hes: Hes, clock: Clock) -> None:
    _, old = enable(hes, clock)
    hes.disable_2fa(EMAIL)
    assert hes.recovery_codes_left(EMAIL) == 0
    _, new = enable(hes, clock)
    assert len(new) == 10 and not set(new) & set(old)
    assert recover(hes, old[0]) == LoginStatus.DENIED
    assert recover(hes, new[0]) == LoginStatus.OK


def test_disable_drops_the_key(hes: Hes, clock: Clock) -> None:
    key, _ = enable(hes, clock)
    hes.disable_2fa(EMAIL)
    assert key_of(hes.begin_otp_setup(EMAIL).key) != key
    assert not hes.user(EMAIL).two_factor_enabled


def test_reset_otp_app_keeps_recovery_codes(hes: Hes, clock: Clock) -> None:
    _, codes = enable(hes, clock)
    setup = hes.reset_otp_app(EMAIL)
    assert hes.recovery_codes_left(EMAIL) == 10
    assert hes.confirm_otp_setup(EMAIL, totp(key_of(setup.key), clock.now)) == []
    clock.now += 30
    assert hes.recovery_codes_left(EMAIL) == 10
    assert recover(hes, codes[0]) == LoginStatus.OK


def test_reset_otp_app_gives_a_new_key_and_needs_confirming(hes: Hes, clock: Clock) -> None:
    old, _ = enable(hes, clock)
    setup = hes.reset_otp_app(EMAIL)
    assert key_of(setup.key) != old
    assert not hes.is_2fa_enabled(EMAIL)
    assert hes.begin_otp_setup(EMAIL) == setup
    with pytest.raises(InvalidCodeError):
        hes.confirm_otp_setup(EMAIL, totp(old, clock.now))
    hes.confirm_otp_setup(EMAIL, totp(key_of(setup.key), clock.now))
    clock.now += 30
    step = hes.login(EMAIL, PASSWORD)
    assert step.token
    assert hes.login_otp(step.token, totp(old, clock.now)).status == LoginStatus.DENIED
    new_code = totp(key_of(setup.key), clock.now)
    assert hes.login_otp(step.token, new_code).status == LoginStatus.OK


def test_new_recovery_codes_replace_all_ten(hes: Hes, clock: Clock) -> None:
    _, old = enable(hes, clock)
    recover(hes, old[0])
    new = hes.new_recovery_codes(EMAIL)
    assert len(new) == 10 and len(set(new)) == 10 and not set(new) & set(old)
    assert hes.recovery_codes_left(EMAIL) == 10
    assert recover(hes, old[1]) == LoginStatus.DENIED
    assert recover(hes, new[1]) == LoginStatus.OK


def test_strict_store_keeps_recovery_codes_only_as_keyed_hashes(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "strict.sqlite3"
    with Hes(path, profile="strict", clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        _, codes = enable(hes, clock)
    text = "\n".join(dump(path))
    assert not any(code in text for code in codes)
    assert PASSWORD not in text
    with Hes(path, profile="strict", clock=clock, password_cost=16) as hes:
        assert recover(hes, codes[0]) == LoginStatus.OK


def test_faithful_store_keeps_recovery_codes_as_hes_does(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "hes.sqlite3"
    with Hes(path, clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        _, codes = enable(hes, clock)
    text = "\n".join(dump(path))
    assert all(code in text for code in codes)
    assert PASSWORD not in text


# -- Bad input and wrong state: a specific error, nothing changed ------------------------------


@pytest.fixture
def on_file(tmp_path: Path, clock: Clock) -> Iterator[tuple[Hes, Path]]:
    path = tmp_path / "hes.sqlite3"
    with Hes(path, clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        hes.create_user("off@example.com", PASSWORD)
        enable(hes, clock)
        yield hes, path


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda h: h.create_user(EMAIL, "x"), InvalidStateError, "already exists"),
        (lambda h: h.create_user(EMAIL.upper(), "x"), InvalidStateError, "already exists"),
        (lambda h: h.create_user("", "x"), InvalidInputError, "not an e-mail"),
        (lambda h: h.create_user("no-at-sign", "x"), InvalidInputError, "not an e-mail"),
        (lambda h: h.create_user("a b@x.org", "x"), InvalidInputError, "not an e-mail"),
        (lambda h: h.create_user("new@example.com", ""), InvalidInputError, "password is empty"),
        (lambda h: h.begin_otp_setup("nobody@example.com"), UnknownUserError, "no account"),
        (lambda h: h.begin_otp_setup(EMAIL), InvalidStateError, "already on"),
        (lambda h: h.confirm_otp_setup("off@example.com", "123456"), InvalidStateError, "Add"),
        (lambda h: h.confirm_otp_setup(EMAIL, "123456"), InvalidStateError, "already on"),
        (lambda h: h.confirm_otp_setup(EMAIL, "12345"), MalformedCodeError, "6 digits"),
        (lambda h: h.disable_2fa("off@example.com"), InvalidStateError, "not on"),
        (lambda h: h.new_recovery_codes("off@example.com"), InvalidStateError, "not on"),
        (lambda h: h.recovery_codes_left("nobody@x.org"), UnknownUserError, "no account"),
        (lambda h: h.reset_otp_app("nobody@x.org"), UnknownUserError, "no account"),
        (lambda h: h.login(EMAIL, ""), InvalidInputError, "empty"),
        (lambda h: h.login_otp("no-such-token", "123456"), InvalidStateError, "password again"),
        (lambda h: h.login_recovery("no-such-token", "1a2b3c4d"), InvalidStateError, "again"),
    ],
)
def test_bad_input_raises_a_specific_error_and_changes_nothing(
    on_file: tuple[Hes, Path], call: object, error: type[KeybridgeError], message: str
) -> None:
    hes, path = on_file
    before = dump(path)
    with pytest.raises(error, match=message):
        call(hes)  # type: ignore[operator]
    assert dump(path) == before


def test_malformed_second_factor_changes_nothing(on_file: tuple[Hes, Path]) -> None:
    hes, path = on_file
    step = hes.login(EMAIL, PASSWORD)
    assert step.token
    before = dump(path)
    with pytest.raises(MalformedCodeError):
        hes.login_otp(step.token, "１２３４５６")
    with pytest.raises(MalformedCodeError):
        hes.login_recovery(step.token, "   ")
    assert dump(path) == before


def test_recovery_login_with_2fa_off_is_a_state_error(on_file: tuple[Hes, Path]) -> None:
    hes, path = on_file
    step = hes.login(EMAIL, PASSWORD)
    assert step.token
    hes.disable_2fa(EMAIL)
    before = dump(path)
    with pytest.raises(InvalidStateError, match="not on"):
        hes.login_recovery(step.token, "1a2b3c4d")
    with pytest.raises(InvalidStateError, match="not on"):
        hes.login_otp(step.token, "123456")
    assert dump(path) == before
