"""PIN format and hashing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import InvalidInputError
from keybridge.protocol.secure import (
    PinFormatError,
    check_pin_format,
    hash_pin,
    new_pin_salt,
    verify_pin,
)

SALT = bytes(range(16))
FAST = 10  # iterations: the cost is a parameter so tests stay fast


@pytest.mark.parametrize("pin", ["1234", "0000", "9876543210123456", b"4321"])
def test_valid_pins(pin: str | bytes) -> None:
    raw = check_pin_format(pin)
    assert raw == (pin.encode() if isinstance(pin, str) else pin)


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ("123", "4 to 16 digits, this one has 3"),
        ("", "this one has 0"),
        ("12345678901234567", "this one has 17"),
        ("12a4", "character 3 is not a digit"),
        ("12 34", "character 3 is not a digit"),
        ("１２３４", "character 1 is not an ASCII digit"),  # fullwidth digits
        ("12٣4", "character 3 is not an ASCII digit"),  # Arabic-Indic three
        (b"12\x004", "character 3 is not a digit"),
    ],
)
def test_invalid_pins(pin: str | bytes, message: str) -> None:
    with pytest.raises(PinFormatError, match=message):
        check_pin_format(pin)


def test_error_never_echoes_the_pin() -> None:
    with pytest.raises(PinFormatError) as info:
        check_pin_format("98x7")
    assert "98" not in str(info.value) and "x" not in str(info.value).replace("0-9", "")
    assert issubclass(PinFormatError, InvalidInputError)


def test_hash_is_pbkdf2_sha256() -> None:
    expected = hashlib.pbkdf2_hmac("sha256", b"123456", SALT, FAST, 32)
    assert hash_pin("123456", SALT, iterations=FAST) == expected
    assert hash_pin(b"123456", SALT, iterations=FAST) == expected


def test_salt_and_cost_change_the_hash() -> None:
    base = hash_pin("1234", SALT, iterations=FAST)
    assert hash_pin("1234", SALT[::-1], iterations=FAST) != base
    assert hash_pin("1234", SALT, iterations=FAST + 1) != base
    assert new_pin_salt() != new_pin_salt()
    assert len(new_pin_salt()) == 16


def test_hash_checks_format_and_parameters() -> None:
    with pytest.raises(PinFormatError):
        hash_pin("12", SALT, iterations=FAST)
    with pytest.raises(ValueError, match="iterations"):
        hash_pin("1234", SALT, iterations=0)
    with pytest.raises(ValueError, match="salt"):
        hash_pin("1234", b"short", iterations=FAST)


@given(
    pin=st.from_regex(r"[0-9]{4,16}", fullmatch=True),
    other=st.from_regex(r"[0-9]{4,16}", fullmatch=True),
)
def test_verify(pin: str, other: str) -> None:
    stored = hash_pin(pin, SALT, iterations=FAST)
    assert verify_pin(pin, SALT, stored, iterations=FAST)
    assert verify_pin(other, SALT, stored, iterations=FAST) == (other == pin)
