"""The ``--faults SPEC`` grammar: which faults a simulated key's link and flash suffer.

::

    SPEC     := ITEM ("," ITEM)*
    ITEM     := FAULT "=" SHARE [":" DURATION] ["@in" | "@out"]
              | "disconnect-after=" N | "power-cut-after-writes=" N | "seed=" N
    FAULT    := drop | corrupt | duplicate | delay | drop-byte | corrupt-byte
    SHARE    := a number from 0 to 1 (0.05) or a percentage (5%)
    DURATION := a number with "ms" or "s" (delay only, where it is required)

For example ``drop=0.05,corrupt=0.01@in,delay=0.01:200ms,disconnect-after=40,seed=7``.

- ``drop``, ``corrupt`` (one byte changed, so the frame's CRC fails), ``duplicate`` and ``delay``
  act on that share of frames; ``drop-byte`` and ``corrupt-byte`` on that share of single bytes
  (noise on the wire: a frame may be cut in two). ``@in`` is host -> key, ``@out`` key -> host,
  both directions without a suffix. A delayed frame holds back the frames behind it (a serial
  line does not reorder).
- ``disconnect-after=N``: the host's N-th frame on a connection reaches the key, then the key
  hangs up before answering it (TCP: the socket closes and the next connection is served
  afresh; a pty goes away, as an unplugged USB key).
- ``power-cut-after-writes=N``: the key's flash writes N times, then the process is killed in
  the middle of the next write (anywhere from before its first byte to after its rename).
- ``seed=N``: the same seed gives the same faults for the same traffic; without it the process
  picks one and logs it.
"""

from __future__ import annotations

from keybridge.errors import InvalidInputError
from keybridge.protocol.record import Record

__all__ = ["DIRECTIONS", "FaultSpec", "StreamFaults", "parse_faults"]

DIRECTIONS = ("in", "out")
_RATES = {
    "drop": "drop",
    "corrupt": "corrupt",
    "duplicate": "duplicate",
    "delay": "delay",
    "drop-byte": "drop_byte",
    "corrupt-byte": "corrupt_byte",
}
_COUNTS = {"disconnect-after": 1, "power-cut-after-writes": 0, "seed": 0}
_MAX_DELAY_S = 60.0
_GRAMMAR = (
    "write NAME=SHARE[@in|@out] items joined by commas, e.g. drop=0.05,delay=0.01:200ms,seed=7"
)


class StreamFaults(Record):
    """The faults of one direction of a link: shares of frames (or bytes) from 0 to 1."""

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.0
    drop_byte: float = 0.0
    corrupt_byte: float = 0.0

    @property
    def active(self) -> bool:
        return any(
            (self.drop, self.corrupt, self.duplicate, self.delay, self.drop_byte, self.corrupt_byte)
        )


class FaultSpec(Record):
    """A parsed ``--faults`` SPEC (:func:`parse_faults`); ``text`` is what was given."""

    text: str = ""
    inbound: StreamFaults = StreamFaults()
    outbound: StreamFaults = StreamFaults()
    disconnect_after: int | None = None
    power_cut_after_writes: int | None = None
    seed: int | None = None

    @property
    def link_faults(self) -> bool:
        """Whether the link itself is faulty (not only the flash)."""
        return self.inbound.active or self.outbound.active or self.disconnect_after is not None


def _share(item: str, text: str) -> float:
    percent = text.endswith("%")
    try:
        value = float(text[:-1] if percent else text) / (100 if percent else 1)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(
            f"--faults {item!r}: {text!r} is not a share from 0 to 1 (or 0% to 100%)"
        )
    return value


def _duration(item: str, text: str) -> float:
    for unit, scale in (("ms", 0.001), ("s", 1.0)):
        if text.endswith(unit):
            try:
                value = float(text[: -len(unit)]) * scale
            except ValueError:
                break
            if 0.0 < value <= _MAX_DELAY_S:
                return value
            break
    raise InvalidInputError(
        f"--faults {item!r}: {text!r} is not a delay such as 200ms or 1.5s "
        f"(more than 0, at most {_MAX_DELAY_S:g} s)"
    )


def parse_faults(text: str) -> FaultSpec:
    """Parse a SPEC; raises :class:`InvalidInputError` with one line naming the bad item."""
    rates: dict[str, dict[str, float]] = {"in": {}, "out": {}}
    counts: dict[str, int] = {}
    for item in text.split(","):
        item = item.strip()
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not value:
            raise InvalidInputError(f"--faults {item!r}: no value; {_GRAMMAR}")
        if name in _COUNTS:
            if name in counts:
                raise InvalidInputError(f"--faults: {name} is given twice")
            try:
                count = int(value)
            except ValueError:
                count = -1
            if count < _COUNTS[name]:
                raise InvalidInputError(
                    f"--faults {item!r}: {value!r} is not a whole number of at least "
                    f"{_COUNTS[name]}"
                )
            counts[name] = count
            continue
        if name not in _RATES:
            known = ", ".join([*_RATES, *_COUNTS])
            raise InvalidInputError(f"--faults {item!r}: unknown fault {name!r} (known: {known})")
        value, at, direction = value.partition("@")
        if at and direction not in DIRECTIONS:
            raise InvalidInputError(
                f"--faults {item!r}: @{direction} is not a direction (use @in or @out)"
            )
        share_text, colon, duration_text = value.partition(":")
        if name == "delay" and not colon:
            raise InvalidInputError(f"--faults {item!r}: give the delay, as in delay=0.01:200ms")
        if name != "delay" and colon:
            raise InvalidInputError(f"--faults {item!r}: only delay takes a duration")
        for side in (direction,) if at else DIRECTIONS:
            if _RATES[name] in rates[side]:
                raise InvalidInputError(f"--faults: {name} is given twice for @{side}")
            rates[side][_RATES[name]] = _share(item, share_text)
            if colon:
                rates[side]["delay_s"] = _duration(item, duration_text)
    return FaultSpec(
        text=text,
        inbound=StreamFaults(**rates["in"]),
        outbound=StreamFaults(**rates["out"]),
        disconnect_after=counts.get("disconnect-after"),
        power_cut_after_writes=counts.get("power-cut-after-writes"),
        seed=counts.get("seed"),
    )
