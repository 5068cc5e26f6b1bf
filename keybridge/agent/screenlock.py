"""Seeing the screen lock on X11: the agent wipes its PIN unlock when the screensaver turns on.

Screen lockers under X (xscreensaver, light-locker, xss-lock and the lockers it runs, GNOME and
XFCE on X11) turn the X server's screensaver on when they lock. :class:`ScreenLockWatcher` asks
for the MIT-SCREEN-SAVER extension's notifications on its own X connection (python-xlib, no
D-Bus client needed) and, on each ``ScreenSaverOn``, calls ``on_lock`` (the agent: wipe the PIN
and lock the key's session, as ``agent lock`` does). Without a display there is nothing to
watch; a display without the extension, or one that goes away, is one line and the agent goes
on (``agent lock`` from the locker's hook still works).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from keybridge.errors import KeybridgeError

if TYPE_CHECKING:
    from Xlib.display import Display

__all__ = ["LogindLockWatcher", "ScreenLockWatcher", "logind_session_path"]

log = logging.getLogger(__name__)

EXTENSION = "MIT-SCREEN-SAVER"


class ScreenLockWatcher:
    """Calls ``on_lock`` each time the screensaver of ``display`` (default ``$DISPLAY``) turns
    on. ``locks`` counts the times it did; ``locked`` is set after each (tests clear it)."""

    def __init__(
        self, on_lock: Callable[[], Awaitable[None]], *, display: str | None = None
    ) -> None:
        self.on_lock = on_lock
        self._display_name = display
        self._conn: Display | None = None
        self._gone: asyncio.Future[None] | None = None
        self._fd = -1
        self._notify_type = -1
        self._pending: set[asyncio.Task[None]] = set()
        self.locks = 0
        self.locked = asyncio.Event()

    def start(self) -> bool:
        """Connect and ask for the screensaver's notifications; False (said once) if there is
        no display or it cannot tell."""
        from Xlib import error

        from keybridge.keyboard.x11 import open_display

        if self._display_name is None and not os.environ.get("DISPLAY", "").strip():
            log.debug("no X display (DISPLAY is not set): the screen lock is not watched")
            return False
        try:
            conn = open_display(self._display_name)
        except KeybridgeError as exc:
            log.info("the screen lock is not watched: %s", exc)
            return False
        try:
            extension = conn.query_extension(EXTENSION)
            if extension is None:
                log.info(
                    "the X display %s has no %s extension: the screen lock is not watched "
                    "(have the locker run `keybridge agent lock`)",
                    conn.get_display_name(),
                    EXTENSION,
                )
                conn.close()
                return False
            from Xlib.ext import screensaver

            self._notify_type = extension.first_event
            conn.screen().root.screensaver_select_input(screensaver.NotifyMask)
            conn.sync()
        except (error.XError, error.ConnectionClosedError, OSError) as exc:
            log.info("the screen lock is not watched (%s)", exc)
            with contextlib.suppress(error.ConnectionClosedError, OSError):
                conn.close()
            return False
        self._conn = conn
        return True

    async def run(self) -> None:
        """Start (if not yet) and watch until cancelled or the display goes away; never
        raises."""
        if self._conn is None and not self.start():
            return
        conn = self._conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        self._gone = loop.create_future()
        self._fd = conn.fileno()
        loop.add_reader(self._fd, self._readable)
        log.info("watching the screen lock on %s", conn.get_display_name())
        try:
            self._readable()  # events read during start's round trips
            await self._gone
        finally:
            loop.remove_reader(self._fd)
            for task in list(self._pending):
                task.cancel()
            await asyncio.gather(*self._pending, return_exceptions=True)
            self.close()

    def drain(self) -> None:
        """Handle every event the X server sent before now (one round trip first)."""
        if self._conn is not None:
            self._conn.sync()
        self._readable()

    def _readable(self) -> None:
        from Xlib import error
        from Xlib.ext import screensaver

        conn = self._conn
        if conn is None:
            return
        try:
            while conn.pending_events():
                event = conn.next_event()
                # python-xlib gives each display its own copy of the event class: the type
                # number tells the extension's events apart.
                if event.type == self._notify_type and event.state == screensaver.StateOn:
                    self._screen_locked(conn.get_display_name())
        except (error.ConnectionClosedError, error.XError, OSError) as exc:
            log.info(
                "the X display %s went away (%s): the screen lock is no longer watched",
                conn.get_display_name(),
                exc,
            )
            asyncio.get_running_loop().remove_reader(self._fd)
            if self._gone is not None and not self._gone.done():
                self._gone.set_result(None)

    def _screen_locked(self, display: str) -> None:
        log.info("the screen locked on %s: wiping the PIN unlock", display)
        task = asyncio.get_running_loop().create_task(self._lock())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _lock(self) -> None:
        try:
            await self.on_lock()
        except KeybridgeError as exc:  # the PIN is wiped first; the key's session may not be
            log.info("locking the key after the screen lock: %s", exc)
        finally:
            self.locks += 1
            self.locked.set()

    def close(self) -> None:
        """Let go of the X connection."""
        from Xlib import error

        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(error.ConnectionClosedError, OSError):
                conn.close()


LOGIND_MONITOR = ("gdbus", "monitor", "--system", "--dest", "org.freedesktop.login1")
"""The command that prints logind's signals, one a line (GLib's gdbus, where logind runs)."""

_LOCK_SIGNAL = "org.freedesktop.login1.Session.Lock ("


def logind_session_path(session_id: str) -> str:
    """logind's object path for ``session_id`` (systemd's bus path escaping: ``2`` -> ``_32``)."""
    escaped = "".join(
        char
        if char.isascii() and char.isalnum() and not (i == 0 and char.isdigit())
        else f"_{ord(char):02x}"
        for i, char in enumerate(session_id)
    )
    return f"/org/freedesktop/login1/session/{escaped or '_'}"


class LogindLockWatcher:
    """Calls ``on_lock`` on logind's ``Lock`` signal for this session (``$XDG_SESSION_ID``; every
    session's when unknown, which errs on the side of locking), read from ``command``'s output.
    ``locks`` counts the times it did."""

    def __init__(
        self,
        on_lock: Callable[[], Awaitable[None]],
        *,
        session_id: str | None = None,
        command: tuple[str, ...] = LOGIND_MONITOR,
    ) -> None:
        self.on_lock = on_lock
        chosen = session_id if session_id is not None else os.environ.get("XDG_SESSION_ID", "")
        self._path = logind_session_path(chosen) + ":" if chosen else None
        self._command = command
        self.locks = 0

    async def run(self) -> None:
        """Watch until cancelled or the monitor ends (no logind, no gdbus); never raises."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.debug("logind's Lock signal is not watched (%s)", exc)
            return
        assert process.stdout is not None
        try:
            async for raw in process.stdout:
                line = raw.decode("utf-8", "replace")
                if _LOCK_SIGNAL in line and (self._path is None or line.startswith(self._path)):
                    log.info("logind locked the session: wiping the PIN unlock")
                    try:
                        await self.on_lock()
                    except KeybridgeError as exc:
                        log.info("locking the key after the session lock: %s", exc)
                    self.locks += 1
            log.debug("logind's Lock signal is no longer watched (%s ended)", self._command[0])
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
