"""Errors of the security layer; each derives from a branch of :mod:`keybridge.errors`."""

from __future__ import annotations

from keybridge.errors import InvalidInputError, KeybridgeError, ProtocolError

__all__ = [
    "AtRestError",
    "ChannelClosedError",
    "ForgedFrameError",
    "HandshakeError",
    "MalformedEnvelopeError",
    "PairingError",
    "PairingRejectedError",
    "PinFormatError",
    "ReplayedFrameError",
    "SecureChannelError",
    "SessionOpenError",
    "UnknownHostError",
]


class HandshakeError(ProtocolError):
    """A pairing or session-open payload is malformed, out of order or fails its check."""


class PairingError(HandshakeError):
    """Pairing failed: bad payload, wrong order, commitment or MAC mismatch."""


class PairingRejectedError(PairingError):
    """The user did not confirm that both sides show the same code."""


class SessionOpenError(HandshakeError):
    """Opening an encrypted session failed (bad payload, wrong key, bad proof)."""


class UnknownHostError(SessionOpenError):
    """The key holds no pairing for this host id; the key answers ``ACCESS_DENIED``."""


class SecureChannelError(ProtocolError):
    """A sealed frame was rejected; the channel is closed from then on."""


class MalformedEnvelopeError(SecureChannelError):
    """The envelope is too short, not type 0x10, or carries another session's id."""


class ReplayedFrameError(SecureChannelError):
    """The frame's counter is not above the last accepted one (replay or reorder)."""


class ForgedFrameError(SecureChannelError):
    """The frame fails authentication: tampered, truncated, or sealed under another key."""


class ChannelClosedError(SecureChannelError):
    """The channel was closed (by an earlier rejected frame or explicitly); open a new session."""


class PinFormatError(InvalidInputError):
    """A PIN is not 4 to 16 ASCII digits."""


class AtRestError(KeybridgeError):
    """Data sealed at rest cannot be opened: wrong device key, tampered or foreign data."""
