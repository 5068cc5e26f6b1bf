"""Exit codes, and the mapping from library errors to them (README: "Exit codes")."""

from __future__ import annotations

import re
from enum import IntEnum

from keybridge.errors import (
    BrowserUnreachableError,
    HesError,
    InvalidInputError,
    KeybridgeError,
    ProtocolError,
    TransportError,
)


class NotConfirmedError(KeybridgeError):
    """A confirmation (or a last PIN try) the CLI will not assume: nothing was done."""


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    """The key or the HES model refused the operation (wrong code, not found, button denied...)."""
    BAD_INPUT = 2
    """Malformed input: a secret, URI, name, option; a name or device that is ambiguous."""
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


# The key's own words may name wire commands; the user knows the commands that send them.
_WIRE_WORDS = {
    "GET_INFO": "`keybridge info`",
    "PING": "a ping",
    "SET_TIME": "setting the key's clock",
    "OTP_PUT": "`keybridge otp add`",
    "OTP_LIST": "`keybridge otp list`",
    "OTP_DELETE": "`keybridge otp delete`",
    "OTP_RENAME": "`keybridge otp rename`",
    "OTP_CALCULATE": "`keybridge otp code`",
    "OTP_TYPE": "`keybridge otp type`",
    "RESET": "`keybridge reset`",
    "PAIR_BEGIN": "`keybridge pair`",
    "PAIR_CONFIRM": "`keybridge pair`",
    "SESSION_OPEN": "an encrypted session",
    "UNPAIR": "`keybridge unpair`",
    "LIST_HOSTS": "`keybridge unpair --list`",
    "PIN_SET": "`keybridge pin set`",
    "PIN_VERIFY": "`keybridge pin verify`",
    "PIN_CHANGE": "`keybridge pin change`",
}
_WIRE_RE = re.compile(r"\b(" + "|".join(sorted(_WIRE_WORDS, key=len, reverse=True)) + r")\b")
# Library messages speak Python to library users (``profile='hes'``); the CLI's are options.
_PYTHON_ARG_RE = re.compile(r"\b(profile)=(['\"]?)([\w.-]+)\2")


def in_user_terms(message: str) -> str:
    """``message`` with wire command names and Python keyword arguments put as the user's
    commands and options (``PIN_CHANGE`` -> `keybridge pin change`, ``profile='hes'`` ->
    ``--profile hes``)."""
    message = _WIRE_RE.sub(lambda m: _WIRE_WORDS[m.group(1)], message)
    return _PYTHON_ARG_RE.sub(lambda m: f"--{m.group(1)} {m.group(3)}", message)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 attempt``, ``2 attempts``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
