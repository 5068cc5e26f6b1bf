"""The exception tree: one root, a branch per layer.

Every error a user can cause derives from :class:`KeybridgeError` and carries a message that
says what was wrong and what to do. The CLI maps the branches to exit codes.
"""

from __future__ import annotations


class KeybridgeError(Exception):
    """Root of every error keybridge raises on purpose."""


class InvalidInputError(KeybridgeError, ValueError):
    """Input from the user (a secret, URI, code, name, option) is malformed."""


class InvalidSecretError(InvalidInputError):
    """An OTP secret is not valid Base32 or has the wrong length."""


class InvalidUriError(InvalidInputError):
    """An ``otpauth://`` URI is malformed or inconsistent."""


class HesError(KeybridgeError):
    """The HES model refused an operation (unknown user, wrong state, ...)."""


class UnknownUserError(HesError):
    """No account with that e-mail address exists."""


class InvalidStateError(HesError):
    """The operation does not fit the account's current state (e.g. confirm without setup)."""


class TransportError(KeybridgeError):
    """The link to the key failed: cannot open, lost connection, timed out."""


class DeviceNotFoundError(TransportError):
    """No key answers at the given device URL (or none is attached)."""


class LinkTimeoutError(TransportError):
    """The key did not answer in time, even after retries."""


class ProtocolError(KeybridgeError):
    """Bytes on the link do not form a valid frame or message."""


class FrameError(ProtocolError):
    """A link frame is corrupt (bad delimiter, COBS, CRC or size)."""


class MessageError(ProtocolError):
    """A message is malformed (bad header, truncated field, field too long)."""


class VersionMismatchError(ProtocolError):
    """The key speaks a protocol version this host does not understand."""
