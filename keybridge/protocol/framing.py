"""Serial link framing: COBS-encoded frames with a CRC-32, delimited by ``0x00``.

A frame on the wire is ``00 | COBS(message || crc32le(message)) | 00``. COBS removes every zero
byte from the body, so a zero always means "frame boundary": a receiver that lost sync (noise, a
cut cable, a host that connected mid-frame) recovers at the next delimiter. A frame whose COBS
code or CRC is wrong is dropped, never delivered; the host notices the missing answer and
retries with the same sequence number (see :mod:`keybridge.protocol.messages`).
"""

from __future__ import annotations

import zlib

from keybridge.errors import FrameError

__all__ = [
    "DELIMITER",
    "MAX_MESSAGE",
    "FrameDecoder",
    "cobs_decode",
    "cobs_encode",
    "decode_frame",
    "encode_frame",
]

DELIMITER = 0x00
MAX_MESSAGE = 2048
"""Largest message (before framing) either end sends or accepts."""

_CRC_SIZE = 4
_CRC_RESIDUE = 0x2144DF1C
# COBS adds one byte per 254 bytes of body, plus the first code byte.
_MAX_ENCODED = MAX_MESSAGE + _CRC_SIZE + (MAX_MESSAGE + _CRC_SIZE) // 254 + 1


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result holds no zero byte."""
    return bytes(_cobs_encode_into(bytearray(), data))


def _cobs_encode_into(out: bytearray, data: bytes) -> bytearray:
    long_blocks = len(data) >= 0xFE  # shorter data cannot hold a block that needs splitting
    for block in data.split(b"\x00"):
        while long_blocks and len(block) >= 0xFE:
            out.append(0xFF)
            out += block[:0xFE]
            block = block[0xFE:]
        out.append(len(block) + 1)
        out += block
    return out


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`FrameError` on a malformed body."""
    if 0 not in data:
        # The common case (no block of 254 bytes): the decoded message is the body without its
        # first code byte, with a zero where each later code byte stood.
        out = bytearray(data)
        i, n = 0, len(data)
        while i < n:
            code = data[i]
            if code == 0xFF:
                break  # a full block: take the general path
            i += code
            if i < n:
                out[i] = 0
        else:
            if i == n:
                return bytes(out[1:])
    return _cobs_decode_checked(data)


def _cobs_decode_checked(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError(f"COBS body holds a zero byte at offset {i}")
        end = i + code
        if end > n:
            raise FrameError(f"COBS block at offset {i} runs {end - n} bytes past the frame end")
        block = data[i + 1 : end]
        if 0 in block:
            raise FrameError(f"COBS body holds a zero byte after offset {i}")
        out += block
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(message: bytes) -> bytes:
    """Frame one message for a serial link, delimiters included."""
    if len(message) > MAX_MESSAGE:
        raise FrameError(f"message of {len(message)} bytes exceeds the {MAX_MESSAGE}-byte limit")
    crc = zlib.crc32(message).to_bytes(_CRC_SIZE, "little")
    out = _cobs_encode_into(bytearray(b"\x00"), message + crc)  # built in place: no copies
    out.append(DELIMITER)
    return bytes(out)


def decode_frame(body: bytes) -> bytes:
    """Decode one frame body (the bytes between two delimiters) to its message."""
    if len(body) > _MAX_ENCODED:
        raise FrameError(f"frame of {len(body)} bytes exceeds the {_MAX_ENCODED}-byte limit")
    raw = cobs_decode(body)
    if len(raw) < _CRC_SIZE:
        raise FrameError(f"frame of {len(raw)} bytes is too short to hold a CRC")
    # The CRC-32 of a message followed by its own CRC (little-endian) is a constant: one pass
    # over the bytes, no slicing, checks both.
    if zlib.crc32(raw) != _CRC_RESIDUE:
        raise FrameError("frame CRC mismatch (corrupted on the link)")
    if len(raw) - _CRC_SIZE > MAX_MESSAGE:
        # The encoded-size bound above lets through a message a few bytes over the limit when
        # it holds zero bytes (2049-2056 bytes): whatever its content, it is dropped here too.
        raise FrameError(
            f"message of {len(raw) - _CRC_SIZE} bytes exceeds the {MAX_MESSAGE}-byte limit"
        )
    return raw[:-_CRC_SIZE]


class FrameDecoder:
    """Incremental decoder for a serial byte stream.

    :meth:`feed` takes any bytes and returns the messages of the frames they complete. Corrupt
    or oversize frames are dropped and counted (``dropped``, ``last_error``); the decoder never
    raises and always resynchronises at the next delimiter.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflow = False
        self.dropped = 0
        self.last_error: FrameError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        *bodies, rest = data.split(b"\x00")  # one split in C, not a find per delimiter
        messages: list[bytes] = []
        if bodies and (self._buffer or self._overflow):
            # The first delimiter ends the frame that earlier reads began.
            self._append(bodies[0])
            bodies[0] = bytes(self._buffer)
            self._buffer.clear()
            if self._overflow:
                self._overflow = False
                bodies[0] = b""
                self._drop(FrameError(f"frame exceeds the {_MAX_ENCODED}-byte limit"))
        for body in bodies:
            if len(body) > _MAX_ENCODED:
                self._drop(FrameError(f"frame exceeds the {_MAX_ENCODED}-byte limit"))
            elif body:
                try:
                    messages.append(decode_frame(body))
                except FrameError as exc:
                    self._drop(exc)
        if rest:
            self._append(rest)
        return messages

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            return
        if len(self._buffer) + len(chunk) > _MAX_ENCODED:
            self._overflow = True
            self._buffer.clear()
        else:
            self._buffer += chunk

    def _drop(self, error: FrameError) -> None:
        self.dropped += 1
        self.last_error = error
