"""Session open between SessionHost and SessionKey, and the SecureChannel both ends get."""

from __future__ import annotations

import os

import pytest

from keybridge.errors import ProtocolError
from keybridge.protocol.secure import (
    ENVELOPE_OVERHEAD,
    ChannelClosedError,
    Direction,
    ForgedFrameError,
    MalformedEnvelopeError,
    Pairing,
    ReplayedFrameError,
    SecureChannel,
    SecureChannelError,
    SessionHost,
    SessionKey,
    SessionOpenError,
    UnknownHostError,
)

PAIRING = Pairing(host_id=b"H" * 16, key_id=b"K" * 16, pairing_key=b"P" * 32)


def open_session(pairing: Pairing = PAIRING) -> tuple[SecureChannel, SecureChannel]:
    host = SessionHost(pairing)
    key = SessionKey(pairing.key_id, {pairing.host_id: pairing.pairing_key}.get)
    host_channel = host.finish(key.accept(host.request()))
    assert key.host_id == pairing.host_id
    return host_channel, key.channel


def test_round_trip_both_directions() -> None:
    host, key = open_session()
    assert host.session_id == key.session_id
    assert not key.peer_authenticated
    for i in range(3):
        request = b"\x01\x00" + bytes([i]) + b"request"
        assert key.open(host.seal(request)) == request
        response = b"\x02\x00" + bytes([i]) + b"response"
        assert host.open(key.seal(response)) == response
    assert key.peer_authenticated


def test_envelope_layout() -> None:
    host, _ = open_session()
    first, second = host.seal(b"abc"), host.seal(b"")
    assert first[0] == 0x10
    assert first[1:5] == host.session_id
    assert first[5:9] == (0).to_bytes(4, "big")
    assert second[5:9] == (1).to_bytes(4, "big")
    assert len(first) == 3 + ENVELOPE_OVERHEAD
    assert b"abc" not in first


def test_each_session_has_fresh_keys() -> None:
    host_a, _ = open_session()
    host_b, key_b = open_session()
    assert host_a.session_id != host_b.session_id
    with pytest.raises(MalformedEnvelopeError, match="belongs to session"):
        key_b.open(host_a.seal(b"old session"))


def test_frame_from_old_session_with_forged_id_fails() -> None:
    host_a, _ = open_session()
    _, key_b = open_session()
    frame = host_a.seal(b"x")
    with pytest.raises(ForgedFrameError):
        key_b.open(frame[:1] + key_b.session_id + frame[5:])


def test_directions_do_not_mix() -> None:
    # A frame the host sent, reflected back to the host, must not open.
    host, _ = open_session()
    with pytest.raises(ForgedFrameError):
        host.open(host.seal(b"reflected"))


def test_replay_is_rejected_and_closes() -> None:
    host, key = open_session()
    frame = host.seal(b"one")
    key.open(frame)
    with pytest.raises(ReplayedFrameError, match="replayed or reordered"):
        key.open(frame)
    assert key.closed
    with pytest.raises(ChannelClosedError):
        key.open(host.seal(b"two"))
    with pytest.raises(ChannelClosedError):
        key.seal(b"anything")


def test_reorder_is_rejected() -> None:
    host, key = open_session()
    first, second = host.seal(b"1"), host.seal(b"2")
    key.open(second)
    with pytest.raises(ReplayedFrameError):
        key.open(first)


def test_gaps_are_allowed() -> None:
    # A lost frame is retried by re-sealing: the receiver sees counter 0 then 2.
    host, key = open_session()
    key.open(host.seal(b"0"))
    host.seal(b"1, lost on the link")
    assert key.open(host.seal(b"1 again")) == b"1 again"


@pytest.mark.parametrize("keep", [0, 1, 12, 13, 28, 29, 30])
def test_truncation_is_rejected(keep: int) -> None:
    host, key = open_session()
    frame = host.seal(b"a request message")
    with pytest.raises(SecureChannelError, match="truncated"):
        key.open(frame[:keep])
    assert key.closed


