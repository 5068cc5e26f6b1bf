"""``keybridge doctor``: what this computer has for keybridge, what is missing, how to get it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from keybridge.cli.common import report


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    """What was found (or not)."""
    disables: str
    """What does not work without it (empty when ok)."""
    fix: str
    """How to get it (empty when ok)."""


def _module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _extra(package: str, module: str, extra: str, disables: str) -> Check:
    ok = _module(module)
    return Check(
        package,
        ok,
        "installed" if ok else "not installed",
        "" if ok else disables,
        "" if ok else f"pip install 'keybridge[{extra}]'",
    )


def _x_display() -> Check:
    display = os.environ.get("DISPLAY", "")
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    ok = bool(display)
    found = f"DISPLAY={display}" if ok else "no DISPLAY set"
    local = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if local and not Path(f"/tmp/.X11-unix/X{local.group(1)}").exists():
        ok, found = False, f"DISPLAY={display}, but no X server listens there"
    if wayland:
        found += f", WAYLAND_DISPLAY={wayland}"
    return Check(
        "X display",
        ok,
        found,
        "" if ok else "typing into windows through X11 (XTEST); the hotkey under X11",
        "" if ok else "run inside an X11 session (or XWayland), or use uinput",
    )


def _uinput() -> Check:
    path = Path("/dev/uinput")
    if not path.exists():
        return Check(
            "uinput",
            False,
            "/dev/uinput missing",
            "typing without X (Wayland, console)",
            "sudo modprobe uinput",
        )
    ok = os.access(path, os.W_OK)
    return Check(
        "uinput",
        ok,
        "/dev/uinput writable" if ok else "/dev/uinput not writable by you",
        "" if ok else "typing without X (Wayland, console)",
        "" if ok else "add a udev rule giving your user (or group input) write access",
    )


def _ble_adapter() -> Check:
    adapters = sorted(p.name for p in Path("/sys/class/bluetooth").glob("hci*"))
    ok = bool(adapters)
    return Check(
        "BLE adapter",
        ok,
        ", ".join(adapters) if ok else "none found",
        "" if ok else "BLE keys (`keybridge devices --ble`, ble:// URLs); serial keys still work",
        "" if ok else "plug in a Bluetooth adapter (or a USB dongle) and turn it on (bluetoothctl)",
    )


def _clipboard() -> Check:
    tools = [t for t in ("wl-copy", "xclip", "xsel") if shutil.which(t)]
    ok = bool(tools)
    return Check(
        "clipboard tool",
        ok,
        ", ".join(tools) if ok else "none of wl-copy, xclip, xsel",
        "" if ok else "`keybridge otp code --copy`",
        "" if ok else "install wl-clipboard (Wayland) or xclip (X11)",
    )


def checks() -> list[Check]:
    """Every check, in the order shown."""
    return [
        _extra("bleak", "bleak", "ble", "BLE keys (`devices --ble`, ble:// URLs)"),
        _extra("QR support", "zxingcpp", "qr", "`otp add --qr` and QR codes in the terminal"),
        _extra("evdev", "evdev", "keyboard", "typing through uinput"),
        _extra("Playwright", "playwright", "browser", "`otp type --to browser` (a Chromium page)"),
        _extra("web emulator", "starlette", "web", "`keybridge hes serve` (HES's login pages)"),
        _extra("Locust", "locust", "load", "`keybridge loadtest`"),
        _extra("Bumble", "bumble", "sim-ble", "the simulated key as a BLE peripheral"),
        _x_display(),
        _uinput(),
        _ble_adapter(),
        _clipboard(),
    ]


def render(found: dict[str, list[Check]]) -> str:
    lines = []
    for check in found["checks"]:
        if check.ok:
            lines.append(f"ok       {check.name}: {check.found}")
        else:
            lines.append(f"missing  {check.name}: {check.found}")
            lines.append(f"         without it: {check.disables}")
            lines.append(f"         to get it: {check.fix}")
    return "\n".join(lines)


@click.command()
def doctor() -> None:
    """Check extras, X display, uinput, BLE adapter and clipboard: what each missing piece
    disables and how to get it (exit 0: a report, not a test)."""
    report({"checks": checks()}, render)
