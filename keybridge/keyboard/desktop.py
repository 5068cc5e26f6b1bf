"""The desktop's keyboard layout: what the key must type for, so the desktop's keymap agrees.

In order: the layout asked for, else the X server's (the XKB rules names the server publishes
on its root window, ``_XKB_RULES_NAMES``), else the system's (``localectl``), else ``us``. Only
the first layout of an XKB group list counts ("de,us" is German); one keybridge has no table
for falls back to ``us`` with a warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

from keybridge.errors import InvalidInputError, KeyboardBackendError
from keybridge.keyboard.layouts import get_layout

__all__ = ["DEFAULT_LAYOUT", "desktop_layout", "localectl_layout", "resolve_layout", "xkb_layout"]

DEFAULT_LAYOUT = "us"

log = logging.getLogger(__name__)


def xkb_layout(display: str | None = None) -> str | None:
    """The first XKB layout name the X server ``display`` publishes, or None."""
    if not (display or os.environ.get("DISPLAY")):
        return None
    from keybridge.keyboard.x11 import open_display

    try:
        connection = open_display(display)
    except KeyboardBackendError:
        return None
    try:
        root = connection.screen().root
        atom = connection.intern_atom("_XKB_RULES_NAMES")
        prop = root.get_full_property(atom, 0)
    finally:
        connection.close()
    if prop is None:
        return None
    value = prop.value
    raw = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    names = raw.split("\0")  # rules, model, layout, variant, options
    return _first(names[2]) if len(names) > 2 else None


def localectl_layout() -> str | None:
    """The X11 layout ``localectl status`` reports, or None (no systemd, no answer)."""
    program = shutil.which("localectl")
    if program is None:
        return None
    try:
        result = subprocess.run(
            [program, "status"], capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in result.stdout.splitlines():
        label, _, value = line.partition(":")
        if label.strip() == "X11 Layout":
            return _first(value)
    return None


def _first(names: str) -> str | None:
    first = names.split(",")[0].strip()
    return first or None


def desktop_layout(display: str | None = None) -> str | None:
    """The desktop's layout as a keybridge layout id, or None when it cannot be told."""
    name = xkb_layout(display) or localectl_layout()
    if name is None:
        return None
    try:
        return get_layout(name).id
    except InvalidInputError:
        log.warning(
            "the desktop's keyboard layout %r has no keybridge table; typing for %r (give "
            "--layout to choose)",
            name,
            DEFAULT_LAYOUT,
        )
        return DEFAULT_LAYOUT


def resolve_layout(layout: str | None, display: str | None = None) -> str:
    """``layout`` (checked), else the desktop's, else ``us``: the id the key types for."""
    if layout is not None:
        return get_layout(layout).id
    return desktop_layout(display) or DEFAULT_LAYOUT
