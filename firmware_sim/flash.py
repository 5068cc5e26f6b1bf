"""The key's flash: one state file, versioned and checksummed, replaced atomically.

File layout (integers big-endian)::

    "KBKEY" | format u8 | length u32 | SHA-256(payload) 32 bytes | payload (UTF-8 JSON)

A save writes a temporary file in the same directory, fsyncs it, renames it over the state file
and fsyncs the directory, so a power cut at any instant leaves the old or the new file, never a
mix. A file that is truncated, corrupt, foreign or from a newer format is refused with a
:class:`FlashError`; the key never silently starts empty over someone's data.

Secrets (OTP secrets, pairing keys, the PIN hash) pass through one :class:`SecretCodec`: plain
base64 by default (in-memory keys, tests), sealed under a device key kept in its own file for
the simulator (:mod:`firmware_sim.device_key`), so the state file alone reveals no secret.
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

from firmware_sim.state import Credential, KeyState, PairedHost, PinRecord
from keybridge.errors import KeybridgeError
from keybridge.protocol.constants import HashAlgorithm, OtpKind

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Base64Secrets",
    "Flash",
    "FlashError",
    "SecretCodec",
    "temporary_path",
]

MAGIC = b"KBKEY"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">5sBI32s")
_ADVICE = "delete it or pass another --state"
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
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FlashError(f"cannot read the key state file {self.path}: {exc.strerror}") from exc
        return self.decode(data)

    def save(self, state: KeyState) -> None:
        """Store ``state`` durably; raises :class:`FlashError` if it could not be written."""
        image = self.encode(state)
        if self.path is None:
            self._image = image
            return
        try:
            _write_atomically(self.path, image)
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
        where = f"the key state file {self.description}"
        if len(data) < len(MAGIC) or not data.startswith(MAGIC):
            raise FlashError(f"{where} is not a keybridge key state (wrong magic); {_ADVICE}")
        if len(data) < _HEADER.size:
            raise FlashError(f"{where} is truncated ({len(data)} bytes); {_ADVICE}")
        _, version, length, digest = _HEADER.unpack_from(data)
        if version > FORMAT_VERSION:
            raise FlashError(
                f"{where} has format {version}, newer than this simulator's {FORMAT_VERSION}: "
                f"upgrade keybridge, or {_ADVICE}"
            )
        if version != FORMAT_VERSION:
            raise FlashError(f"{where} has unknown format {version}; {_ADVICE}")
        payload = data[_HEADER.size :]
        if len(payload) != length:
            what = "truncated" if len(payload) < length else "longer than its header says"
            raise FlashError(
                f"{where} is {what} ({len(payload)} of {length} payload bytes); {_ADVICE}"
            )
        if hashlib.sha256(payload).digest() != digest:
            raise FlashError(f"{where} is corrupt (checksum mismatch); {_ADVICE}")
        try:
            return self._from_json(json.loads(payload.decode("utf-8")))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise FlashError(f"{where} holds an invalid state ({exc}); {_ADVICE}") from None

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
        if not isinstance(doc, dict) or not isinstance(doc["serial"], str):
            raise ValueError("no serial number")
        credentials = []
        for item in doc["credentials"]:
            layout = item["layout"]
            credential = Credential(
                name=_typed(item["name"], str),
                secret=self._secrets.open(_typed(item["secret"], str), f"otp:{item['name']}"),
                kind=OtpKind[_typed(item["kind"], str)],
                algorithm=HashAlgorithm[_typed(item["algorithm"], str)],
                digits=_typed(item["digits"], int),
                period=_typed(item["period"], int),
                counter=_typed(item["counter"], int),
                require_button=_typed(item["require_button"], bool),
                layout=None if layout is None else _typed(layout, str),
            )
            credentials.append(credential)
        hosts = tuple(
            PairedHost(
                bytes.fromhex(_typed(h["id"], str)),
                self._secrets.open(_typed(h["key"], str), f"host:{h['id']}"),
            )
            for h in doc.get("hosts", [])
        )
        pin = None
        if doc.get("pin") is not None:
            p = doc["pin"]
            pin = PinRecord(
                salt=bytes.fromhex(_typed(p["salt"], str)),
                digest=self._secrets.open(_typed(p["hash"], str), "pin"),
                iterations=_typed(p["iterations"], int),
                max_retries=_typed(p["max_retries"], int),
                retries_left=_typed(p["retries_left"], int),
            )
        return KeyState(
            serial=doc["serial"],
            credentials=tuple(credentials),
            key_id=bytes.fromhex(_typed(doc.get("key_id", ""), str)),
            hosts=hosts,
            pin=pin,
        )


def _typed(value: Any, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def temporary_path(path: Path) -> Path:
    """Where a save of ``path`` writes before its rename.

    A fixed name: a write cut short by a power loss leaves at most one stale file, which the
    next save truncates and reuses.
    """
    return path.with_name(f".{path.name}.tmp")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
