"""A desktop for the end-to-end tests and the hotkey benchmark: Xvfb, Chromium, a login page.

- :class:`Xvfb`: an X server on a free display (``-displayfd``: the server picks the number),
  no TCP listener.
- :func:`set_layout`: the X server's keymap, for the core keyboard (so ``_XKB_RULES_NAMES``,
  which the agent reads, names it) and for the XTEST keyboard device (in Xvfb the keymap of
  XTEST events changes only when setxkbmap names that device).
- :class:`LoginPage`: a one-field page served on loopback at ``/login-with-2fa``, as HES's
  second login step; it reports what the field holds and what Enter submitted. A test written
  against it needs only ``url``, :meth:`LoginPage.wait_focused` and :meth:`wait_submitted`, so
  HES's emulator can stand in for it.
- :class:`Chromium`: Debian's Chromium showing a page in a real window on the X server (not
  headless: the keys must travel through the X server's keyboard).
- :func:`press_keys`: keys pressed and released through XTEST, as a user's fingers would.
- :func:`force_screen_saver`: the screensaver turned on, as a screen locker does.
- :func:`hotkey_agent`: the agent on a key, its hotkey grabbed on the X server.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import http.server
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keybridge.agent.hotkey import HotkeyService

CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-default-browser-check",
    "--password-store=basic",
    "--window-position=0,0",
]

XKB_NAMES = {"us": "us", "uk": "gb", "de": "de", "fr": "fr"}
"""keybridge layout id -> XKB layout name."""

TOOLS = ("Xvfb", "setxkbmap", "xinput", "chromium")


def missing_tools(tools: Sequence[str] = TOOLS) -> list[str]:
    """The programs of ``tools`` not on PATH."""
    return [tool for tool in tools if shutil.which(tool) is None]


class Xvfb:
    """A virtual X server; ``display`` is its name (":N")."""

    def __init__(self, size: str = "1280x800x24") -> None:
        self.size = size
        self.display = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> str:
        read, write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write),
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    "-screen",
                    "0",
                    self.size,
                ],
                pass_fds=(write,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            os.close(write)
            write = -1
            number = b""
            deadline = time.monotonic() + timeout
            while not number.endswith(b"\n"):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("Xvfb did not start")
                chunk = os.read(read, 16)
                if not chunk:
                    raise RuntimeError("Xvfb exited before naming its display")
                number += chunk
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)
        self.display = f":{int(number)}"
        return self.display

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _x(display: str, *args: str) -> str:
    result = subprocess.run(
        list(args), env={**os.environ, "DISPLAY": display}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def xtest_keyboard_id(display: str) -> str:
    """The XInput id of the X server's XTEST keyboard device."""
    return _x(display, "xinput", "list", "--id-only", "Virtual core XTEST keyboard").strip()


def set_layout(display: str, layout: str) -> None:
    """Set the X server's keymap to keybridge layout ``layout`` (us, uk, de, fr)."""
    name = XKB_NAMES[layout]
    _x(display, "setxkbmap", name)
    _x(display, "setxkbmap", "-device", xtest_keyboard_id(display), name)


def force_screen_saver(display: str, *, active: bool = True) -> None:
    """Turn the screensaver of ``display`` on (as a screen locker does), or reset it (off)."""
    from Xlib import X
    from Xlib.display import Display

    conn = Display(display)
    try:
        conn.force_screen_saver(X.ScreenSaverActive if active else X.ScreenSaverReset)
        conn.sync()
    finally:
        conn.close()


def press_keys(display: str, keysyms: Sequence[str]) -> None:
    """Press ``keysyms`` in order through XTEST, then release them in reverse (a chord)."""
    from Xlib import XK, X
    from Xlib.display import Display
    from Xlib.ext import xtest

    conn = Display(display)
    try:
        codes = [conn.keysym_to_keycode(XK.string_to_keysym(name)) for name in keysyms]
        for code in codes:
            xtest.fake_input(conn, X.KeyPress, code)
            conn.sync()
        for code in reversed(codes):
            xtest.fake_input(conn, X.KeyRelease, code)
            conn.sync()
    finally:
        conn.close()


PAGE = """<!doctype html>
<html><head><title>{title}</title></head>
<body>
<h1>Two-factor authentication</h1>
<p>{message}</p>
<form method="post" action="/login-with-2fa">
<label for="code">Authenticator code</label>
<input id="code" name="code" autocomplete="off" autofocus>
</form>
<script>
const field = document.getElementById("code");
const form = field.form;
// One request at a time, so the server hears the field's changes in order.
let queue = Promise.resolve();
const tell = (path, value) => {{
  queue = queue.then(() => fetch(path, {{method: "POST", body: value}})).catch(() => {{}});
}};
// Ready: the field focused in a focused window (which may come a moment after the load).
const ready = () => {{
  if (document.hasFocus() && document.activeElement === field) tell("/focused", "true");
  else {{ field.focus(); setTimeout(ready, 20); }}
}};
field.addEventListener("input", () => tell("/typed", field.value));
// Enter submits without leaving the page, so the next code meets the same focused field.
form.addEventListener("submit", (event) => {{
  event.preventDefault();
  const code = field.value;
  field.value = "";
  tell("/login-with-2fa", new URLSearchParams({{code}}).toString());
  ready();
}});
window.addEventListener("load", () => {{ field.focus(); ready(); }});
</script>
</body></html>
"""


