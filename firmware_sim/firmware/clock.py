"""The key's clock: set by the host (the key has no battery), or pinned/skewed for tests.

Modes:

- ``real``: unset until the host sends SET_TIME; then the host's time plus the time elapsed on
  ``source`` since.
- ``fixed``: always set, always ``value``; SET_TIME changes nothing (QA pins the key's time).
- ``offset``: like ``real``, plus ``value`` seconds (QA simulates a key whose clock drifted).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal, get_args

from keybridge.errors import InvalidInputError, KeybridgeError
from keybridge.protocol.constants import CLOCK_BACKWARDS_TOLERANCE_S

__all__ = ["ClockBackwardsError", "ClockMode", "KeyClock"]

ClockMode = Literal["real", "fixed", "offset"]


class ClockBackwardsError(KeybridgeError):
    """SET_TIME would move the clock back by more than the tolerance, without force."""

    def __init__(self, current: float, requested: float) -> None:
        self.current = current
        self.requested = requested
        super().__init__(
            f"the key's clock ({int(current)}) is {int(current - requested)} s ahead of the "
            f"requested time ({int(requested)}), more than {CLOCK_BACKWARDS_TOLERANCE_S} s: "
            "check the host's clock, or force the change"
        )


class KeyClock:
    """The key's notion of unix time, and a monotonic reading for timeouts."""

    def __init__(
        self,
        source: Callable[[], float] = time.time,
        mode: ClockMode = "real",
        value: float = 0,
    ) -> None:
        if mode not in get_args(ClockMode):
            raise InvalidInputError(f"unknown clock mode {mode!r}: use real, fixed or offset")
        self.source = source
        self.mode: ClockMode = mode
        self.value = value
        # (host time, source reading) at the last SET_TIME; elapsed time is added to the host's
        # time rather than storing a difference, so a frozen source gives exact host times.
        self._anchor: tuple[float, float] | None = None
        self._last_monotonic = -math.inf

    @classmethod
    def parse(cls, spec: str, source: Callable[[], float] = time.time) -> KeyClock:
        """A clock from a CLI spec: ``real``, ``fixed:UNIX`` or ``offset:SECONDS``."""
        mode, _, arg = spec.strip().partition(":")
        mode = mode.lower()
        if mode == "real" and not arg:
            return cls(source)
        if mode in ("fixed", "offset"):
            try:
                value = float(arg)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or (mode == "fixed" and value < 0):
                what = "a unix time in seconds" if mode == "fixed" else "a number of seconds"
                raise InvalidInputError(
                    f"clock {spec!r}: {arg!r} is not {what} (example: {mode}:"
                    f"{'1700000000' if mode == 'fixed' else '-90'})"
                )
            return cls(source, "fixed" if mode == "fixed" else "offset", value)
        raise InvalidInputError(
            f"unknown clock {spec!r}: use real, fixed:UNIX_TIME or offset:SECONDS"
        )

    @property
    def is_set(self) -> bool:
        return self.mode == "fixed" or self._anchor is not None

    def now(self) -> float | None:
        """The key's unix time, or None if it was never set."""
        if self.mode == "fixed":
            return self.value
        if self._anchor is None:
            return None
        host_time, at = self._anchor
        skew = self.value if self.mode == "offset" else 0
        return host_time + (self.source() - at) + skew

    def set(self, host_time: float, force: bool = False) -> float:
        """Set the clock to the host's time; returns the key's time afterwards.

        Raises :class:`ClockBackwardsError` if that moves the clock back by more than
        ``CLOCK_BACKWARDS_TOLERANCE_S`` and ``force`` is false. A fixed clock ignores the host.
        """
        if self.mode == "fixed":
            return self.value
        current = self.now()
        skew = self.value if self.mode == "offset" else 0
        if (
            current is not None
            and not force
            and current - (host_time + skew) > CLOCK_BACKWARDS_TOLERANCE_S
        ):
            raise ClockBackwardsError(current, host_time + skew)
        self._anchor = (host_time, self.source())
        now = self.now()
        assert now is not None
        return now

    def clear(self) -> None:
        """Forget the host's time (factory reset); a fixed clock stays set."""
        self._anchor = None

    def monotonic(self) -> float:
        """Seconds for timeouts, from ``source``, never going backwards."""
        self._last_monotonic = max(self._last_monotonic, self.source())
        return self._last_monotonic
