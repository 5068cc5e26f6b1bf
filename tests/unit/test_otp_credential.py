"""The one credential model: a secret as HES shows it, HES's URI and its QR code are one value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import segno

from keybridge.errors import InvalidInputError
from keybridge.hes.enrolment import otp_setup
from keybridge.hes.types import ISSUER
from keybridge.otp import Algorithm, Credential, OtpKind, totp

EMAIL = "admin@example.com"
KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_hes_secret_uri_and_qr_code_give_one_credential(tmp_path: Path) -> None:
    setup = otp_setup(EMAIL, KEY)
    pasted = Credential.from_secret(setup.display_key, account=EMAIL, issuer=ISSUER)
    image = tmp_path / "qr.png"
    segno.make(setup.uri, error="m").save(image, scale=5, border=4)
    assert pasted == Credential.from_uri(setup.uri) == Credential.from_qr(image)
    assert pasted == setup.credential  # what the HES model offers
    assert pasted.name == f"{ISSUER}:{EMAIL}"
    assert (pasted.kind, pasted.algorithm, pasted.digits, pasted.period) == (
        OtpKind.TOTP,
        Algorithm.SHA1,
        6,
        30,
    )
    assert pasted.to_uri() == setup.uri  # HES's own form, byte for byte
    assert pasted.code(at=59) == totp(pasted.key, 59)


def test_from_secret_takes_text_enums_and_defaults_a_hotp_counter() -> None:
    hotp = Credential.from_secret(KEY, kind="hotp", algorithm="sha-256", digits=8)
    assert (hotp.kind, hotp.algorithm, hotp.counter) == (OtpKind.HOTP, Algorithm.SHA256, 0)
    assert Credential.from_secret(hotp.key, kind=OtpKind.HOTP, counter=3).counter == 3
    unnamed = Credential.from_secret(KEY)
    assert unnamed.name is None and "JBSW" not in repr(unnamed)
    with pytest.raises(InvalidInputError, match="without an account has no URI"):
        unnamed.to_uri()


def test_a_changed_credential_is_validated_again() -> None:
    credential = Credential.from_secret(KEY, account="a")
    with pytest.raises(InvalidInputError, match="9 digits is not supported"):
        dataclasses.replace(credential, digits=9)
    with pytest.raises(InvalidInputError, match="counter applies to HOTP only"):
        dataclasses.replace(credential, counter=1)


@pytest.mark.parametrize(("kind", "wire"), [(OtpKind.TOTP, 1), (OtpKind.HOTP, 2)])
def test_kind_values_are_the_wire_codes(kind: OtpKind, wire: int) -> None:
    assert kind == wire and OtpKind.parse(kind.name.lower()) is kind
    with pytest.raises(InvalidInputError, match="use totp or hotp"):
        OtpKind.parse("motp")
