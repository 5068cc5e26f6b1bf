"""A user in Chromium on the HES web emulator, with a simulated key that types the codes.

Each test acts as a person would: reads the key from the Add OTP App page (once from a
screenshot of its QR code), stores it with ``keybridge otp add`` on a simulated key (a
simulator process), and lets the key type each code into the focused field through the browser
backend. Tests about what follows enrolment turn 2FA on behind the scenes first (the model, and
the key over its session). Every assertion is a Playwright ``expect`` (auto-waiting, no sleeps)
or reads the page. With ``KEYBRIDGE_SCREENSHOTS=DIR`` the steps are saved for the docs (``make
screenshots``).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import pair_state_file
from keybridge.hostconfig import HostConfig
from keybridge.keyboard import get_layout
from keybridge.keyboard.browser import BrowserBackend
from keybridge.otp import Credential
from keybridge.otp.codes import totp
from keybridge.otp.secret import decode_secret
from keybridge.session import KeySession

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the browser's loop

EMAIL = "qa@example.com"
PASSWORD = "correct horse battery staple"
NAME = f"HES.Web:{EMAIL}"

INVALID_CODE = "Invalid authenticator code."
INVALID_RECOVERY = "Invalid recovery code entered."


class User:
    """A person at the browser with a key: what they click, read and have the key type."""

    def __init__(self, page: Any, expect: Any, base: str, key_url: str, tmp: Path) -> None:
        self.page = page
        self.expect = expect
        self.base = base
        self.key_url = key_url
        self.tmp = tmp
        self.secret = ""
        """The last key read from the Add OTP App page."""

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def sign_in(self, email: str = EMAIL, password: str = PASSWORD) -> None:
        await self.open("/login?returnUrl=%2Fprofile")
        await self.page.fill("#Input_Email", email)
        await self.page.fill("#Input_Password", password)
        await self.page.click("#login-submit")

    async def sign_out(self) -> None:
        await self.open("/logout")
        await self.page.click("#logout")
        await self.expect(self.page.locator("#logged-out")).to_be_visible()

    async def shared_key(self) -> str:
        """The key the Add OTP App page shows, as a user copies it."""
        kbd = self.page.locator("kbd#sharedKey")
        await self.expect(kbd).to_have_text(re.compile(r"^([a-z2-7]{4} ){7}[a-z2-7]{4}$"))
        text: str = await kbd.inner_text()
        self.secret = text
        return text

    async def keybridge(self, *args: str) -> str:
        """``keybridge --device KEY ARGS`` in a subprocess; its stdout (asynchronously: the
        browser works on this loop meanwhile)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "keybridge", "--device", self.key_url, *args,
            stdout=PIPE, stderr=PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    async def store(self, *, from_qr: bool = False) -> None:
        """``keybridge otp add`` of the page's key: pasted from ``<kbd>``, or from a screenshot
        of the QR code."""
        if from_qr:
            image = self.tmp / "qr.png"
            await self.page.locator("#qrCode").screenshot(path=str(image))
            await self.keybridge("otp", "add", NAME, "--qr", str(image), "--force")
        else:
            key = await self.shared_key()
            await self.keybridge("otp", "add", NAME, "--secret", key, "--force")

    async def key_types_code(self) -> None:
        """The key types its current code and Enter into the page's focused field."""
        async with KeySession.connect(self.key_url) as key:
            typed = await key.otp_type(NAME, enter=True, layout="us")
        await BrowserBackend(self.page).deliver(typed.reports, get_layout(typed.layout))

    async def recovery_codes(self) -> list[str]:
        codes = self.page.locator("#recoveryCodes code")
        await self.expect(codes).to_have_count(10)
        found: list[str] = await codes.all_inner_texts()
        return found

    async def enrol(self, *, from_qr: bool = False) -> list[str]:
        """Profile > Add OTP App > store the key > the key types the code: the recovery codes
        (signed in, 2FA off)."""
        await self.open("/profile")
        await self.page.click("#add-otp-app")
        await self.expect(self.page.locator("#Input_Code")).to_be_focused()
        await self.store(from_qr=from_qr)
        await self.key_types_code()
        await self.expect(self.page.locator("#verified-message")).to_be_visible()
        return await self.recovery_codes()

    async def enrolled_already(self, hes: Any) -> list[str]:
        """2FA turned on behind the scenes (the model, the key over its session): for tests
        about what comes after enrolment. The recovery codes."""
        setup = hes.begin_otp_setup(EMAIL)
        self.secret = setup.display_key
        async with KeySession.connect(self.key_url) as key:
            await key.otp_put(Credential.from_secret(setup.key), NAME, overwrite=True)
        codes: list[str] = hes.confirm_otp_setup(
            EMAIL, f"{totp(decode_secret(setup.key), time.time()):0>6}"
        )
        return codes

    async def at_profile(self, *, enabled: bool, codes_left: int | None = None) -> None:
        await self.expect(self.page).to_have_url(re.compile(r"/profile$"))
        status = self.page.locator("#two-factor-status")
        await self.expect(status).to_have_attribute("data-enabled", str(enabled).lower())
        if codes_left is not None:
            left = self.page.locator("#recovery-codes-left")
            await self.expect(left).to_have_attribute("data-count", str(codes_left))

    async def second_factor_page(self) -> None:
        await self.expect(self.page).to_have_url(re.compile(r"/login-with-2fa\?"))
        await self.expect(self.page.locator("h1")).to_have_text("Two-factor authentication")
        await self.expect(self.page.locator("#Input_TwoFactorCode")).to_be_focused()

    async def recovery_login(self, code: str) -> None:
        await self.sign_in()
        await self.second_factor_page()
        await self.page.click("#recovery-code-login")
        await self.expect(self.page.locator("h1")).to_have_text("Recovery code verification")
        await self.page.fill("#Input_RecoveryCode", code)
        await self.page.click("#login-recovery-submit")

    async def confirm(self, action: str) -> None:
        """Click the profile's ``action`` button, then the confirmation page's button."""
        await self.open("/profile")
        await self.page.click(f"#{action}")
        await self.expect(self.page.locator(f"#confirm-{action}")).to_be_visible()

    async def error_shown(self, text: str) -> None:
        await self.expect(self.page.locator("#validation-summary")).to_contain_text(text)


