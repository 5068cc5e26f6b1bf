"""Device statuses as exceptions: each non-OK status becomes a typed error with advice."""

from __future__ import annotations

from keybridge.errors import KeybridgeError
from keybridge.protocol.constants import Status

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "ButtonError",
    "ClockError",
    "DeviceError",
    "NotFoundError",
    "PinError",
    "StorageFullError",
    "error_for_status",
]


class DeviceError(KeybridgeError):
    """The key refused a request; ``status`` says why (a :class:`Status` or an unknown int)."""

    def __init__(self, status: Status | int, message: str, detail: str | None = None) -> None:
        self.status = status
        self.detail = detail
        # The key's detail adds to the advice unless it only repeats it.
        super().__init__(f"{message} ({detail})" if detail and detail not in message else message)


class NotFoundError(DeviceError):
    pass


class AlreadyExistsError(DeviceError):
    pass


class StorageFullError(DeviceError):
    pass


class AccessDeniedError(DeviceError):
    pass


class ClockError(DeviceError):
    pass


class ButtonError(DeviceError):
    pass


class PinError(DeviceError):
    def __init__(
        self,
        status: Status | int,
        message: str,
        detail: str | None = None,
        attempts_remaining: int | None = None,
    ) -> None:
        super().__init__(status, message, detail)
        self.attempts_remaining = attempts_remaining


_ADVICE: dict[Status, tuple[type[DeviceError], str]] = {
    Status.UNKNOWN_COMMAND: (
        DeviceError,
        "the key does not support this command: update the key's firmware or keybridge",
    ),
    Status.BAD_PARAMETER: (DeviceError, "the key rejected a parameter of the request"),
    Status.BAD_MESSAGE: (DeviceError, "the key could not parse the request (protocol mismatch?)"),
    Status.NOT_FOUND: (NotFoundError, "no credential with that name: see `keybridge otp list`"),
    Status.ALREADY_EXISTS: (
        AlreadyExistsError,
        "a credential with that name exists: pick another name or delete the old one first",
    ),
    Status.STORAGE_FULL: (StorageFullError, "the key is full: delete a credential first"),
    Status.ACCESS_DENIED: (
        AccessDeniedError,
        "the key refused access: pair this host with `keybridge pair` first",
    ),
    Status.CLOCK_NOT_SET: (
        ClockError,
        "the key's clock was never set, so it cannot compute a TOTP: reconnect to set it",
    ),
    Status.CLOCK_BACKWARDS: (
        ClockError,
        "the key's clock is ahead of this host's: check the host's time, or force the change",
    ),
    Status.BUTTON_TIMEOUT: (
        ButtonError,
        "the button was not pressed in time: try again and press the button on the key",
    ),
    Status.BUTTON_DENIED: (
        ButtonError,
        "the request was declined on the key, so nothing was done: run it again and press the "
        "button to allow it",
    ),
    Status.PIN_REQUIRED: (
        PinError,
        "the key is protected by a PIN: verify it first (`keybridge pin verify`)",
    ),
    Status.PIN_INVALID: (PinError, "wrong PIN"),
    Status.PIN_LOCKED: (
        PinError,
        "too many wrong PINs: the key erased every credential and pairing; pair it again",
    ),
    Status.UNSUPPORTED_LAYOUT: (
        DeviceError,
        "the key does not know that keyboard layout: see `keybridge info` for its layouts",
    ),
    Status.CANNOT_TYPE: (DeviceError, "the code cannot be typed in that keyboard layout"),
    Status.BUSY: (DeviceError, "the key is busy with another request: try again"),
    Status.STORAGE_ERROR: (DeviceError, "the key could not write its storage"),
    Status.CANCELLED: (
        ButtonError,
        "the request was cancelled before the button was pressed, so nothing was done",
    ),
    Status.NO_KEYBOARD_HOST: (
        DeviceError,
        "no bonded computer is connected to the key's keyboard: pair the key in the computer's "
        "Bluetooth settings, or type through this host",
    ),
    Status.INTERNAL_ERROR: (DeviceError, "the key hit an internal error"),
}


def error_for_status(
    status: Status | int, detail: str | None = None, *, attempts_remaining: int | None = None
) -> DeviceError:
    """The exception for a non-OK status (unknown codes give a plain :class:`DeviceError`).

    ``attempts_remaining`` (the PIN_RETRIES field) is kept on :class:`PinError`.
    """
    if isinstance(status, Status) and status in _ADVICE:
        cls, message = _ADVICE[status]
        if cls is PinError:
            if attempts_remaining is not None and status == Status.PIN_INVALID:
                attempts = (
                    "1 attempt" if attempts_remaining == 1 else f"{attempts_remaining} attempts"
                )
                message += f": {attempts} left before the key erases itself"
            return PinError(status, message, detail, attempts_remaining)
        return cls(status, message, detail)
    return DeviceError(status, f"the key answered with unknown status 0x{int(status):02x}", detail)
