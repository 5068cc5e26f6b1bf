"""pytest fixtures for a simulated key (registered as the ``keybridge`` pytest11 plugin).

- ``sim_key``: a key in this process: the firmware core with a controllable clock and button,
  and a connected :class:`~keybridge.session.KeySession` over an in-memory link.
- ``sim_key_process``: ``python -m firmware_sim serve`` in a subprocess on a real pty (a
  :class:`~firmware_sim.simulator.Simulator`; ``.url`` is the device path for pyserial).
- ``make_simulator``: a factory for subprocess simulators with other options (clock, button,
  TCP, many keys); every one is stopped after the test.
- ``hes_server``: the HES web emulator on a free loopback port over a temporary store
  (``.url``, the ``.hes`` model, its ``.clock``); needs the ``web`` extra.

Keys only talk to paired hosts: every fixture points ``KEYBRIDGE_CONFIG_DIR`` at a directory in
the test's ``tmp_path`` (the host's pairings live there, never in the user's config) and pairs
that host with each key it makes, so ``KeySession.connect(url)`` opens an encrypted session at
once. ``sim_key`` pairs over the protocol; ``make_simulator`` pairs each state file before the
process starts (whatever its button mode).

Set ``KEYBRIDGE_TEST_DEVICE`` to a device URL (a running simulator, a real key) to point the
fixtures at it instead: sessions connect there (pairing first if needed: press the key's
button), and tests that need the clock, the button or the firmware are skipped. See
``docs/qa.md``.

pytest loads this module in every run, also in other projects, so it imports nothing heavy at
module level.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from firmware_sim.firmware.button import Button
    from firmware_sim.firmware.clock import KeyClock
    from firmware_sim.firmware.core import Firmware
    from firmware_sim.links.faulty_transport import FaultyTransport
    from firmware_sim.links.memory import MemoryTransport
    from firmware_sim.simulator import Simulator
    from firmware_sim.testing.transcript import RecordingKeyboard
    from keybridge.session import KeySession

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio the async fixture cannot run
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = [
    "DEVICE_ENV",
    "ClockControl",
    "HesClock",
    "HesServer",
    "SimKey",
    "external_device",
    "host_config_dir",
]

DEVICE_ENV = "KEYBRIDGE_TEST_DEVICE"
CONFIG_ENV = "KEYBRIDGE_CONFIG_DIR"


def host_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point this test's host config (pairings) at ``tmp_path``; returns the directory."""
    directory = tmp_path / "host-config"
    monkeypatch.setenv(CONFIG_ENV, str(directory))
    return directory


async def _paired_session(session: KeySession) -> KeySession:
    """Pair the session's host with its key unless it is paired (the button is approved by
    the simulated key; a real key needs a press)."""
    if not session.encrypted:
        await session.pairing.pair(lambda code: True)
    return session


def external_device() -> str | None:
    """The device URL from ``KEYBRIDGE_TEST_DEVICE``, or None to use a simulated key."""
    return os.environ.get(DEVICE_ENV, "").strip() or None


def _skip_external(what: str) -> None:
    pytest.skip(f"{DEVICE_ENV} points at an external key; {what} needs the simulated key")


class ClockControl:
    """The in-process key's clock, for tests.

    Time flows with the host's clock; :meth:`advance` moves it forward (button timeouts and the
    key's real-mode time follow), :meth:`set_fixed` pins the key's time, :meth:`set_offset`
    skews it, :meth:`set_real` goes back to the time the host set.
    """

    def __init__(self) -> None:
        from firmware_sim.firmware.clock import KeyClock

        self._skew = 0.0
        self.clock: KeyClock = KeyClock(self.source)

    def source(self) -> float:
        return time.time() + self._skew

    def advance(self, seconds: float) -> None:
        self._skew += seconds

    def set_fixed(self, unix_time: float) -> None:
        self.clock.mode, self.clock.value = "fixed", unix_time

    def set_offset(self, seconds: float) -> None:
        self.clock.mode, self.clock.value = "offset", seconds

    def set_real(self) -> None:
        self.clock.mode, self.clock.value = "real", 0

    def now(self) -> float | None:
        """The key's unix time (None: never set)."""
        return self.clock.now()


