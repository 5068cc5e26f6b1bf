"""Faults for an in-process key: a :class:`~keybridge.transport.base.Transport` decorator.

The ``sim_key`` fixture's link carries whole messages, not framed bytes, so of the ``--faults``
grammar (:mod:`firmware_sim.links.fault_spec`) it takes what a message link can suffer:
``drop``, ``corrupt`` (on a framed link the CRC drops a corrupt frame, so here the message is
lost), ``duplicate``, ``delay`` and ``seed``. Byte noise, hang-ups and power cuts need the
subprocess simulator (``make_simulator(faults=...)``).
"""

from __future__ import annotations

import asyncio
import collections
import os
import random

from firmware_sim.links.fault_spec import FaultSpec, StreamFaults, parse_faults
from firmware_sim.links.faults import FaultCounts, fault_rng
from keybridge.errors import InvalidInputError, LinkTimeoutError
from keybridge.transport.base import Transport

__all__ = ["FaultyTransport"]


class FaultyTransport(Transport):
    """``inner`` with the faults of :meth:`set_faults` (none at first)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.description = inner.description
        self.spec = FaultSpec()
        self.sent = FaultCounts()
        """What the faults did to messages from the host."""
        self.received = FaultCounts()
        """What the faults did to messages from the key."""
        self._pending: collections.deque[bytes] = collections.deque()
        self.set_faults("")

    def set_faults(self, text: str) -> None:
        """Inject the faults of a SPEC from now on (``""``: none); see the module docstring."""
        spec = parse_faults(text) if text else FaultSpec()
        if (
            spec.disconnect_after is not None
            or spec.power_cut_after_writes is not None
            or any(side.drop_byte or side.corrupt_byte for side in (spec.inbound, spec.outbound))
        ):
            raise InvalidInputError(
                f"faults {text!r}: an in-process key takes drop, corrupt, duplicate, delay and "
                "seed; byte noise, hang-ups and power cuts need make_simulator(faults=...)"
            )
        seed = spec.seed if spec.seed is not None else int.from_bytes(os.urandom(3), "big")
        self.spec = spec
        self._in_rng = fault_rng(seed, "memory", "in")
        self._out_rng = fault_rng(seed, "memory", "out")

    @property
    def is_open(self) -> bool:
        return bool(getattr(self.inner, "is_open", True))

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        self._pending.clear()
        await self.inner.close()

    async def send(self, message: bytes) -> None:
        copies, delay = self._decide(self.spec.inbound, self._in_rng, self.sent)
        if delay:
            await asyncio.sleep(delay)
        for _ in range(copies):
            await self.inner.send(message)

    async def receive(self, timeout: float) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            message = await self.inner.receive(max(deadline - loop.time(), 0.0))
            copies, delay = self._decide(self.spec.outbound, self._out_rng, self.received)
            if not copies:
                continue
            if copies > 1:
                self._pending.append(message)
            if delay:
                if loop.time() + delay > deadline:
                    self._pending.appendleft(message)  # it arrives, but after this wait
                    await asyncio.sleep(max(deadline - loop.time(), 0.0))
                    raise LinkTimeoutError(
                        f"the key at {self.description} did not answer within {timeout:g} s"
                    )
                await asyncio.sleep(delay)
            return message

    def poke(self) -> None:
        """Poll the key now (the in-memory link's own :meth:`poke`)."""
        poke = getattr(self.inner, "poke", None)
        if poke is not None:
            poke()

    @staticmethod
    def _decide(faults: StreamFaults, rng: random.Random, counts: FaultCounts) -> tuple[int, float]:
        """How many copies of a message get through (0: lost), and after what delay."""
        counts.frames += 1
        if faults.drop and rng.random() < faults.drop:
            counts.dropped += 1
            return 0, 0.0
        if faults.corrupt and rng.random() < faults.corrupt:
            counts.corrupted += 1
            return 0, 0.0
        copies = 1
        if faults.duplicate and rng.random() < faults.duplicate:
            counts.duplicated += 1
            copies = 2
        delay = 0.0
        if faults.delay and rng.random() < faults.delay:
            counts.delayed += 1
            delay = faults.delay_s
        return copies, delay
