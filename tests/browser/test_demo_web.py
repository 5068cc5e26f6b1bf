"""``keybridge demo --web``: the demo's story on the web emulator in Chromium, checked.

Runs the command in this process (click's CliRunner): its own simulated key, emulator and
headless browser. A key whose typing never reaches the page makes it fail with exit 1.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from keybridge.cli import demo_web
from keybridge.cli.main import cli
from keybridge.keyboard.browser import BrowserBackend

STEPS = [
    "the password alone logs in while 2FA is off",
    "the key has 32 Base32 characters, shown in lowercase groups of 4",
    "the verification code field has the focus",
    "the page says the authenticator app is verified",
    "the page shows 10 distinct recovery codes of 8 characters",
    "the password step asks for the authenticator code (field focused)",
    "logged in: the profile page",
    "the recovery code logs in",
    "the same code is refused the second time",
    "the profile says 2FA is disabled",
    "re-enabling issued 10 new recovery codes",
    "an old recovery code no longer logs in",
    "confirming the new key issued no recovery codes",
    "the 10 recovery codes are kept",
    "the story ends on the signed-in profile",
]


def test_demo_web_passes_every_check(chromium: str) -> None:
    result = CliRunner().invoke(cli, ["--json", "demo", "--web"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["failed"] == []
    labels = [check["label"] for check in report["checks"]]
    assert set(STEPS) <= set(labels), set(STEPS) - set(labels)
    assert all(check["ok"] for check in report["checks"])
    assert labels[-1] == "the story ends on the signed-in profile"


def test_demo_web_fails_when_the_key_types_nothing(
    chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def types_nothing(self: BrowserBackend, reports: object, layout: object) -> None:
        return None

    monkeypatch.setattr(BrowserBackend, "deliver", types_nothing)
    monkeypatch.setattr(demo_web, "WAIT_MS", 1000)  # the page will not show it: fail fast
    result = CliRunner().invoke(cli, ["demo", "--web"])
    assert result.exit_code == 1, result.output
    assert "✗ the page says the authenticator app is verified" in result.output
    assert "1 of " in result.output and " checks failed:" in result.output
    assert "step 3: the page says the authenticator app is verified" in result.output
    assert "Traceback" not in result.output


def test_show_needs_web() -> None:
    result = CliRunner().invoke(cli, ["demo", "--show"])
    assert result.exit_code == 2
    assert "--show applies to --web only" in result.output
