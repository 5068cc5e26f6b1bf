"""BLE fragmentation codec and info characteristic (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import FrameError
from keybridge.protocol.fragments import (
    ATT_MAX_MTU,
    ATT_MIN_MTU,
    LinkInfo,
    Reassembler,
    StateFlags,
    fragment,
    fragment_count,
    fragment_payload_size,
)

mtus = st.integers(min_value=ATT_MIN_MTU, max_value=ATT_MAX_MTU)
messages = st.binary(max_size=2048)  # the default limit: the message limit of every link


@given(message=messages, mtu=mtus)
def test_fragment_then_reassemble_is_identity(message: bytes, mtu: int) -> None:
    size = fragment_payload_size(mtu)
    parts = fragment(message, size)
    assert all(1 <= len(p) <= size for p in parts)
    assert len(parts) == fragment_count(len(message), size)
    reassembler = Reassembler()
    results = [reassembler.feed(p) for p in parts]
    assert results[:-1] == [None] * (len(parts) - 1)
    assert results[-1] == message
    assert not reassembler.in_progress


@given(batch=st.lists(messages, max_size=4), mtu=mtus)
def test_back_to_back_messages(batch: list[bytes], mtu: int) -> None:
    reassembler = Reassembler()
    out = []
    for message in batch:
        for part in fragment(message, fragment_payload_size(mtu)):
            if (done := reassembler.feed(part)) is not None:
                out.append(done)
    assert out == batch


@given(garbage=st.lists(st.binary(max_size=40), max_size=50))
def test_garbage_raises_only_frame_error(garbage: list[bytes]) -> None:
    reassembler = Reassembler(max_message_size=100)
    for part in garbage:
        try:
            result = reassembler.feed(part)
        except FrameError:
            assert not reassembler.in_progress
        else:
            assert result is None or len(result) <= 100


def test_counts_at_common_mtus() -> None:
    assert fragment_count(40, fragment_payload_size(247)) == 1
    assert fragment_count(40, fragment_payload_size(23)) == 3
    assert fragment(b"", 20) == [b"\x00"]
    assert fragment(b"ab", 20) == [b"\x00ab"]
    assert fragment(b"abc", 3) == [b"\x80ab", b"\x01c"]


def test_missing_fragment_is_reported_and_resets() -> None:
    parts = fragment(bytes(range(60)), 20)
    reassembler = Reassembler()
    reassembler.feed(parts[0])
    with pytest.raises(FrameError, match="fragment 2 arrived where fragment 1"):
        reassembler.feed(parts[2])
    assert not reassembler.in_progress
    # The next message starts cleanly.
    assert reassembler.feed(b"\x00ok") == b"ok"


def test_missing_last_fragment_detected_by_next_message() -> None:
    reassembler = Reassembler()
    reassembler.feed(b"\x80abc")
    with pytest.raises(FrameError, match="missing or out of order"):
        reassembler.feed(b"\x00new")


def test_continuation_without_start() -> None:
    with pytest.raises(FrameError, match="without the start"):
        Reassembler().feed(b"\x01xyz")


def test_empty_fragment() -> None:
    with pytest.raises(FrameError, match="empty"):
        Reassembler().feed(b"")


def test_oversize_message() -> None:
    reassembler = Reassembler(max_message_size=4)
    reassembler.feed(b"\x80abc")
    with pytest.raises(FrameError, match="exceeds 4 bytes"):
        reassembler.feed(b"\x01de")


def test_index_wraps_after_128_fragments() -> None:
    message = bytes(300)
    parts = fragment(message, 2)
    assert parts[128][0] == 0x80 and parts[129][0] == 0x81
    reassembler = Reassembler()
    assert [r for p in parts if (r := reassembler.feed(p)) is not None] == [message]


@pytest.mark.parametrize("mtu", [0, 22, 518])
def test_mtu_out_of_range(mtu: int) -> None:
    with pytest.raises(ValueError, match="ATT_MTU"):
        fragment_payload_size(mtu)


@given(
    version=st.integers(0, 255),
    flags=st.integers(0, 255),
    max_size=st.integers(0, 0xFFFF),
    extra=st.binary(max_size=8),
)
def test_info_round_trip(version: int, flags: int, max_size: int, extra: bytes) -> None:
    info = LinkInfo(version, StateFlags(flags), max_size)
    assert LinkInfo.from_bytes(info.to_bytes() + extra) == info


def test_info_too_short() -> None:
    with pytest.raises(FrameError, match="not a keybridge key"):
        LinkInfo.from_bytes(b"\x01\x00")
