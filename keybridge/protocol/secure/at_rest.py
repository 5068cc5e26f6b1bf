"""Sealing secrets at rest under a device key kept apart from the data (the simulator's flash).

Layout: ``0x01 (format) | nonce (12, random) | ciphertext | tag (16)``, ChaCha20-Poly1305
with the format byte and the caller's ``aad`` as associated data. Bind ``aad`` to where the
blob lives (for example ``b"otp:" + credential id``) so blobs cannot be swapped between slots.

``cryptography`` loads when a blob is first sealed or opened: a key with no stored secret starts
without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keybridge.protocol.secure._primitives import KEY_LENGTH, fixed, random_bytes
from keybridge.protocol.secure.errors import AtRestError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

__all__ = [
    "AT_REST_OVERHEAD",
    "DEVICE_KEY_LENGTH",
    "new_device_key",
    "open_at_rest",
    "seal_at_rest",
]

DEVICE_KEY_LENGTH = KEY_LENGTH
_FORMAT = 0x01
_NONCE_LENGTH = 12
_TAG_LENGTH = 16
AT_REST_OVERHEAD = 1 + _NONCE_LENGTH + _TAG_LENGTH
"""Bytes sealing adds (29)."""


def new_device_key() -> bytes:
    """A fresh 32-byte device key (store it in its own file, mode 0600)."""
    return random_bytes(DEVICE_KEY_LENGTH)


def _aead(device_key: bytes) -> ChaCha20Poly1305:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    if len(device_key) != DEVICE_KEY_LENGTH:
        raise AtRestError(
            f"the device key must be {DEVICE_KEY_LENGTH} bytes, this one has {len(device_key)}: "
            "the device key file is damaged or not a device key"
        )
    return ChaCha20Poly1305(device_key)


def seal_at_rest(
    device_key: bytes, plaintext: bytes, aad: bytes = b"", *, nonce: bytes | None = None
) -> bytes:
    """Encrypt ``plaintext`` under ``device_key``; a random nonce unless one is injected (tests)."""
    n = fixed("nonce", nonce, _NONCE_LENGTH)
    head = bytes([_FORMAT])
    return head + n + _aead(device_key).encrypt(n, plaintext, head + aad)


def open_at_rest(device_key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Decrypt what :func:`seal_at_rest` made; :class:`AtRestError` if it does not authenticate."""
    from cryptography.exceptions import InvalidTag

    aead = _aead(device_key)
    if len(sealed) < AT_REST_OVERHEAD:
        raise AtRestError(
            f"sealed data of {len(sealed)} bytes is shorter than the {AT_REST_OVERHEAD}-byte "
            "minimum: the state file is truncated or damaged"
        )
    if sealed[0] != _FORMAT:
        raise AtRestError(
            f"sealed data has format 0x{sealed[0]:02x}, expected 0x{_FORMAT:02x}: the state "
            "file is damaged or from a newer version"
        )
    head, n = sealed[:1], sealed[1 : 1 + _NONCE_LENGTH]
    try:
        return aead.decrypt(n, bytes(sealed[1 + _NONCE_LENGTH :]), head + aad)
    except InvalidTag:
        raise AtRestError(
            "sealed data does not match the device key: the state file was tampered with, or "
            "it belongs with another device key file"
        ) from None
