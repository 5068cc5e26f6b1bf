"""``keybridge otp type --to browser --cdp URL``: the option rules and the one-line errors.

Typing into a real Chromium over CDP runs in ``tests/browser``; these need no key (the browser
is reached before the key is asked for anything) and no browser.
"""

from __future__ import annotations

import socket
import sys

import pytest
from click.testing import CliRunner, Result

from keybridge.cli.main import cli


def kb(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--device", "socket://127.0.0.1:9", *args])


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["--to", "browser"],
        ["--cdp", "http://127.0.0.1:9222"],
        ["--to", "os", "--cdp", "http://x:1"],
    ],
)
def test_browser_and_cdp_go_together(args: list[str]) -> None:
    result = kb("otp", "type", "HES", *args)
    assert result.exit_code == 2
    assert "--to browser and --cdp URL go together" in result.stderr


def test_a_cdp_url_that_is_not_one_exits_2() -> None:
    result = kb("otp", "type", "HES", "--to", "browser", "--cdp", "localhost:9222")
    assert result.exit_code == 2
    assert "is not a DevTools URL" in one_error_line(result)


def test_no_browser_at_the_url_exits_3_before_the_key_is_asked() -> None:
    pytest.importorskip("playwright.async_api")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = kb("otp", "type", "HES", "--to", "browser", "--cdp", f"http://127.0.0.1:{port}")
    assert result.exit_code == 3
    line = one_error_line(result)
    assert f"no browser answers at http://127.0.0.1:{port}" in line
    assert "--remote-debugging-port" in line


def test_without_playwright_exits_1_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    result = kb("otp", "type", "HES", "--to", "browser", "--cdp", "http://127.0.0.1:9222")
    assert result.exit_code == 1
    assert "pip install 'keybridge[browser]'" in one_error_line(result)
