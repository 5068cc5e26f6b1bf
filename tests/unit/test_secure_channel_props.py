"""Property tests of the sealed envelope: any single-byte change or cut is detected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.protocol.secure import (
    ChannelClosedError,
    Direction,
    SecureChannel,
    SecureChannelError,
)

SESSION_ID = bytes.fromhex("0badcafe")
H2K, K2H = b"\x11" * 32, b"\x22" * 32


def pair() -> tuple[SecureChannel, SecureChannel]:
    host = SecureChannel(SESSION_ID, H2K, K2H, Direction.HOST_TO_KEY)
    key = SecureChannel(SESSION_ID, K2H, H2K, Direction.KEY_TO_HOST)
    return host, key


@given(
    plaintext=st.binary(max_size=300),
    earlier=st.integers(0, 3),
    position=st.integers(min_value=0),
    xor=st.integers(1, 255),
)
def test_any_single_byte_tamper_is_detected(
    plaintext: bytes, earlier: int, position: int, xor: int
) -> None:
    host, key = pair()
    for _ in range(earlier):
        key.open(host.seal(b"earlier frame"))
    frame = host.seal(plaintext)
    i = position % len(frame)
    tampered = frame[:i] + bytes([frame[i] ^ xor]) + frame[i + 1 :]
    with pytest.raises(SecureChannelError):
        key.open(tampered)
    with pytest.raises(ChannelClosedError):
        key.open(frame)


@given(plaintext=st.binary(max_size=100), data=st.data())
def test_any_truncation_or_extension_is_detected(plaintext: bytes, data: st.DataObject) -> None:
    host, key = pair()
    frame = host.seal(plaintext)
    cut = data.draw(st.integers(0, len(frame) - 1), label="cut")
    extra = data.draw(st.binary(min_size=1, max_size=8), label="extra")
    with pytest.raises(SecureChannelError):
        key.open(frame[:cut])
    host, key = pair()
    with pytest.raises(SecureChannelError):
        key.open(host.seal(plaintext) + extra)


@given(noise=st.binary(max_size=200))
def test_random_bytes_never_open_and_raise_only_channel_errors(noise: bytes) -> None:
    _, key = pair()
    with pytest.raises(SecureChannelError):
        key.open(noise)


@given(messages=st.lists(st.binary(max_size=64), min_size=1, max_size=10))
def test_in_order_frames_round_trip(messages: list[bytes]) -> None:
    host, key = pair()
    for m in messages:
        assert key.open(host.seal(m)) == m
        assert host.open(key.seal(m)) == m
