"""The screen lock on a real X server: the screensaver turning on (as screen lockers do) wipes
the agent's PIN unlock and locks the key; without it the unlock stays."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from desktop_harness import Xvfb, force_screen_saver

from firmware_sim.simulator import Simulator
from keybridge.agent import Agent, KeyLink
from keybridge.agent.screenlock import ScreenLockWatcher
from keybridge.protocol.constants import Status
from keybridge.protocol.status import PinError
from keybridge.session import KeySession

MakeSimulator = Callable[..., Simulator]


class Peer:
    """A local client of the agent: the encrypted session, nothing to confirm."""

    secure = True

    def keepalive(self, reason: int, ms_left: int) -> None:
        pass

    async def confirm(self, code: str) -> bool:
        return False


async def otp_list(agent: Agent) -> Any:
    """What ``otp list`` asks of the agent (the key wants the PIN for it)."""
    return await agent.request("otp.list", {}, Peer())


PIN = "1234"
HANG_GUARD = 30.0
"""Seconds before a test that waits for an event gives up (it fails; not a speed goal)."""


@contextlib.asynccontextmanager
async def unlocked_agent(
    make_simulator: MakeSimulator, display: str
) -> AsyncIterator[tuple[Agent, ScreenLockWatcher]]:
    """An agent on a simulated key with a PIN, unlocked, watching the screen lock of
    ``display``."""
    sim = make_simulator()
    async with KeySession.connect(sim.url) as key:
        await key.pin.set(PIN)
    link = KeyLink(sim.url)
    agent = Agent(link)
    agent.unlock.remember(PIN)  # as after a PIN prompt through the agent
    assert await otp_list(agent) == []  # the kept PIN unlocks the agent's session
    assert agent.status()["unlocked"]
    watcher = ScreenLockWatcher(agent.lock_now, display=display)
    assert watcher.start()
    running = asyncio.create_task(watcher.run())
    try:
        yield agent, watcher
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await link.drop()


async def test_the_screensaver_turning_on_wipes_the_pin_unlock(
    xvfb: Xvfb, make_simulator: MakeSimulator
) -> None:
    async with unlocked_agent(make_simulator, xvfb.display) as (agent, watcher):
        await asyncio.to_thread(force_screen_saver, xvfb.display)
        await asyncio.wait_for(watcher.locked.wait(), HANG_GUARD)
        assert watcher.locks == 1
        assert agent.unlock.pin() is None
        assert not agent.status()["unlocked"]
        with pytest.raises(PinError) as caught:  # the next command needs the PIN again
            await otp_list(agent)
        assert caught.value.status is Status.PIN_REQUIRED


async def test_without_the_screensaver_the_unlock_stays(
    xvfb: Xvfb, make_simulator: MakeSimulator
) -> None:
    async with unlocked_agent(make_simulator, xvfb.display) as (agent, watcher):
        await asyncio.to_thread(force_screen_saver, xvfb.display, active=False)
        watcher.drain()  # every event the reset could have sent has been handled
        assert watcher.locks == 0
        assert agent.unlock.pin() == PIN
        assert await otp_list(agent) == []
        assert agent.status()["unlocked"]


def test_no_display_nothing_is_watched(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)

    async def never() -> None:
        raise AssertionError("no display: nothing to lock on")

    caplog.set_level("DEBUG", logger="keybridge.agent.screenlock")
    assert not ScreenLockWatcher(never).start()
    assert [r.getMessage() for r in caplog.records] == [
        "no X display (DISPLAY is not set): the screen lock is not watched"
    ]


async def test_the_running_agent_watches_its_display(
    xvfb: Xvfb, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keybridge agent``'s serve(): on ``$DISPLAY``, the screensaver turning on ends the
    unlock a client gave it."""
    from keybridge.agent import AgentClient
    from keybridge.agent.run import serve

    sim = make_simulator()
    async with KeySession.connect(sim.url) as key:
        await key.pin.set(PIN)
    monkeypatch.setenv("DISPLAY", xvfb.display)
    directory = Path(tempfile.mkdtemp(prefix="kb-lock-", dir="/tmp"))  # a short socket path
    path = directory / "agent.sock"
    ready = asyncio.Event()
    serving = asyncio.create_task(serve(sim.url, path, ready=lambda _: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), HANG_GUARD)
        client = await AgentClient.connect(path)
        try:
            await client.call("pin.verify", {"pin": PIN})
            assert (await client.call("status"))["unlocked"]
            await asyncio.to_thread(force_screen_saver, xvfb.display)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + HANG_GUARD
            while (await client.call("status"))["unlocked"] and loop.time() < deadline:
                await asyncio.sleep(0.02)
            assert not (await client.call("status"))["unlocked"]
        finally:
            await client.close()
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        shutil.rmtree(directory, ignore_errors=True)
