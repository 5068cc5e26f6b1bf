"""The v1 codec: framing, messages and bodies are lossless; they fail only with their own errors."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import FrameError, MessageError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol import commands as c
from keybridge.protocol.constants import Command, Status, Tag
from keybridge.protocol.framing import (
    MAX_MESSAGE,
    FrameDecoder,
    cobs_decode,
    cobs_encode,
    decode_frame,
    encode_frame,
)
from keybridge.protocol.messages import (
    Fields,
    Keepalive,
    Request,
    Response,
    Sealed,
    decode_message,
    encode_message,
)

messages = st.binary(max_size=MAX_MESSAGE)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    ],
)
def test_cobs_known_vectors(raw: bytes, encoded: bytes) -> None:
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


@given(st.binary(max_size=3000))
def test_cobs_roundtrip_and_no_zero(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@given(messages)
def test_frame_roundtrip(message: bytes) -> None:
    frame = encode_frame(message)
    assert frame[0] == 0 and frame[-1] == 0 and 0 not in frame[1:-1]
    assert decode_frame(frame[1:-1]) == message
    assert FrameDecoder().feed(frame) == [message]


@given(st.lists(messages, max_size=5), st.integers(min_value=1, max_value=64))
def test_decoder_handles_any_chunking(batch: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(m) for m in batch)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out += decoder.feed(stream[i : i + chunk])
    assert out == batch
    assert decoder.dropped == 0


@given(st.binary(max_size=4000), st.binary(min_size=0, max_size=300))
def test_decoder_never_raises_and_recovers(garbage: bytes, message: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(garbage)  # whatever this yields, it must not raise
    assert decoder.feed(encode_frame(message)) == [message]


def test_corrupt_frame_is_dropped_and_counted() -> None:
    frame = bytearray(encode_frame(b"\x01\x00\x05\x01"))
    frame[3] ^= 0x40
    decoder = FrameDecoder()
    assert decoder.feed(bytes(frame)) == []
    assert decoder.dropped == 1
    assert isinstance(decoder.last_error, FrameError)
    assert decoder.feed(encode_frame(b"ok")) == [b"ok"]


def test_oversize_frame_is_dropped_without_buffering_it_all() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x01" * (MAX_MESSAGE * 3)) == []
    assert decoder.feed(b"\x00") == []
    assert decoder.dropped == 1
    assert decoder.feed(encode_frame(b"next")) == [b"next"]


def test_encode_refuses_oversize_message() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        encode_frame(bytes(MAX_MESSAGE + 1))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "too short"),
        (b"\x05\x01", "past the frame end"),
        (b"\x03ab", "CRC"),
    ],
)
def test_decode_frame_errors(body: bytes, match: str) -> None:
    with pytest.raises(FrameError, match=match):
        decode_frame(body)


def test_crc_is_little_endian_crc32() -> None:
    frame = encode_frame(b"\x01\x00\x01\x01")
    raw = cobs_decode(frame[1:-1])
    assert raw[-4:] == zlib.crc32(b"\x01\x00\x01\x01").to_bytes(4, "little")


fields = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=6).map(
    Fields.of
)
seqs = st.integers(0, 0xFFFF)
any_message = st.one_of(
    st.builds(Request, seqs, st.sampled_from(list(Command)) | st.integers(0, 255), fields),
    st.builds(
        Response,
        seqs,
        st.sampled_from(list(Command)),
        st.sampled_from(list(Status)) | st.integers(0, 255),
        fields,
    ),
    st.builds(Keepalive, seqs, st.integers(1, 2), fields),
)


@given(any_message)
def test_message_roundtrip(message: Request | Response | Keepalive) -> None:
    assert decode_message(encode_message(message)) == message


@given(st.binary(max_size=600))
def test_decode_message_raises_only_message_error(data: bytes) -> None:
    try:
        decoded = decode_message(data)
    except MessageError:
        return
    if not isinstance(decoded, Sealed):
        assert encode_message(decoded) == data


def test_request_header_bytes() -> None:
    request = Request(0x1234, Command.OTP_DELETE, c.OtpNameRequest("ab").to_fields())
    assert encode_message(request).hex(" ") == "01 12 34 12 01 00 02 61 62"


def test_unknown_status_and_command_survive_decoding() -> None:
    message = decode_message(bytes([0x02, 0, 7, 0x99, 0xEE]))
    assert isinstance(message, Response)
    assert message.command == 0x99 and message.status == 0xEE
    assert not isinstance(message.status, Status)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"\x01\x00", "shorter"),
        (b"\x02\x00\x01\x01", "shorter"),
        (b"\x7f\x00\x00\x00", "unknown message type"),
        (b"\x01\x00\x01\x01\x01\x00", "truncated field header"),
        (b"\x01\x00\x01\x01\x01\x00\x05ab", "claims 5 bytes"),
    ],
)
def test_malformed_messages(data: bytes, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        decode_message(data)


bodies = st.one_of(
    st.builds(c.PingBody, st.binary(max_size=64)),
    st.builds(
        c.OtpPutRequest,
        st.text(min_size=1, max_size=20),
        st.binary(min_size=10, max_size=64),
        st.sampled_from(list(OtpKind)),
        st.sampled_from(list(Algorithm)),
        st.integers(6, 8),
        st.integers(15, 120),
        st.integers(0, 2**64 - 1),
        st.booleans(),
        st.none() | st.sampled_from(["us", "fr"]),
        st.booleans(),
    ),
    st.builds(
        c.OtpListResponse,
        st.integers(0, 128),
        st.lists(
            st.builds(
                c.ListEntry,
                st.text(min_size=1, max_size=10),
                st.sampled_from(list(OtpKind)),
                st.sampled_from(list(Algorithm)),
                st.integers(6, 8),
                st.integers(15, 120),
                st.booleans(),
                st.none() | st.just("de"),
            ),
            max_size=4,
        ).map(tuple),
    ),
    st.builds(c.OtpCalculateResponse, st.from_regex(r"\d{6,8}", fullmatch=True)),
    st.builds(c.SetTimeRequest, st.integers(0, 2**64 - 1), st.booleans()),
)


@given(bodies)
def test_body_roundtrip(body: c.Body) -> None:
    assert type(body).from_fields(body.to_fields()) == body


def test_unknown_fields_are_ignored() -> None:
    fields = Fields.of([*c.OtpNameRequest("x").to_fields(), (0xEE, b"future")])
    assert c.OtpNameRequest.from_fields(fields) == c.OtpNameRequest("x")


@pytest.mark.parametrize(
    ("cls", "pairs", "match"),
    [
        (c.OtpNameRequest, [], "missing field NAME"),
        (c.OtpNameRequest, [(Tag.NAME, b"\xff")], "not valid UTF-8"),
        (c.SetTimeRequest, [(Tag.TIME, b"\x01")], "8-byte integer"),
        (c.SetTimeRequest, [(Tag.TIME, bytes(8)), (Tag.FORCE, b"\x02")], "boolean"),
        (c.OtpPutRequest, [(Tag.NAME, b"a"), (Tag.SECRET, b"k"), (Tag.KIND, b"\x09")], "OtpKind"),
    ],
)
def test_body_errors_name_the_field(
    cls: type[c.Body], pairs: list[tuple[int, bytes]], match: str
) -> None:
    with pytest.raises(MessageError, match=match):
        cls.from_fields(Fields.of(pairs))


def test_put_request_repr_hides_the_secret() -> None:
    body = c.OtpPutRequest("HES", b"supersecretbytes!!!!")
    assert "supersecret" not in repr(body)


def test_every_command_has_bodies() -> None:
    assert set(c.BODIES) == set(Command)
