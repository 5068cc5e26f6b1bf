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
# COBS adds one byte per 254 bytes of body, plus the first code byte.
_MAX_ENCODED = MAX_MESSAGE + _CRC_SIZE + (MAX_MESSAGE + _CRC_SIZE) // 254 + 1


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result holds no zero byte."""
    out = bytearray()
    for block in data.split(b"\x00"):
        while len(block) >= 0xFE:
            out.append(0xFF)
            out += block[:0xFE]
            block = block[0xFE:]
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`FrameError` on a malformed body."""
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
    return b"\x00" + cobs_encode(message + crc) + b"\x00"


def decode_frame(body: bytes) -> bytes:
    """Decode one frame body (the bytes between two delimiters) to its message."""
    if len(body) > _MAX_ENCODED:
        raise FrameError(f"frame of {len(body)} bytes exceeds the {_MAX_ENCODED}-byte limit")
    raw = cobs_decode(body)
    if len(raw) < _CRC_SIZE:
        raise FrameError(f"frame of {len(raw)} bytes is too short to hold a CRC")
    message, crc = raw[:-_CRC_SIZE], raw[-_CRC_SIZE:]
    if zlib.crc32(message).to_bytes(_CRC_SIZE, "little") != crc:
        raise FrameError("frame CRC mismatch (corrupted on the link)")
    return message


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
        messages: list[bytes] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data[start:])
                return messages
            self._append(data[start:end])
            body, overflow = bytes(self._buffer), self._overflow
            self._buffer.clear()
            self._overflow = False
            start = end + 1
            if overflow:
                self._drop(FrameError(f"frame exceeds the {_MAX_ENCODED}-byte limit"))
            elif body:
                try:
                    messages.append(decode_frame(body))
                except FrameError as exc:
                    self._drop(exc)

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
