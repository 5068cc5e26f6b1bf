"""Login of the HES model: password, second factor, lockout, replays, profiles."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keybridge.errors import InvalidInputError, InvalidStateError
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


def make(profile: str, clock: Clock, **kw: int) -> tuple[Hes, bytes, list[str]]:
    hes = Hes(":memory:", profile=profile, clock=clock, password_cost=16, **kw)
    hes.create_user(EMAIL, PASSWORD)
    key = base64.b32decode(hes.begin_otp_setup(EMAIL).key)
    codes = hes.confirm_otp_setup(EMAIL, totp(key, clock.now))
    clock.now += 30
    return hes, key, codes


@pytest.fixture(params=["hes", "strict"])
def setup(request: pytest.FixtureRequest, clock: Clock) -> Iterator[tuple[Hes, bytes, list[str]]]:
    hes, key, codes = make(request.param, clock)
    yield hes, key, codes
    hes.close()


@pytest.fixture
def faithful(clock: Clock) -> Iterator[tuple[Hes, bytes, list[str]]]:
    hes, key, codes = make("hes", clock)
    yield hes, key, codes
    hes.close()


@pytest.fixture
def strict(clock: Clock) -> Iterator[tuple[Hes, bytes, list[str]]]:
    hes, key, codes = make("strict", clock)
    yield hes, key, codes
    hes.close()


def token(hes: Hes) -> str:
    step = hes.login(EMAIL, PASSWORD)
    assert step.status == LoginStatus.NEEDS_OTP and step.token
    return step.token


def wrong_code(key: bytes, clock: Clock) -> str:
    # A code from far outside any window that differs from every code inside it.
    now = time_step(clock.now)
    inside = {hotp(key, now + d) for d in range(-3, 4)}
    return next(c for s in range(now + 100, now + 200) if (c := hotp(key, s)) not in inside)


def test_password_only_when_2fa_is_off(clock: Clock) -> None:
    with Hes(":memory:", clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        step = hes.login(EMAIL, PASSWORD)
        assert step.status == "ok" and step.token is None and step.ok


def test_emails_are_looked_up_case_insensitively(setup: tuple[Hes, bytes, list[str]]) -> None:
    hes, _, _ = setup
    assert hes.login(EMAIL.upper(), PASSWORD).status == LoginStatus.NEEDS_OTP


def test_unknown_user_and_wrong_password_look_the_same(
    setup: tuple[Hes, bytes, list[str]],
) -> None:
    hes, _, _ = setup
    unknown = hes.login("nobody@example.com", PASSWORD)
    wrong = hes.login(EMAIL, "wrong")
    assert unknown == wrong
    assert unknown.status == "denied" and unknown.token is None


def test_password_then_totp(setup: tuple[Hes, bytes, list[str]], clock: Clock) -> None:
    hes, key, _ = setup
    result = hes.login_otp(token(hes), totp(key, clock.now))
    assert result.status == "ok"
    assert result.accepted_step == time_step(clock.now)


@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 2])
def test_faithful_login_accepts_t_minus_2_to_t_plus_2(
    faithful: tuple[Hes, bytes, list[str]], clock: Clock, offset: int
) -> None:
    hes, key, _ = faithful
    code = hotp(key, time_step(clock.now) + offset)
    assert hes.login_otp(token(hes), code).status == LoginStatus.OK


@pytest.mark.parametrize("offset", [-3, 3])
def test_faithful_login_rejects_t_plus_minus_3(
    faithful: tuple[Hes, bytes, list[str]], clock: Clock, offset: int
) -> None:
    hes, key, _ = faithful
    now = time_step(clock.now)
    code = hotp(key, now + offset)
    if code in {hotp(key, now + d) for d in range(-2, 3)}:
        pytest.skip("this key's code at T+-3 also occurs inside the window")
    assert hes.login_otp(token(hes), code).status == LoginStatus.DENIED


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.integers(min_value=10**6, max_value=2**33), offset=st.integers(-2, 2))
def test_faithful_model_accepts_the_whole_window_at_random_instants(at: int, offset: int) -> None:
    clock = Clock(at)
    hes, key, _ = make("hes", clock)
    with hes:
        code = hotp(key, time_step(clock.now) + offset)
        assert hes.login_otp(token(hes), code).status == LoginStatus.OK


def test_faithful_accepts_replays(faithful: tuple[Hes, bytes, list[str]], clock: Clock) -> None:
    hes, key, _ = faithful
    code = totp(key, clock.now)
    assert hes.login_otp(token(hes), code).status == LoginStatus.OK
    assert hes.login_otp(token(hes), code).status == LoginStatus.OK


def test_strict_rejects_replays_and_older_steps(
    strict: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = strict
    now = time_step(clock.now)
    assert hes.login_otp(token(hes), hotp(key, now)).status == LoginStatus.OK
    assert hes.login_otp(token(hes), hotp(key, now)).status == LoginStatus.DENIED
    assert hes.login_otp(token(hes), hotp(key, now - 1)).status == LoginStatus.DENIED
    assert hes.login_otp(token(hes), hotp(key, now + 1)).status == LoginStatus.OK


def test_strict_refuses_the_code_that_confirmed_setup(clock: Clock) -> None:
    with Hes(":memory:", profile="strict", clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        key = base64.b32decode(hes.begin_otp_setup(EMAIL).key)
        code = totp(key, clock.now)
        hes.confirm_otp_setup(EMAIL, code)
        assert hes.login_otp(token(hes), code).status == LoginStatus.DENIED


def test_strict_window_defaults_to_one_and_is_configurable(clock: Clock) -> None:
    hes, key, _ = make("strict", clock)
    now = time_step(clock.now)
    assert hes.window == 1
    assert hes.login_otp(token(hes), hotp(key, now + 2)).status == LoginStatus.DENIED
    hes.close()
    wide, key, _ = make("strict", clock, window=2)
    now = time_step(clock.now)
    assert wide.login_otp(token(wide), hotp(key, now + 2)).status == LoginStatus.OK
    wide.close()


def test_faithful_window_cannot_be_changed(clock: Clock) -> None:
    with pytest.raises(InvalidInputError, match="strict"):
        Hes(":memory:", clock=clock, window=1, password_cost=16)


def test_unknown_profile_is_refused(clock: Clock) -> None:
    with pytest.raises(InvalidInputError, match="'hes' or 'strict'"):
        Hes(":memory:", profile="lax", clock=clock, password_cost=16)


def test_denied_second_factor_keeps_the_token_for_a_retry(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = setup
    t = token(hes)
    denied = hes.login_otp(t, wrong_code(key, clock))
    assert denied.status == LoginStatus.DENIED and denied.token == t
    assert hes.login_otp(t, totp(key, clock.now)).status == LoginStatus.OK


def test_a_step_token_is_used_once(setup: tuple[Hes, bytes, list[str]], clock: Clock) -> None:
    hes, key, codes = setup
    t = token(hes)
    assert hes.login_otp(t, totp(key, clock.now)).status == LoginStatus.OK
    with pytest.raises(InvalidStateError, match="password again"):
        hes.login_recovery(t, codes[0])


def test_a_step_token_expires_after_five_minutes(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = setup
    t = token(hes)
    clock.now += 5 * 60 + 1
    with pytest.raises(InvalidStateError, match="expired"):
        hes.login_otp(t, totp(key, clock.now))


def test_expired_steps_are_purged_at_most_once_a_second(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = setup

    def waiting() -> int:
        row = hes.store.read("SELECT COUNT(*) AS n FROM login_steps", ())
        assert row is not None
        return int(row["n"])

    start = clock.now
    token(hes)  # the first login purges (nothing yet)
    clock.now = start + 0.5
    soon = token(hes)  # expires at start + 300.5
    clock.now = start + 300.2
    token(hes)  # purges the first one (expired at start + 300), not ``soon``
    assert waiting() == 2
    clock.now = start + 300.8
    token(hes)  # within a second of the last purge: ``soon`` expired but is still kept...
    assert waiting() == 3
    with pytest.raises(InvalidStateError, match="expired"):  # ...and refused all the same
        hes.login_otp(soon, totp(key, clock.now))
    clock.now = start + 301.3
    token(hes)  # a second after the last purge: purged
    assert waiting() == 3


def test_a_login_in_three_steps_keeps_the_kdf_apart(
    setup: tuple[Hes, bytes, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hes, _, _ = setup
    check = hes.start_login(EMAIL.lower())
    assert check.known and check.cost == 16 and check.ok is None
    with pytest.raises(InvalidStateError, match="not verified"):
        hes.finish_login(check)  # fails closed
    with pytest.raises(InvalidInputError, match="password is empty"):
        check.verify("")
    check.verify(PASSWORD)
    assert hes.finish_login(check).status == LoginStatus.NEEDS_OTP
    wrong = hes.start_login(EMAIL)
    wrong.verify("not it")
    assert hes.finish_login(wrong).status == LoginStatus.DENIED
    assert hes.user(EMAIL).failed_attempts == 1
    unknown = hes.start_login("nobody@example.com")
    assert not unknown.known and unknown.cost == 16  # the stand-in costs as much
    unknown.verify(PASSWORD)
    assert hes.finish_login(unknown).status == LoginStatus.DENIED
    with pytest.raises(InvalidInputError, match="address is empty"):
        hes.start_login("")


def test_a_locked_account_runs_no_kdf(
    setup: tuple[Hes, bytes, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from keybridge.hes import passwords

    hes, _, _ = setup
    for _ in range(10):
        hes.login(EMAIL, "wrong")
    ran: list[str] = []
    monkeypatch.setattr(passwords, "verify_password", lambda *a: ran.append("kdf") or True)
    check = hes.start_login(EMAIL)
    assert check.locked_until is not None
    check.verify(PASSWORD)
    assert hes.finish_login(check).status == LoginStatus.LOCKED
    assert ran == []


# -- lockout -----------------------------------------------------------------------------------


def test_ten_wrong_passwords_lock_for_fifteen_minutes(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = setup
    statuses = [hes.login(EMAIL, "wrong").status for _ in range(10)]
    assert statuses == [LoginStatus.DENIED] * 9 + [LoginStatus.LOCKED]
    locked = hes.login(EMAIL, PASSWORD)
    assert locked.status == LoginStatus.LOCKED
    assert locked.locked_until == pytest.approx(clock.now + 15 * 60)
    clock.now += 15 * 60 - 1
    assert hes.login(EMAIL, PASSWORD).status == LoginStatus.LOCKED
    clock.now += 2
    assert hes.login_otp(token(hes), totp(key, clock.now)).status == LoginStatus.OK


def test_wrong_otps_count_towards_the_lockout(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = setup
    t = token(hes)
    for _ in range(4):
        hes.login(EMAIL, "wrong")
    results = [hes.login_otp(t, wrong_code(key, clock)).status for _ in range(6)]
    assert results[-1] == LoginStatus.LOCKED
    assert hes.login_otp(t, totp(key, clock.now)).status == LoginStatus.LOCKED


def test_while_locked_even_right_credentials_are_locked(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, codes = setup
    t = token(hes)
    for _ in range(10):
        hes.login(EMAIL, "wrong")
    assert hes.login(EMAIL, PASSWORD).status == LoginStatus.LOCKED
    assert hes.login_otp(t, totp(key, clock.now)).status == LoginStatus.LOCKED
    assert hes.login_recovery(t, codes[0]).status == LoginStatus.LOCKED
    assert hes.recovery_codes_left(EMAIL) == 10


def test_a_successful_login_resets_the_failure_count(
    setup: tuple[Hes, bytes, list[str]], clock: Clock
) -> None:
    hes, key, _ = setup
    for _ in range(9):
        hes.login(EMAIL, "wrong")
    assert hes.login_otp(token(hes), totp(key, clock.now + 30)).status == LoginStatus.OK
    assert hes.user(EMAIL).failed_attempts == 0
    assert [hes.login(EMAIL, "wrong").status for _ in range(9)] == [LoginStatus.DENIED] * 9


def test_a_right_password_alone_does_not_reset_the_count_when_2fa_is_on(
    setup: tuple[Hes, bytes, list[str]],
) -> None:
    # ASP.NET Identity resets the count only after the whole sign-in when 2FA is on.
    hes, _, _ = setup
    for _ in range(9):
        hes.login(EMAIL, "wrong")
    token(hes)
    assert hes.user(EMAIL).failed_attempts == 9
    assert hes.login(EMAIL, "wrong").status == LoginStatus.LOCKED


def test_faithful_does_not_count_failed_recovery_codes(
    faithful: tuple[Hes, bytes, list[str]],
) -> None:
    hes, _, codes = faithful
    t = token(hes)
    results = {hes.login_recovery(t, "00000000").status for _ in range(25)}
    assert results == {LoginStatus.DENIED}
    assert hes.user(EMAIL).failed_attempts == 0
    assert hes.login_recovery(t, codes[0]).status == LoginStatus.OK


def test_strict_counts_failed_recovery_codes(strict: tuple[Hes, bytes, list[str]]) -> None:
    hes, _, codes = strict
    t = token(hes)
    results = [hes.login_recovery(t, "00000000").status for _ in range(10)]
    assert results == [LoginStatus.DENIED] * 9 + [LoginStatus.LOCKED]
    assert hes.login_recovery(t, codes[0]).status == LoginStatus.LOCKED