def wrong_code(secret: str) -> str:
    """A code HES refuses now: none of the 5 steps it accepts (T-2..T+2) gives it."""
    key = decode_secret(secret)
    now = time.time()
    valid = {f"{totp(key, now + step * 30):0>6}" for step in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


@pytest.fixture(scope="module")
def _key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One simulated key (real clock) for the module, and the host config paired with it."""
    base = tmp_path_factory.mktemp("browser-key")
    config_dir = base / "host-config"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEYBRIDGE_CONFIG_DIR", str(config_dir))
        pair_state_file(base / "key.state", HostConfig.load())
    with Simulator(state=base / "key.state") as sim:
        yield sim.url, config_dir


@pytest.fixture
async def user(
    page: Any,
    expect: Any,
    hes_server: Any,
    _key: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> User:
    """A user with an HES account (2FA off) and the module's paired key (the credential is
    overwritten by each test's enrolment)."""
    url, config_dir = _key
    monkeypatch.setenv("KEYBRIDGE_CONFIG_DIR", str(config_dir))
    hes_server.hes.create_user(EMAIL, PASSWORD)
    return User(page, expect, hes_server.url, url, tmp_path)


async def test_enrol_from_the_qr_then_log_in_with_the_typed_code(
    user: User, hes_server: Any, shot: Any
) -> None:
    page, expect = user.page, user.expect
    await user.open("/login")
    await expect(page.locator("#Input_Email")).to_be_focused()
    await shot("hes-web-login")
    await user.sign_in()
    await user.at_profile(enabled=False)
    await shot("hes-web-profile-2fa-off")

    await page.click("#add-otp-app")
    await expect(page.locator("#otp-setup")).to_contain_text("Spaces and casing do not matter.")
    await expect(page.locator("#qrCode svg")).to_be_visible()
    await expect(page.locator("#Input_Code")).to_be_focused()
    await shot("hes-web-add-otp-app")
    await user.store(from_qr=True)
    listed = await user.keybridge("otp", "list")
    assert NAME in listed
    await user.key_types_code()
    await expect(page.locator("#verified-message")).to_be_visible()
    codes = await user.recovery_codes()
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes)
    await expect(page.locator("#otp-verified")).to_contain_text("Put these codes in a safe place.")
    await shot("hes-web-recovery-codes")
    assert hes_server.hes.is_2fa_enabled(EMAIL)

    await user.sign_out()
    await user.sign_in()
    await user.second_factor_page()
    await shot("hes-web-login-2fa")
    await user.key_types_code()
    await user.at_profile(enabled=True, codes_left=10)
    await expect(page.locator("#nav-profile")).to_have_text(EMAIL)
    await shot("hes-web-profile")


