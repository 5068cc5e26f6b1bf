"""The proof on HES's own login: Chromium in a real window on Xvfb signs in on the HES web
emulator (`/login`, email and password), lands on `/login-with-2fa` with the code field
focused; Ctrl+Alt+O pressed through XTEST as a user would; the agent's key (a simulated key
holding the account's secret, enrolled through the model) types the code through the X11
backend, Enter submits it, and HES shows the user's profile. For each X layout, and once with
the agent's layout wrong: HES refuses the code.

One Xvfb, one Chromium and one emulator serve the module; each test has its own account and
its own simulated key. The page is driven (and read) over Chromium's DevTools protocol, the
hotkey and the code travel through the X server's keyboard.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from desktop_harness import HesDesktop, hotkey_agent, press_keys, set_layout

from firmware_sim.simulator import Simulator
from keybridge.otp import Credential
from keybridge.otp.codes import totp
from keybridge.otp.secret import decode_secret
from keybridge.session import KeySession

pytestmark = pytest.mark.slow

MakeSimulator = Callable[..., Simulator]
PASSWORD = "correct horse battery staple"
HOTKEY = ["Control_L", "Alt_L", "o"]
INVALID_CODE = "Invalid authenticator code."
FOCUSED = "document.hasFocus() && document.activeElement && document.activeElement.id === {id!r}"
"""True once the page's window has the X focus and ``id`` is the focused field: keys typed
earlier (during the page's load) would be lost."""


@pytest_asyncio.fixture
async def page(hes_desktop: HesDesktop) -> AsyncIterator[Any]:
    """The Chromium window's page, over DevTools, signed out (no cookies left from a test)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(hes_desktop.browser.cdp_url())
        [context] = browser.contexts
        await context.clear_cookies()
        [window] = [page for page in context.pages if page.url.startswith(hes_desktop.base)]
        window.set_default_timeout(30_000)
        yield window
        await browser.close()  # over CDP: disconnects, Chromium keeps running


async def enrolled(hes: Any, key_url: str, email: str) -> None:
    """An account with 2FA on, its secret stored on the key (as the key's owner would)."""
    hes.create_user(email, PASSWORD)
    setup = hes.begin_otp_setup(email)
    async with KeySession.connect(key_url) as key:
        await key.otp_put(Credential.from_secret(setup.key), f"HES.Web:{email}")
    hes.confirm_otp_setup(email, f"{totp(decode_secret(setup.key), time.time()):0>6}")


async def sign_in_to_the_code_step(page: Any, base: str, email: str) -> None:
    """`/login` with email and password, then the code step with its field focused."""
    await page.goto(f"{base}/login")
    await page.wait_for_function(FOCUSED.format(id="Input_Email"))
    await page.fill("#Input_Email", email)
    await page.fill("#Input_Password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(re.compile(r"/login-with-2fa"))
    await page.wait_for_function(FOCUSED.format(id="Input_TwoFactorCode"))


async def press_the_hotkey(display: str, key_url: str, **agent_options: Any) -> None:
    """Ctrl+Alt+O through XTEST, the agent on the key typing the code and Enter."""
    async with hotkey_agent(key_url, display, **agent_options) as service:
        await asyncio.to_thread(press_keys, display, HOTKEY)
        await service.typed.wait()
    [result] = service.results
    assert not isinstance(result, Exception), result


@pytest.mark.parametrize("layout", ["us", "uk", "de", "fr"])
async def test_the_hotkey_signs_in_on_hes(
    hes_desktop: HesDesktop, page: Any, make_simulator: MakeSimulator, layout: str
) -> None:
    email = f"qa-{layout}@example.com"
    sim = make_simulator()
    await enrolled(hes_desktop.hes, sim.url, email)
    set_layout(hes_desktop.display, layout)
    await sign_in_to_the_code_step(page, hes_desktop.base, email)
    # No --layout: the agent types for the X server's layout, as on a user's desktop.
    await press_the_hotkey(hes_desktop.display, sim.url)
    await page.wait_for_url(re.compile(r"/profile$"))
    assert email in await page.inner_text("body")


async def test_hes_refuses_the_code_typed_for_the_wrong_layout(
    hes_desktop: HesDesktop, page: Any, make_simulator: MakeSimulator
) -> None:
    email = "qa-wrong-layout@example.com"
    sim = make_simulator()
    await enrolled(hes_desktop.hes, sim.url, email)
    set_layout(hes_desktop.display, "fr")  # AZERTY: the US digit keys make "&é\"'(-è_çà"
    await sign_in_to_the_code_step(page, hes_desktop.base, email)
    await press_the_hotkey(hes_desktop.display, sim.url, layout="us")
    await page.wait_for_function(f"document.body.innerText.includes({INVALID_CODE!r})", polling=100)
    assert re.search(r"/login-with-2fa", page.url)
    assert email not in await page.inner_text("body")
