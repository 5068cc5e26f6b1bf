"""``serve --link ble-virtual`` and ``serve --link ble:TRANSPORT``: keys as BLE peripherals.

The same firmware cores as the pty and TCP links (built by :func:`firmware_sim.serve.make_firmware`,
with the same state files and device keys), each behind the keybridge GATT service on Bumble:

- ``ble-virtual``: every key on one virtual radio, which other processes join through a TCP
  relay on loopback; the ``READY`` URLs carry the relay's HCI spec
  (``ble://ADDRESS?hci=tcp-client:127.0.0.1:PORT``), so a host needs nothing else.
- ``ble:TRANSPORT``: one key on a real controller driven by Bumble (any Bumble HCI transport
  spec, e.g. ``usb:0``); the ``READY`` URL is ``ble://ADDRESS``, for the host's own BLE stack.

This path runs on asyncio (Bumble's); the pty and TCP links keep their own reactor and never
import this module.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from keybridge.errors import InvalidInputError

if TYPE_CHECKING:
    from firmware_sim.links.device import Device
    from firmware_sim.serve import ServeOptions
    from keybridge.protocol.fragments import StateFlags

__all__ = ["VIRTUAL", "ble_key_name", "parse_ble_link", "serve_ble_keys"]

log = logging.getLogger(__name__)

VIRTUAL = "ble-virtual"

#: Bumble's HCI transport schemes (bumble.transport.open_transport), and whether the part after
#: the scheme may be empty. Checked here so a typo is a usage error before anything starts.
_SCHEMES: dict[str, bool] = {
    "serial": False,
    "udp": False,
    "tcp-client": False,
    "tcp-server": False,
    "ws-client": False,
    "ws-server": False,
    "usb": False,
    "pyusb": False,
    "unix": False,
    "unix-client": False,
    "unix-server": False,
    "file": False,
    "pty": True,
    "vhci": True,
    "hci-socket": True,
    "android-emulator": True,
    "android-netsim": True,
}


def parse_ble_link(spec: str) -> str:
    """Check ``ble-virtual`` or ``ble:TRANSPORT`` (a Bumble HCI transport spec); return it.

    Raises:
        InvalidInputError: another form, or a transport Bumble does not know.
    """
    if spec == VIRTUAL:
        return spec
    kind, _, transport = spec.partition(":")
    if kind != "ble":
        raise InvalidInputError(f"unknown link {spec!r}: use ble-virtual or ble:TRANSPORT")
    # Bumble specs may start with [metadata]; the scheme follows it.
    bare = transport
    if transport.startswith("["):
        metadata, closed, bare = transport.partition("]")
        if not closed:
            raise InvalidInputError(
                f"link {spec!r}: {metadata!r} opens metadata without ']' (ble:[KEY=VALUE]TRANSPORT)"
            )
    scheme, _, rest = bare.partition(":")
    if not bare:
        raise InvalidInputError(
            f"link {spec!r} names no HCI transport: use ble:TRANSPORT, e.g. ble:usb:0"
        )
    if scheme not in _SCHEMES:
        raise InvalidInputError(
            f"link {spec!r}: {scheme!r} is not a Bumble HCI transport; use "
            "ble:TRANSPORT with one of " + ", ".join(sorted(_SCHEMES)) + " (e.g. ble:usb:0)"
        )
    if not rest and not _SCHEMES[scheme]:
        raise InvalidInputError(
            f"link {spec!r}: the {scheme} transport needs a parameter "
            f"(ble:{scheme}:..., e.g. ble:usb:0 or ble:serial:/dev/ttyACM0)"
        )
    return spec


def ble_key_name(serial: str, taken: set[str]) -> str:
    """The advertised name of a key: ``kb`` and the end of its serial, 8 bytes (advertised
    whole), unique among ``taken``; stable for a state file, and so is the address."""
    name = "kb" + serial[-6:].lower()
    index = 1
    while name in taken:
        name = f"kb{index:06d}"
        index += 1
    taken.add(name)
    return name


def state_flags(device: Device) -> StateFlags:
    """The info characteristic's flags for a firmware core's current state (a device without
    a clock or state, such as a test double, reports none)."""
    from keybridge.protocol.fragments import StateFlags

    flags = StateFlags(0)
    clock = getattr(device, "clock", None)
    state = getattr(device, "state", None)
    if clock is not None and clock.is_set:
        flags |= StateFlags.CLOCK_SET
    if state is not None and state.hosts:
        flags |= StateFlags.PAIRED
    if state is not None and state.pin is not None:
        flags |= StateFlags.PIN_SET
    return flags


def serve_ble_keys(
    options: ServeOptions,
    make_device: Callable[[ServeOptions, Path], Device],
    *,
    stdout: TextIO | None = None,
) -> int:
    """Serve ``options.keys`` keys over BLE until SIGINT/SIGTERM; prints the READY lines.

    Returns the exit status: 0 after a clean stop, 1 if a key could not start, 2 for
    ``--keys`` above 1 on a real controller (one controller advertises one key).
    """
    import asyncio

    out = stdout if stdout is not None else sys.stdout
    if options.link != VIRTUAL and options.keys > 1:
        sys.stderr.write(
            f"python -m firmware_sim serve: error: --link {options.link} serves one key per "
            "controller; use --keys 1, or ble-virtual for several (see --help)\n"
        )
        return 2
    try:
        return asyncio.run(_serve(options, make_device, out))
    except KeyboardInterrupt:  # a SIGINT before the handlers were installed
        return 0


async def _serve(
    options: ServeOptions, make_device: Callable[[ServeOptions, Path], Device], out: TextIO
) -> int:
    import asyncio
    import shutil

    from firmware_sim.links.ble_peripheral import BleKeyPeripheral, serve_ble
    from firmware_sim.links.virtual_radio import VirtualRadio, ble_url
    from firmware_sim.state_files import make_private_dir, state_paths
    from keybridge.errors import KeybridgeError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    tempdir: Path | None = None
    base = options.state
    if base is None:
        tempdir = make_private_dir()
        base = tempdir / "key.state"
    radio: VirtualRadio | None = None
    peripherals: list[BleKeyPeripheral] = []
    keys: list[Device] = []
    announcements: list[Path] = []

    def button(action: str) -> None:
        # The core exposes its Button as ``button``; a device without one has none to press.
        buttons = [getattr(key, "button", None) for key in keys]
        pressed = [b for b in buttons if b is not None and getattr(b, action)()]
        log.info("button %s on %d key(s)", action, len(pressed))

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, button, "press")
        loop.add_signal_handler(signal.SIGUSR2, button, "decline")
        if options.gesture:
            loop.add_signal_handler(signal.SIGURG, _gesture, keys, options.gesture)
        urls: list[str] = []
        names: set[str] = set()
        try:
            if options.link == VIRTUAL:
                radio = VirtualRadio()
            for index, path in enumerate(state_paths(base, options.keys), start=1):
                firmware = make_device(options, path)
                keys.append(firmware)
                name = ble_key_name(str(getattr(firmware, "serial", index)), names)
                extra = {
                    "state_flags": _flags_of(firmware),
                    **_keyboard(options, firmware, name, path),
                }
                if radio is not None:
                    key = await radio.add_key(firmware, name=name, **extra)
                else:
                    transport = options.link.removeprefix("ble:")
                    key = await serve_ble(firmware, transport, name=name, **extra)
                    urls.append(ble_url(key.address))
                peripherals.append(key)
                log.info(
                    "key %d: advertising as %r at %s (state %s)", index, name, key.address, path
                )
            if radio is not None:
                relay = await radio.expose()
                urls = [ble_url(key.address, relay.hci_spec) for key in peripherals]
        except (KeybridgeError, OSError, ValueError) as exc:
            log.error("cannot start: %s", exc)
            return 1
        except Exception as exc:  # Bumble reports a missing controller in its own exceptions
            log.error("cannot start: %s: %s", type(exc).__name__, exc)
            return 1
        out.write("".join(f"READY {url}\n" for url in urls))
        out.flush()
        if options.announce:
            announcements = _announce(urls, keys)
        await stop.wait()
        log.info("stopping")
        return 0
    finally:
        for announcement in announcements:
            announcement.unlink(missing_ok=True)
        if radio is not None:
            await radio.close()
        else:
            for key in peripherals:
                await key.stop()
        if tempdir is not None:
            shutil.rmtree(tempdir, ignore_errors=True)


def _keyboard(options: ServeOptions, firmware: Device, name: str, path: Path) -> dict[str, Any]:
    """The peripheral's ``keyboard`` option for ``--keyboard``: HID over GATT whose bonds live
    in ``STATE.bonds``, given to the core as its keyboard."""
    if not options.keyboard:
        return {}
    from firmware_sim.links.ble_hid import HidKeyboard

    hid = HidKeyboard(
        name=name,
        serial=str(getattr(firmware, "serial", "")),
        bonds=path.with_name(path.name + ".bonds"),
        pairing="just-works" if options.keyboard == "just-works" else "passkey",
        owner=_key_id_of(firmware),
    )
    if hasattr(firmware, "keyboard"):
        firmware.keyboard = hid
    return {"keyboard": hid}


def _key_id_of(firmware: Device) -> Callable[[], bytes] | None:
    state = getattr(firmware, "state", None)
    if state is None or not hasattr(state, "key_id"):
        return None
    return lambda: bytes(firmware.state.key_id)  # type: ignore[attr-defined]


def _gesture(keys: list[Device], spec: str) -> None:
    from firmware_sim.firmware.keyboard_out import Gesture, perform_gesture

    gesture = Gesture.parse(spec)
    for key in keys:
        if hasattr(key, "keyboard"):
            perform_gesture(key, gesture)  # type: ignore[arg-type]  # a Firmware
        else:
            log.warning("%s gesture: this key has no keyboard", gesture.kind)


def _flags_of(firmware: Device) -> Callable[[], StateFlags]:
    return lambda: state_flags(firmware)


def _announce(urls: list[str], keys: list[Device]) -> list[Path]:
    from keybridge.discovery import announce_simulator

    paths = []
    for url, key in zip(urls, keys, strict=True):
        try:
            paths.append(announce_simulator(url, str(getattr(key, "serial", "?"))))
        except OSError as exc:
            log.warning("cannot announce %s: %s", url, exc)
    return paths
