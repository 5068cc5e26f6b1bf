"""Pure code checks of the HES model: code parsing, the TOTP window (against pyotp), keys."""

from __future__ import annotations

import base64
import re

import pyotp
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from keybridge.errors import MalformedCodeError
from keybridge.hes.enrolment import (
    authenticator_uri,
    format_key,
    new_authenticator_key,
)
from keybridge.hes.verify import (
    hes_time_step,
    new_recovery_codes,
    normalize_recovery_code,
    parse_totp_code,
    verify_totp,
)
from keybridge.otp.codes import hotp, hotp_int

KEY = b"12345678901234567890"
INSTANTS = st.integers(min_value=100, max_value=2**33)


def test_new_key_is_32_uppercase_base32_chars_of_20_random_bytes() -> None:
    key = new_authenticator_key()
    assert re.fullmatch(r"[A-Z2-7]{32}", key)
    assert len(base64.b32decode(key)) == 20
    assert new_authenticator_key() != key


def test_display_key_is_lowercase_groups_of_four() -> None:
    key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    assert format_key(key) == "abcd efgh ijkl mnop qrst uvwx yz23 4567"


def test_uri_is_built_exactly_as_hes_builds_it() -> None:
    uri = authenticator_uri("admin@example.com", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert uri == (
        "otpauth://totp/HES.Web:admin%40example.com"
        "?secret=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567&issuer=HES.Web&digits=6"
    )


def test_uri_percent_encodes_like_dotnet_url_encoder() -> None:
    uri = authenticator_uri("a+b c@x.org", "K" * 32)
    assert "HES.Web:a%2Bb%20c%40x.org?" in uri


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("123456", 123456),
        ("123 456", 123456),
        ("123-456", 123456),
        (" 1 2-3 4-5 6 ", 123456),
        ("012345", 12345),
        ("000000", 0),
    ],
)
def test_code_is_six_ascii_digits_after_stripping_spaces_and_dashes(text: str, value: int) -> None:
    assert parse_totp_code(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12345",
        "1234567",
        "１２３４５６",  # fullwidth digits
        "١٢٣٤٥٦",  # Arabic-Indic digits
        "12345６",
        "¹²³⁴⁵⁶",  # superscripts: str.isdigit() says True
        "12345O",
        "12_456",
        "+12345",
        "12\t3456",
    ],
)
def test_look_alike_and_wrong_length_codes_are_malformed(text: str) -> None:
    with pytest.raises(MalformedCodeError, match="6 digits"):
        parse_totp_code(text)


def test_leading_zeros_are_just_digits() -> None:
    step = next(s for s in range(10_000) if hotp_int(KEY, s) < 100_000)
    at = step * 30 + 10
    code = hotp(KEY, step)
    assert code.startswith("0")
    assert verify_totp(KEY, parse_totp_code(code), at) == step


@given(key=st.binary(min_size=20, max_size=20), at=INSTANTS, offset=st.integers(-2, 2))
def test_hes_window_accepts_pyotp_codes_from_t_minus_2_to_t_plus_2(
    key: bytes, at: int, offset: int
) -> None:
    code = pyotp.TOTP(base64.b32encode(key).decode()).at(at, counter_offset=offset)
    assert verify_totp(key, parse_totp_code(code), at) is not None


@given(key=st.binary(min_size=20, max_size=20), at=INSTANTS, offset=st.sampled_from([-3, 3]))
def test_hes_window_rejects_pyotp_codes_at_t_plus_minus_3(key: bytes, at: int, offset: int) -> None:
    totp = pyotp.TOTP(base64.b32encode(key).decode())
    code = totp.at(at, counter_offset=offset)
    # A code from T+-3 may equal one inside the window by chance; that is not a rejection case.
    assume(all(code != totp.at(at, counter_offset=d) for d in range(-2, 3)))
    assert verify_totp(key, parse_totp_code(code), at) is None


def test_hes_rounds_its_clock_to_whole_seconds() -> None:
    # HES (Identity 5.0) uses Math.Round on the seconds: 59.6 s is already step 2.
    assert hes_time_step(59.4) == 1
    assert hes_time_step(59.6) == 2
    assert hes_time_step(59.5) == 2  # ties to even: 60
    assert hes_time_step(58.5) == 1  # ties to even: 58
    base = 30 * 1_000_000
    code = hotp_int(KEY, 1_000_000 + 4)
    assert verify_totp(KEY, code, base + 59.6) == 1_000_004
    assert verify_totp(KEY, code, base + 59.4) is None
    assert verify_totp(KEY, code, base + 59.6, hes_clock=False) is None


@pytest.mark.parametrize("window", [0, 1, 2, 3])
def test_constant_time_check_agrees_with_the_plain_one(window: int) -> None:
    at = 1_700_000_000
    for d in range(-4, 5):
        code = hotp_int(KEY, at // 30 + d)
        plain = verify_totp(KEY, code, at, window)
        assert verify_totp(KEY, code, at, window, constant_time=True) == plain
        assert (plain is not None) == (abs(d) <= window)


def test_after_step_refuses_steps_at_or_below_it() -> None:
    at = 1_700_000_000
    step = at // 30
    code = hotp_int(KEY, step)
    assert verify_totp(KEY, code, at, 1, after_step=step - 1) == step
    assert verify_totp(KEY, code, at, 1, after_step=step) is None
    assert verify_totp(KEY, code, at, 1, after_step=step, constant_time=True) is None


def test_recovery_codes_are_ten_distinct_8_char_lowercase_hex() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes)


def test_recovery_code_input_strips_spaces_only() -> None:
    assert normalize_recovery_code(" 1a2b 3c4d ") == "1a2b3c4d"
    assert normalize_recovery_code("1A2B3C4D") == "1A2B3C4D"  # case kept: HES matches exactly
    assert normalize_recovery_code("1a2b-3c4d") == "1a2b-3c4d"


@pytest.mark.parametrize("text", ["", "   ", "1a2b\n3c4d", "１a2b3c4d"])
def test_empty_or_non_ascii_recovery_codes_are_malformed(text: str) -> None:
    with pytest.raises(MalformedCodeError, match="recovery code"):
        normalize_recovery_code(text)
