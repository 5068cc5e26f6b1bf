"""QR codes of ``otpauth://`` URIs: read from an image (screenshot or photo), drawn in a terminal.

Decoding uses zxing-cpp (a maintained, fast C++ decoder with Python bindings) and Pillow, drawing
uses segno; all are in the optional ``qr`` extra. Without them the error (or the placeholder
text) says how to install them.
"""

from __future__ import annotations

from pathlib import Path

from keybridge.errors import InvalidInputError, KeybridgeError

__all__ = ["MissingQrSupportError", "read_otpauth_qr", "terminal_qr"]

QR_MISSING_HINT = "(install keybridge[qr] to see the QR code here)"


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


def terminal_qr(data: str) -> str:
    """``data`` as a QR code drawn with block characters, two modules per line (fits in 40
    lines for an HES URI); a one-line hint when segno is not installed."""
    try:
        import segno
    except ImportError:
        return QR_MISSING_HINT
    import io

    buffer = io.StringIO()
    segno.make(data, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue().rstrip("\n")


def svg_qr(data: str, scale: int = 4) -> str:
    """``data`` as an inline ``<svg>`` QR code (HES shows its enrolment URI this way).

    Raises :class:`MissingQrSupportError` when segno is not installed.
    """
    try:
        import segno
    except ImportError:
        raise MissingQrSupportError(
            "drawing QR codes needs segno: pip install 'keybridge[web]' (or keybridge[qr])"
        ) from None
    svg: str = segno.make(data, error="m").svg_inline(scale=scale, title="QR code")
    return svg
