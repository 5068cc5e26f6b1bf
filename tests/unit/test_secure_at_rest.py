"""Sealing secrets at rest under a device key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.protocol.secure import (
    AT_REST_OVERHEAD,
    AtRestError,
    new_device_key,
    open_at_rest,
    seal_at_rest,
)

KEY = bytes(range(32))


@given(plaintext=st.binary(max_size=200), aad=st.binary(max_size=40))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    sealed = seal_at_rest(KEY, plaintext, aad)
    assert len(sealed) == len(plaintext) + AT_REST_OVERHEAD
    assert open_at_rest(KEY, sealed, aad) == plaintext


def test_plaintext_does_not_appear_and_nonces_differ() -> None:
    secret = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    a, b = seal_at_rest(KEY, secret), seal_at_rest(KEY, secret)
    assert a != b
    assert secret not in a and secret[:8] not in a


def test_wrong_device_key_is_refused() -> None:
    sealed = seal_at_rest(KEY, b"secret")
    with pytest.raises(AtRestError, match="another device key"):
        open_at_rest(new_device_key(), sealed)


def test_aad_binds_the_slot() -> None:
    sealed = seal_at_rest(KEY, b"secret", b"otp:1")
    with pytest.raises(AtRestError):
        open_at_rest(KEY, sealed, b"otp:2")


@given(position=st.integers(min_value=0), xor=st.integers(1, 255))
def test_any_tamper_is_detected(position: int, xor: int) -> None:
    sealed = seal_at_rest(KEY, b"a secret of some length", b"aad")
    i = position % len(sealed)
    with pytest.raises(AtRestError):
        open_at_rest(KEY, sealed[:i] + bytes([sealed[i] ^ xor]) + sealed[i + 1 :], b"aad")


@pytest.mark.parametrize("keep", [0, 1, 13, AT_REST_OVERHEAD - 1])
def test_truncated_is_refused(keep: int) -> None:
    with pytest.raises(AtRestError, match="truncated"):
        open_at_rest(KEY, seal_at_rest(KEY, b"")[:keep])


def test_bad_device_key_length() -> None:
    with pytest.raises(AtRestError, match="32 bytes"):
        seal_at_rest(b"short", b"x")


def test_injected_nonce_is_deterministic() -> None:
    nonce = bytes(12)
    assert seal_at_rest(KEY, b"x", nonce=nonce) == seal_at_rest(KEY, b"x", nonce=nonce)
    assert seal_at_rest(KEY, b"x", nonce=nonce)[1:13] == nonce