class SimKey:
    """A key for a test: :attr:`session` always; the controls only on a simulated key."""

    def __init__(
        self,
        session: KeySession,
        *,
        url: str,
        firmware: Firmware | None = None,
        clock: ClockControl | None = None,
        transport: MemoryTransport | None = None,
        faulty: FaultyTransport | None = None,
    ) -> None:
        self.session = session
        self.url = url
        self._firmware = firmware
        self._clock = clock
        self._transport = transport
        self._faulty = faulty

    @property
    def simulated(self) -> bool:
        return self._firmware is not None

    @property
    def firmware(self) -> Firmware:
        """The firmware core (its ``state``, ``flash``, ...)."""
        if self._firmware is None:
            _skip_external("the firmware core")
        assert self._firmware is not None
        return self._firmware

    @property
    def clock(self) -> ClockControl:
        if self._clock is None:
            _skip_external("clock control")
        assert self._clock is not None
        return self._clock

    @property
    def button(self) -> Button:
        """The key's button: set ``.mode`` ("auto", "deny", "manual", "scripted"), extend
        ``.script`` with "press" / "deny" / "timeout" steps."""
        return self.firmware.button

    @property
    def transport(self) -> MemoryTransport:
        """The in-memory link; its ``drop_requests`` / ``drop_replies`` inject lost messages."""
        if self._transport is None:
            _skip_external("fault injection")
        assert self._transport is not None
        return self._transport

    def set_faults(self, spec: str) -> None:
        """Faults on the in-process link from now on: ``"drop=0.1,duplicate=0.05@out,seed=3"``
        (drop, corrupt, duplicate, delay, seed; ``""`` for none). See docs/qa.md."""
        if self._faulty is None:
            _skip_external("fault injection")
        assert self._faulty is not None
        self._faulty.set_faults(spec)

    def press(self) -> bool:
        """Press the button now; False if no request waited for it."""
        pressed = self.button.press()
        self.transport.poke()
        return pressed

    def decline(self) -> bool:
        declined = self.button.decline()
        self.transport.poke()
        return declined

    def connect_keyboard(self) -> RecordingKeyboard:
        """A bonded BLE host connected to the key's own keyboard from now on: OTP_TYPE with
        TARGET ``KEYBOARD`` and :meth:`gesture` type into it (its ``sent`` holds the reports)."""
        from firmware_sim.testing.transcript import RecordingKeyboard

        keyboard = RecordingKeyboard()
        self.firmware.keyboard = keyboard
        return keyboard

    def gesture(self, spec: str) -> bool:
        """Make the button gesture ``KIND:NAME`` (``long-press:hes``): the key types NAME's
        code and Enter on its keyboard; False (and logged) if it did not."""
        from firmware_sim.firmware.keyboard_out import Gesture, perform_gesture

        return perform_gesture(self.firmware, Gesture.parse(spec))


@_async_fixture
async def sim_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimKey]:
    """A connected key, paired, in an encrypted session: in-process simulated, or the
    ``KEYBRIDGE_TEST_DEVICE`` key."""
    from keybridge.session import KeySession

    host_config_dir(tmp_path, monkeypatch)
    url = external_device()
    if url is not None:
        async with KeySession.connect(url) as session:
            yield SimKey(await _paired_session(session), url=url)
        return

    from firmware_sim.firmware.button import Button
    from firmware_sim.firmware.core import Firmware
    from firmware_sim.firmware.flash import Flash
    from firmware_sim.links.faulty_transport import FaultyTransport
    from firmware_sim.links.memory import MemoryTransport

    clock = ClockControl()
    firmware = Firmware(Flash.memory(), clock.clock, Button("auto"))
    transport = MemoryTransport(firmware)
    faulty = FaultyTransport(transport)  # faultless until the test calls sim_key.set_faults
    await transport.open()
    try:
        session = await _paired_session(await KeySession.attach(faulty))
        yield SimKey(
            session,
            url=transport.description,
            firmware=firmware,
            clock=clock,
            transport=transport,
            faulty=faulty,
        )
    finally:
        await transport.close()


class _ExternalSimulator:
    """Stands in for a :class:`Simulator` when ``KEYBRIDGE_TEST_DEVICE`` is set."""

    def __init__(self, url: str) -> None:
        self.urls = [url]
        self.url = url

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        _skip_external(f"Simulator.{name}")


@pytest.fixture
def make_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Simulator]]:
    """``make_simulator(clock="fixed:59", button="manual", keys=2, link="tcp:127.0.0.1:0")``
    starts a subprocess simulator (state in the test's tmp_path) and returns it, ready, its
    keys paired with this test's host config (``pair=False``: unpaired keys)."""
    from firmware_sim.simulator import Simulator

    host_config_dir(tmp_path, monkeypatch)
    started: list[Simulator] = []

    def make(*, pair: bool = True, **options: Any) -> Simulator:
        url = external_device()
        if url is not None:
            return _ExternalSimulator(url)  # type: ignore[return-value]
        options.setdefault("state", tmp_path / f"key{len(started) + 1}.state")
        if pair:
            from firmware_sim.state_files import state_paths
            from firmware_sim.testing.paired import pair_state_file
            from keybridge.hostconfig import HostConfig

            config = HostConfig.load()
            for path in state_paths(Path(options["state"]), int(options.get("keys", 1))):
                pair_state_file(path, config)
        simulator = Simulator(**options)
        started.append(simulator)
        simulator.start()
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim_key_process(make_simulator: Callable[..., Simulator]) -> Simulator:
    """A simulated key in a subprocess on a real pty; ``.url`` is its device path."""
    return make_simulator()


# -- the HES web emulator ------------------------------------------------------------------------


class HesServer:
    """A running HES web emulator: ``url``, the ``hes`` model behind it and its ``clock``."""

    def __init__(self, url: str, hes: Any, clock: HesClock) -> None:
        self.url = url
        self.hes = hes
        """The :class:`~keybridge.hes.Hes` the pages use: create users, read state."""
        self.clock = clock


class HesClock:
    """The emulator's clock: real time shifted by ``advance`` (lockouts, TOTP steps)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def hes_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HesServer]:
    """The HES web emulator on a free loopback port over a store in ``tmp_path``.

    Profile ``hes``; parametrize indirectly with ``"strict"`` for the strict one. Passwords use
    a cheap KDF cost so tests stay fast. Needs the ``web`` extra.
    """
    pytest.importorskip("starlette", reason="the HES web emulator needs keybridge[web]")
    from keybridge.hes import Hes
    from keybridge.hes.web import create_app
    from keybridge.hes.web.server import serve_in_thread

    profile = getattr(request, "param", "hes")
    clock = HesClock()
    hes = Hes(tmp_path / "hes.sqlite3", profile, clock, password_cost=16)
    try:
        with serve_in_thread(create_app(hes)) as url:
            yield HesServer(url, hes, clock)
    finally:
        hes.close()
