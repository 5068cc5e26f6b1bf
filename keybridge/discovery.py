"""Finding keys: running simulators, serial ports, and choosing one when no URL is given.

A simulator announces itself by writing a small file in the user's runtime directory while it
serves (:func:`announce_simulator`); :func:`running_simulators` reads those, skipping files of
processes that died. :func:`resolve_device` picks the device URL for a command.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from keybridge.errors import DeviceNotFoundError, InvalidInputError

__all__ = [
    "AmbiguousDeviceError",
    "FoundDevice",
    "announce_simulator",
    "registry_dir",
    "resolve_device",
    "running_simulators",
    "serial_candidates",
]

# USB vendor ids of serial bridges a key may sit behind (CP210x, FTDI, CH340, nRF/Nordic).
_KEY_USB_VIDS = {0x10C4, 0x0403, 0x1A86, 0x1915}


class AmbiguousDeviceError(InvalidInputError):
    """Several keys are attached and no URL says which one to use."""


@dataclass(frozen=True)
class FoundDevice:
    url: str
    kind: str
    """``simulator``, ``serial``, ``ble`` or ``hideez`` (a Hideez Key: the vendor's protocol)."""
    description: str


def registry_dir() -> Path:
    """Where running simulators announce their device URLs."""
    override = os.environ.get("KEYBRIDGE_RUNTIME_DIR")
    if override:
        return Path(override)
    from platformdirs import user_runtime_dir

    # Without XDG_RUNTIME_DIR platformdirs falls back to a directory under /tmp and warns; the
    # fallback serves as well, and the warning would show on every command without --device.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(user_runtime_dir("keybridge")) / "simulators"


def announce_simulator(url: str, serial: str) -> Path:
    """Record a serving simulator; the caller deletes the returned file when it stops."""
    directory = registry_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{os.getpid()}-{abs(hash(url)) % 10**8}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "serial": serial, "pid": os.getpid()}))
    tmp.replace(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_simulators() -> list[FoundDevice]:
    directory = registry_dir()
    found: list[FoundDevice] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        # A damaged announcement is skipped: it is a simulator's, not the user's data.
        try:
            entry = json.loads(path.read_text("utf-8"))
            url, pid, serial = str(entry["url"]), int(entry["pid"]), str(entry["serial"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        if 0 < pid < 2**31 and _alive(pid):  # 0 and -1 would name a process group or all
            found.append(FoundDevice(url, "simulator", f"simulated key {serial} (pid {pid})"))
    return found


def serial_candidates() -> list[FoundDevice]:
    """Serial ports whose USB bridge a key may use (they are not probed here)."""
    from serial.tools import list_ports

    return [
        FoundDevice(port.device, "serial", port.description or port.device)
        for port in list_ports.comports()
        if port.vid in _KEY_USB_VIDS
    ]


def resolve_device(url: str | None) -> str:
    """The URL to use: the one given, else the only key attached."""
    if url:
        if not url.strip():
            raise InvalidInputError("the device URL is empty: give a path, socket:// or ble:// URL")
        return url
    found = running_simulators() + serial_candidates()
    if len(found) == 1:
        return found[0].url
    if not found:
        raise DeviceNotFoundError(
            "no key found: attach one, start a simulator with `keybridge sim serve`, "
            "or give --device URL (or set KEYBRIDGE_DEVICE)"
        )
    listing = ", ".join(d.url for d in found)
    raise AmbiguousDeviceError(
        f"{len(found)} keys found ({listing}): choose one with --device URL (or set "
        "KEYBRIDGE_DEVICE, or `keybridge config set device URL`)"
    )
