"""Fault injection for QA: a faulty link around a key's port, a flash that loses power.

Both are decorators, so the firmware core and the links stay fault-free: a
:class:`FaultyPort` sits between a link (pty, TCP) and its :class:`FramedPort` and passes each
frame on, drops, corrupts, duplicates or delays it, in either direction; a
:class:`PowerCutFlash` is the key's :class:`~firmware_sim.firmware.flash.Flash` with its
N+1-th write cut short by a SIGKILL of the whole process. What to inject is a
:class:`~firmware_sim.links.fault_spec.FaultSpec` (``--faults SPEC``).

Every choice comes from a :class:`random.Random` seeded from the spec's seed, the key and the
direction, so the same seed gives the same faults for the same traffic.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from collections import deque
from collections.abc import Callable
from pathlib import Path

from firmware_sim.firmware.device_key import DeviceKeySecrets, encrypted_flash
from firmware_sim.firmware.flash import Flash, SecretCodec
from firmware_sim.firmware.state import KeyState
from firmware_sim.links.device import Device, Port
from firmware_sim.links.fault_spec import FaultSpec, StreamFaults, parse_faults
from firmware_sim.links.reactor import Reactor, Timer
from keybridge.files import temporary_path

__all__ = [
    "FaultCounts",
    "FaultyPort",
    "FaultyStream",
    "PowerCutFlash",
    "fault_rng",
    "faulty_flash",
    "faulty_port",
    "with_seed",
]

log = logging.getLogger("firmware_sim.faults")

_DELIMITER = b"\x00"


def fault_rng(seed: int, *labels: str) -> random.Random:
    """The random source of one fault site (a key's direction, its flash)."""
    return random.Random(":".join([str(seed), *labels]))


def with_seed(text: str) -> str:
    """``text`` with a ``seed=N`` item, picked now if it had none (logged, to replay a run)."""
    if parse_faults(text).seed is not None:
        return text
    return f"{text},seed={int.from_bytes(os.urandom(3), 'big')}"


def faulty_port(port: Port, reactor: Reactor, text: str) -> FaultyPort:
    """``port`` behind the link faults of the SPEC ``text`` (which has its seed)."""
    spec = parse_faults(text)
    return FaultyPort(port, reactor, spec, seed=spec.seed or 0)


def faulty_flash(state: Path, text: str) -> Flash:
    """The simulator's flash for ``state``, losing power as the SPEC ``text`` says."""
    spec = parse_faults(text)
    if spec.power_cut_after_writes is None:
        return encrypted_flash(state)
    return PowerCutFlash(
        state,
        secrets=DeviceKeySecrets.for_state(state),
        writes=spec.power_cut_after_writes,
        rng=fault_rng(spec.seed or 0, state.name, "flash"),
    )


class FaultCounts:
    """What a :class:`FaultyStream` did, for logs and tests."""

    def __init__(self) -> None:
        self.frames = 0
        self.dropped = 0
        self.corrupted = 0
        self.duplicated = 0
        self.delayed = 0
        self.bytes_dropped = 0
        self.bytes_corrupted = 0

    def __repr__(self) -> str:
        return "FaultCounts(" + ", ".join(f"{k}={v}" for k, v in vars(self).items()) + ")"


class FaultyStream:
    """One direction of a link: bytes in, frames (``00 body 00``) out to ``sink``, faulty.

    Frames are cut at the ``0x00`` delimiter; bytes after the last delimiter wait for the rest
    of their frame.
    """

    def __init__(
        self,
        faults: StreamFaults,
        rng: random.Random,
        reactor: Reactor,
        sink: Callable[[bytes], None],
        *,
        on_frame: Callable[[], bool] | None = None,
    ) -> None:
        self.faults = faults
        self.counts = FaultCounts()
        self._rng = rng
        self._reactor = reactor
        self._sink = sink
        self._on_frame = on_frame
        """Called before each frame is passed on; False stops the stream (a hang-up)."""
        self._partial = b""
        self._held: deque[tuple[bytes, float]] = deque()
        self._timer: Timer | None = None
        self._stopped = False

    def feed(self, data: bytes) -> None:
        if self._stopped:
            return
        faults = self.faults
        if faults.drop_byte or faults.corrupt_byte:
            data = self._noise(data)
        *frames, self._partial = (self._partial + data).split(_DELIMITER)
        for body in frames:
            if body and not self._stopped:
                self._frame(body)

    def stop(self) -> None:
        """Drop whatever is held or partial; pass nothing on any more."""
        self._stopped = True
        self._held.clear()
        self._partial = b""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _noise(self, data: bytes) -> bytes:
        faults, rng, counts = self.faults, self._rng, self.counts
        out = bytearray()
        for byte in data:
            if faults.drop_byte and rng.random() < faults.drop_byte:
                counts.bytes_dropped += 1
                continue
            if faults.corrupt_byte and rng.random() < faults.corrupt_byte:
                counts.bytes_corrupted += 1
                byte ^= rng.randrange(1, 256)  # may become a delimiter: noise can split frames
            out.append(byte)
        return bytes(out)

    def _frame(self, body: bytes) -> None:
        faults, rng, counts = self.faults, self._rng, self.counts
        counts.frames += 1
        if self._on_frame is not None and not self._on_frame():
            return
        if faults.drop and rng.random() < faults.drop:
            counts.dropped += 1
            return
        if faults.corrupt and rng.random() < faults.corrupt:
            counts.corrupted += 1
            changed = bytearray(body)
            i = rng.randrange(len(changed))
            # Any other non-zero value: the frame keeps its boundaries and fails its CRC.
            changed[i] = (changed[i] + rng.randrange(1, 255) - 1) % 255 + 1
            body = bytes(changed)
        copies = 1
        if faults.duplicate and rng.random() < faults.duplicate:
            counts.duplicated += 1
            copies = 2
        delay = 0.0
        if faults.delay and rng.random() < faults.delay:
            counts.delayed += 1
            delay = faults.delay_s
        frame = _DELIMITER + body + _DELIMITER
        for _ in range(copies):
            if delay or self._held:
                self._held.append((frame, delay))
                if self._timer is None:
                    self._release()
            else:
                self._sink(frame)
            delay = 0.0

    def _release(self) -> None:
        self._timer = None
        while self._held and not self._stopped:
            frame, delay = self._held[0]
            if delay:
                self._held[0] = (frame, 0.0)
                self._timer = self._reactor.call_later(delay, self._release)
                return
            self._held.popleft()
            self._sink(frame)


class FaultyPort:
    """A :class:`~firmware_sim.links.framed_port.Port` that injects ``spec``'s link faults.

    The link calls it as it would the port it wraps; :attr:`on_hang_up` is how it hangs up
    (``disconnect-after``), set by whoever joins it to a link.
    """

    def __init__(self, port: Port, reactor: Reactor, spec: FaultSpec, *, seed: int) -> None:
        self.port = port
        self.name = port.name
        self.spec = spec
        self.on_hang_up: Callable[[], None] | None = None
        self._reactor = reactor
        self._seed = seed
        self._connections = 0
        self._frames_in = 0
        self.inbound = self._stream("in", spec.inbound, port.feed, self._count)
        self.outbound: FaultyStream | None = None

    @property
    def device(self) -> Device:
        return self.port.device

    def connect(self, write: Callable[[bytes], None]) -> None:
        self._connections += 1
        self._frames_in = 0
        self.inbound = self._stream("in", self.spec.inbound, self.port.feed, self._count)
        self.outbound = self._stream("out", self.spec.outbound, write)
        self.port.connect(self.outbound.feed)

    def disconnect(self) -> None:
        self._stop()
        self.port.disconnect()

    def feed(self, data: bytes) -> None:
        self.inbound.feed(data)

    def poke(self) -> None:
        self.port.poke()

    def close(self) -> None:
        self._stop()
        self.port.close()

    def _stream(
        self,
        direction: str,
        faults: StreamFaults,
        sink: Callable[[bytes], None],
        on_frame: Callable[[], bool] | None = None,
    ) -> FaultyStream:
        # Each connection and direction has its own source: what the host sends decides the
        # inbound faults, whatever the timing of the key's keepalives.
        rng = fault_rng(self._seed, self.name, str(self._connections), direction)
        return FaultyStream(faults, rng, self._reactor, sink, on_frame=on_frame)

    def _count(self) -> bool:
        self._frames_in += 1
        limit = self.spec.disconnect_after
        if limit is None or self._frames_in < limit:
            return True
        # This frame reaches the key; its answer does not reach the host.
        if self.outbound is not None:
            self.outbound.stop()
        self.inbound.stop()  # this frame is still passed on; nothing after it
        log.info("%s: hanging up after %d frames from the host (fault)", self.name, limit)
        self._reactor.call_soon(self._hang_up)
        return True

    def _hang_up(self) -> None:
        if self.on_hang_up is not None:
            self.on_hang_up()

    def _stop(self) -> None:
        self.inbound.stop()
        if self.outbound is not None:
            self.outbound.stop()
            log.debug(
                "%s: faults in %r, out %r", self.name, self.inbound.counts, self.outbound.counts
            )


def _cut_power() -> None:
    logging.shutdown()
    os.kill(os.getpid(), signal.SIGKILL)


class PowerCutFlash(Flash):
    """A state file whose write after ``writes`` good ones is cut by killing the process.

    The cut lands at a random point of the atomic write: half the time within the temporary
    file, a quarter once it is whole but before the rename, a quarter after the rename (the
    new state is stored, the answer never leaves). Either way the state file holds the old
    state or the new one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        secrets: SecretCodec,
        writes: int,
        rng: random.Random,
        cut: Callable[[], None] = _cut_power,
    ) -> None:
        super().__init__(path, secrets=secrets)
        self.writes_left = writes
        self._rng = rng
        self._cut = cut

    def save(self, state: KeyState) -> None:
        if self.writes_left > 0 or self.path is None:
            self.writes_left -= 1
            super().save(state)
            return
        image = self.encode(state)
        point = self._rng.random()  # where in the write the power goes
        if point < 0.25:
            super().save(state)
            log.warning("power cut after a flash write, before the key answered (fault)")
        else:
            written = len(image) if point < 0.5 else self._rng.randrange(len(image))
            _write_prefix(temporary_path(self.path), image[:written])
            log.warning(
                "power cut during a flash write: %d of %d bytes written, not renamed (fault)",
                written,
                len(image),
            )
        self._cut()


def _write_prefix(tmp: Path, data: bytes) -> None:
    # What a cut leaves of the temporary file: some of its bytes, the state file untouched.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
