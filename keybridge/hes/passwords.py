"""Password storage with scrypt: per-user salt, parameters kept with the hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keybridge.errors import InvalidInputError

__all__ = ["DEFAULT_SCRYPT_N", "PasswordCheck", "hash_password", "scrypt_cost", "verify_password"]

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


def scrypt_cost(stored: str) -> int:
    """How costly verifying ``stored`` is, as the N that costs as much with r=8, p=1 (0 for a
    hash this module did not write)."""
    fields = stored.split("$")
    if len(fields) != 6 or fields[0] != _PREFIX or not all(f.isdigit() for f in fields[1:4]):
        return 0
    n, r, p = (int(f) for f in fields[1:4])
    return n * r * p // (_R * _P)


class PasswordCheck:
    """The KDF half of a password login (from ``Hes.start_login``), apart from the database.

    :meth:`verify` touches no database, so a server can run it in a worker thread when
    :attr:`cost` is high and keep the event loop free. ``Hes.finish_login`` takes the checked
    object; one that was never verified is refused (fails closed).
    """

    __slots__ = ("_ok", "_stored", "cost", "email", "known", "locked_until")

    def __init__(self, email: str, stored: str, *, known: bool, locked_until: float | None) -> None:
        self.email = email
        self.known = known
        """Whether the account exists (an unknown address is checked against a stand-in)."""
        self.locked_until = locked_until
        """When the account's lockout ends, if it was locked when the login started."""
        self.cost = scrypt_cost(stored)
        self._stored = stored
        self._ok: bool | None = None

    def verify(self, password: str) -> None:
        """Run the KDF (as long for an unknown address as for a real one; none when locked)."""
        if not password:
            raise InvalidInputError("the password is empty: give the password")
        if self.locked_until is not None:
            self._ok = False
            return
        self._ok = verify_password(password, self._stored) and self.known

    @property
    def ok(self) -> bool | None:
        """Whether the password matched; None until :meth:`verify` ran."""
        return self._ok
