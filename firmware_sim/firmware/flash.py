"""The key's flash: one state file, versioned and checksummed, replaced atomically.

File layout (integers big-endian)::

    "KBKEY" | format u8 | length u32 | SHA-256(payload) 32 bytes | payload (UTF-8 JSON)

A save writes a temporary file in the same directory, fsyncs it, renames it over the state file
and fsyncs the directory, so a power cut at any instant leaves the old or the new file, never a
mix. A file that is truncated, corrupt, foreign or from a newer format is refused with a
:class:`FlashError`; the key never silently starts empty over someone's data.

Secrets (OTP secrets, pairing keys, the PIN hash) pass through one :class:`SecretCodec`: plain
base64 by default (in-memory keys, tests), sealed under a device key kept in its own file for
the simulator (:mod:`firmware_sim.firmware.device_key`), so the state file alone reveals no secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any, Protocol, TypeVar

from firmware_sim.firmware.state import Credential, KeyState, PairedHost, PinRecord, check_state
from keybridge.errors import KeybridgeError
from keybridge.files import write_atomically
from keybridge.otp.codes import Algorithm, OtpKind

__all__ = [
    "ADVICE",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_IMAGE_BYTES",
    "Base64Secrets",
    "Flash",
    "FlashError",
    "SecretCodec",
]

MAGIC = b"KBKEY"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">5sBI32s")
MAX_IMAGE_BYTES = 1 << 20
"""A full key's state is about 100 kB; a bigger file is not a key state (and is not read)."""
ADVICE = (
    "the file is left as it is: restore the state file and its .devkey file from a backup, "
    "or start a new key with `python -m firmware_sim serve --state NEW_FILE`"
)
"""What to do about a state file that cannot be used; every refusal of one ends with it."""
_T = TypeVar("_T")


class FlashError(KeybridgeError):
    """The state file cannot be read or written; the message names the file and what to do."""


class SecretCodec(Protocol):
    """How a secret is written into the state file (and read back).

    ``slot`` names where the secret lives (``otp:NAME``, ``host:ID``, ``pin``), so an
    encrypting codec can bind each blob to its place.
    """

    def seal(self, secret: bytes, slot: str = "") -> str: ...

    def open(self, sealed: str, slot: str = "") -> bytes: ...


class Base64Secrets:
    """Secrets stored as plain base64 (in-memory keys and tests; the simulator encrypts)."""

    def seal(self, secret: bytes, slot: str = "") -> str:
        return base64.b64encode(secret).decode("ascii")

    def open(self, sealed: str, slot: str = "") -> bytes:
        return base64.b64decode(sealed.encode("ascii"), validate=True)


