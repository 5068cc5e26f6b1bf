"""Telling the desktop user something: a notification (``notify-send``) and a log line."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading

__all__ = ["notify"]

log = logging.getLogger("keybridge.agent")


def notify(text: str, *, urgent: bool = False) -> None:
    """Show ``text`` as a desktop notification if ``notify-send`` is there; always log it."""
    (log.warning if urgent else log.info)("%s", text)
    program = shutil.which("notify-send")
    if program is None:
        return
    args = [program, "--app-name=keybridge", f"--urgency={'critical' if urgent else 'normal'}"]
    try:
        # Not waited for: a slow notification daemon must not hold up typing.
        process = subprocess.Popen(
            [*args, "keybridge", text],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.info("notify-send failed (%s)", exc)
        return
    threading.Thread(target=process.wait, name="notify-send", daemon=True).start()