def test_wrong_type_byte_is_rejected() -> None:
    host, key = open_session()
    frame = host.seal(b"x")
    with pytest.raises(MalformedEnvelopeError, match="0x01"):
        key.open(b"\x01" + frame[1:])


def test_explicit_close() -> None:
    host, _ = open_session()
    host.close("user disconnected")
    with pytest.raises(ChannelClosedError, match="user disconnected"):
        host.seal(b"x")


def test_unknown_host_is_denied() -> None:
    host = SessionHost(PAIRING)
    key = SessionKey(PAIRING.key_id, dict[bytes, bytes]().get)
    with pytest.raises(UnknownHostError, match="not paired"):
        key.accept(host.request())
    with pytest.raises(SessionOpenError):
        _ = key.channel


def test_wrong_pairing_key_fails_both_ways() -> None:
    # The key holds another pairing key for this host (it was re-paired elsewhere).
    host = SessionHost(PAIRING)
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: b"Q" * 32}.get)
    reply = key.accept(host.request())
    with pytest.raises(SessionOpenError, match="could not prove"):
        host.finish(reply)
    # An impostor host that knows the host id but not the pairing key gets the key's reply,
    # but its first sealed frame does not open: the key never executes anything.
    impostor = SessionHost(Pairing(PAIRING.host_id, PAIRING.key_id, b"Q" * 32))
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    reply = key.accept(impostor.request())
    with pytest.raises(SessionOpenError):
        impostor.finish(reply)
    forged = SecureChannel(key.channel.session_id, b"Q" * 32, b"Q" * 32, Direction.HOST_TO_KEY)
    with pytest.raises(ForgedFrameError):
        key.channel.open(forged.seal(b"\x01\x00\x01 delete everything"))
    assert not key.channel.peer_authenticated


def test_replayed_session_open_gives_useless_reply() -> None:
    # An attacker replays a recorded SESSION_OPEN and the host's recorded first frame.
    host = SessionHost(PAIRING)
    request = host.request()
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    recorded = host.finish(key.accept(request)).seal(b"\x01\x00\x01 recorded")
    fresh_key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    fresh_key.accept(request)
    with pytest.raises(SecureChannelError):
        fresh_key.channel.open(recorded)


def test_reply_from_another_key_is_refused() -> None:
    host = SessionHost(PAIRING)
    other = SessionKey(b"Z" * 16, {PAIRING.host_id: PAIRING.pairing_key}.get)
    with pytest.raises(SessionOpenError, match="not the paired key"):
        host.finish(other.accept(host.request()))


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_lengths_are_refused(delta: int) -> None:
    host = SessionHost(PAIRING)
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    request = host.request()
    bad = request[:delta] if delta < 0 else request + b"\x00"
    with pytest.raises(SessionOpenError, match="SESSION_OPEN must be 64 bytes"):
        key.accept(bad)
    reply = key.accept(request)
    bad = reply[:delta] if delta < 0 else reply + b"\x00"
    with pytest.raises(SessionOpenError, match="reply must be 96 bytes"):
        host.finish(bad)


def test_openings_are_single_use() -> None:
    host = SessionHost(PAIRING)
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    reply = key.accept(host.request())
    host.finish(reply)
    with pytest.raises(SessionOpenError, match="already used"):
        host.finish(reply)
    with pytest.raises(SessionOpenError, match="already used"):
        key.accept(host.request())


def test_low_order_ephemeral_key_is_refused() -> None:
    key = SessionKey(PAIRING.key_id, {PAIRING.host_id: PAIRING.pairing_key}.get)
    with pytest.raises(SessionOpenError, match="low-order"):
        key.accept(PAIRING.host_id + os.urandom(16) + bytes(32))


def test_errors_are_protocol_errors() -> None:
    assert issubclass(SecureChannelError, ProtocolError)
    assert issubclass(UnknownHostError, SessionOpenError)
