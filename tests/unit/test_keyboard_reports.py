"""Boot-keyboard reports: encoding text for a layout, decoding reports back, packing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import InvalidInputError, UnsupportedCharacterError
from keybridge.keyboard import (
    LAYOUT_IDS,
    LAYOUTS,
    RELEASE,
    REPORT_SIZE,
    KeyReport,
    bytes_to_reports,
    decode_reports,
    encode_text,
    reports_to_bytes,
)

SHIFT = 0x02


def report(modifiers: int = 0, *keys: int) -> bytes:
    return bytes([modifiers, 0, *keys, *([0] * (6 - len(keys)))])


@pytest.mark.parametrize(
    ("layout_id", "text", "press"),
    [
        ("us", "a", "00 00 04 00 00 00 00 00"),
        ("us", "A", "02 00 04 00 00 00 00 00"),
        ("us", "1", "00 00 1e 00 00 00 00 00"),
        ("us", "\n", "00 00 28 00 00 00 00 00"),
        ("de", "z", "00 00 1c 00 00 00 00 00"),
        ("de", "@", "40 00 14 00 00 00 00 00"),
        ("fr", "1", "02 00 1e 00 00 00 00 00"),
        ("fr", "a", "00 00 14 00 00 00 00 00"),
        ("uk", "#", "00 00 32 00 00 00 00 00"),
    ],
)
def test_known_reports(layout_id: str, text: str, press: str) -> None:
    assert encode_text(text, layout_id) == [bytes.fromhex(press), RELEASE]
    assert encode_text(text, LAYOUTS[layout_id]) == [bytes.fromhex(press), RELEASE]


def test_code_with_enter() -> None:
    reports = encode_text("287082\n", "us")
    assert len(reports) == 14
    assert reports[-2] == report(0, 0x28)
    assert decode_reports(reports, "us") == "287082\n"


def test_repeated_characters_are_released_in_between() -> None:
    reports = encode_text("00", "us")
    assert reports == [report(0, 0x27), RELEASE, report(0, 0x27), RELEASE]
    assert decode_reports(reports, "us") == "00"


def test_empty_text() -> None:
    assert encode_text("", "fr") == []
    assert decode_reports([], "fr") == ""


@st.composite
def layout_and_text(draw: st.DrawFn) -> tuple[str, str]:
    layout_id = draw(st.sampled_from(LAYOUT_IDS))
    text = draw(st.text(alphabet=st.sampled_from(LAYOUTS[layout_id].characters), max_size=40))
    return layout_id, text


@given(layout_and_text())
def test_encode_then_decode_is_identity(case: tuple[str, str]) -> None:
    layout_id, text = case
    reports = encode_text(text, layout_id)
    assert len(reports) == 2 * len(text)
    assert all(len(r) == REPORT_SIZE for r in reports)
    assert reports[1::2] == [RELEASE] * len(text)
    assert all(len(KeyReport.from_bytes(r).keys) == 1 for r in reports[0::2])
    assert decode_reports(reports, layout_id) == text


@given(
    layout_id=st.sampled_from(LAYOUT_IDS),
    prefix=st.text(alphabet=st.sampled_from("abc123 "), max_size=10),
    bad=st.characters(),
    suffix=st.text(max_size=10),
)
def test_untypable_character_is_named_before_anything_is_typed(
    layout_id: str, prefix: str, bad: str, suffix: str
) -> None:
    layout = LAYOUTS[layout_id]
    if bad in layout.mapping:
        bad = "\x00"  # never typable
    text = prefix + bad + suffix
    with pytest.raises(UnsupportedCharacterError) as caught:
        encode_text(text, layout_id)
    error = caught.value
    assert (error.char, error.position, error.layout_id) == (bad, len(prefix), layout_id)
    assert repr(bad) in str(error)
    assert f"character {len(prefix) + 1} of {len(text)}" in str(error)


def test_untypable_message_says_what_the_layout_types() -> None:
    with pytest.raises(UnsupportedCharacterError, match=r"except ` ~.*choose the layout"):
        encode_text("a~", "fr")
    with pytest.raises(UnsupportedCharacterError, match=r"Enter as '\\n'"):
        encode_text("123\r\n", "us")


@given(st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_digits_need_shift_on_fr_not_on_us(digits: str) -> None:
    assert all(r[0] == SHIFT for r in encode_text(digits, "fr")[0::2])
    assert all(r[0] == 0 for r in encode_text(digits, "us")[0::2])
    assert all(r[0] == 0 for r in encode_text(digits, "de")[0::2])


def test_digit_reports_differ_between_us_and_fr_but_decode_alike() -> None:
    us, fr = encode_text("123456", "us"), encode_text("123456", "fr")
    assert us != fr
    assert [r[2] for r in us] == [r[2] for r in fr]  # same keys, different modifiers
    assert decode_reports(fr, "fr") == "123456"
    assert decode_reports(fr, "us") == "!@#$%^"  # what a US host would show


def test_unknown_layout_when_encoding() -> None:
    with pytest.raises(InvalidInputError, match="unknown keyboard layout"):
        encode_text("1", "azerty")


# Decoding follows key-down edges, as a host does.


def test_held_key_types_once() -> None:
    assert decode_reports([report(0, 0x04), report(0, 0x04), RELEASE], "us") == "a"


def test_rollover_types_each_new_key() -> None:
    reports = [report(0, 0x04), report(0, 0x04, 0x05), report(0, 0x05), RELEASE]
    assert decode_reports(reports, "us") == "ab"


def test_modifier_only_reports_type_nothing() -> None:
    reports = [report(SHIFT), report(SHIFT, 0x04), report(SHIFT), RELEASE]
    assert decode_reports(reports, "us") == "A"


def test_right_shift_and_reserved_byte() -> None:
    assert decode_reports([bytes.fromhex("20ff040000000000"), RELEASE], "us") == "A"


@pytest.mark.parametrize(
    ("reports", "message"),
    [
        ([report(0x01, 0x04)], r"report 1 .*types nothing on layout 'us'.*another layout"),
        ([RELEASE, report(0, 0x3A)], r"report 2 .*usage 0x3A"),
        ([report(0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01)], "rollover"),
        ([bytes(7)], "8 bytes, got 7"),
    ],
)
def test_bad_reports(reports: list[bytes], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        decode_reports(reports, "us")


def test_dead_key_report_is_rejected_on_fr() -> None:
    with pytest.raises(InvalidInputError, match="'fr'"):
        decode_reports([report(0, 0x2F), RELEASE], "fr")


@given(st.lists(st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE), max_size=8))
def test_decoding_anything_gives_text_or_our_error(reports: list[bytes]) -> None:
    try:
        text = decode_reports(reports, "de")
    except InvalidInputError:
        return
    assert len(text) <= 6 * len(reports)
    # What was decoded is text the layout can type: typed again, it reads the same.
    assert decode_reports(encode_text(text, "de"), "de") == text


# KeyReport and packing.


def test_key_report_round_trip() -> None:
    key_report = KeyReport(0x42, (0x04, 0x05))
    assert key_report.to_bytes() == bytes.fromhex("4200040500000000")
    assert KeyReport.from_bytes(key_report.to_bytes()) == key_report


@pytest.mark.parametrize(
    ("modifiers", "keys", "message"),
    [(256, (), "modifier"), (0, (1, 2, 3, 4, 5, 6, 7), "at most 6"), (0, (0,), "usage 0")],
)
def test_key_report_validation(modifiers: int, keys: tuple[int, ...], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        KeyReport(modifiers, keys)


@given(st.lists(st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE), max_size=20))
def test_packing_round_trip(reports: list[bytes]) -> None:
    packed = reports_to_bytes(reports)
    assert len(packed) == REPORT_SIZE * len(reports)
    assert bytes_to_reports(packed) == reports


def test_packing_rejects_wrong_sizes() -> None:
    with pytest.raises(InvalidInputError, match="report 2 is 9 bytes"):
        reports_to_bytes([RELEASE, bytes(9)])
    with pytest.raises(InvalidInputError, match="not a multiple of 8"):
        bytes_to_reports(bytes(12))
