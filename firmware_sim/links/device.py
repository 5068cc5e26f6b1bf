"""What every link serves, how a byte-stream link reaches it, and how often it polls it.

Shared by the byte-stream links (:mod:`firmware_sim.links.framed_port`), the in-memory
transport and the BLE peripheral, so each serves the same :class:`Device` on the same rhythm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

__all__ = ["FAST_POLL_S", "IDLE_POLL_S", "Device", "Port", "tell_connection"]

FAST_POLL_S = 0.05
"""Poll interval while a request waits: completes it soon after a button event or timeout."""
IDLE_POLL_S = 1.0
"""Poll interval otherwise; a safety net for states the link cannot see (sealed messages)."""


class Device(Protocol):
    """A firmware core as a link sees it (:class:`firmware_sim.firmware.core.Firmware`): it
    answers messages, and is polled to settle button waits and send keep-alives."""

    def handle(self, message: bytes) -> list[bytes]: ...

    def poll(self) -> list[bytes]: ...


def tell_connection(device: object, event: Literal["made", "lost"]) -> None:
    """Tell ``device`` that a host's connection began or ended, if it keeps per-connection
    state (the firmware core: a session never outlives its connection). Links call this on
    every connect and disconnect they see; simpler devices (an echo key) have no such hook."""
    hook = getattr(device, f"connection_{event}", None)
    if callable(hook):
        hook()


class Port(Protocol):
    """What a link serves a host through: a :class:`FramedPort`, or a decorator of one."""

    name: str

    @property
    def device(self) -> Device: ...

    def connect(self, write: Callable[[bytes], None]) -> None: ...

    def disconnect(self) -> None: ...

    def feed(self, data: bytes) -> None: ...

    def poke(self) -> None: ...

    def close(self) -> None: ...
