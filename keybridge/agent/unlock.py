"""The PIN unlock the agent keeps: in memory only, for a timeout on an injectable clock.

The PIN is held so the agent can unlock the key again after a reconnect (a BLE key that went out
of range, a simulator restart) without asking. It lives in a ``bytearray`` that is zeroed when
the unlock ends: on timeout, on ``agent lock``, when the agent stops, or when the key refuses
it. (Python may have copied the text it came in as; zeroing is best effort, as in any
Python program, and the reason it never touches disk or a log.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "PinUnlock"]

Clock = Callable[[], float]
"""Seconds on a monotonic clock (``time.monotonic``; tests inject their own)."""


class PinUnlock:
    """The PIN that unlocked the key, for ``timeout`` seconds of ``clock`` after it was given.

    A timeout of 0 keeps nothing: every command asks for the PIN.
    """

    def __init__(self, timeout: float, clock: Clock = time.monotonic) -> None:
        if timeout < 0:
            raise ValueError(f"a PIN timeout cannot be negative: {timeout}")
        self.timeout = timeout
        self.clock = clock
        self._pin = bytearray()
        self._until: float | None = None

    def remember(self, pin: str) -> None:
        """Keep ``pin`` until the timeout (restarted by every successful unlock)."""
        self.wipe()
        if self.timeout == 0:
            return
        self._pin = bytearray(pin.encode("ascii"))
        self._until = self.clock() + self.timeout

    @property
    def expired(self) -> bool:
        """The unlock was given and its time is up (call :meth:`wipe` next)."""
        return self._until is not None and self.clock() >= self._until

    @property
    def active(self) -> bool:
        return self._until is not None and not self.expired

    def pin(self) -> str | None:
        """The PIN while the unlock lasts."""
        return self._pin.decode("ascii") if self.active else None

    def expires_in(self) -> float | None:
        """Seconds left, or None when locked."""
        if not self.active or self._until is None:
            return None
        return max(0.0, self._until - self.clock())

    def wipe(self) -> None:
        """Forget the PIN now (zeroing its bytes)."""
        for i in range(len(self._pin)):
            self._pin[i] = 0
        self._pin = bytearray()
        self._until = None
