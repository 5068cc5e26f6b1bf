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


class InvalidCodeError(HesError):
    """A well-formed one-time or recovery code was not accepted (wrong, expired or replayed)."""


class MalformedCodeError(InvalidInputError):
    """A code is not of the expected shape (e.g. not 6 ASCII digits after stripping)."""


class StoreError(HesError):
    """The HES model's SQLite store cannot be used (not ours, other schema version, corrupt)."""


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


class UnsupportedCharacterError(InvalidInputError):
    """A keyboard layout cannot type a character of the text (nothing was typed)."""

    def __init__(self, message: str, *, char: str, position: int, layout_id: str) -> None:
        super().__init__(message)
        self.char = char
        self.position = position  # 0-based index into the text
        self.layout_id = layout_id


class KeyboardBackendError(KeybridgeError):
    """A keyboard backend cannot deliver keystrokes (missing package, no permission)."""


class BrowserUnreachableError(KeyboardBackendError):
    """No browser answers at the DevTools URL the browser backend was given."""
