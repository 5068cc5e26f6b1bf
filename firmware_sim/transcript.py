"""Deterministic exchanges with a fresh key, for the transcripts in ``docs/protocol.md``.

The same requests always give the same bytes: the key's flash is in memory, its serial number
is given, its clock is frozen and its button approves at once (unless another is passed).
"""

from __future__ import annotations

from typing import Literal

from firmware_sim.button import Button
from firmware_sim.clock import KeyClock
from firmware_sim.core import Firmware
from firmware_sim.flash import Flash
from firmware_sim.state import KeyState

__all__ = ["run_transcript", "transcript_firmware"]


def transcript_firmware(
    *,
    clock_value: float,
    serial: str,
    clock_mode: Literal["fixed", "real"] = "fixed",
    button: Button | None = None,
) -> Firmware:
    """A fresh key with a frozen clock.

    ``clock_mode="fixed"`` pins the key's time to ``clock_value`` (SET_TIME answers it);
    ``"real"`` starts unset and keeps whatever SET_TIME sets, with no time passing.
    """
    clock = KeyClock(lambda: clock_value, clock_mode, clock_value if clock_mode == "fixed" else 0)
    return Firmware(
        Flash.memory(KeyState(serial=serial)),
        clock,
        button or Button("auto"),
    )


def run_transcript(
    requests: list[bytes],
    *,
    clock_value: float,
    serial: str,
    clock_mode: Literal["fixed", "real"] = "fixed",
    button: Button | None = None,
) -> list[tuple[bytes, list[bytes]]]:
    """Feed ``requests`` (messages, without framing) to a fresh key, in order.

    Returns each request with the messages the key answered (then any a poll produced).
    """
    firmware = transcript_firmware(
        clock_value=clock_value, serial=serial, clock_mode=clock_mode, button=button
    )
    exchanges: list[tuple[bytes, list[bytes]]] = []
    for request in requests:
        out = firmware.handle(request)
        out += firmware.poll()
        exchanges.append((request, out))
    return exchanges
