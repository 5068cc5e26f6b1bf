"""Running the agent as a process: serve until ``stop``, SIGTERM or SIGINT, then clean up.

The foreground command (``keybridge agent``) calls :func:`serve`; ``agent start`` runs that
command in the background and returns once it printed its ``READY`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from keybridge.agent.core import DEFAULT_PIN_TIMEOUT, Agent
from keybridge.agent.link import KeyLink
from keybridge.agent.screenlock import LOGIND_MONITOR, LogindLockWatcher, ScreenLockWatcher
from keybridge.agent.server import AgentServer
from keybridge.agent.unlock import Clock

if TYPE_CHECKING:
    from keybridge.agent.hotkey import HotkeyOptions, HotkeyService

__all__ = ["serve"]

log = logging.getLogger(__name__)

LOGIND_SEATS = "/run/systemd/seats"
"""Present where logind runs (what ``sd_booted`` and loginctl look for)."""


async def serve(
    url: str,
    path: Path,
    *,
    pin_timeout: float = DEFAULT_PIN_TIMEOUT,
    ready: Callable[[Path], None] | None = None,
    clock: Clock | None = None,
    hotkey: HotkeyOptions | None = None,
) -> None:
    """Serve the key at ``url`` on the socket at ``path`` until stopped; ``ready(path)`` is
    called once the socket accepts connections. With ``hotkey``, the hotkey is grabbed on the
    X display too; if it cannot be (taken, no display) or the display goes away, one line says
    so and the agent goes on serving without it. On the X display (``$DISPLAY``, or the
    hotkey's), the screen locking wipes the PIN unlock, and so does logind's ``Lock`` signal
    where logind runs (:mod:`keybridge.agent.screenlock`)."""
    from keybridge.session import ConnectOptions

    link = KeyLink(url, ConnectOptions())
    agent = (
        Agent(link, pin_timeout=pin_timeout)
        if clock is None
        else Agent(link, pin_timeout=pin_timeout, clock=clock)
    )
    server = AgentServer(agent, path)
    await server.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, agent.stopping.set)
    tasks = [
        asyncio.ensure_future(link.keep_connected()),
        asyncio.ensure_future(agent.watch_unlock()),
    ]
    watcher = ScreenLockWatcher(
        agent.lock_now, display=hotkey.display if hotkey is not None else None
    )
    if watcher.start():
        tasks.append(asyncio.ensure_future(watcher.run()))
    if Path(LOGIND_SEATS).is_dir() and shutil.which(LOGIND_MONITOR[0]):
        tasks.append(asyncio.ensure_future(LogindLockWatcher(agent.lock_now).run()))
    if hotkey is not None:
        service = _hotkey(agent, hotkey)
        if service.try_grab():  # before READY: a press right after it is seen
            tasks.append(asyncio.ensure_future(service.run()))
    try:
        if ready is not None:
            ready(path)
        await server.serve_until_stopped()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        async with link.lock:
            agent.unlock.wipe()
        await server.close()
        with contextlib.suppress(Exception):
            await link.drop()
        log.info("agent stopped")


def _hotkey(agent: Agent, options: HotkeyOptions) -> HotkeyService:
    from keybridge.agent.hotkey import HotkeyService
    from keybridge.agent.windows import rule_chooser

    if options.rules:
        agent.choose = rule_chooser(options.rules)
    return HotkeyService(
        agent,
        options.hotkey,
        display=options.display,
        credential=options.credential,
        enter=options.enter,
        layout=options.layout,
    )
