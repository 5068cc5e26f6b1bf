"""The key's button: user presence for RESET and for credentials that require a press.

Modes:

- ``auto``: every request is approved at once (CI default).
- ``deny``: every request is declined at once.
- ``manual``: a request waits; :meth:`Button.press` or :meth:`Button.decline` (a debug link, a
  test, a key on the terminal) settles it, or it times out after ``timeout`` seconds.
- ``scripted``: each request takes the next outcome of a script ("press", "deny", "timeout");
  when the script runs out, requests are declined.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import Enum
from typing import Literal, get_args

from keybridge.errors import InvalidInputError
from keybridge.protocol.constants import BUTTON_TIMEOUT_S

__all__ = ["Button", "ButtonMode", "Decision", "ScriptStep"]

ButtonMode = Literal["auto", "deny", "manual", "scripted"]
ScriptStep = Literal["press", "deny", "timeout"]


class Decision(Enum):
    APPROVED = "approved"
    DENIED = "denied"
    TIMEOUT = "timeout"
    PENDING = "pending"


_SCRIPTED: dict[str, Decision] = {
    "press": Decision.APPROVED,
    "deny": Decision.DENIED,
    "timeout": Decision.TIMEOUT,
}


class Button:
    """Decides whether the user approved a button-gated request."""

    def __init__(
        self,
        mode: ButtonMode = "auto",
        script: Iterable[ScriptStep] = (),
        *,
        timeout: float = BUTTON_TIMEOUT_S,
    ) -> None:
        if mode not in get_args(ButtonMode):
            raise InvalidInputError(
                f"unknown button mode {mode!r}: use auto, deny, manual or scripted"
            )
        steps = list(script)
        for step in steps:
            if step not in _SCRIPTED:
                raise InvalidInputError(
                    f"unknown button script step {step!r}: use press, deny or timeout"
                )
        self.mode: ButtonMode = mode
        self.timeout = timeout
        self.script: deque[str] = deque(steps)
        self._deadline: float | None = None
        self._outcome: Decision | None = None

    @classmethod
    def parse(cls, spec: str) -> Button:
        """A button from a CLI spec: ``auto``, ``deny``, ``manual`` or
        ``scripted:press,deny,timeout``."""
        mode, _, arg = spec.strip().partition(":")
        mode = mode.lower()
        if mode == "scripted":
            steps = [s.strip().lower() for s in arg.split(",") if s.strip()]
            return cls("scripted", steps)  # type: ignore[arg-type]  # checked in __init__
        if mode in ("auto", "deny", "manual") and not arg:
            return cls(mode)  # type: ignore[arg-type]
        raise InvalidInputError(
            f"unknown button {spec!r}: use auto, deny, manual or scripted:press,deny,timeout"
        )

    @property
    def pending(self) -> bool:
        """A request is waiting for the user."""
        return self._deadline is not None

    @property
    def deadline(self) -> float | None:
        """When (on the clock's monotonic scale) the pending request times out."""
        return self._deadline

    def request(self, now: float) -> Decision:
        """Ask for a press at monotonic time ``now``; PENDING means "poll :meth:`check`"."""
        self.cancel()
        if self.mode == "auto":
            return Decision.APPROVED
        if self.mode == "deny":
            return Decision.DENIED
        if self.mode == "scripted":
            return _SCRIPTED[self.script.popleft()] if self.script else Decision.DENIED
        self._deadline = now + self.timeout
        return Decision.PENDING

    def check(self, now: float) -> Decision:
        """The pending request's fate at ``now``; a final decision ends the wait."""
        if self._deadline is None:
            return Decision.DENIED
        decision = self._outcome or (Decision.TIMEOUT if now >= self._deadline else None)
        if decision is None:
            return Decision.PENDING
        self.cancel()
        return decision

    def press(self) -> bool:
        """The user pressed the button; False if nothing was waiting for it."""
        return self._settle(Decision.APPROVED)

    def decline(self) -> bool:
        """The user declined (long press, say); False if nothing was waiting."""
        return self._settle(Decision.DENIED)

    def cancel(self) -> None:
        """Stop waiting (the request was abandoned or settled)."""
        self._deadline = None
        self._outcome = None

    def _settle(self, decision: Decision) -> bool:
        if self._deadline is None or self._outcome is not None:
            return False
        self._outcome = decision
        return True