class LoginPage:
    """HES's one-time-password step, reduced to its field: served on 127.0.0.1.

    ``typed`` is what the field holds (updated on each input event); :meth:`wait_submitted`
    returns what Enter submitted. Enter submits without leaving the page (the field is emptied
    and stays focused), so nothing typed next is lost to a page load.
    """

    def __init__(self, title: str = "Hideez Enterprise Server") -> None:
        self.title = title
        self.typed = ""
        self.submitted: list[str] = []
        self.focused = 0
        self._changed = threading.Condition()
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/login-with-2fa":
                    self.send_error(404)
                    return
                message = f"Last code: {page.submitted[-1]}" if page.submitted else ""
                body = PAGE.format(
                    title=html.escape(page.title), message=html.escape(message)
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                path = self.path.split("?")[0]
                with page._changed:
                    if path == "/typed":
                        page.typed = body
                    elif path == "/focused":
                        page.focused += body == "true"
                    elif path == "/login-with-2fa":
                        from urllib.parse import parse_qs

                        page.submitted.append(parse_qs(body).get("code", [""])[0])
                        page.typed = ""
                    page._changed.notify_all()
                self.send_response(204)
                self.end_headers()

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/login-with-2fa"

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"the page: {what} within {timeout} s (typed: {self.typed!r})")

    def wait_focused(self, after: int = 0, timeout: float = 30.0) -> int:
        """Wait until the field has been ready (focused, empty: after the page's load and
        after each submission) more than ``after`` times; the count."""
        self._wait(lambda: self.focused > after, timeout, "no focused field")
        return self.focused

    def wait_submitted(self, count: int, timeout: float = 30.0) -> str:
        """Wait for the ``count``-th submission (1-based); what it submitted."""
        self._wait(lambda: len(self.submitted) >= count, timeout, f"no submission {count}")
        return self.submitted[count - 1]

    def wait_typed(self, length: int, timeout: float = 30.0) -> str:
        """Wait until the field holds ``length`` characters; what it holds."""
        self._wait(lambda: len(self.typed) >= length, timeout, f"{length} characters never typed")
        return self.typed

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Chromium:
    """Chromium in an app window on ``display`` showing ``url`` (a fresh profile).

    ``devtools=True`` opens the DevTools protocol on a free loopback port (:meth:`cdp_url`), for
    a test that drives the page (Playwright's ``connect_over_cdp``) around what the X server
    types.
    """

    def __init__(
        self,
        display: str,
        url: str,
        size: tuple[int, int] = (1280, 800),
        *,
        devtools: bool = False,
    ) -> None:
        self.display = display
        self.url = url
        self.size = size
        self.devtools = devtools
        self._profile = tempfile.TemporaryDirectory(prefix="keybridge-chromium-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        width, height = self.size
        args = [
            "chromium",
            *CHROMIUM_FLAGS,
            f"--window-size={width},{height}",
            f"--user-data-dir={self._profile.name}",
            *(["--remote-debugging-port=0"] if self.devtools else []),
            f"--app={self.url}",
        ]
        self.process = subprocess.Popen(
            args,
            env={**os.environ, "DISPLAY": self.display},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def cdp_url(self, timeout: float = 30.0) -> str:
        """The DevTools endpoint (``http://127.0.0.1:PORT``), once Chromium has opened it."""
        active = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (active.exists() and active.read_text().strip()):
            if time.monotonic() > deadline or self.process is None or self.process.poll():
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port = active.read_text().split()[0]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._profile.cleanup()


class Desktop:
    """Xvfb + the login page + Chromium showing it, started together."""

    def __init__(self) -> None:
        self.xvfb = Xvfb()
        self.display = self.xvfb.start()
        try:
            self.page = LoginPage()
            self.browser = Chromium(self.display, self.page.url)
            self.browser.start()
            self.page.wait_focused(timeout=60)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        browser = getattr(self, "browser", None)
        if browser is not None:
            browser.stop()
        page = getattr(self, "page", None)
        if page is not None:
            page.close()
        self.xvfb.stop()


@dataclass
class HesDesktop:
    """Xvfb, the HES web emulator (``base``, its model ``hes``) and Chromium showing it."""

    display: str
    base: str
    hes: Any
    browser: Chromium


@contextlib.asynccontextmanager
async def hotkey_agent(url: str, display: str, **options: Any) -> AsyncIterator[HotkeyService]:
    """The agent on the key at ``url``, its hotkey grabbed on ``display``."""
    from keybridge.agent import Agent, KeyLink
    from keybridge.agent.hotkey import HotkeyService

    link = KeyLink(url)
    service = HotkeyService(Agent(link), display=display, **options)
    service.grab()
    running = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await link.drop()
