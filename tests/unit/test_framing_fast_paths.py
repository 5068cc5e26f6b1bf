"""The framing's fast paths give exactly what the plain algorithms give, on any input."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import FrameError
from keybridge.protocol.framing import (
    FrameDecoder,
    _cobs_decode_checked,
    cobs_decode,
    cobs_encode,
    decode_frame,
    encode_frame,
)


def _outcome(decode: object, data: bytes) -> bytes | str:
    try:
        return decode(data)  # type: ignore[operator, no-any-return]
    except FrameError as exc:
        return f"FrameError: {exc}"


# Bodies with few zeros and long zero-free runs reach both the fast and the general path.
bodies = st.binary(max_size=600) | st.lists(
    st.sampled_from([b"\x01", b"\xfe", b"\xff", b"\x00", b"\x05abcd", bytes(range(1, 255))]),
    max_size=12,
).map(b"".join)


@given(bodies)
def test_cobs_decode_equals_the_checked_decoder(data: bytes) -> None:
    assert _outcome(cobs_decode, data) == _outcome(_cobs_decode_checked, data)


@given(st.binary(max_size=600))
def test_cobs_round_trips(message: bytes) -> None:
    encoded = cobs_encode(message)
    assert 0 not in encoded
    assert cobs_decode(encoded) == message


@given(st.binary(max_size=300))
def test_the_crc_residue_check_accepts_exactly_the_right_crc(message: bytes) -> None:
    crc = zlib.crc32(message).to_bytes(4, "little")
    assert decode_frame(cobs_encode(message + crc)) == message
    wrong = bytes([crc[0] ^ 0x01]) + crc[1:]
    outcome = _outcome(decode_frame, cobs_encode(message + wrong))
    assert isinstance(outcome, str) and outcome.startswith("FrameError: frame CRC")


# Good frames, noise, and runs longer than any frame (the oversize path), in any order.
streams = st.lists(
    st.binary(max_size=40).map(encode_frame)
    | st.binary(max_size=30)
    | st.sampled_from([b"\x00", b"\x01" * 2100, b"\x00" + b"\x02" * 2070 + b"\x00"]),
    max_size=8,
).map(b"".join)


@given(streams, st.lists(st.integers(0, 4500), max_size=6))
def test_the_decoder_gives_the_same_frames_however_the_stream_is_cut(
    stream: bytes, cuts: list[int]
) -> None:
    whole = FrameDecoder()
    expected = whole.feed(stream)
    pieces = FrameDecoder()
    got: list[bytes] = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(stream)):
        got += pieces.feed(stream[start:cut])
        start = cut
    got += pieces.feed(stream[start:])
    assert got == expected
    assert pieces.dropped == whole.dropped
