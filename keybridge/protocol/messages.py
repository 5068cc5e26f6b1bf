"""The message layer: headers and TLV fields, shared by every link.

::

    REQUEST    01 | seq u16 | command u8 | fields
    RESPONSE   02 | seq u16 | command u8 | status u8 | fields
    KEEPALIVE  03 | seq u16 | reason u8  | fields
    SEALED     10 | envelope (see the security layer)
    field      tag u8 | length u16 | value        (integers are big-endian)

Fields with unknown tags are kept and ignored by the typed layer
(:mod:`keybridge.protocol.commands`), so old peers tolerate new fields.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import field

from keybridge.errors import MessageError
from keybridge.protocol.constants import Command, KeepaliveReason, MessageType, Status
from keybridge.protocol.record import Record

__all__ = [
    "Fields",
    "Keepalive",
    "Message",
    "Request",
    "Response",
    "Sealed",
    "decode_fields",
    "decode_message",
    "encode_fields",
    "encode_message",
    "encode_response",
]

_FIELD_HEADER = struct.Struct(">BH")
_REQUEST = struct.Struct(">BHB")
_RESPONSE = struct.Struct(">BHBB")
MAX_FIELD = 0xFFFF


class Fields(Record):
    """An ordered list of ``(tag, value)`` pairs; a tag may repeat (list entries)."""

    items: tuple[tuple[int, bytes], ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, bytes]]) -> Fields:
        return cls(tuple((int(t), bytes(v)) for t, v in pairs))

    def get(self, tag: int) -> bytes | None:
        """The first value with ``tag``, or None."""
        for t, v in self.items:
            if t == tag:
                return v
        return None

    def get_all(self, tag: int) -> list[bytes]:
        return [v for t, v in self.items if t == tag]

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def encode_fields(fields: Fields) -> bytes:
    out = bytearray()
    for tag, value in fields:
        if not 0 <= tag <= 0xFF:
            raise MessageError(f"field tag {tag} does not fit in one byte")
        if len(value) > MAX_FIELD:
            raise MessageError(f"field 0x{tag:02x} of {len(value)} bytes is too long")
        out += _FIELD_HEADER.pack(tag, len(value))
        out += value
    return bytes(out)


def decode_fields(data: bytes) -> Fields:
    """Parse a run of TLV fields; raises :class:`MessageError` on a truncated field."""
    items: list[tuple[int, bytes]] = []
    i, n = 0, len(data)
    while i < n:
        if n - i < _FIELD_HEADER.size:
            raise MessageError(f"truncated field header at offset {i}")
        tag, length = _FIELD_HEADER.unpack_from(data, i)
        i += _FIELD_HEADER.size
        if n - i < length:
            raise MessageError(
                f"field 0x{tag:02x} at offset {i - 3} claims {length} bytes, {n - i} remain"
            )
        items.append((tag, data[i : i + length]))
        i += length
    return Fields(tuple(items))


# Enum lookups by value (``Command(code)``) go through EnumMeta.__call__: a dict is several
# times faster, and every frame does one or two.
_COMMANDS: dict[int, Command] = {int(c): c for c in Command}
_STATUSES: dict[int, Status] = {int(s): s for s in Status}
_REASONS: dict[int, KeepaliveReason] = {int(r): r for r in KeepaliveReason}
# Reading an enum member (MessageType.REQUEST) costs ~0.2 us on Python 3.11; plain ints, once.
_TYPE_REQUEST = int(MessageType.REQUEST)
_TYPE_RESPONSE = int(MessageType.RESPONSE)
_TYPE_KEEPALIVE = int(MessageType.KEEPALIVE)
_TYPE_SEALED = int(MessageType.SEALED)


class Request(Record):
    """A host's command; the key answers it with a :class:`Response` of the same ``seq``."""

    seq: int
    command: Command | int
    fields: Fields = field(default_factory=Fields)


class Response(Record):
    """The key's answer to the request with the same ``seq``: a status and its fields."""

    seq: int
    command: Command | int
    status: Status | int
    fields: Fields = field(default_factory=Fields)


class Keepalive(Record):
    """Sent by the key while a request waits (for the button, say); same ``seq`` as the request."""

    seq: int
    reason: KeepaliveReason | int
    fields: Fields = field(default_factory=Fields)


class Sealed(Record):
    """An encrypted envelope: ``envelope`` is the whole message, type byte included."""

    envelope: bytes


Message = Request | Response | Keepalive | Sealed


def encode_message(message: Message) -> bytes:
    if isinstance(message, Sealed):
        return message.envelope
    if not 0 <= message.seq <= 0xFFFF:
        raise MessageError(f"sequence number {message.seq} does not fit in 16 bits")
    if isinstance(message, Request):
        head = _REQUEST.pack(_TYPE_REQUEST, message.seq, message.command)
    elif isinstance(message, Response):
        head = _RESPONSE.pack(_TYPE_RESPONSE, message.seq, message.command, message.status)
    else:
        head = _REQUEST.pack(_TYPE_KEEPALIVE, message.seq, message.reason)
    return head + encode_fields(message.fields)


def encode_response(seq: int, command: int, status: int, fields: bytes) -> bytes:
    """``encode_message(Response(seq, command, status, decode_fields(fields)))`` for fields
    already encoded (:meth:`Body.to_bytes`): the key's answer to every frame takes this path."""
    if not 0 <= seq <= 0xFFFF:
        raise MessageError(f"sequence number {seq} does not fit in 16 bits")
    return _RESPONSE.pack(_TYPE_RESPONSE, seq, command, status) + fields


def decode_message(data: bytes) -> Message:
    """Parse one message; raises :class:`MessageError` for anything malformed."""
    if not data:
        raise MessageError("empty message")
    kind = data[0]
    if kind == _TYPE_SEALED:
        return Sealed(bytes(data))
    if kind in (_TYPE_REQUEST, _TYPE_KEEPALIVE):
        if len(data) < _REQUEST.size:
            raise MessageError(f"message of {len(data)} bytes is shorter than its header")
        _, seq, code = _REQUEST.unpack_from(data)
        fields = decode_fields(data[_REQUEST.size :])
        if kind == _TYPE_REQUEST:
            return Request(seq, _COMMANDS.get(code, code), fields)
        return Keepalive(seq, _REASONS.get(code, code), fields)
    if kind == _TYPE_RESPONSE:
        if len(data) < _RESPONSE.size:
            raise MessageError(f"response of {len(data)} bytes is shorter than its header")
        _, seq, code, status = _RESPONSE.unpack_from(data)
        return Response(
            seq, _COMMANDS.get(code, code), _STATUSES.get(status, status), decode_fields(data[5:])
        )
    raise MessageError(f"unknown message type 0x{kind:02x}")
