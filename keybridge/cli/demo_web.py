"""The demo's story on the HES web emulator, in a real browser: ``keybridge demo --web``.

The same story as :mod:`keybridge.cli.demo`, told as a user sees it: a simulated key on a pty, the
HES web emulator over a temporary SQLite store, and Chromium (headless unless ``show``) driven
by Playwright. The user signs in, opens Profile > Add OTP App, reads the key from the page and
stores it on the key; the key types every code into the page's focused field through the browser
backend. Recovery codes, disable and re-enable, reset; the story ends on the signed-in profile.
Each step is checked against what the page shows; :attr:`DemoResult.ok` only if all behaved.

Needs the ``web`` and ``browser`` extras and a Chromium (``apt-get install chromium``); the
browser is driven through :mod:`keybridge.keyboard.browser`, the one module that imports
Playwright.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keybridge.cli.demo import (
    CREDENTIAL,
    EMAIL,
    PASSWORD,
    PERIOD,
    DemoResult,
    Say,
    _can_print,
    _Clock,
    _Story,
    summarise,
)
from keybridge.errors import KeybridgeError
from keybridge.keyboard import get_layout
from keybridge.keyboard.browser import BrowserBackend, completes, launch_page
from keybridge.otp import Credential
from keybridge.session import ConnectOptions, KeySession

__all__ = ["main", "run_web_demo"]

WAIT_MS = 5000
"""How long a check waits for the page to show what it expects."""

ACTION_MS = 15_000
"""How long a click, fill or page load may take (a loaded machine is slow, not broken)."""

_GROUPED_KEY = re.compile(r"^([a-z2-7]{4} ){7}[a-z2-7]{4}$")


class _Stopped(Exception):
    """A step the rest of the story needs did not behave: the story ends there."""


class _WebStory:
    """The story's user: a page in the browser, the key, the emulator's model and clock."""

    def __init__(self, s: _Story, page: Any, base: str, key: KeySession, clock: _Clock) -> None:
        self.s = s
        self.page = page
        self.base = base
        self.key = key
        self.clock = clock
        page.set_default_timeout(ACTION_MS)

    def must(self, label: str, ok: bool, detail: str = "") -> None:
        if not self.s.check(label, ok, detail):
            raise _Stopped(label)

    async def at(self, path: str) -> bool:
        pattern = re.compile(re.escape(self.base + path) + r"(\?.*)?$")
        return await completes(self.page.wait_for_url(pattern, timeout=WAIT_MS))

    async def shows(self, selector: str) -> bool:
        return await completes(self.page.wait_for_selector(selector, timeout=WAIT_MS))

    async def sign_in(self) -> None:
        await self.page.goto(self.base + "/login?returnUrl=%2Fprofile")
        await self.page.fill("#Input_Email", EMAIL)
        await self.page.fill("#Input_Password", PASSWORD)
        await self.page.click("#login-submit")

    async def sign_out(self) -> None:
        await self.page.goto(self.base + "/logout")
        if await self.page.locator("#logout").count():  # signed in: the Logout button
            await self.page.click("#logout")
        await self.shows("#logged-out")

    async def key_types(self) -> None:
        """The key computes the code at the story's time and types it, with Enter, into the
        page's focused field."""
        self.clock.now += PERIOD  # as a user who waits for a fresh code
        await self.key.set_time(self.clock.now, force=True)
        typed = await self.key.otp_type(CREDENTIAL, enter=True, layout="us")
        await BrowserBackend(self.page).deliver(typed.reports, get_layout(typed.layout))

    async def add_otp_app(self) -> list[str]:
        """Profile > Add OTP App, store the key as shown, the key types the code: the
        recovery codes the page then shows (none if HES issues none)."""
        await self.page.goto(self.base + "/profile")
        await self.page.click("#add-otp-app")
        await self.set_up_key()
        return await self.recovery_codes()

    async def set_up_key(self) -> None:
        kbd = self.page.locator("kbd#sharedKey")
        grouped = (await kbd.inner_text()).strip() if await self.shows("kbd#sharedKey") else ""
        self.s.show(f"the page shows the key {grouped}")
        self.must(
            "the key has 32 Base32 characters, shown in lowercase groups of 4",
            bool(_GROUPED_KEY.match(grouped)),
            grouped,
        )
        self.s.check("the page shows the QR code", await self.shows("#qrCode svg"))
        self.s.show(f"keybridge otp add {CREDENTIAL} --secret '{grouped}'")
        await self.key.otp_put(Credential.from_secret(grouped), CREDENTIAL, overwrite=True)
        names = [c.name for c in await self.key.otp_list()]
        self.s.check("the key lists the credential", CREDENTIAL in names)
        focused = await self.shows("#Input_Code:focus")
        self.must("the verification code field has the focus", focused)
        await self.key_types()
        self.s.show("the key types the code + Enter into the verification code field")
        verified = await self.shows("#verified-message")
        self.must("the page says the authenticator app is verified", verified)

    async def recovery_codes(self) -> list[str]:
        codes: list[str] = await self.page.locator("#recoveryCodes code").all_inner_texts()
        return codes

    async def log_in_with_key(self) -> None:
        await self.sign_out()
        await self.sign_in()
        asks = await self.at("/login-with-2fa") and await self.shows("#Input_TwoFactorCode:focus")
        self.must("the password step asks for the authenticator code (field focused)", asks)
        await self.key_types()
        self.s.show("the key types the code + Enter into the login form")
        self.must("logged in: the profile page", await self.at("/profile"))

    async def log_in_with_recovery(self, code: str) -> bool:
        await self.sign_out()
        await self.sign_in()
        await self.page.click("#recovery-code-login")
        await self.page.fill("#Input_RecoveryCode", code)
        # The post lands on the profile, or back on this page with the error: wait for either.
        async with self.page.expect_navigation():
            await self.page.click("#login-recovery-submit")
        url: str = self.page.url
        return urlsplit(url).path == "/profile"

    async def codes_left(self) -> str:
        left = self.page.locator("#recovery-codes-left")
        return (await left.get_attribute("data-count") or "") if await left.count() else ""

    async def confirm(self, action: str) -> None:
        await self.page.goto(self.base + "/profile")
        await self.page.click(f"#{action}")
        await self.shows(f"#confirm-{action}")
        await self.page.click("#confirm")


