"""The browser backend in a real Chromium: the key's reports arrive as a keyboard's key events.

A small static page records every ``keydown`` (its ``code`` and ``key``) and submits its form on
Enter; the key (a simulator process, clock pinned) types a code into the focused field. Also
``keybridge otp type --to browser --cdp URL`` against a Chromium with a DevTools port.
"""

from __future__ import annotations

import asyncio
import json
import sys
from asyncio.subprocess import PIPE
from typing import Any

import pytest

from keybridge.keyboard import encode_text, get_layout
from keybridge.keyboard.browser import BrowserBackend
from keybridge.otp import Credential
from keybridge.otp.codes import totp
from keybridge.otp.secret import decode_secret
from keybridge.session import KeySession

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the browser's loop

NOW = 1_700_000_015
NAME = "HES.Web:qa@example.com"
KEY = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"
CODE = f"{totp(decode_secret(KEY), NOW):0>6}"

FORM = """<!doctype html><title>form</title>
<form method="post" action="about:blank" onsubmit="document.title='sent:'+this.code.value;
 return false"><input name="code" id="code" autofocus autocomplete="off"></form>
<script>window.keys = []; addEventListener("keydown", e => keys.push([e.code, e.key]));</script>
"""


async def show_form(page: Any, expect: Any) -> None:
    """The form, once its field has the focus (autofocus applies after the load: a keyboard
    typing before that types into nothing)."""
    await page.set_content(FORM)
    await expect(page.locator("#code")).to_be_focused()


@pytest.fixture
def key_url(make_simulator: Any) -> str:
    url: str = make_simulator(clock=f"fixed:{NOW}").url
    return url


async def test_the_key_types_its_code_into_the_focused_field(
    page: Any, expect: Any, key_url: str
) -> None:
    await show_form(page, expect)
    async with KeySession.connect(key_url) as key:
        await key.otp_put(Credential.from_secret(KEY), NAME)
        typed = await key.otp_type(NAME, enter=True)
    await BrowserBackend(page).deliver(typed.reports, get_layout(typed.layout))
    await expect(page).to_have_title(f"sent:{CODE}")  # Enter submitted the form
    keys = await page.evaluate("window.keys")
    assert keys == [[f"Digit{d}", d] for d in CODE] + [["Enter", "Enter"]]


async def test_shifted_keys_and_letters_by_code(page: Any, expect: Any) -> None:
    await show_form(page, expect)
    text = "Ab1!-_ z"
    await BrowserBackend(page).deliver(encode_text(text, "us"), get_layout("us"))
    await expect(page.locator("#code")).to_have_value(text)
    keys = await page.evaluate("window.keys")
    assert [c for c, _ in keys if not c.startswith("Shift")] == [
        "KeyA", "KeyB", "Digit1", "Digit1", "Minus", "Minus", "Space", "KeyZ",
    ]  # fmt: skip
    assert [k for c, k in keys if c == "ShiftLeft"] == ["Shift"] * 3


async def test_reports_for_fr_type_nothing_into_the_page(page: Any, expect: Any) -> None:
    await show_form(page, expect)
    with pytest.raises(Exception, match="--layout us"):
        await BrowserBackend(page).deliver(encode_text("123456", "fr"), get_layout("fr"))
    await expect(page.locator("#code")).to_have_value("")
    assert await page.evaluate("window.keys") == []


async def test_otp_type_to_browser_over_cdp(
    page: Any, expect: Any, devtools_url: str, key_url: str
) -> None:
    await show_form(page, expect)
    await keybridge("--device", key_url, "otp", "add", NAME, "--secret", KEY)
    out = await keybridge(
        "--device", key_url, "--json", "otp", "type", NAME, "--enter", "--to", "browser",
        "--cdp", devtools_url,
    )  # fmt: skip
    assert json.loads(out)["layout"] == "us"
    await expect(page).to_have_title(f"sent:{CODE}")


async def keybridge(*args: str) -> str:
    """Runs ``python -m keybridge ARGS`` as a user would; its stdout. Asynchronously: the
    browser answers the command's CDP connection on this test's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "keybridge", *args, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()
