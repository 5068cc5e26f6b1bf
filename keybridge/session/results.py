"""What key operations return: typed, frozen values (never a secret)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keybridge.errors import MessageError
from keybridge.otp.codes import Algorithm, OtpKind

if TYPE_CHECKING:  # not at run time: the agent's client loads these values alone
    from keybridge.protocol.commands import GetInfoResponse, ListEntry

__all__ = ["Code", "CredentialInfo", "KeyInfo", "Typed"]

REPORT_SIZE = 8
"""Bytes in one boot-keyboard report."""


@dataclass(frozen=True)
class KeyInfo:
    """What the key says about itself (``GET_INFO``)."""

    serial: str
    firmware_version: str
    protocol_version: int
    capacity: int
    used: int
    clock_set: bool
    time: int | None
    """The key's clock (unix seconds) when it answered, if set."""
    max_message: int
    layouts: tuple[str, ...]
    paired_hosts: int
    pin_set: bool
    pin_retries: int | None

    @classmethod
    def from_body(cls, body: GetInfoResponse) -> KeyInfo:
        """The answer's fields by name; only the layouts change shape (a list in one text)."""
        values = {f.name: getattr(body, f.name) for f in dataclasses.fields(cls)}
        values["layouts"] = tuple(body.layouts.replace(",", " ").split())
        return cls(**values)


@dataclass(frozen=True)
class CredentialInfo:
    """One stored credential as ``OTP_LIST`` describes it (never its secret)."""

    name: str
    kind: OtpKind
    algorithm: Algorithm
    digits: int
    period: int
    require_button: bool
    layout: str | None

    @classmethod
    def from_entry(cls, entry: ListEntry) -> CredentialInfo:
        return cls(**{f.name: getattr(entry, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Code:
    """A code the key computed: TOTP codes carry ``valid_until`` (unix time, by the key's
    clock) and ``valid_for`` (whole seconds left by the key's clock when it answered); HOTP
    codes carry ``counter``."""

    code: str
    valid_until: int | None = None
    counter: int | None = None
    valid_for: int | None = None

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class Typed:
    """The keystrokes the key produced: 8-byte boot-keyboard reports, and their layout."""

    reports: list[bytes]
    layout: str

    @classmethod
    def from_bytes(cls, data: bytes, layout: str) -> Typed:
        """Split the key's REPORTS field into reports."""
        if len(data) % REPORT_SIZE:
            raise MessageError(
                f"the key sent {len(data)} bytes of keyboard reports, not a multiple of"
                f" {REPORT_SIZE}"
            )
        reports = [data[i : i + REPORT_SIZE] for i in range(0, len(data), REPORT_SIZE)]
        return cls(reports, layout)
