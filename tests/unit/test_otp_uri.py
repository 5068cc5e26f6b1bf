"""``otpauth://`` URIs: HES's own, round trips, every error path."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import InvalidInputError, InvalidUriError
from keybridge.otp.codes import Algorithm, OtpKind, hotp, totp
from keybridge.otp.credential import Credential, build_uri, parse_uri
from keybridge.otp.secret import WeakSecretWarning, encode_secret

KEY = bytes(range(1, 21))
SECRET = "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU"
HES_URI = f"otpauth://totp/HES.Web:admin%40example.com?secret={SECRET}&issuer=HES.Web&digits=6"


def test_hes_uri_parses() -> None:
    params = parse_uri(HES_URI)
    assert params == Credential(
        kind=OtpKind.TOTP,
        key=KEY,
        account="admin@example.com",
        issuer="HES.Web",
        algorithm=Algorithm.SHA1,
        digits=6,
        period=30,
        counter=None,
    )
    assert params.secret == SECRET


def test_hes_uri_round_trips() -> None:
    assert build_uri(parse_uri(HES_URI)) == HES_URI


def test_hes_params_build_hes_uri() -> None:
    params = Credential(OtpKind.TOTP, KEY, "admin@example.com", "HES.Web")
    assert build_uri(params) == HES_URI


def test_key_is_not_in_repr() -> None:
    assert SECRET not in repr(parse_uri(HES_URI))
    assert repr(KEY) not in repr(parse_uri(HES_URI))


def test_codes() -> None:
    params = parse_uri(HES_URI)
    assert params.code(at=1111111109) == totp(KEY, 1111111109)
    counter_params = parse_uri(f"otpauth://hotp/alice?secret={SECRET}&counter=7")
    assert counter_params.code() == hotp(KEY, 7)
    assert counter_params.code(counter=9) == hotp(KEY, 9)


def test_code_defaults_to_now() -> None:
    code = parse_uri(HES_URI).code()
    assert len(code) == 6
    assert code.isdigit()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.code(counter=3), "counter applies to HOTP only: pass at= for TOTP"),
        (
            lambda p: Credential(OtpKind.HOTP, KEY, "a", counter=0).code(at=5),
            "at applies to TOTP only: pass counter= for HOTP",
        ),
    ],
)
def test_code_argument_errors(call: Callable[[Credential], object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call(parse_uri(HES_URI))


@pytest.mark.parametrize(
    ("uri", "fields"),
    [
        # Tolerated label forms: %3A separator, spaces after the colon, no issuer.
        (
            f"otpauth://totp/ACME%20Co%3A%20john.doe%40email.com?secret={SECRET}",
            {"issuer": "ACME Co", "account": "john.doe@email.com"},
        ),
        (
            f"otpauth://totp/ACME:  john?secret={SECRET}&issuer=ACME",
            {"issuer": "ACME", "account": "john"},
        ),
        (f"otpauth://totp/john?secret={SECRET}", {"issuer": None, "account": "john"}),
        (f"otpauth://totp/john?secret={SECRET}&issuer=ACME", {"issuer": "ACME"}),
        (f"otpauth://totp/john?secret={SECRET}&issuer=ACME+Co", {"issuer": "ACME Co"}),
        (f"otpauth://totp/:john?secret={SECRET}", {"issuer": None, "account": "john"}),
        (f"otpauth://totp/john?secret={SECRET}&issuer=", {"issuer": None}),
        # Parameters: case, defaults, unknown ones ignored.
        (
            f"otpauth://totp/a?secret={SECRET.lower()}&algorithm=sha256&digits=8&period=60",
            {"algorithm": Algorithm.SHA256, "digits": 8, "period": 60},
        ),
        (f"otpauth://totp/a?secret={SECRET}&algorithm=SHA512", {"algorithm": Algorithm.SHA512}),
        (f"otpauth://totp/a?secret={SECRET}&digits=7&period=1", {"digits": 7, "period": 1}),
        (
            f"otpauth://totp/a?secret={SECRET}&image=https%3A%2F%2Fx.example%2Fl.png&foo=bar",
            {"account": "a", "digits": 6, "period": 30},
        ),
        (f"otpauth://totp/a?Secret={SECRET}&DIGITS=8", {"digits": 8}),
        (f"  OTPAUTH://TOTP/a?secret={SECRET}  ", {"kind": OtpKind.TOTP}),
        # Grouped, padded secret as HES displays it (percent-encoded spaces).
        (
            "otpauth://totp/a?secret=aeba%20gbaf%20aydq%20qcik%20bmga%202dqp%20cair%20eeyu%3D",
            {"key": KEY},
        ),
        # HOTP needs a counter; a period there, or a counter in TOTP, is ignored.
        (
            f"otpauth://hotp/a?secret={SECRET}&counter=18446744073709551615&period=7",
            {"kind": OtpKind.HOTP, "counter": 2**64 - 1, "period": 30},
        ),
        (f"otpauth://totp/a?secret={SECRET}&counter=5", {"counter": None}),
    ],
)
def test_parse_forms(uri: str, fields: dict[str, object]) -> None:
    params = parse_uri(uri)
    assert {name: getattr(params, name) for name in fields} == fields


def test_weak_secret_in_uri_warns() -> None:
    with pytest.warns(WeakSecretWarning, match="only 80 bits"):
        params = parse_uri("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP")
    assert len(params.key) == 10


@pytest.mark.parametrize(
    ("params", "uri"),
    [
        (
            Credential(OtpKind.TOTP, KEY, "a b", "X Y", Algorithm.SHA256, 8, 60),
            f"otpauth://totp/X%20Y:a%20b?secret={SECRET}&issuer=X%20Y&algorithm=SHA256&digits=8"
            "&period=60",
        ),
        (
            Credential(OtpKind.HOTP, KEY, "alice", counter=0),
            f"otpauth://hotp/alice?secret={SECRET}&digits=6&counter=0",
        ),
        (
            Credential(OtpKind.TOTP, KEY, "é/?&#%"),
            f"otpauth://totp/%C3%A9%2F%3F%26%23%25?secret={SECRET}&digits=6",
        ),
    ],
)
def test_build(params: Credential, uri: str) -> None:
    assert build_uri(params) == uri
    assert parse_uri(uri) == params


_label_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters=":"),
    min_size=1,
    max_size=30,
).filter(lambda s: s == s.strip() and s != "")


@st.composite
def otp_params(draw: st.DrawFn) -> Credential:
    kind = draw(st.sampled_from(list(OtpKind)))
    return Credential(
        kind=kind,
        key=draw(st.binary(min_size=16, max_size=64)),
        account=draw(_label_text),
        issuer=draw(st.none() | _label_text),
        algorithm=draw(st.sampled_from(list(Algorithm))),
        digits=draw(st.integers(min_value=6, max_value=8)),
        period=30 if kind is OtpKind.HOTP else draw(st.integers(min_value=1, max_value=10**6)),
        counter=draw(st.integers(min_value=0, max_value=2**64 - 1))
        if kind is OtpKind.HOTP
        else None,
    )


@given(params=otp_params())
def test_round_trip(params: Credential) -> None:
    uri = build_uri(params)
    assert parse_uri(uri) == params
    assert build_uri(parse_uri(uri)) == uri


@given(account=_label_text, key=st.binary(min_size=20, max_size=20))
def test_hes_form_round_trips_for_any_account(account: str, key: bytes) -> None:
    label = f"HES.Web:{quote(account, safe='')}"
    uri = f"otpauth://totp/{label}?secret={encode_secret(key)}&issuer=HES.Web&digits=6"
    assert build_uri(parse_uri(uri)) == uri


@given(uri=st.text(max_size=200))
def test_any_text_parses_or_raises_invalid_uri(uri: str) -> None:
    try:
        parse_uri(uri)
    except InvalidUriError as exc:
        assert str(exc)


@given(tail=st.text(max_size=100))
def test_any_otpauth_tail_parses_or_raises_invalid_uri(tail: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakSecretWarning)
        try:
            parse_uri(f"otpauth://totp/{tail}")
        except InvalidUriError as exc:
            assert str(exc)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "https://example.com/?secret=X",
            "not an otpauth:// URI (it has 'https:'): use otpauth://",
        ),
        ("totp/a?secret=X", "not an otpauth:// URI (it has no scheme)"),
        ("otpauth://[::1/a", "not a URI ("),
        (
            f"otpauth://motp/a?secret={SECRET}",
            "OTP type 'motp' is not supported: use otpauth://totp/... or otpauth://hotp/...",
        ),
        (f"otpauth://totp/?secret={SECRET}", "the URI has no label: use otpauth://totp/ISSUER:"),
        (f"otpauth://totp?secret={SECRET}", "the URI has no label"),
        (f"otpauth://totp/ACME:?secret={SECRET}", "the label 'ACME:' has no account name"),
        (f"otpauth://totp/ACME:%20?secret={SECRET}", "has no account name"),
        (
            f"otpauth://totp/A:b:c?secret={SECRET}",
            "the label 'A:b:c' has more than one ':': write it as ISSUER:ACCOUNT",
        ),
        (f"otpauth://totp/A%3Ab%3ac?secret={SECRET}", "the label 'A:b:c' has more than one ':'"),
        ("otpauth://totp/a", "the URI has no secret parameter: add secret=BASE32KEY"),
        ("otpauth://totp/a?issuer=A", "the URI has no secret parameter"),
        (
            f"otpauth://totp/a?secret={SECRET}&secret={SECRET}",
            "parameter 'secret' appears more than once: keep one",
        ),
        (f"otpauth://totp/a?secret={SECRET}&Digits=6&digits=6", "parameter 'digits' appears"),
        (
            "otpauth://totp/a?secret=AEBAGBAFAYDQQC1KBMGA2DQPCAIREEYU",
            "secret parameter: character 15 '1' is not Base32: did you mean 'I' or 'L'?",
        ),
        ("otpauth://totp/a?secret=", "secret parameter: empty secret"),
        (f"otpauth://totp/a?secret={SECRET[1:]}", "secret parameter: 31 characters: an HES key"),
        (
            f"otpauth://totp/ACME:a?secret={SECRET}&issuer=Other",
            "issuer='Other' disagrees with the label's issuer 'ACME': make them the same, or drop"
            " one",
        ),
        (f"otpauth://totp/ACME:a?secret={SECRET}&issuer=acme", "issuer='acme' disagrees"),
        (f"otpauth://totp/a?secret={SECRET}&issuer=A%3AB", "issuer='A:B' contains ':'"),
        (
            f"otpauth://totp/a?secret={SECRET}&algorithm=MD5",
            "algorithm='MD5' is not supported: use SHA1, SHA256 or SHA512",
        ),
        (f"otpauth://totp/a?secret={SECRET}&algorithm=", "algorithm='' is not supported"),
        (
            f"otpauth://totp/a?secret={SECRET}&digits=six",
            "digits='six' is not a whole number: use digits=6, 7 or 8",
        ),
        (f"otpauth://totp/a?secret={SECRET}&digits=", "digits='' is not a whole number"),
        (f"otpauth://totp/a?secret={SECRET}&digits=-6", "digits='-6' is not a whole number"),
        (f"otpauth://totp/a?secret={SECRET}&digits=%EF%BC%96", "digits='６' is not a whole"),
        (
            f"otpauth://totp/a?secret={SECRET}&digits=9",
            "digits=9 is not supported: use digits=6, 7 or 8",
        ),
        (f"otpauth://totp/a?secret={SECRET}&digits=5", "digits=5 is not supported"),
        (
            f"otpauth://totp/a?secret={SECRET}&period=0",
            "period=0 is not positive: use a positive number of seconds, e.g. period=30",
        ),
        (
            f"otpauth://totp/a?secret={SECRET}&period=-30",
            "period='-30' is not a whole number: use a positive number of seconds",
        ),
        (f"otpauth://totp/a?secret={SECRET}&period=30.5", "period='30.5' is not a whole number"),
        (f"otpauth://totp/a?secret={SECRET}&period=30s", "period='30s' is not a whole number"),
        (
            f"otpauth://totp/a?secret={SECRET}&period={'9' * 40}",
            f"period={'9' * 40} is too large: use a positive number of seconds",
        ),
        (
            f"otpauth://hotp/a?secret={SECRET}",
            "a HOTP URI needs a counter parameter: add counter=N (the next counter value, e.g."
            " counter=0)",
        ),
        (
            f"otpauth://hotp/a?secret={SECRET}&counter=-1",
            "counter='-1' is not a whole number: use the next counter value, 0..2**64-1",
        ),
        (f"otpauth://hotp/a?secret={SECRET}&counter=x", "counter='x' is not a whole number"),
        (
            f"otpauth://hotp/a?secret={SECRET}&counter=18446744073709551616",
            "counter=18446744073709551616 is out of range: use the next counter value",
        ),
    ],
)
def test_parse_errors(uri: str, message: str) -> None:
    with pytest.raises(InvalidUriError) as info:
        parse_uri(uri)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": bytes(9)}, "a key of 9 bytes is not supported: use 10..64 bytes"),
        ({"key": bytes(65)}, "a key of 65 bytes is not supported"),
        ({"account": ""}, "account '' is empty or starts or ends with spaces: trim it"),
        ({"account": " a"}, "account ' a' is empty or starts or ends with spaces"),
        ({"issuer": ""}, "issuer '' is empty or starts or ends with spaces"),
        ({"issuer": "X "}, "issuer 'X ' is empty or starts or ends with spaces"),
        ({"account": "a:b"}, "account 'a:b' contains ':': remove the colon"),
        ({"issuer": "A:B"}, "issuer 'A:B' contains ':'"),
        ({"digits": 5}, "5 digits is not supported: use 6, 7 or 8"),
        ({"digits": 9}, "9 digits is not supported"),
        ({"period": 0}, "period 0 s is not positive: use e.g. 30"),
        ({"counter": 0}, "counter applies to HOTP only: leave it None for TOTP"),
        ({"kind": OtpKind.HOTP}, "HOTP counter None is missing or out of range: use 0..2**64-1"),
        ({"kind": OtpKind.HOTP, "counter": -1}, "HOTP counter -1 is missing or out of range"),
        ({"kind": OtpKind.HOTP, "counter": 2**64}, "is missing or out of range"),
        (
            {"kind": OtpKind.HOTP, "counter": 0, "period": 60},
            "period applies to TOTP only: leave it at 30 for HOTP",
        ),
    ],
)
def test_params_errors(fields: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"kind": OtpKind.TOTP, "key": KEY, "account": "a"}
    arguments.update(fields)
    with pytest.raises(InvalidInputError) as info:
        Credential(**arguments)  # type: ignore[arg-type]
    assert message in str(info.value)
