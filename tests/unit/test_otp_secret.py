"""Base32 secrets as people type them: normalisation, errors with positions, weak-key warning."""

from __future__ import annotations

import base64
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import InvalidSecretError
from keybridge.otp.secret import (
    WeakSecretWarning,
    decode_secret,
    display_secret,
    encode_secret,
    normalize_secret,
)

# 20 bytes, as HES makes them: 32 characters.
HES_KEY = bytes(range(1, 21))
HES_CANONICAL = "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU"
HES_DISPLAY = "aeba gbaf aydq qcik bmga 2dqp cair eeyu"


def test_hes_key_forms() -> None:
    assert encode_secret(HES_KEY) == HES_CANONICAL
    assert display_secret(HES_KEY) == HES_DISPLAY
    assert display_secret(HES_CANONICAL) == HES_DISPLAY
    assert normalize_secret(HES_DISPLAY) == HES_CANONICAL
    assert decode_secret(HES_DISPLAY) == HES_KEY


@pytest.mark.parametrize(
    "text",
    [
        "aeba gbaf aydq qcik bmga 2dqp cair eeyu",
        "AEBA-GBAF-AYDQ-QCIK-BMGA-2DQP-CAIR-EEYU",
        "  aebagbafaydqqcikbmga2dqpcaireeyu\n",
        "AeBa\tGbAf\u00a0AyDq\u2013QcIk BMGA 2DQP CAIR EEYU",  # tab, no-break space, en dash
        "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU====",
        "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU = =",
    ],
)
def test_accepted_forms(text: str) -> None:
    assert normalize_secret(text) == HES_CANONICAL


def _decorate(canonical: str, data: st.DataObject) -> str:
    """Write ``canonical`` as a person might: mixed case, separators, padding."""
    separators = st.sampled_from(["", "", "", " ", "-", "  ", "\t", "\u00a0", " - "])
    out = [data.draw(separators)]
    for char in canonical:
        out.append(char.lower() if data.draw(st.booleans()) else char)
        out.append(data.draw(separators))
    out.append("=" * data.draw(st.integers(min_value=0, max_value=6)))
    out.append(data.draw(st.sampled_from(["", " ", "\n"])))
    return "".join(out)


