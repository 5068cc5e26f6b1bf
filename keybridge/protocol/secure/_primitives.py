"""Building blocks shared by pairing, sessions and sealing: hashing, HKDF, HMAC, X25519.

``cryptography`` is imported by the functions that use it: the PIN and at-rest modules need
only the cheap helpers, and the simulator's cold start has a budget.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import TYPE_CHECKING

from keybridge.errors import ProtocolError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

PUBLIC_KEY_LENGTH = 32
PRIVATE_KEY_LENGTH = 32
NONCE_LENGTH = 16
ID_LENGTH = 16
MAC_LENGTH = 32
KEY_LENGTH = 32


def transcript_hash(domain: bytes, *fields: bytes) -> bytes:
    """SHA-256 over the domain and each field, every one prefixed by its u16 length.

    The length prefixes make the encoding injective: no two field lists hash the same input.
    """
    h = hashlib.sha256()
    for part in (domain, *fields):
        h.update(len(part).to_bytes(2, "big"))
        h.update(part)
    return h.digest()


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = KEY_LENGTH) -> bytes:
    """HKDF-SHA256 (RFC 5869), extract and expand."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def mac(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data``."""
    return hmac.digest(key, data, "sha256")


def macs_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison, so a forger learns nothing from the time a check takes."""
    return hmac.compare_digest(a, b)


def random_bytes(length: int) -> bytes:
    # What secrets.token_bytes does, without importing random (the key's start has a budget).
    return os.urandom(length)


def fixed(name: str, value: bytes | None, length: int) -> bytes:
    """``value`` checked to be ``length`` bytes, or fresh random bytes when it is None.

    Injecting values is for test vectors only; a wrong length is a programming error.
    """
    if value is None:
        return random_bytes(length)
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")
    return bytes(value)


def x25519_private(raw: bytes | None) -> X25519PrivateKey:
    """A new X25519 private key, or the one whose 32 raw bytes are given (test vectors)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    if raw is None:
        return X25519PrivateKey.generate()
    return X25519PrivateKey.from_private_bytes(fixed("private key", raw, PRIVATE_KEY_LENGTH))


def x25519_public_bytes(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def x25519_shared(
    private: X25519PrivateKey, peer_public: bytes, error: type[ProtocolError], who: str
) -> bytes:
    """The ECDH shared secret; a low-order peer point (all-zero secret) raises ``error``."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:
        raise error(
            f"the {who}'s public key is invalid (a low-order point): the exchange was tampered "
            "with; start again"
        ) from exc


def split(
    payload: bytes, lengths: tuple[int, ...], what: str, error: type[ProtocolError]
) -> list[bytes]:
    """Cut a fixed-layout payload into fields; a wrong total length raises ``error``."""
    total = sum(lengths)
    if len(payload) != total:
        raise error(f"{what} must be {total} bytes, got {len(payload)}")
    out: list[bytes] = []
    offset = 0
    for n in lengths:
        out.append(bytes(payload[offset : offset + n]))
        offset += n
    return out
