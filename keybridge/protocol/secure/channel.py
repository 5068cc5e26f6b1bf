"""The sealed envelope (message type 0x10) and one endpoint of an encrypted session.

Envelope layout, every field big-endian::

    0x10 | session_id (4) | counter (4) | ciphertext (len(plaintext)) | tag (16)

AEAD is ChaCha20-Poly1305 with nonce ``direction (4) | 00000000 | counter (4)`` and the 9-byte
header as associated data. Each direction has its own key and its own counter; the receiver
accepts only counters above the last one it accepted (gaps are fine: a lost frame is retried by
re-sealing it under a new counter, never by resending the same bytes). The first rejected frame
closes the channel for good.

The counter is 4 bytes, not 8, so that a sealed OTP request fits three ATT packets at the
smallest BLE MTU; a session therefore carries at most 2**32 frames each way, and a side whose
counter runs out closes the session (the host opens a new one).
"""

from __future__ import annotations

import enum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from keybridge.protocol.secure._primitives import KEY_LENGTH
from keybridge.protocol.secure.errors import (
    ChannelClosedError,
    ForgedFrameError,
    MalformedEnvelopeError,
    ReplayedFrameError,
    SecureChannelError,
)

__all__ = [
    "ENVELOPE_HEADER_LENGTH",
    "ENVELOPE_OVERHEAD",
    "SEALED_TYPE",
    "SESSION_ID_LENGTH",
    "TAG_LENGTH",
    "Direction",
    "SecureChannel",
]

SEALED_TYPE = 0x10
SESSION_ID_LENGTH = 4
COUNTER_LENGTH = 4
TAG_LENGTH = 16
ENVELOPE_HEADER_LENGTH = 1 + SESSION_ID_LENGTH + COUNTER_LENGTH
ENVELOPE_OVERHEAD = ENVELOPE_HEADER_LENGTH + TAG_LENGTH
"""Bytes a sealed message adds to its plaintext (25)."""
_MAX_COUNTER = 2**32 - 1


class Direction(enum.IntEnum):
    """Which way a frame travels; the 4-byte prefix of its AEAD nonce."""

    HOST_TO_KEY = 1
    KEY_TO_HOST = 2


class SecureChannel:
    """One end of a session: seals outgoing frames, opens incoming ones.

    Built by the session handshake (:mod:`keybridge.protocol.secure.session`), not by hand.
    Any rejected frame raises a :class:`SecureChannelError` subclass and closes the channel:
    every later :meth:`seal` or :meth:`open` raises :class:`ChannelClosedError`.
    """

    def __init__(
        self, session_id: bytes, send_key: bytes, recv_key: bytes, send_direction: Direction
    ) -> None:
        if len(session_id) != SESSION_ID_LENGTH:
            raise ValueError(f"session_id must be {SESSION_ID_LENGTH} bytes")
        if len(send_key) != KEY_LENGTH or len(recv_key) != KEY_LENGTH:
            raise ValueError(f"channel keys must be {KEY_LENGTH} bytes")
        self.session_id = bytes(session_id)
        self.send_direction = send_direction
        self.recv_direction = (
            Direction.KEY_TO_HOST
            if send_direction is Direction.HOST_TO_KEY
            else Direction.HOST_TO_KEY
        )
        self._send = ChaCha20Poly1305(send_key)
        self._recv = ChaCha20Poly1305(recv_key)
        self._next_send = 0
        self._last_recv = -1
        self._closed_because: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed_because is not None

    @property
    def frames_left(self) -> int:
        """How many more frames this side can seal in this session (2**32 in all)."""
        return _MAX_COUNTER + 1 - self._next_send

    @property
    def peer_authenticated(self) -> bool:
        """True once a frame from the peer has been opened: on the key, proof that the host
        holds the pairing key (its first sealed request is that proof)."""
        return self._last_recv >= 0

    def close(self, reason: str = "closed by this side") -> None:
        """Close the channel; later calls raise :class:`ChannelClosedError`."""
        if self._closed_because is None:
            self._closed_because = reason

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt one complete message into an envelope (starting with 0x10)."""
        self._check_open()
        counter = self._next_send
        if counter > _MAX_COUNTER:
            self.close("its frame counter is exhausted")
            raise ChannelClosedError(
                f"the session has sealed its {_MAX_COUNTER + 1} frames: open a new session"
            )
        self._next_send = counter + 1
        header = bytes([SEALED_TYPE]) + self.session_id + counter.to_bytes(COUNTER_LENGTH, "big")
        return header + self._send.encrypt(_nonce(self.send_direction, counter), plaintext, header)

    def open(self, envelope: bytes) -> bytes:
        """Authenticate and decrypt one envelope; return the plaintext message."""
        self._check_open()
        try:
            return self._open(envelope)
        except SecureChannelError as exc:
            self.close(str(exc))
            raise

    def _open(self, envelope: bytes) -> bytes:
        if len(envelope) < ENVELOPE_OVERHEAD:
            raise MalformedEnvelopeError(
                f"sealed frame of {len(envelope)} bytes is shorter than the "
                f"{ENVELOPE_OVERHEAD}-byte minimum (truncated); "
                "the session is closed, open a new one"
            )
        if envelope[0] != SEALED_TYPE:
            raise MalformedEnvelopeError(
                f"message type 0x{envelope[0]:02x} is not a sealed frame (0x10); "
                "the session is closed, open a new one"
            )
        header = bytes(envelope[:ENVELOPE_HEADER_LENGTH])
        if header[1 : 1 + SESSION_ID_LENGTH] != self.session_id:
            raise MalformedEnvelopeError(
                f"sealed frame belongs to session {header[1:5].hex()}, not "
                f"{self.session_id.hex()}; the session is closed, open a new one"
            )
        counter = int.from_bytes(header[1 + SESSION_ID_LENGTH :], "big")
        if counter <= self._last_recv:
            raise ReplayedFrameError(
                f"sealed frame counter {counter} is not above the last accepted {self._last_recv} "
                "(replayed or reordered); the session is closed, open a new one"
            )
        try:
            plaintext = self._recv.decrypt(
                _nonce(self.recv_direction, counter),
                bytes(envelope[ENVELOPE_HEADER_LENGTH:]),
                header,
            )
        except InvalidTag:
            raise ForgedFrameError(
                f"sealed frame {counter} fails authentication (tampered, truncated or not from "
                "this session); the session is closed, open a new one"
            ) from None
        self._last_recv = counter
        return plaintext

    def _check_open(self) -> None:
        if self._closed_because is not None:
            raise ChannelClosedError(
                f"the secure session is closed ({self._closed_because}); open a new session"
            )


def _nonce(direction: Direction, counter: int) -> bytes:
    return direction.to_bytes(4, "big") + counter.to_bytes(8, "big")  # 12 bytes
