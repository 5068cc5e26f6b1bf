"""The message limit and the field rules of docs/protocol.md sections 2, 3.2 and 7.2, at the
codec: one limit (2048 bytes) on every link, and no field a second implementation could read
another way (a repeated single-valued tag, an id of the wrong length)."""

from __future__ import annotations

import zlib

import pytest

from keybridge.errors import FrameError, MessageError
from keybridge.protocol.commands import HostEntry, OtpNameRequest, OtpPutRequest, UnpairRequest
from keybridge.protocol.constants import Tag
from keybridge.protocol.fragments import Reassembler, fragment
from keybridge.protocol.framing import MAX_MESSAGE, FrameDecoder, cobs_encode, encode_frame
from keybridge.protocol.messages import Fields


def _frame(message: bytes) -> bytes:
    """A frame built by hand, past the encoder's own size check."""
    return b"\x00" + cobs_encode(message + zlib.crc32(message).to_bytes(4, "little")) + b"\x00"


@pytest.mark.parametrize("size", range(MAX_MESSAGE + 1, MAX_MESSAGE + 9))
def test_a_frame_over_the_limit_is_dropped_whatever_its_content(size: int) -> None:
    # Zero bytes keep the COBS encoding short: such a frame fits the encoded-size bound.
    decoder = FrameDecoder()
    assert decoder.feed(_frame(bytes(size))) == []
    assert decoder.dropped == 1 and "2048-byte limit" in str(decoder.last_error)


def test_a_frame_at_the_limit_is_delivered() -> None:
    for message in (bytes(MAX_MESSAGE), b"\xff" * MAX_MESSAGE):
        assert FrameDecoder().feed(encode_frame(message)) == [message]


def test_ble_reassembles_up_to_the_same_limit() -> None:
    reassembler = Reassembler()
    [*head, last] = fragment(b"\x01" * MAX_MESSAGE, 20)
    assert [reassembler.feed(part) for part in head] == [None] * len(head)
    assert reassembler.feed(last) == b"\x01" * MAX_MESSAGE
    with pytest.raises(FrameError):
        for part in fragment(b"\x01" * (MAX_MESSAGE + 1), 20):
            reassembler.feed(part)


def test_a_repeated_single_valued_field_is_malformed() -> None:
    name = (Tag.NAME, b"a")
    with pytest.raises(MessageError, match=r"NAME .* more than once"):
        OtpNameRequest.from_fields(Fields.of([name, (Tag.NAME, b"b")]))
    fields = OtpPutRequest("a", b"1" * 20).to_fields()
    with pytest.raises(MessageError, match=r"SECRET .* more than once"):
        OtpPutRequest.from_fields(Fields.of([*fields, (Tag.SECRET, b"2" * 20)]))
    # Unknown tags may repeat: they are ignored.
    assert OtpNameRequest.from_fields(Fields.of([name, (0x7E, b""), (0x7E, b"")])).name == "a"


@pytest.mark.parametrize("size", [0, 15, 17])
def test_a_host_id_of_another_length_is_malformed(size: int) -> None:
    with pytest.raises(MessageError, match=r"HOST_ID .* expected 16 bytes"):
        UnpairRequest.from_fields(Fields.of([(Tag.HOST_ID, bytes(size))]))
    with pytest.raises(MessageError, match="HOST_ID"):
        HostEntry.from_fields(Fields.of([(Tag.HOST_ID, bytes(size))]))
    assert UnpairRequest.from_fields(Fields.of([(Tag.HOST_ID, bytes(16))])).host_id == bytes(16)
