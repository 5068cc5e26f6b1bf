"""Pairing between PairingHost and PairingKey: agreement, ordering, tampering."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import ProtocolError
from keybridge.protocol.secure import (
    Pairing,
    PairingError,
    PairingHost,
    PairingKey,
    PairingRejectedError,
)


def run_pairing() -> tuple[PairingHost, PairingKey, Pairing]:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    confirm = host.confirm(key.begin(host.begin()))
    key_code = key.confirm(confirm)
    assert key_code == host.code
    pairing = host.finish(key.accept(), user_confirmed=True)
    return host, key, pairing


def test_both_sides_agree_on_code_and_pairing_key() -> None:
    host, key, pairing = run_pairing()
    assert pairing == key.pairing
    assert pairing.host_id == host.host_id == key.host_id
    assert pairing.key_id == key.key_id
    assert len(pairing.pairing_key) == 32
    assert len(host.code) == 6 and host.code.isdigit()


def test_each_pairing_yields_a_fresh_key() -> None:
    assert run_pairing()[2].pairing_key != run_pairing()[2].pairing_key


def test_pairing_key_not_in_repr() -> None:
    pairing = run_pairing()[2]
    assert pairing.pairing_key.hex() not in repr(pairing)
    assert repr(pairing.pairing_key) not in repr(pairing)


def test_payload_sizes() -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    begin = host.begin()
    reply = key.begin(begin)
    confirm = host.confirm(reply)
    key.confirm(confirm)
    assert (len(begin), len(reply), len(confirm), len(key.accept())) == (80, 64, 48, 32)


def test_host_nonce_is_hidden_until_confirm() -> None:
    nonce = os.urandom(16)
    host = PairingHost(nonce=nonce)
    assert nonce not in host.begin()


def test_user_not_confirming_rejects_on_host() -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    key.confirm(host.confirm(key.begin(host.begin())))
    with pytest.raises(PairingRejectedError, match="not confirmed"):
        host.finish(key.accept(), user_confirmed=False)


def test_key_rejecting_leaves_no_pairing() -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    key.confirm(host.confirm(key.begin(host.begin())))
    key.reject()
    with pytest.raises(PairingError, match="button"):
        _ = key.pairing
    with pytest.raises(PairingError, match="out of order"):
        key.accept()


def test_man_in_the_middle_shows_different_codes() -> None:
    # The attacker runs an honest-looking pairing with each side. Fixed values keep the test
    # deterministic (random ones would collide once in a million runs).
    host = PairingHost(bytes(16), private_key=bytes([1] * 32), nonce=bytes([2] * 16))
    key = PairingKey(bytes([3] * 16), private_key=bytes([4] * 32), nonce=bytes([5] * 16))
    to_key = PairingHost(bytes(16), private_key=bytes([6] * 32), nonce=bytes([7] * 16))
    to_host = PairingKey(bytes([3] * 16), private_key=bytes([8] * 32), nonce=bytes([9] * 16))

    key_code = key.confirm(to_key.confirm(key.begin(to_key.begin())))
    to_host.confirm(host.confirm(to_host.begin(host.begin())))
    assert key_code != host.code
    # The attacker can answer the host with a valid MAC: only the user's comparison stops it.
    with pytest.raises(PairingRejectedError):
        host.finish(to_host.accept(), user_confirmed=False)


def test_steps_out_of_order_are_refused() -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    with pytest.raises(PairingError, match="out of order"):
        host.confirm(bytes(64))
    with pytest.raises(PairingError, match="no confirmation code"):
        _ = host.code
    with pytest.raises(PairingError, match="out of order"):
        key.confirm(bytes(48))
    begin = host.begin()
    with pytest.raises(PairingError, match="out of order"):
        host.begin()
    key.begin(begin)
    with pytest.raises(PairingError, match="out of order"):
        key.begin(begin)


@pytest.mark.parametrize("step", ["begin", "begin_reply", "confirm", "confirm_reply"])
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_payload_length_is_refused(step: str, delta: int) -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    begin = host.begin()
    if step == "begin":
        with pytest.raises(PairingError, match="PAIR_BEGIN must be 80 bytes"):
            key.begin(_resize(begin, delta))
        return
    reply = key.begin(begin)
    if step == "begin_reply":
        with pytest.raises(PairingError, match="reply must be 64 bytes"):
            host.confirm(_resize(reply, delta))
        return
    confirm = host.confirm(reply)
    if step == "confirm":
        with pytest.raises(PairingError, match="PAIR_CONFIRM must be 48 bytes"):
            key.confirm(_resize(confirm, delta))
        return
    key.confirm(confirm)
    with pytest.raises(PairingError, match="reply must be 32 bytes"):
        host.finish(_resize(key.accept(), delta), user_confirmed=True)


def _resize(payload: bytes, delta: int) -> bytes:
    return payload[:delta] if delta < 0 else payload + b"\x00" * delta


def test_low_order_public_key_is_refused() -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    begin = host.begin()
    reply = key.begin(begin)
    # The all-zero point has order 1: the shared secret would be zero and known to everyone.
    with pytest.raises(PairingError, match="low-order"):
        host.confirm(bytes(32) + reply[32:])


def test_failed_step_ends_the_attempt() -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))
    reply = key.begin(host.begin())
    confirm = host.confirm(reply)
    with pytest.raises(PairingError):
        key.confirm(confirm[:-1] + bytes([confirm[-1] ^ 1]))
    with pytest.raises(PairingError, match="out of order"):
        key.confirm(confirm)


@given(
    message=st.integers(0, 3),
    position=st.integers(0, 79),
    xor=st.integers(1, 255),
)
def test_tampering_any_byte_of_any_message_is_detected(
    message: int, position: int, xor: int
) -> None:
    host, key = PairingHost(), PairingKey(os.urandom(16))

    def tamper(payload: bytes, index: int) -> bytes:
        if index != message:
            return payload
        i = position % len(payload)
        return payload[:i] + bytes([payload[i] ^ xor]) + payload[i + 1 :]

    with pytest.raises(PairingError):
        reply = key.begin(tamper(host.begin(), 0))
        confirm = host.confirm(tamper(reply, 1))
        key.confirm(tamper(confirm, 2))
        host.finish(tamper(key.accept(), 3), user_confirmed=True)


def test_errors_are_protocol_errors() -> None:
    assert issubclass(PairingError, ProtocolError)
    assert issubclass(PairingRejectedError, PairingError)