class Flash:
    """Persistent key state: a file at ``path``, or in memory (:meth:`memory`)."""

    def __init__(self, path: str | os.PathLike[str], *, secrets: SecretCodec | None = None) -> None:
        self.path: Path | None = Path(path)
        self._secrets = secrets or Base64Secrets()
        self._image: bytes | None = None

    @classmethod
    def memory(
        cls, initial: KeyState | None = None, *, secrets: SecretCodec | None = None
    ) -> Flash:
        """A flash that lives in this process only (tests, throw-away keys)."""
        flash = cls.__new__(cls)
        flash.path = None
        flash._secrets = secrets or Base64Secrets()
        flash._image = None
        if initial is not None:
            flash.save(initial)
        return flash

    @property
    def description(self) -> str:
        return str(self.path) if self.path is not None else "<memory>"

    def load(self) -> KeyState | None:
        """The stored state, or None for a key that has never been started."""
        if self.path is None:
            return None if self._image is None else self.decode(self._image)
        try:
            with self.path.open("rb") as file:
                data = file.read(MAX_IMAGE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FlashError(f"cannot read the key state file {self.path}: {exc.strerror}") from exc
        if len(data) > MAX_IMAGE_BYTES:
            raise FlashError(
                f"the key state file {self.path} is over {MAX_IMAGE_BYTES} bytes, more than a "
                f"full key's state; {ADVICE}"
            )
        return self.decode(data)

    def save(self, state: KeyState) -> None:
        """Store ``state`` durably; raises :class:`FlashError` if it could not be written.

        A state outside the key's limits is refused before a byte is written: the key never
        writes a file it would refuse to load.
        """
        try:
            check_state(state)
        except ValueError as exc:
            raise FlashError(f"refusing to write an invalid key state ({exc})") from None
        image = self.encode(state)
        if self.path is None:
            self._image = image
            return
        try:
            write_atomically(self.path, image)
        except OSError as exc:
            raise FlashError(
                f"cannot write the key state file {self.path}: {exc.strerror or exc}; "
                "check the directory exists and is writable"
            ) from exc

    # -- encoding ------------------------------------------------------------------------

    def encode(self, state: KeyState) -> bytes:
        payload = json.dumps(self._to_json(state), separators=(",", ":")).encode("utf-8")
        digest = hashlib.sha256(payload).digest()
        return _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), digest) + payload

    def decode(self, data: bytes) -> KeyState:
        """The state in an image; :class:`FlashError` for anything but a valid key state."""
        where = f"the key state file {self.description}"
        if len(data) < len(MAGIC) or not data.startswith(MAGIC):
            raise FlashError(f"{where} is not a keybridge key state (wrong magic); {ADVICE}")
        if len(data) < _HEADER.size:
            raise FlashError(f"{where} is truncated ({len(data)} bytes); {ADVICE}")
        _, version, length, digest = _HEADER.unpack_from(data)
        if version > FORMAT_VERSION:
            raise FlashError(
                f"{where} has format {version}, newer than this simulator's {FORMAT_VERSION}: "
                f"upgrade keybridge, or {ADVICE}"
            )
        if version != FORMAT_VERSION:
            raise FlashError(f"{where} has unknown format {version}; {ADVICE}")
        payload = data[_HEADER.size :]
        if len(payload) != length:
            what = "truncated" if len(payload) < length else "longer than its header says"
            raise FlashError(
                f"{where} is {what} ({len(payload)} of {length} payload bytes); {ADVICE}"
            )
        if hashlib.sha256(payload).digest() != digest:
            raise FlashError(f"{where} is corrupt (checksum mismatch); {ADVICE}")
        try:
            doc = json.loads(payload.decode("utf-8"))
        except RecursionError:  # json recurses once per nesting level
            raise FlashError(
                f"{where} holds an invalid state (JSON nested too deeply); {ADVICE}"
            ) from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise FlashError(
                f"{where} holds an invalid state (not JSON: {exc}); {ADVICE}"
            ) from None
        try:
            state = self._from_json(doc)
            check_state(state)
        except (ValueError, binascii.Error) as exc:
            raise FlashError(f"{where} holds an invalid state ({exc}); {ADVICE}") from None
        return state

    def _to_json(self, state: KeyState) -> dict[str, Any]:
        seal = self._secrets.seal
        doc: dict[str, Any] = {
            "serial": state.serial,
            "key_id": state.key_id.hex(),
            "hosts": [
                {"id": h.host_id.hex(), "key": seal(h.pairing_key, f"host:{h.host_id.hex()}")}
                for h in state.hosts
            ],
            "credentials": [
                {
                    "name": c.name,
                    "secret": seal(c.secret, f"otp:{c.name}"),
                    "kind": c.kind.name,
                    "algorithm": c.algorithm.name,
                    "digits": c.digits,
                    "period": c.period,
                    "counter": c.counter,
                    "require_button": c.require_button,
                    "layout": c.layout,
                }
                for c in state.credentials
            ],
        }
        if state.pin is not None:
            p = state.pin
            doc["pin"] = {
                "salt": p.salt.hex(),
                "hash": seal(p.digest, "pin"),
                "iterations": p.iterations,
                "max_retries": p.max_retries,
                "retries_left": p.retries_left,
            }
        return doc

    def _from_json(self, doc: Any) -> KeyState:
        """The state in a parsed payload. Every field is required and typed (only ``pin`` may be
        absent or null: no PIN): a missing ``key_id`` or ``credentials`` is a damaged file,
        never an empty key."""
        top = _object(doc, "the state")
        credentials = []
        for i, value in enumerate(_field(top, "credentials", list)):
            at = f"credentials[{i}]."
            item = _object(value, at[:-1])
            name = _field(item, "name", str, at)
            kind = _field(item, "kind", str, at)
            algorithm = _field(item, "algorithm", str, at)
            if kind not in OtpKind.__members__:
                raise ValueError(f"{at}kind {kind[:20]!r} is not TOTP or HOTP")
            if algorithm not in Algorithm.__members__:
                raise ValueError(f"{at}algorithm {algorithm[:20]!r} is not SHA1, SHA256 or SHA512")
            credential = Credential(
                name=name,
                secret=self._open(item, "secret", f"otp:{name}", at),
                kind=OtpKind[kind],
                algorithm=Algorithm[algorithm],
                digits=_field(item, "digits", int, at),
                period=_field(item, "period", int, at),
                counter=_field(item, "counter", int, at),
                require_button=_field(item, "require_button", bool, at),
                layout=None if item.get("layout", "") is None else _field(item, "layout", str, at),
            )
            credentials.append(credential)
        hosts = []
        for i, value in enumerate(_field(top, "hosts", list)):
            at = f"hosts[{i}]."
            item = _object(value, at[:-1])
            host_id = _hex(item, "id", at)
            hosts.append(PairedHost(host_id, self._open(item, "key", f"host:{host_id.hex()}", at)))
        pin = None
        if top.get("pin") is not None:
            p = _object(top["pin"], "pin")
            pin = PinRecord(
                salt=_hex(p, "salt", "pin."),
                digest=self._open(p, "hash", "pin", "pin."),
                iterations=_field(p, "iterations", int, "pin."),
                max_retries=_field(p, "max_retries", int, "pin."),
                retries_left=_field(p, "retries_left", int, "pin."),
            )
        return KeyState(
            serial=_field(top, "serial", str),
            credentials=tuple(credentials),
            key_id=_hex(top, "key_id"),
            hosts=tuple(hosts),
            pin=pin,
        )

    def _open(self, item: dict[str, Any], key: str, slot: str, at: str) -> bytes:
        sealed = _field(item, key, str, at)
        try:
            return self._secrets.open(sealed, slot)
        except (ValueError, binascii.Error):  # base64's errors (a sealing codec raises its own)
            raise ValueError(f"{at}{key} is not a stored secret") from None


_JSON_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    bool: "true or false",
}


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object, not {_json_type(value)}")
    return value


def _field(item: dict[str, Any], key: str, kind: type[_T], at: str = "") -> _T:
    """``item[key]`` if it is of JSON type ``kind``; a ValueError naming ``at + key`` if not."""
    if key not in item:
        raise ValueError(f"{at}{key} is missing")
    value = item[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{at}{key} must be {_JSON_NAMES[kind]}, not {_json_type(value)}")
    return value


def _hex(item: dict[str, Any], key: str, at: str = "") -> bytes:
    text = _field(item, key, str, at)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{at}{key} is not hexadecimal") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind in (bool, dict, list, str, int):  # bool first: a bool is an int
        if isinstance(value, kind):
            return _JSON_NAMES[kind]
    return "a number"
