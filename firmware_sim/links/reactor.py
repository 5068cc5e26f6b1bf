"""A small poll-based event loop for the simulator's links.

Why not asyncio: importing :mod:`asyncio` alone costs about 100 ms of a cold start whose goal is
150 ms to the ``READY`` line. The links only need readers, writers and timers, which
:func:`select.poll` gives at once (:mod:`selectors` where there is no poll). The method names
follow asyncio's loop (``add_reader``, ``call_later``, ...) so the link code reads the same.

The reactor is single-threaded; :meth:`Reactor.call_soon_threadsafe` is the one method another
thread may call (tests that serve a key on a background thread use it to stop the loop).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import select
import signal
import time
from collections.abc import Callable

__all__ = ["Reactor", "Timer"]

Callback = Callable[[], object]


class Timer:
    """A scheduled callback; :meth:`cancel` stops it from running."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Poll:
    """The part of :class:`selectors.PollSelector` the reactor uses, on :func:`select.poll`
    directly: the selectors layer doubled the loop's cost per frame. Readiness is reported as
    PollSelector does (a hang-up or error wakes readers and writers alike)."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._events: dict[int, int] = {}

    def set(self, fd: int, read: bool, write: bool) -> None:
        mask = (select.POLLIN if read else 0) | (select.POLLOUT if write else 0)
        if not mask:
            if self._events.pop(fd, None) is not None:
                self._poll.unregister(fd)
        elif self._events.get(fd) != mask:
            self._events[fd] = mask
            self._poll.register(fd, mask)  # also modifies a registered fd

    def wait(self, timeout: float | None) -> list[tuple[int, bool, bool]]:
        ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
        return [
            (fd, bool(event & ~select.POLLOUT), bool(event & ~select.POLLIN))
            for fd, event in self._poll.poll(ms)
        ]

    def close(self) -> None:
        self._events.clear()


class _Selector:
    """The same interface on :class:`selectors.DefaultSelector` (where there is no poll)."""

    def __init__(self) -> None:
        import selectors  # only where there is no poll

        self._selector = selectors.DefaultSelector()

    def set(self, fd: int, read: bool, write: bool) -> None:
        import selectors

        events = (selectors.EVENT_READ if read else 0) | (selectors.EVENT_WRITE if write else 0)
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            if events:
                self._selector.register(fd, events)
            return
        if not events:
            self._selector.unregister(fd)
        elif key.events != events:
            self._selector.modify(fd, events)

    def wait(self, timeout: float | None) -> list[tuple[int, bool, bool]]:
        import selectors

        return [
            (int(key.fd), bool(events & selectors.EVENT_READ), bool(events & selectors.EVENT_WRITE))
            for key, events in self._selector.select(timeout)
        ]

    def close(self) -> None:
        self._selector.close()


class Reactor:
    """Readers, writers and timers on :func:`select.poll` (a selector where it is missing)."""

    def __init__(self) -> None:
        self._selector: _Poll | _Selector = _Poll() if hasattr(select, "poll") else _Selector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._soon: list[Callback] = []
        self._stopping = False
        self._closed = False
        # A self-pipe wakes select() for signals and for calls from other threads.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.add_reader(self._wake_r, self._drain_wakeup)
        self._signal_handlers: dict[int, Callback] = {}
        self._previous_handlers: dict[int, object] = {}
        self._pending_signals: list[int] = []
        self._previous_wakeup_fd: int | None = None

    @staticmethod
    def time() -> float:
        return time.monotonic()

    # -- file descriptors ------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def _update(self, fd: int) -> None:
        self._selector.set(fd, fd in self._readers, fd in self._writers)

    # -- timers ------------------------------------------------------------------------------

    def call_later(self, delay: float, callback: Callback) -> Timer:
        timer = Timer(self.time() + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def call_soon(self, callback: Callback) -> None:
        self._soon.append(callback)

    def call_soon_threadsafe(self, callback: Callback) -> None:
        self._soon.append(callback)  # list.append is atomic under the GIL
        self._wake()

    # -- signals -----------------------------------------------------------------------------

    def add_signal_handler(self, signum: int, callback: Callback) -> None:
        """Run ``callback`` in the loop (not in the signal handler) when ``signum`` arrives."""
        if self._previous_wakeup_fd is None:
            self._previous_wakeup_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._signal_handlers[signum] = callback
        previous = signal.signal(signum, self._on_signal)
        self._previous_handlers.setdefault(signum, previous)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._pending_signals.append(signum)

    # -- running -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Make :meth:`run` return after the current iteration."""
        self._stopping = True
        self._wake()

    def run(self) -> None:
        """Dispatch events until :meth:`stop` is called."""
        self._stopping = False
        while not self._stopping:
            self.run_once()

    def run_once(self, max_wait: float | None = None) -> None:
        timeout = max_wait
        if self._soon or self._pending_signals:
            timeout = 0.0
        elif self._timers:
            wait = max(0.0, self._timers[0][0] - self.time())
            timeout = wait if timeout is None else min(timeout, wait)
        for fd, readable, writable in self._selector.wait(timeout):
            if readable and fd in self._readers:
                self._readers[fd]()
            if writable and fd in self._writers:
                self._writers[fd]()
        while self._pending_signals:
            handler = self._signal_handlers.get(self._pending_signals.pop(0))
            if handler is not None:
                handler()
        now = self.time()
        while self._timers and self._timers[0][0] <= now:
            timer = heapq.heappop(self._timers)[2]
            if not timer.cancelled:
                timer.callback()
        soon, self._soon = self._soon, []
        for callback in soon:
            callback()

    def close(self) -> None:
        """Restore signal handlers and release the selector and the wake-up pipe (once)."""
        if self._closed:
            return
        self._closed = True
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._signal_handlers.clear()
        self._previous_handlers.clear()
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous_wakeup_fd = None
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._readers.clear()
        self._writers.clear()

    def _wake(self) -> None:
        # A full pipe is fine: select() wakes anyway.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\x00")

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
