"""The key's PIN, composed onto a session: ``key.pin.verify(pin)`` (as python-fido2's
``ClientPin(ctap)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keybridge.errors import InvalidInputError
from keybridge.protocol.commands import (
    Body,
    Empty,
    PinChangeRequest,
    PinRequest,
    PinSetRequest,
)
from keybridge.protocol.constants import (
    PIN_RETRIES_DEFAULT,
    PIN_RETRIES_MAX,
    PIN_RETRIES_MIN,
    Command,
    Status,
)
from keybridge.protocol.secure import check_pin_format
from keybridge.protocol.status import PinError

if TYPE_CHECKING:
    from keybridge.session.core import KeySession

__all__ = ["Pin"]


class Pin:
    """Set, change and verify the PIN of the key behind ``session``. PINs are 4-16 digits,
    checked here before anything is sent."""

    def __init__(self, session: KeySession) -> None:
        self.session = session

    async def set(self, pin: str, *, max_retries: int = PIN_RETRIES_DEFAULT) -> None:
        """Protect the key with a PIN; ``max_retries`` wrong PINs in a row erase it."""
        check_pin_format(pin)
        if not PIN_RETRIES_MIN <= max_retries <= PIN_RETRIES_MAX:
            raise InvalidInputError(
                f"max retries {max_retries} is out of range: use {PIN_RETRIES_MIN}.."
                f"{PIN_RETRIES_MAX} (8 is usual)"
            )
        await self.session.call(Command.PIN_SET, PinSetRequest(pin, max_retries), Empty)

    async def verify(self, pin: str) -> None:
        """Unlock the OTP commands for this session; a wrong PIN raises :class:`PinError`
        with ``attempts_remaining``."""
        check_pin_format(pin)
        await self._checked(Command.PIN_VERIFY, PinRequest(pin))

    async def change(self, old_pin: str, new_pin: str) -> None:
        """Replace the PIN (a wrong ``old_pin`` counts as a failed attempt)."""
        check_pin_format(old_pin)
        check_pin_format(new_pin)
        await self._checked(Command.PIN_CHANGE, PinChangeRequest(old_pin, new_pin))

    async def _checked(self, command: Command, body: Body) -> None:
        try:
            await self.session.call(command, body, Empty)
        except PinError as exc:
            if exc.status == Status.PIN_LOCKED:
                self.session.forget_pairing()  # the key erased every pairing, ours included
            raise
