"""What the core's command handlers share: their answers and the key they work on.

A handler takes a request body and returns the response body, a :class:`Wait` (ask the button
first) or raises :class:`Refused` (a non-OK status). The core (:mod:`firmware_sim.firmware.core`)
routes commands to handlers, its own and those of :mod:`firmware_sim.firmware.security`; the
security part sees the core only as a :class:`KeyCore`, so neither module imports the other's
internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from keybridge.protocol.messages import Fields

if TYPE_CHECKING:
    from firmware_sim.firmware.clock import KeyClock
    from firmware_sim.firmware.state import KeyState
    from keybridge.protocol.commands import Body
    from keybridge.protocol.constants import Status

__all__ = ["Action", "Handler", "KeyCore", "Refused", "Wait"]

Action = Callable[[], "Body"]
"""Work that runs once the button is pressed, returning the response body."""


class Refused(Exception):
    """A request the key answers with a non-OK ``status``, a DETAIL text and any ``fields``."""

    def __init__(self, status: Status, detail: str, fields: Fields | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.fields = fields or Fields()


@dataclass
class Wait:
    """A handler's answer "ask the button, then run ``action``" (``refuse`` if it is not
    pressed)."""

    action: Action
    refuse: Callable[[], None] | None = None


Handler = Callable[["Body"], "Body | Wait"]
"""One command's handler: a request body in, a response body or a :class:`Wait` out."""


class KeyCore(Protocol):
    """The core as its security part uses it: the state, the clock and the commit."""

    @property
    def state(self) -> KeyState: ...

    @property
    def clock(self) -> KeyClock: ...

    @property
    def handling_sealed(self) -> bool:
        """The request being handled came in a session (sealed)."""
        ...

    def commit(self, state: KeyState) -> None:
        """Save ``state`` to flash, then adopt it; a failed save changes nothing."""
        ...

    def forget_last(self) -> None:
        """Drop the idempotent-retry cache."""
        ...
