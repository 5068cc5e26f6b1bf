"""Run ``python -m firmware_sim serve`` as a subprocess and wait until it is ready.

::

    with Simulator(clock="fixed:59") as sim:      # starts, waits for READY
        async with KeySession.connect(sim.url) as key: ...
    # stopped with SIGTERM (SIGKILL if it hangs); stopped at interpreter exit at the latest

Used by the pytest plugin (:mod:`firmware_sim.testing.pytest_plugin`), the end-to-end tests and the
benchmarks. A process that dies before it is ready raises :class:`SimulatorError` with the tail
of its log.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from keybridge.errors import KeybridgeError

__all__ = ["Simulator", "SimulatorError"]

_LIVE: weakref.WeakSet[Simulator] = weakref.WeakSet()


class SimulatorError(KeybridgeError):
    """The simulator process could not be started, died, or did not get ready in time."""


class Simulator:
    """One simulator process serving ``keys`` keys; :attr:`urls` holds their device URLs."""

    def __init__(
        self,
        *,
        link: str = "pty",
        state: str | os.PathLike[str] | None = None,
        clock: str = "real",
        button: str = "auto",
        keys: int = 1,
        announce: bool = False,
        faults: str = "",
        keyboard: str = "",
        gesture: str = "",
        extra_args: Sequence[str] = (),
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        ready_timeout: float = 15.0,
    ) -> None:
        self.link = link
        self.state = Path(state) if state is not None else None
        self.clock = clock
        self.button = button
        self.keys = keys
        self.announce = announce
        """Announce the keys to device discovery; off by default so test keys stay private."""
        self.faults = faults
        """A ``--faults`` SPEC (``drop=0.05,seed=7``; see docs/qa.md); empty: no faults."""
        self.keyboard = keyboard
        """BLE links: ``passkey`` or ``just-works`` serves the key as a Bluetooth keyboard too."""
        self.gesture = gesture
        """BLE links: ``KIND:NAME``, the gesture :meth:`gesture` makes (implies a keyboard)."""
        self.extra_args = list(extra_args)
        self.python = python
        self.env = env
        self.ready_timeout = ready_timeout
        self.urls: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._last_log = ""

    @property
    def args(self) -> list[str]:
        """The command line that starts the simulator."""
        args = [self.python, "-m", "firmware_sim", "serve", "--link", self.link]
        if self.state is not None:
            args += ["--state", str(self.state)]
        args += ["--clock", self.clock, "--button", self.button, "--keys", str(self.keys)]
        if self.faults:
            args += ["--faults", self.faults]
        if self.keyboard:
            args += ["--keyboard", self.keyboard]
        if self.gesture:
            args += ["--gesture", self.gesture]
        if not self.announce:
            args.append("--no-announce")
        return args + self.extra_args

    @property
    def url(self) -> str:
        """The device URL of the first key."""
        if not self.urls:
            raise SimulatorError("the simulator is not running: call start() first")
        return self.urls[0]

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> list[str]:
        """Start the process and wait for its READY lines; returns the device URLs."""
        if self.running:
            raise SimulatorError(f"the simulator (pid {self.pid}) is already running")
        self.urls = []
        self._discard_log()
        fd, name = tempfile.mkstemp(prefix="keybridge-sim-", suffix=".log")
        self._log_path = Path(name)
        try:
            with open(fd, "wb") as log:  # the child keeps its own descriptor
                self.process = subprocess.Popen(
                    self.args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=self.env,
                )
        except OSError as exc:
            self._discard_log()
            raise SimulatorError(f"cannot start {self.args[0]}: {exc}") from exc
        _LIVE.add(self)
        try:
            return self.wait_until_ready(self.ready_timeout)
        except BaseException:
            self.stop()
            raise

    def wait_until_ready(self, timeout: float) -> list[str]:
        """Read ``READY <url>`` lines until every key is ready; raises if the process dies."""
        process = self._process()
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = b""
        while len(self.urls) < self.keys:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimulatorError(
                    f"the simulator printed {len(self.urls)} of {self.keys} READY lines in "
                    f"{timeout:g} s{self._log_tail()}"
                )
            readable, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                code = process.wait()
                raise SimulatorError(
                    f"the simulator exited with status {code} before it was ready{self._log_tail()}"
                )
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                word, _, url = line.decode("utf-8", "replace").strip().partition(" ")
                if word != "READY" or not url:
                    raise SimulatorError(f"unexpected line from the simulator: {line!r}")
                self.urls.append(url)
        return self.urls

    def press(self) -> None:
        """Press the button of every key that waits for it (``button="manual"``)."""
        self._process().send_signal(signal.SIGUSR1)

    def decline(self) -> None:
        """Decline every waiting button request."""
        self._process().send_signal(signal.SIGUSR2)

    def make_gesture(self) -> None:
        """Make the button gesture (``gesture=``): each key types the code on its keyboard."""
        self._process().send_signal(signal.SIGURG)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return self._finish()

    def kill(self) -> int | None:
        """SIGKILL: a power cut. The state file keeps the last acknowledged write."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
            process.wait()
        return self._finish()

    def restart(self) -> list[str]:
        """Stop and start again (same state file, so the key keeps its credentials)."""
        self.stop()
        return self.start()

    def log_text(self) -> str:
        """What the simulator logged on stderr (so far, or in its last run once stopped)."""
        if self._log_path is None:
            return self._last_log
        try:
            return self._log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def _discard_log(self) -> None:
        if self._log_path is not None:
            self._last_log = self.log_text()
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def _finish(self) -> int | None:
        process = self.process
        assert process is not None
        if process.stdout is not None:
            process.stdout.close()
        _LIVE.discard(self)
        self._discard_log()
        return process.returncode

    def _process(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise SimulatorError("the simulator was never started: call start() first")
        return self.process

    def _log_tail(self, lines: int = 15) -> str:
        tail = self.log_text().strip().splitlines()[-lines:]
        return ":\n  " + "\n  ".join(tail) if tail else " (it logged nothing)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Simulator(pid={self.pid}, urls={self.urls})"


@atexit.register
def _stop_all() -> None:
    for simulator in list(_LIVE):
        with contextlib.suppress(Exception):
            simulator.stop(timeout=2.0)
