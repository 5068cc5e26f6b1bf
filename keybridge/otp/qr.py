"""Reading an ``otpauth://`` URI from a QR code image (screenshot or photo).

Decoding uses zxing-cpp (a maintained, fast C++ decoder with Python bindings) and Pillow, both in
the optional ``qr`` extra; without them the error says how to install them.
"""

from __future__ import annotations

from pathlib import Path

from keybridge.errors import InvalidInputError, KeybridgeError

__all__ = ["MissingQrSupportError", "read_otpauth_qr"]


class MissingQrSupportError(KeybridgeError):
    """QR decoding needs packages that are not installed."""


def read_otpauth_qr(path: str | Path) -> str:
    """The ``otpauth://`` URI in the image at ``path``."""
    try:
        import zxingcpp
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MissingQrSupportError(
            "reading QR codes needs zxing-cpp and Pillow: pip install 'keybridge[qr]'"
        ) from None
    try:
        with Image.open(path) as image:
            results = zxingcpp.read_barcodes(image.convert("RGB"))
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"{path} is not an image keybridge can read ({exc})") from None
    texts = [r.text for r in results if r.text]
    uris = [t for t in texts if t.lower().startswith("otpauth://")]
    if not uris:
        found = f" (found: {texts[0][:40]!r})" if texts else ""
        raise InvalidInputError(
            f"{path} holds no otpauth:// QR code{found}: crop the screenshot to the QR code "
            "or give --secret"
        )
    if len(set(uris)) > 1:
        raise InvalidInputError(f"{path} holds {len(uris)} OTP QR codes: crop it to one")
    return uris[0]
