"""What the key keeps in flash: its serial number and its credential table.

The dataclasses are frozen: the core builds a new :class:`KeyState` for every change, saves it,
and only then adopts it, so a request that fails (or a flash write that fails) leaves the state
the key answers from exactly as it was.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol.record import Record

__all__ = ["Credential", "KeyState", "PairedHost", "PinRecord", "new_serial"]


class Credential(Record):
    """One OTP credential. ``secret`` never leaves the key (no command returns it)."""

    name: str
    secret: bytes = dataclasses.field(repr=False)
    kind: OtpKind = OtpKind.TOTP
    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = 30
    counter: int = 0
    """HOTP: the counter the next code is computed for. TOTP: unused (0)."""
    require_button: bool = False
    layout: str | None = None
    """Default keyboard layout for OTP_TYPE; None means "us"."""


class PairedHost(Record):
    """A host paired with the key; ``pairing_key`` opens its sessions (sealed at rest)."""

    host_id: bytes
    pairing_key: bytes = dataclasses.field(repr=False)


class PinRecord(Record):
    """The PIN: its salted hash (sealed at rest) and the retry counter."""

    salt: bytes
    digest: bytes = dataclasses.field(repr=False)
    iterations: int
    max_retries: int
    retries_left: int


class KeyState(Record):
    """Everything the key persists. Credentials keep the order they were added in."""

    serial: str
    credentials: tuple[Credential, ...] = ()
    key_id: bytes = b""
    """16 bytes naming the key in pairings (made at first start; new after a reset)."""
    hosts: tuple[PairedHost, ...] = ()
    pin: PinRecord | None = None

    def host(self, host_id: bytes) -> PairedHost | None:
        for host in self.hosts:
            if host.host_id == host_id:
                return host
        return None

    def find(self, name: str) -> int | None:
        """Index of the credential called ``name``, or None."""
        for i, credential in enumerate(self.credentials):
            if credential.name == name:
                return i
        return None

    def replace_at(self, index: int, credential: Credential) -> KeyState:
        items = list(self.credentials)
        items[index] = credential
        return dataclasses.replace(self, credentials=tuple(items))

    def without(self, index: int) -> KeyState:
        items = self.credentials[:index] + self.credentials[index + 1 :]
        return dataclasses.replace(self, credentials=items)

    def adding(self, credential: Credential) -> KeyState:
        return dataclasses.replace(self, credentials=(*self.credentials, credential))


def new_serial(random: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh serial number: "KB" and 10 upper-case hex digits."""
    return "KB" + random(5).hex().upper()
