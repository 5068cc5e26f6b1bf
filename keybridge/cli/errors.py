"""Exit codes, and the mapping from library errors to them (README: "Exit codes")."""

from __future__ import annotations

from enum import IntEnum

from keybridge.errors import (
    BrowserUnreachableError,
    HesError,
    InvalidInputError,
    KeybridgeError,
    ProtocolError,
    TransportError,
)


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    """The key or the HES model refused the operation (wrong code, not found, button denied...)."""
    BAD_INPUT = 2
    """Malformed input: a secret, URI, name, option."""
    NO_DEVICE = 3
    """No key at the URL, the link failed or timed out."""
    PROTOCOL = 4
    """The key answered something this keybridge cannot understand (version mismatch...)."""
    INTERRUPTED = 130


def exit_code_for(error: KeybridgeError) -> ExitCode:
    from keybridge.protocol.secure.errors import PairingRejectedError, SessionOpenError

    # A declined pairing, and a key that does not accept this host's pairing (unpaired, reset,
    # or a stale pairing key), are refusals the user acts on (pair again), not protocol faults.
    if isinstance(error, PairingRejectedError | SessionOpenError):
        return ExitCode.REFUSED
    if isinstance(error, InvalidInputError):
        return ExitCode.BAD_INPUT
    # A browser that does not answer is a device out of reach, like a key.
    if isinstance(error, TransportError | BrowserUnreachableError):
        return ExitCode.NO_DEVICE
    if isinstance(error, ProtocolError):
        return ExitCode.PROTOCOL
    if isinstance(error, HesError):
        return ExitCode.REFUSED
    return ExitCode.REFUSED
