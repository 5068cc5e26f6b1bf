"""What the key keeps in flash: its serial number and its credential table.

The dataclasses are frozen: the core builds a new :class:`KeyState` for every change, saves it,
and only then adopts it, so a request that fails (or a flash write that fails) leaves the state
the key answers from exactly as it was.

:func:`check_state` is the one statement of what a valid state is (every limit the key enforces
on requests); the flash checks every state it loads or saves with it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol.constants import (
    CAPACITY,
    DIGITS_MAX,
    DIGITS_MIN,
    MAX_PAIRED_HOSTS,
    NAME_MAX_BYTES,
    PERIOD_MAX,
    PERIOD_MIN,
    PIN_RETRIES_MAX,
    PIN_RETRIES_MIN,
    SECRET_MAX_BYTES,
    SECRET_MIN_BYTES,
)
from keybridge.protocol.record import Record

# The cheap constants module: the key's cold start does not import cryptography.
from keybridge.protocol.secure._primitives import ID_LENGTH, KEY_LENGTH
from keybridge.protocol.secure.pin import PIN_HASH_LENGTH, PIN_SALT_LENGTH

__all__ = [
    "MAX_COUNTER",
    "PIN_ITERATIONS_MAX",
    "SERIAL_MAX_LENGTH",
    "Credential",
    "KeyState",
    "PairedHost",
    "PinRecord",
    "check_state",
    "name_problem",
    "new_serial",
]

MAX_COUNTER = 2**64 - 2
"""Largest HOTP counter a credential may hold: the key must be able to store counter + 1."""
SERIAL_MAX_LENGTH = 32
"""A serial number is 1 to 32 printable ASCII characters (the key makes "KB" + 10 hex digits)."""
PIN_ITERATIONS_MAX = 10_000_000
"""More PBKDF2 iterations than this would stall the key for minutes on every PIN check."""


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


def name_problem(name: str, field: str = "NAME") -> str | None:
    """What is wrong with ``name`` as a credential name (1-64 bytes of UTF-8, no control
    character), or None."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= NAME_MAX_BYTES:
        return f"{field} is {size} bytes of UTF-8; it must be 1 to {NAME_MAX_BYTES}"
    if name.isprintable():  # no control character (the common case, checked in C)
        return None
    import unicodedata

    for i, char in enumerate(name):
        category = unicodedata.category(char)
        if category == "Cc":
            return f"{field} holds control character U+{ord(char):04X} at position {i}"
        if category == "Cs":  # only a file can hold one: the wire carries valid UTF-8
            return f"{field} holds a lone surrogate U+{ord(char):04X} at position {i}"
    return None


def check_state(state: KeyState) -> None:
    """Raise :class:`ValueError` naming the first value of ``state`` outside the key's limits.

    A state that passes answers every request without an internal error: these are the limits
    the key enforces on what hosts send, applied to what it reads back.
    """
    serial = state.serial
    if not (1 <= len(serial) <= SERIAL_MAX_LENGTH and serial.isascii() and serial.isprintable()):
        raise ValueError(
            f"serial {_shown(serial)} must be 1 to {SERIAL_MAX_LENGTH} printable ASCII characters"
        )
    if " " in serial:
        raise ValueError(f"serial {_shown(serial)} holds a space")
    _check_length("key_id", state.key_id, ID_LENGTH)
    if len(state.credentials) > CAPACITY:
        raise ValueError(f"{len(state.credentials)} credentials; the key holds at most {CAPACITY}")
    names: set[str] = set()
    for i, credential in enumerate(state.credentials):
        _check_credential(f"credentials[{i}]", credential)
        if credential.name in names:
            raise ValueError(f"credentials[{i}].name {_shown(credential.name)} appears twice")
        names.add(credential.name)
    if len(state.hosts) > MAX_PAIRED_HOSTS:
        raise ValueError(f"{len(state.hosts)} paired hosts; the key holds {MAX_PAIRED_HOSTS}")
    host_ids: set[bytes] = set()
    for i, host in enumerate(state.hosts):
        _check_length(f"hosts[{i}].id", host.host_id, ID_LENGTH)
        _check_length(f"hosts[{i}].key", host.pairing_key, KEY_LENGTH)
        if host.host_id in host_ids:
            raise ValueError(f"hosts[{i}].id {host.host_id.hex()} appears twice")
        host_ids.add(host.host_id)
    if state.pin is not None:
        _check_pin(state.pin)


def _check_credential(where: str, credential: Credential) -> None:
    problem = name_problem(credential.name, f"{where}.name")
    if problem is not None:
        raise ValueError(problem)
    size = len(credential.secret)
    if not SECRET_MIN_BYTES <= size <= SECRET_MAX_BYTES:
        raise ValueError(
            f"{where}.secret is {size} bytes; it must be {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES}"
        )
    _check_range(f"{where}.digits", credential.digits, DIGITS_MIN, DIGITS_MAX)
    _check_range(f"{where}.period", credential.period, PERIOD_MIN, PERIOD_MAX)
    _check_range(f"{where}.counter", credential.counter, 0, MAX_COUNTER)
    if credential.layout is not None:
        # Loaded only for a credential with a layout: the keyboard tables are not part of
        # the key's cold start.
        from keybridge.keyboard.layouts import LAYOUT_IDS

        if credential.layout not in LAYOUT_IDS:
            raise ValueError(
                f"{where}.layout {_shown(credential.layout)} is not a layout the key knows "
                f"({', '.join(LAYOUT_IDS)})"
            )


def _check_pin(pin: PinRecord) -> None:
    _check_length("pin.salt", pin.salt, PIN_SALT_LENGTH)
    _check_length("pin.hash", pin.digest, PIN_HASH_LENGTH)
    _check_range("pin.iterations", pin.iterations, 1, PIN_ITERATIONS_MAX)
    _check_range("pin.max_retries", pin.max_retries, PIN_RETRIES_MIN, PIN_RETRIES_MAX)
    # 0 is a state a power cut can leave between spending the last retry and the erase.
    _check_range("pin.retries_left", pin.retries_left, 0, pin.max_retries)


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{field} is {value}; it must be {low} to {high}")


def _check_length(field: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise ValueError(f"{field} has {len(value)} bytes; it must have {length}")


def _shown(text: str) -> str:
    """``text`` quoted for an error line, cut short: a damaged file may hold megabytes."""
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text)} characters)"


def new_serial(random: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh serial number: "KB" and 10 upper-case hex digits."""
    return "KB" + random(5).hex().upper()
