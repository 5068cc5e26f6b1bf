"""Deterministic exchanges with a fresh key, for the transcripts in ``docs/protocol.md``.

The same requests always give the same bytes: the key's flash is in memory, its serial number
is given, its clock is frozen and its button approves at once (unless another is passed).

By default a host is paired with the key and an encrypted session is open before the first
request (as every real host works); each request travels sealed and the transcript shows the
plaintext of both directions, which is what the protocol's commands are made of. Answers the
key sends outside the session (its ACCESS_DENIED after a reset, say) appear as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.firmware.keyboard_out import KeyboardOut
from firmware_sim.firmware.state import KeyState
from firmware_sim.testing.paired import SecureLink, pair_firmware

__all__ = ["RecordingKeyboard", "run_transcript", "transcript_firmware"]


class RecordingKeyboard:
    """The key's own keyboard with a bonded host connected: it records the reports it sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    @property
    def host_connected(self) -> bool:
        return True

    @property
    def busy(self) -> bool:
        return False

    def send(self, reports: bytes) -> None:
        self.sent.append(reports)


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
    random = _counter_bytes()
    return Firmware(
        Flash.memory(KeyState(serial=serial, key_id=random(16))),
        clock,
        button or Button("auto"),
        random=random,
    )


def _counter_bytes() -> Callable[[int], bytes]:
    """A deterministic stand-in for ``os.urandom`` (fixed key id and key-side nonces)."""
    state = [0]

    def random(n: int) -> bytes:
        out = bytes((state[0] + i) & 0xFF for i in range(n))
        state[0] += n
        return out

    return random


def run_transcript(
    requests: list[bytes],
    *,
    clock_value: float,
    serial: str,
    clock_mode: Literal["fixed", "real"] = "fixed",
    button: Button | None = None,
    sealed: bool = True,
    keyboard: KeyboardOut | None = None,
) -> list[tuple[bytes, list[bytes]]]:
    """Feed ``requests`` (messages, without framing) to a fresh key, in order.

    Returns each request with the messages the key answered (then any a poll produced). With
    ``sealed`` (the default) they travel in an encrypted session of a paired host and the
    plaintexts are returned; without, they reach an unpaired key as they are. ``keyboard``
    is the key's own keyboard (none by default: no bonded BLE host).
    """
    firmware = transcript_firmware(
        clock_value=clock_value, serial=serial, clock_mode=clock_mode, button=button
    )
    firmware.keyboard = keyboard
    link = SecureLink(firmware, pair_firmware(firmware, host_id=bytes(16))) if sealed else None
    exchanges: list[tuple[bytes, list[bytes]]] = []
    for request in requests:
        if link is None:
            out = firmware.handle(request) + firmware.poll()
        else:
            out = link.handle(request) + link.poll()
        exchanges.append((request, out))
    return exchanges