async def test_a_recovery_code_logs_in_once(user: User, hes_server: Any, shot: Any) -> None:
    codes = await user.enrolled_already(hes_server.hes)

    await user.recovery_login(codes[0])
    await user.at_profile(enabled=True, codes_left=9)
    await user.sign_out()

    await user.recovery_login(codes[0])
    await user.error_shown(INVALID_RECOVERY)
    await user.expect(user.page).to_have_url(re.compile(r"/login-with-recovery-code"))
    await shot("hes-web-recovery-code-refused")


async def test_disable_then_enable_again_gives_new_recovery_codes(
    user: User, hes_server: Any, shot: Any
) -> None:
    old = await user.enrolled_already(hes_server.hes)
    await user.sign_in()
    await user.second_factor_page()
    await user.key_types_code()
    await user.at_profile(enabled=True)  # the typed code's post went through
    await user.confirm("disable-2fa")
    await shot("hes-web-disable-2fa")
    await user.page.click("#confirm")
    await user.at_profile(enabled=False)
    assert not hes_server.hes.is_2fa_enabled(EMAIL)

    new = await user.enrol()
    assert not set(new) & set(old)
    await user.sign_out()
    await user.recovery_login(old[1])
    await user.error_shown(INVALID_RECOVERY)


async def test_reset_needs_the_new_key_confirmed_and_keeps_the_codes(
    user: User, hes_server: Any, shot: Any
) -> None:
    codes = await user.enrolled_already(hes_server.hes)
    await user.sign_in()
    await user.second_factor_page()
    await user.key_types_code()
    await user.at_profile(enabled=True)  # the typed code's post went through
    await user.confirm("reset-otp-app")
    await shot("hes-web-reset-otp-app")
    await user.page.click("#confirm")
    # Reset disables 2FA until the new key is confirmed.
    await user.expect(user.page.locator("#Input_Code")).to_be_focused()
    assert not hes_server.hes.is_2fa_enabled(EMAIL)
    await user.store()
    await user.key_types_code()
    await user.expect(user.page.locator("#verified-message")).to_be_visible()
    await user.expect(user.page.locator("#recoveryCodes")).to_have_count(0)  # codes kept
    assert hes_server.hes.recovery_codes_left(EMAIL) == 10

    await user.sign_out()
    await user.recovery_login(codes[2])
    await user.at_profile(enabled=True, codes_left=9)


async def test_ten_wrong_codes_lock_the_account(user: User, hes_server: Any, shot: Any) -> None:
    await user.enrolled_already(hes_server.hes)
    await user.sign_in()
    await user.second_factor_page()
    field = user.page.locator("#Input_TwoFactorCode")
    for attempt in range(1, 11):
        await field.fill(wrong_code(user.secret))
        async with user.page.expect_navigation():  # each answer is a new page: wait for it
            await user.page.click("#login-2fa-submit")
        if attempt < 10:
            await user.error_shown(INVALID_CODE)
            if attempt == 1:
                await shot("hes-web-invalid-code")
    await user.expect(user.page).to_have_url(re.compile(r"/lockout$"))
    await user.expect(user.page.locator("h1")).to_have_text("Locked out")
    await user.expect(user.page.locator("#lockout-message")).to_have_text(
        "This account has been locked out, please try again later."
    )
    await shot("hes-web-locked-out")
    # Locked: even the right password and the key's code do not get in.
    await user.sign_in()
    await user.expect(user.page).to_have_url(re.compile(r"/lockout$"))