async def _story(w: _WebStory, hes: Any) -> None:
    s = w.s
    s.heading(f"Create the HES administrator {EMAIL}; sign in with the password")
    hes.create_user(EMAIL, PASSWORD)
    await w.sign_in()
    w.must("the password alone logs in while 2FA is off", await w.at("/profile"))

    s.heading("Pair this host with the key")
    await w.key.pairing.pair(lambda code: True)
    s.check("the key accepted the pairing; the session is encrypted", w.key.encrypted)

    s.heading("Profile > One-Time Password > Add OTP App; the key types the code")
    codes = await w.add_otp_app()
    s.show("recovery codes: " + " ".join(codes))
    s.check(
        "the page shows 10 distinct recovery codes of 8 characters",
        len(set(codes)) == 10 and all(len(c) == 8 for c in codes),
        f"got {codes}",
    )
    w.must("HES has two-factor authentication on", hes.is_2fa_enabled(EMAIL))

    s.heading("Log in: password, then the code the key types")
    await w.log_in_with_key()

    s.heading(f"No key at hand: log in with the recovery code {codes[0]}")
    s.check("the recovery code logs in", await w.log_in_with_recovery(codes[0]))
    s.check("9 recovery codes are left", await w.codes_left() == "9")
    again = await w.log_in_with_recovery(codes[0])
    refused = not again and await w.shows("text=Invalid recovery code entered.")
    s.check("the same code is refused the second time", refused)

    s.heading("Disable 2FA (after its confirmation), then Add OTP App again")
    await w.log_in_with_key()
    await w.confirm("disable-2fa")
    off = await w.shows("#two-factor-status[data-enabled=false]")
    w.must("the profile says 2FA is disabled", off)
    new_codes = await w.add_otp_app()
    s.check(
        "re-enabling issued 10 new recovery codes",
        len(set(new_codes)) == 10 and not set(new_codes) & set(codes),
        f"got {new_codes}",
    )
    s.check("an old recovery code no longer logs in", not await w.log_in_with_recovery(codes[1]))
    await w.log_in_with_key()

    s.heading("Reset the OTP app (a new key): confirm it with the key; codes kept")
    await w.confirm("reset-otp-app")
    await w.set_up_key()
    s.check("confirming the new key issued no recovery codes", await w.recovery_codes() == [])
    s.check("the 10 recovery codes are kept", hes.recovery_codes_left(EMAIL) == 10)
    await w.log_in_with_key()
    s.check("the story ends on the signed-in profile", await w.shows("#nav-profile"))


async def _run(s: _Story, directory: Path, show: bool) -> None:
    from firmware_sim.serve import ServeOptions
    from firmware_sim.threaded import serve_in_thread as serve_key
    from keybridge.hes import Hes
    from keybridge.hostconfig import HostConfig

    try:
        from keybridge.hes.web import create_app
        from keybridge.hes.web.server import serve_in_thread as serve_web
    except ImportError as exc:
        raise KeybridgeError(
            f"demo --web needs the HES web emulator ({exc}): pip install 'keybridge[web,browser]'"
        ) from None

    clock = _Clock()
    key_dir = directory / "key"
    key_dir.mkdir(mode=0o700)
    options = ServeOptions(state=key_dir / "key.state", announce=False, verbosity=-1)
    with (
        serve_key(options) as urls,
        Hes(directory / "hes.sqlite3", profile="hes", clock=clock) as hes,
        serve_web(create_app(hes)) as base,
    ):
        s.say(f"A simulated key on {urls[0]}, the HES web emulator on {base}")
        async with (
            KeySession.connect(urls[0], ConnectOptions(config=HostConfig.memory())) as key,
            launch_page(show=show) as page,
        ):
            await _story(_WebStory(s, page, base, key, clock), hes)
            if show:
                s.say("Close the browser window to finish.")
                await page.wait_for_event("close", timeout=0)


def run_web_demo(say: Say = print, *, show: bool = False) -> DemoResult:
    """Tell the story in a browser through ``say``; the checks say whether every step behaved
    as HES. ``show`` opens a browser window (needs a display) instead of a headless one."""
    result = DemoResult()
    marks = ("✓", "✗") if _can_print("✓✗") else ("ok", "FAILED")
    story = _Story(say, marks, result)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="keybridge-demo-web-") as tmp:
        try:
            asyncio.run(_run(story, Path(tmp), show))
        except _Stopped:
            pass  # its check failed and was reported; the rest of the story needs it
        except (KeybridgeError, OSError, RuntimeError) as exc:
            story.check("the story ran to its end", False, str(exc))
    result.seconds = time.perf_counter() - start
    return result


def main(say: Say = print, *, show: bool = False) -> int:
    """Run the web story; 0 if every step behaved as HES does, 1 otherwise."""
    say("keybridge demo --web: HES two-factor login in a browser, the code typed by the key")
    return summarise(run_web_demo(say, show=show), say)
