"""Reading the enrolment QR code from an image."""

from __future__ import annotations

from pathlib import Path

import pytest
import segno

from keybridge.errors import InvalidInputError
from keybridge.otp.credential import parse_uri
from keybridge.otp.qr import read_otpauth_qr

HES_URI = (
    "otpauth://totp/HES.Web:admin%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    "&issuer=HES.Web&digits=6"
)


def test_reads_hes_enrolment_qr(tmp_path: Path) -> None:
    image = tmp_path / "qr.png"
    segno.make(HES_URI, error="m").save(image, scale=5, border=4)
    uri = read_otpauth_qr(image)
    assert uri == HES_URI
    assert parse_uri(uri).account == "admin@example.com"


def test_qr_without_otpauth_uri(tmp_path: Path) -> None:
    image = tmp_path / "other.png"
    segno.make("https://example.com").save(image, scale=5)
    with pytest.raises(InvalidInputError, match="no otpauth:// QR code"):
        read_otpauth_qr(image)


def test_not_an_image(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("not a picture")
    with pytest.raises(InvalidInputError, match="not an image"):
        read_otpauth_qr(bogus)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        read_otpauth_qr(tmp_path / "absent.png")
