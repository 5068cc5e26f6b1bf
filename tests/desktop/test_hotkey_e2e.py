"""End to end on a real X server: Ctrl+Alt+O pressed through XTEST, the agent's hotkey has the
simulated key compute the code, the X11 backend types it into Chromium's focused field, Enter
submits it, and the page received the right TOTP; for each layout the X server can be set to,
with the agent's layout wrong, and with a button-gated credential pressed on the simulator;
and `keybridge otp type` (--to os) typing through X11 for the X server's layout."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyotp
import pytest
from desktop_harness import Desktop, hotkey_agent, press_keys, set_layout

from firmware_sim.simulator import Simulator
from keybridge.agent.hotkey import HotkeyService
from keybridge.keyboard import decode_reports, encode_text
from keybridge.otp.credential import Credential
from keybridge.session import KeySession
from keybridge.userconfig import config_path

pytestmark = pytest.mark.slow

MakeSimulator = Callable[..., Simulator]
SECRET = "jbswy3dpehpk3pxpjbswy3dpehpk3pxp"
NAME = "HES.Web:qa@example.com"
HOTKEY = ["Control_L", "Alt_L", "o"]


async def store(url: str, *, require_button: bool = False) -> None:
    async with KeySession.connect(url) as key:
        await key.otp_put(Credential.from_secret(SECRET), NAME, require_button=require_button)


async def press_and_read(desktop: Desktop, service: HotkeyService) -> tuple[str, set[str]]:
    """Press the hotkey as a user would; what Enter submitted, and the codes valid meanwhile."""
    totp = pyotp.TOTP(SECRET)
    page = desktop.page
    count = len(page.submitted) + 1
    before = time.time()
    await asyncio.to_thread(press_keys, desktop.display, HOTKEY)
    submitted = await asyncio.to_thread(page.wait_submitted, count)
    await service.typed.wait()
    return submitted, {totp.at(before), totp.at(time.time())}


@pytest.mark.parametrize("layout", ["us", "uk", "de", "fr"])
async def test_the_hotkey_types_the_code_on_each_layout(
    desktop: Desktop, make_simulator: MakeSimulator, layout: str
) -> None:
    set_layout(desktop.display, layout)
    sim = make_simulator()
    await store(sim.url)
    # No --layout: the agent reads the X server's (XKB rules names), as on a user's desktop.
    async with hotkey_agent(sim.url, desktop.display) as service:
        submitted, valid = await press_and_read(desktop, service)
    [result] = service.results
    assert not isinstance(result, Exception), result
    assert (result.name, result.layout) == (NAME, layout)
    assert submitted in valid


async def test_a_wrong_layout_types_the_wrong_characters(
    desktop: Desktop, make_simulator: MakeSimulator
) -> None:
    set_layout(desktop.display, "fr")  # AZERTY: digits need Shift
    sim = make_simulator()
    await store(sim.url)
    async with hotkey_agent(sim.url, desktop.display, layout="us") as service:
        submitted, valid = await press_and_read(desktop, service)
    assert submitted not in valid
    # What AZERTY makes of the unshifted US digit keys: "&é\"'(-è_çà".
    typed_as = {decode_reports(encode_text(code, "us"), "fr") for code in valid}
    assert submitted in typed_as


async def test_a_button_gated_code_waits_for_the_press_on_the_key(
    desktop: Desktop, make_simulator: MakeSimulator
) -> None:
    set_layout(desktop.display, "us")
    sim = make_simulator(button="manual")
    await store(sim.url, require_button=True)
    told: list[str] = []
    asked = asyncio.Event()

    def tell(text: str, urgent: bool = False) -> None:
        told.append(text)
        if "button" in text:
            asked.set()

    async with hotkey_agent(sim.url, desktop.display, tell=tell) as service:
        totp = pyotp.TOTP(SECRET)
        count = len(desktop.page.submitted) + 1
        before = time.time()
        await asyncio.to_thread(press_keys, desktop.display, HOTKEY)
        await asyncio.wait_for(asked.wait(), 30)
        assert desktop.page.typed == ""  # nothing typed before the button
        await asyncio.to_thread(sim.press)
        submitted = await asyncio.to_thread(desktop.page.wait_submitted, count)
        await service.typed.wait()
    assert told == ["Press the button on your key to type the code"]
    assert submitted in {totp.at(before), totp.at(time.time())}


async def test_no_enter_leaves_the_code_in_the_field(
    desktop: Desktop, make_simulator: MakeSimulator
) -> None:
    set_layout(desktop.display, "de")
    sim = make_simulator()
    await store(sim.url)
    totp = pyotp.TOTP(SECRET)
    submissions = len(desktop.page.submitted)
    async with hotkey_agent(sim.url, desktop.display, enter=False) as service:
        before = time.time()
        await asyncio.to_thread(press_keys, desktop.display, HOTKEY)
        await service.typed.wait()
        typed = await asyncio.to_thread(desktop.page.wait_typed, 6)
    assert typed in {totp.at(before), totp.at(time.time())}
    assert len(desktop.page.submitted) == submissions  # no Enter
    # Submit it by hand, so the next test finds an empty field.
    await asyncio.to_thread(press_keys, desktop.display, ["Return"])
    assert await asyncio.to_thread(desktop.page.wait_submitted, submissions + 1) == typed


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A directory for the agent's socket, short enough for a Unix socket address."""
    with tempfile.TemporaryDirectory(prefix="kb-") as directory:
        yield Path(directory)


