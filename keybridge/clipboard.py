"""The desktop's clipboard through its usual tools, and clearing it again after a while.

Wayland: ``wl-copy`` / ``wl-paste`` (wl-clipboard); X11: ``xclip``, else ``xsel``. The tools are
run with the text on stdin, never on a command line (which other users can read in ``ps``).
:func:`clear_later` starts a detached helper process (``python -m keybridge.clipboard``) that
clears the clipboard after the delay if it still holds the text, so a later copy by the user is
left alone and the command that copied can exit at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from keybridge.errors import KeybridgeError

__all__ = ["CLEAR_AFTER", "Clipboard", "ClipboardError", "clear_later", "find_clipboard"]

CLEAR_AFTER = 30
"""Seconds a copied code stays on the clipboard."""

_TIMEOUT = 5.0


class ClipboardError(KeybridgeError):
    """No clipboard tool for this desktop, or the tool failed."""


@dataclass(frozen=True)
class Clipboard:
    """One tool's commands: copy (text on stdin), paste (text on stdout), clear."""

    name: str
    copy_cmd: tuple[str, ...]
    paste_cmd: tuple[str, ...]
    clear_cmd: tuple[str, ...] | None
    """``None``: clear by copying an empty text."""

    def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard."""
        self._run(self.copy_cmd, text)

    def paste(self) -> str:
        return self._run(self.paste_cmd, "")

    def clear(self) -> None:
        if self.clear_cmd is None:
            self._run(self.copy_cmd, "")
        else:
            self._run(self.clear_cmd, "")

    def clear_if_holding(self, text: str) -> bool:
        """Clear the clipboard if it still holds ``text``; True if it did."""
        if self.paste().rstrip("\n") != text:
            return False
        self.clear()
        return True

    def _run(self, command: tuple[str, ...], text: str) -> str:
        import tempfile

        # A copying tool leaves a process serving the selection: it must hold no pipe of
        # ours, or reading that pipe would wait for it to end. Its stderr goes to a file.
        paste = command == self.paste_cmd
        with tempfile.TemporaryFile() as errors:
            try:
                done = subprocess.run(
                    command,
                    input=text.encode("utf-8"),
                    stdout=subprocess.PIPE if paste else subprocess.DEVNULL,
                    stderr=errors,
                    timeout=_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ClipboardError(f"the clipboard tool {command[0]} failed: {exc}") from None
            if done.returncode != 0:
                errors.seek(0)
                said = errors.read(4096).decode("utf-8", "replace").strip().splitlines()
                reason = said[0] if said else f"exit status {done.returncode}"
                raise ClipboardError(f"the clipboard tool {command[0]} failed: {reason}")
        return (done.stdout or b"").decode("utf-8", "replace")


_TOOLS: dict[str, Clipboard] = {
    "wl-copy": Clipboard(
        "wl-copy", ("wl-copy",), ("wl-paste", "--no-newline"), ("wl-copy", "--clear")
    ),
    "xclip": Clipboard(
        "xclip",
        ("xclip", "-selection", "clipboard", "-in"),
        ("xclip", "-selection", "clipboard", "-out"),
        None,
    ),
    "xsel": Clipboard(
        "xsel",
        ("xsel", "--clipboard", "--input"),
        ("xsel", "--clipboard", "--output"),
        ("xsel", "--clipboard", "--clear"),
    ),
}

MISSING = (
    "no clipboard tool for this desktop: install wl-clipboard (Wayland) or xclip or xsel (X11),"
    " or run without --copy"
)


def find_clipboard() -> Clipboard:
    """The tool for this session's desktop; :class:`ClipboardError` if there is none."""
    candidates: list[str] = []
    if os.environ.get("WAYLAND_DISPLAY"):
        candidates.append("wl-copy")
    if os.environ.get("DISPLAY"):
        candidates += ["xclip", "xsel"]
    if not candidates:
        raise ClipboardError(
            "no desktop session here (neither WAYLAND_DISPLAY nor DISPLAY is set): "
            "run without --copy"
        )
    for name in candidates:
        tool = _TOOLS[name]
        if all(shutil.which(cmd[0]) for cmd in (tool.copy_cmd, tool.paste_cmd)):
            return tool
    raise ClipboardError(MISSING)


def clear_later(tool: Clipboard, text: str, after: float = CLEAR_AFTER) -> None:
    """Start a detached process that clears the clipboard in ``after`` seconds if it still
    holds ``text`` (given on its stdin); it outlives this process."""
    helper = subprocess.Popen(
        [sys.executable, "-m", "keybridge.clipboard", tool.name, str(after)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not killed by the terminal's Ctrl-C or hang-up
        close_fds=True,
    )
    assert helper.stdin is not None
    helper.stdin.write(text.encode("utf-8"))
    helper.stdin.close()


def _helper(argv: list[str]) -> int:
    """``python -m keybridge.clipboard TOOL SECONDS`` with the text on stdin."""
    tool, after = _TOOLS[argv[0]], float(argv[1])
    text = sys.stdin.buffer.read().decode("utf-8")
    time.sleep(after)
    try:
        tool.clear_if_holding(text)
    except ClipboardError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_helper(sys.argv[1:]))
