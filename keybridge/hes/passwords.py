"""Password storage with scrypt: per-user salt, parameters kept with the hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keybridge.errors import InvalidInputError

__all__ = ["DEFAULT_SCRYPT_N", "hash_password", "verify_password"]

DEFAULT_SCRYPT_N = 2**14
"""scrypt cost (N) for new passwords; r=8, p=1 (16 MiB, about 50 ms)."""

_R = 8
_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_PREFIX = "scrypt"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=_HASH_BYTES
    )


def hash_password(password: str, n: int = DEFAULT_SCRYPT_N, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt_hex$hash_hex`` for ``password`` with a fresh random salt (inject
    ``salt`` only to make reproducible test accounts)."""
    if n < 2 or n & (n - 1):
        raise InvalidInputError(f"scrypt cost {n} is not a power of 2 above 1")
    if salt is None:
        salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, n, _R, _P)
    return f"{_PREFIX}${n}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    prefix, n, r, p, salt, digest = stored.split("$")
    if prefix != _PREFIX:
        return False
    computed = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    return hmac.compare_digest(computed, bytes.fromhex(digest))
