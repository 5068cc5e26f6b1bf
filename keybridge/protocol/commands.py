"""Typed bodies of every v1 command: one dataclass per request and per response.

Each body maps its attributes to TLV fields through ``tlv(tag, codec)`` metadata, so encoding and
decoding are written once (:meth:`Body.to_fields`, :meth:`Body.from_fields`). Structural errors
(missing required field, wrong integer width, invalid UTF-8) raise :class:`MessageError`; range
checks (name length, digits, ...) belong to the key, which answers them with named statuses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Self, TypeVar

from keybridge.errors import MessageError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol.constants import Command, Tag
from keybridge.protocol.messages import (
    _FIELD_HEADER,
    MAX_FIELD,
    Fields,
    decode_fields,
    encode_fields,
)
from keybridge.protocol.record import Record

__all__ = [
    "BODIES",
    "Body",
    "Empty",
    "GetInfoResponse",
    "HandshakeBody",
    "HostEntry",
    "ListEntry",
    "ListHostsResponse",
    "OtpCalculateRequest",
    "OtpCalculateResponse",
    "OtpListRequest",
    "OtpListResponse",
    "OtpNameRequest",
    "OtpPutRequest",
    "OtpRenameRequest",
    "OtpTypeRequest",
    "OtpTypeResponse",
    "PinChangeRequest",
    "PinRequest",
    "PinSetRequest",
    "PingBody",
    "SessionOpenRequest",
    "SetTimeRequest",
    "SetTimeResponse",
    "UnpairRequest",
]


class Codec(Record):
    """How one field value becomes bytes and back."""

    name: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


def _uint(width: int) -> Codec:
    def encode(value: int) -> bytes:
        try:
            return int(value).to_bytes(width, "big")
        except OverflowError:
            raise MessageError(f"{value} does not fit in {width * 8} bits") from None

    def decode(raw: bytes) -> int:
        if len(raw) != width:
            raise MessageError(f"expected a {width}-byte integer, got {len(raw)} bytes")
        return int.from_bytes(raw, "big")

    return Codec(f"u{width * 8}", encode, decode)


def _decode_bool(raw: bytes) -> bool:
    if raw not in (b"\x00", b"\x01"):
        raise MessageError(f"expected a boolean byte 00 or 01, got {raw.hex() or 'nothing'}")
    return raw == b"\x01"


def _decode_str(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(f"text field is not valid UTF-8 ({exc.reason})") from None


E = TypeVar("E", OtpKind, Algorithm)


def _enum(cls: type[E], name: str) -> Codec:
    def decode(raw: bytes) -> E:
        value = U8.decode(raw)
        try:
            return cls(value)
        except ValueError:
            raise MessageError(f"{value} is not a known {name}") from None

    return Codec(name, lambda v: U8.encode(v), decode)


U8, U16, U32, U64 = _uint(1), _uint(2), _uint(4), _uint(8)
BOOL = Codec("bool", lambda v: b"\x01" if v else b"\x00", _decode_bool)
STR = Codec("utf8", lambda v: str(v).encode("utf-8"), _decode_str)
BYTES = Codec("bytes", bytes, bytes)


def _fixed_bytes(size: int) -> Codec:
    """Bytes of exactly ``size`` (an id): another length is malformed, not "not found"."""

    def decode(raw: bytes) -> bytes:
        if len(raw) != size:
            raise MessageError(f"expected {size} bytes, got {len(raw)}")
        return bytes(raw)

    return Codec(f"bytes[{size}]", bytes, decode)


HOST_ID = _fixed_bytes(16)
# The enums are keybridge.otp's (their values are the wire codes); the names are the protocol's,
# as DETAIL texts and docs/protocol.md give them.
KIND = _enum(OtpKind, "OtpKind")
ALGORITHM = _enum(Algorithm, "HashAlgorithm")


def tlv(tag: Tag, codec: Codec, default: Any = dataclasses.MISSING) -> Any:
    """Declare a body attribute carried as field ``tag``; no default means required."""
    meta = {"tag": tag, "codec": codec}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Body(Record):
    """Base of typed bodies. ``None`` attributes are optional fields left out on the wire.

    Bodies are :class:`~keybridge.protocol.record.Record` dataclasses: frozen, compared, hashed
    and printed as ``@dataclass(frozen=True)`` would, with their methods compiled on first use
    (generating them at import for each of the ~25 bodies cost a sixth of the simulator's
    cold-start budget).
    """

    def to_fields(self) -> Fields:
        pairs: list[tuple[int, bytes]] = []
        for name, tag, codec, _, _ in _PLANS.get(self.__class__) or _plan(self.__class__):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, (list, tuple)):  # a tuple of types: faster than list | tuple
                pairs.extend((tag, codec.encode(v)) for v in value)
            else:
                pairs.append((tag, codec.encode(value)))
        return Fields(tuple(pairs))

    def to_bytes(self) -> bytes:
        """``encode_fields(self.to_fields())`` in one pass (the key encodes a body per frame)."""
        out = bytearray()
        for name, tag, codec, _, _ in _PLANS.get(self.__class__) or _plan(self.__class__):
            value = getattr(self, name)
            if value is None:
                continue
            for item in value if isinstance(value, (list, tuple)) else (value,):
                raw = codec.encode(item)
                if len(raw) > MAX_FIELD:
                    raise MessageError(f"field 0x{tag:02x} of {len(raw)} bytes is too long")
                out += _FIELD_HEADER.pack(tag, len(raw))
                out += raw
        return bytes(out)

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        kwargs: dict[str, Any] = {}
        items = fields.items
        # A repeated tag is rare: one set() over the tags tells whether to look for one.
        repeats = len({tag for tag, _ in items}) != len(items)
        for name, tag, codec, is_repeated, required in _PLANS.get(cls) or _plan(cls):
            if is_repeated:
                kwargs[name] = tuple(_decode(codec, tag, raw) for raw in fields.get_all(tag))
                continue
            raw = fields.get(tag)
            if raw is None:
                if required:
                    raise MessageError(f"missing field {tag.name} (0x{tag:02x})")
                continue
            if repeats and len(fields.get_all(tag)) > 1:
                # Which copy counts would be a guess each implementation makes differently.
                raise MessageError(f"field {tag.name} (0x{tag:02x}) appears more than once")
            try:  # _decode, inlined: every request goes through here
                kwargs[name] = codec.decode(raw)
            except MessageError as exc:
                raise MessageError(f"field {tag.name} (0x{tag:02x}): {exc}") from None
        return cls(**kwargs)


_Plan = tuple[tuple[str, Tag, Codec, bool, bool], ...]
_PLANS: dict[type[Body], _Plan] = {}


def _plan(cls: type[Body]) -> _Plan:
    """``(attribute, tag, codec, repeated, required)`` of each wire field of ``cls``, worked
    out once per class (every frame the key answers goes through it)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = tuple(
            (
                f.name,
                f.metadata["tag"],
                f.metadata["codec"],
                bool(f.metadata.get("repeated")),
                f.default is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
            if "tag" in f.metadata
        )
    return plan


def _decode(codec: Codec, tag: Tag, raw: bytes) -> Any:
    try:
        return codec.decode(raw)
    except MessageError as exc:
        raise MessageError(f"field {tag.name} (0x{tag:02x}): {exc}") from None


B = TypeVar("B", bound=Body)


def _nested(cls: type[B]) -> Codec:
    return Codec(
        cls.__name__,
        lambda v: encode_fields(v.to_fields()),
        lambda raw: cls.from_fields(decode_fields(raw)),
    )


def repeated(tag: Tag, codec: Codec) -> Any:
    """A field that may occur any number of times (a tuple attribute)."""
    return dataclasses.field(default=(), metadata={"tag": tag, "codec": codec, "repeated": True})


class Empty(Body):
    """A body with no fields."""


class PingBody(Body):
    """PING request and answer: the payload comes back unchanged."""

    payload: bytes = tlv(Tag.PAYLOAD, BYTES, b"")


class GetInfoResponse(Body):
    """GET_INFO answer: the key's identity, versions, capacity, clock and PIN state."""

    serial: str = tlv(Tag.SERIAL, STR)
    firmware_version: str = tlv(Tag.FIRMWARE_VERSION, STR)
    protocol_version: int = tlv(Tag.PROTOCOL_VERSION, U8)
    capacity: int = tlv(Tag.CAPACITY, U16)
    used: int = tlv(Tag.USED, U16)
    clock_set: bool = tlv(Tag.CLOCK_SET, BOOL)
    max_message: int = tlv(Tag.MAX_MESSAGE, U16)
    layouts: str = tlv(Tag.LAYOUTS, STR, "us")
    time: int | None = tlv(Tag.TIME, U64, None)
    paired_hosts: int = tlv(Tag.PAIRED_HOSTS, U8, 0)
    pin_set: bool = tlv(Tag.PIN_SET, BOOL, False)
    pin_retries: int | None = tlv(Tag.PIN_RETRIES, U8, None)


class SetTimeRequest(Body):
    """SET_TIME: the host's unix time (``force`` lets the clock go backwards)."""

    time: int = tlv(Tag.TIME, U64)
    force: bool = tlv(Tag.FORCE, BOOL, False)


class SetTimeResponse(Body):
    """SET_TIME answer."""

    time: int = tlv(Tag.TIME, U64)
    """The key's clock after the change (clock overrides in the simulator show here)."""


class OtpPutRequest(Body):
    """OTP_PUT: a credential to store (the secret is write-only)."""

    name: str = tlv(Tag.NAME, STR)
    secret: bytes = tlv(Tag.SECRET, BYTES)
    kind: OtpKind = tlv(Tag.KIND, KIND, OtpKind.TOTP)
    algorithm: Algorithm = tlv(Tag.ALGORITHM, ALGORITHM, Algorithm.SHA1)
    digits: int = tlv(Tag.DIGITS, U8, 6)
    period: int = tlv(Tag.PERIOD, U16, 30)
    counter: int = tlv(Tag.COUNTER, U64, 0)
    require_button: bool = tlv(Tag.REQUIRE_BUTTON, BOOL, False)
    layout: str | None = tlv(Tag.LAYOUT, STR, None)
    overwrite: bool = tlv(Tag.OVERWRITE, BOOL, False)

    def __repr__(self) -> str:  # never let a secret reach a log line
        return f"OtpPutRequest(name={self.name!r}, secret=<{len(self.secret)} bytes>, ...)"


class OtpListRequest(Body):
    """OTP_LIST: the page starting at entry ``start`` (name order)."""

    start: int = tlv(Tag.START, U16, 0)


class ListEntry(Body):
    """One credential in an OTP_LIST page (never its secret)."""

    name: str = tlv(Tag.NAME, STR)
    kind: OtpKind = tlv(Tag.KIND, KIND)
    algorithm: Algorithm = tlv(Tag.ALGORITHM, ALGORITHM)
    digits: int = tlv(Tag.DIGITS, U8)
    period: int = tlv(Tag.PERIOD, U16)
    require_button: bool = tlv(Tag.REQUIRE_BUTTON, BOOL)
    layout: str | None = tlv(Tag.LAYOUT, STR, None)


class OtpListResponse(Body):
    """OTP_LIST answer: the number of credentials and one page of entries."""

    total: int = tlv(Tag.TOTAL, U16)
    entries: tuple[ListEntry, ...] = repeated(Tag.ENTRY, _nested(ListEntry))


class OtpNameRequest(Body):
    """Body of OTP_DELETE and OTP_CALCULATE."""

    name: str = tlv(Tag.NAME, STR)


class OtpRenameRequest(Body):
    """OTP_RENAME."""

    name: str = tlv(Tag.NAME, STR)
    new_name: str = tlv(Tag.NEW_NAME, STR)


OtpCalculateRequest = OtpNameRequest


class OtpCalculateResponse(Body):
    """OTP_CALCULATE answer."""

    code: str = tlv(Tag.CODE, STR)
    valid_until: int | None = tlv(Tag.VALID_UNTIL, U64, None)
    """TOTP: unix time at which the code's step ends. HOTP: absent."""
    counter: int | None = tlv(Tag.COUNTER, U64, None)
    """HOTP: the counter value the code was computed for. TOTP: absent."""


class OtpTypeRequest(Body):
    """OTP_TYPE: type the code of ``name``, in ``layout`` (default: the credential's)."""

    name: str = tlv(Tag.NAME, STR)
    enter: bool = tlv(Tag.ENTER, BOOL, False)
    layout: str | None = tlv(Tag.LAYOUT, STR, None)
    target: int | None = tlv(Tag.TARGET, U8, None)
    """A :class:`~keybridge.protocol.constants.TypeTarget`; None: the host."""


class OtpTypeResponse(Body):
    """OTP_TYPE answer."""

    reports: bytes = tlv(Tag.REPORTS, BYTES)
    """Boot-keyboard reports, 8 bytes each, press and release alternating (empty when the
    key typed them on its own keyboard)."""
    layout: str = tlv(Tag.LAYOUT, STR)


class HandshakeBody(Body):
    """Pairing and session-open payloads (layouts in ``docs/security.md``)."""

    payload: bytes = tlv(Tag.HANDSHAKE, BYTES)


class SessionOpenRequest(Body):
    """SESSION_OPEN: the handshake payload and which of this host's pairings it opens under."""

    payload: bytes = tlv(Tag.HANDSHAKE, BYTES)
    pairing_id: bytes | None = tlv(Tag.PAIRING_ID, BYTES, None)
    """8 bytes naming the pairing key (``Pairing.pairing_id``); absent: the committed one."""


class UnpairRequest(Body):
    """UNPAIR."""

    host_id: bytes | None = tlv(Tag.HOST_ID, HOST_ID, None)
    """The host to remove; absent: the host of this session."""


class HostEntry(Body):
    """One paired host in a LIST_HOSTS answer."""

    host_id: bytes = tlv(Tag.HOST_ID, HOST_ID)
    current: bool = tlv(Tag.CURRENT, BOOL, False)
    """This is the host of the session that asked."""


class ListHostsResponse(Body):
    """LIST_HOSTS answer."""

    hosts: tuple[HostEntry, ...] = repeated(Tag.HOST, _nested(HostEntry))


class PinRequest(Body):
    """Body of PIN_VERIFY."""

    pin: str = tlv(Tag.PIN, STR)

    def __repr__(self) -> str:
        return "PinRequest(pin=<hidden>)"


class PinSetRequest(Body):
    """PIN_SET: the new PIN and how many wrong PINs wipe the key."""

    pin: str = tlv(Tag.PIN, STR)
    max_retries: int = tlv(Tag.MAX_RETRIES, U8, 8)

    def __repr__(self) -> str:
        return f"PinSetRequest(pin=<hidden>, max_retries={self.max_retries})"


class PinChangeRequest(Body):
    """PIN_CHANGE: the current PIN and the new one."""

    pin: str = tlv(Tag.PIN, STR)
    new_pin: str = tlv(Tag.NEW_PIN, STR)

    def __repr__(self) -> str:
        return "PinChangeRequest(pin=<hidden>, new_pin=<hidden>)"


BODIES: dict[Command, tuple[type[Body], type[Body]]] = {
    Command.GET_INFO: (Empty, GetInfoResponse),
    Command.PING: (PingBody, PingBody),
    Command.SET_TIME: (SetTimeRequest, SetTimeResponse),
    Command.CANCEL: (Empty, Empty),
    Command.OTP_PUT: (OtpPutRequest, Empty),
    Command.OTP_LIST: (OtpListRequest, OtpListResponse),
    Command.OTP_DELETE: (OtpNameRequest, Empty),
    Command.OTP_RENAME: (OtpRenameRequest, Empty),
    Command.OTP_CALCULATE: (OtpNameRequest, OtpCalculateResponse),
    Command.OTP_TYPE: (OtpTypeRequest, OtpTypeResponse),
    Command.RESET: (Empty, Empty),
    Command.PAIR_BEGIN: (HandshakeBody, HandshakeBody),
    Command.PAIR_CONFIRM: (HandshakeBody, HandshakeBody),
    Command.SESSION_OPEN: (SessionOpenRequest, HandshakeBody),
    Command.UNPAIR: (UnpairRequest, Empty),
    Command.LIST_HOSTS: (Empty, ListHostsResponse),
    Command.PIN_SET: (PinSetRequest, Empty),
    Command.PIN_VERIFY: (PinRequest, Empty),
    Command.PIN_CHANGE: (PinChangeRequest, Empty),
}
"""Request and response body of each command."""