def test_the_agent_process_types_on_its_hotkey(
    desktop: Desktop, make_simulator: MakeSimulator, socket_dir: Path
) -> None:
    """`keybridge agent` as a user runs it: its hotkey, with a rule of the settings file
    (config.toml) for the window."""
    set_layout(desktop.display, "uk")
    sim = make_simulator()
    asyncio.run(store(sim.url))
    # The rule in the settings file the CLI uses too (no --config).
    config_path().write_text(f'[[hotkey.rules]]\ncredential = "{NAME}"\nclass = "chromium"\n')
    env = {
        **os.environ,
        "DISPLAY": desktop.display,
        "KEYBRIDGE_AGENT_SOCKET": str(socket_dir / "agent.sock"),
    }
    args = [sys.executable, "-m", "keybridge", "-v", "agent", "--device", sim.url]
    agent = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        assert agent.stdout.readline().startswith("READY agent ")
        totp = pyotp.TOTP(SECRET)
        count = len(desktop.page.submitted) + 1
        before = time.time()
        press_keys(desktop.display, HOTKEY)
        submitted = desktop.page.wait_submitted(count)
        assert submitted in {totp.at(before), totp.at(time.time())}
    finally:
        agent.terminate()
        _, stderr = agent.communicate(timeout=20)
        print(stderr)  # the agent's log, shown if the test fails
    assert agent.returncode == 0, stderr
    assert "hotkey ctrl+alt+o grabbed" in stderr


async def test_the_hotkey_works_with_caps_lock_and_num_lock_on(
    desktop: Desktop, make_simulator: MakeSimulator
) -> None:
    set_layout(desktop.display, "us")
    sim = make_simulator()
    await store(sim.url)
    locks = ["Caps_Lock", "Num_Lock"]
    for lock in locks:
        await asyncio.to_thread(press_keys, desktop.display, [lock])  # on
    try:
        async with hotkey_agent(sim.url, desktop.display) as service:
            submitted, valid = await press_and_read(desktop, service)
    finally:
        for lock in locks:
            await asyncio.to_thread(press_keys, desktop.display, [lock])  # off again
    assert submitted in valid


def test_otp_type_types_through_x11_for_the_desktops_layout(
    desktop: Desktop, make_simulator: MakeSimulator
) -> None:
    """`keybridge otp type NAME --enter` (--to os): X11, for the X server's layout (AZERTY)."""
    set_layout(desktop.display, "fr")
    sim = make_simulator()
    asyncio.run(store(sim.url))
    env = {**os.environ, "DISPLAY": desktop.display, "KEYBRIDGE_AGENT_SOCKET": "off"}
    count = len(desktop.page.submitted) + 1
    totp = pyotp.TOTP(SECRET)
    before = time.time()
    args = [sys.executable, "-m", "keybridge", "--device", sim.url, "--json"]
    typed = subprocess.run(
        [*args, "otp", "type", NAME, "--enter"], env=env, capture_output=True, text=True
    )
    assert typed.returncode == 0, typed.stderr
    submitted = desktop.page.wait_submitted(count)
    assert submitted in {totp.at(before), totp.at(time.time())}
    assert '"layout": "fr"' in typed.stdout