@given(key=st.binary(min_size=10, max_size=64), data=st.data())
def test_any_written_form_normalises_to_canonical(key: bytes, data: st.DataObject) -> None:
    canonical = base64.b32encode(key).decode().rstrip("=")
    assert encode_secret(key) == canonical
    text = _decorate(canonical, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert normalize_secret(text) == canonical
        assert decode_secret(text) == key
    # Warned exactly when the key is under 128 bits (once per call above).
    weak = [w for w in caught if issubclass(w.category, WeakSecretWarning)]
    assert len(weak) == (2 if len(key) < 16 else 0)
    assert len(caught) == len(weak)


@given(key=st.binary(min_size=16, max_size=64))
def test_display_form_round_trips(key: bytes) -> None:
    shown = display_secret(key)
    groups = shown.split(" ")
    assert all(len(group) == 4 for group in groups[:-1])
    assert 1 <= len(groups[-1]) <= 4
    assert shown == shown.lower()
    assert decode_secret(shown) == key


@pytest.mark.parametrize("size", [10, 15])
def test_weak_key_warns(size: int) -> None:
    text = encode_secret(bytes(size))
    with pytest.warns(
        WeakSecretWarning, match=f"only {size * 8} bits: RFC 4226 asks for at least 128"
    ):
        assert decode_secret(text) == bytes(size)


def test_128_bit_key_does_not_warn() -> None:
    # filterwarnings=error turns any warning into a failure here.
    assert decode_secret(encode_secret(bytes(16))) == bytes(16)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Look-alike digits, at their position in the text as typed (separators counted).
        ("JBSWY1DPEHPK3PXP", "character 6 '1' is not Base32: did you mean 'I' or 'L'?"),
        ("jbsw y0dp ehpk 3pxp", "character 7 '0' is not Base32: did you mean 'O'?"),
        ("jbsw-y3dp-ehpk-3px8", "character 19 '8' is not Base32: did you mean 'B'?"),
        (
            "jbsw y3dp ehpk 3px9",
            "character 19 '9' is not Base32: Base32 uses only the letters A-Z and the digits 2-7",
        ),
        (
            "jbsw_y3dpehpk3pxp",
            "character 5 '_' is not Base32: Base32 uses only the letters A-Z and the digits 2-7",
        ),
        # Fullwidth forms fold to the letter or digit they stand for.
        ("\uff2aBSWY3DPEHPK3PXP", "character 1 'Ｊ' (U+FF2A) is not Base32: did you mean 'J'?"),
        ("JBSWY\uff11DPEHPK3PXP", "(U+FF11) is not Base32: did you mean 'I' or 'L'?"),
        ("JBSW\u200bY3DPEHPK3PXP", "character 5 U+200B is not Base32"),
        # Dotless i upper-cases to ASCII 'I' but is not Base32 as written.
        ("JBSW\u0131Y3DPEHPK3PXP", "character 5 'ı' (U+0131) is not Base32: did you mean 'I'?"),
        (
            "JBSW=Y3DPEHPK3PXP",
            "character 5 '=' is padding in the middle of the secret: '=' may only come at the end",
        ),
        ("JBSWY3DP = EHPK3PXP", "character 10 '=' is padding in the middle"),
        # Up to 6 '=' pass (a typed key's padding carries nothing); more is a typo.
        ("JBSWY3DPEHPK3PXP=======", "the secret ends with 7 '=': Base32 padding is at most 6"),
        (
            "JBSWY3DPEHPK3PXP==========",
            "the secret ends with 10 '=': Base32 padding is at most 6; leave the '=' out",
        ),
        ("AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU = = = = = = = =", "ends with 8 '='"),
        ("", "empty secret: enter the key as shown (an HES key has 32 characters)"),
        (" - = ", "empty secret"),
        # Near an HES key's length and impossible: the HES hint.
        ("A" * 30, "30 characters: an HES key has 32 (2 missing?)"),
        ("A" * 33, "33 characters: an HES key has 32 (one too many?)"),
        # 31 and 34 are possible lengths; with stray bits after the last byte they are typos.
        ("A" * 30 + "B", "31 characters: an HES key has 32 (one missing?)"),
        (HES_CANONICAL[1:], "31 characters: an HES key has 32 (one missing?)"),
        ("A" * 33 + "B", "34 characters: an HES key has 32 (2 too many?)"),
        ("A" * 15, "15 characters is too short: a key needs at least 16 (80 bits); an HES key"),
        ("A" * 104, "104 characters is too long: a key has at most 103 (512 bits)"),
        (
            "A" * 27,
            "27 characters is not a possible Base32 length: a character is missing or one too many",
        ),
        ("A" * 38, "38 characters is not a possible Base32 length"),
        ("A" * 41, "41 characters is not a possible Base32 length"),
        (
            "aaaa aaaa aaaa aaaa aaaa aaaa ab",
            "character 32 'b' ends the key with non-zero bits past its last byte:"
            " a character is missing or one too many",
        ),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidSecretError) as info:
        normalize_secret(text)
    assert message in str(info.value)


def test_31_characters_of_19_bytes_are_a_valid_key() -> None:
    # The canonical encoding of 19 bytes is 31 characters; it cannot be told from a typo.
    text = encode_secret(bytes(range(19)))
    assert len(text) == 31
    assert decode_secret(text) == bytes(range(19))


@pytest.mark.parametrize("size", [0, 9, 65])
def test_encode_rejects_key_sizes(size: int) -> None:
    with pytest.raises(
        InvalidSecretError, match=f"a key of {size} bytes is not supported: use 10..64"
    ):
        encode_secret(bytes(size))


def test_display_rejects_a_bad_secret() -> None:
    with pytest.raises(InvalidSecretError, match="character 1 '1'"):
        display_secret("1" * 32)


@given(text=st.text(max_size=120))
def test_any_text_is_a_key_or_an_invalid_secret_error(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakSecretWarning)
        try:
            canonical = normalize_secret(text)
        except InvalidSecretError as exc:
            assert str(exc)
        else:
            assert encode_secret(decode_secret(canonical)) == canonical
