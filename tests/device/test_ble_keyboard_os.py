"""Opt-in: the simulated key as a Bluetooth keyboard on a real controller, paired with this
machine's BlueZ: the OS lists a keyboard, and the gesture's reports reach it. Needs a controller
Bumble can drive (KEYBRIDGE_TEST_PERIPHERAL_HCI, e.g. usb:0), the host's own adapter and
``bluetoothctl``. Run with --device-tests."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from firmware_sim.firmware import otp_store
from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.firmware.keyboard_out import Gesture, perform_gesture
from keybridge.protocol.commands import OtpPutRequest

pytestmark = pytest.mark.device

NAME = "kb-os"


async def _bluetoothctl(*args: str, timeout: float = 30) -> str:
    process = await asyncio.create_subprocess_exec(
        "bluetoothctl", "--timeout", str(int(timeout)), *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode(errors="replace")


async def test_the_os_lists_a_keyboard_that_types(tmp_path: Path) -> None:
    spec = os.environ.get("KEYBRIDGE_TEST_PERIPHERAL_HCI")
    if not spec:
        pytest.skip("set KEYBRIDGE_TEST_PERIPHERAL_HCI to a Bumble HCI transport (e.g. usb:0)")
    if shutil.which("bluetoothctl") is None:
        pytest.skip("needs BlueZ's bluetoothctl")
    import time

    from firmware_sim.links.ble_hid import HidKeyboard
    from firmware_sim.links.ble_peripheral import serve_ble

    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    firmware.clock.set(time.time(), False)
    firmware.commit(otp_store.put(firmware.state, OtpPutRequest("hes", b"12345678901234567890")))
    hid = HidKeyboard(name=NAME, bonds=tmp_path / "key.state.bonds", pairing="just-works")
    firmware.keyboard = hid
    key = await serve_ble(firmware, spec, name=NAME, keyboard=hid)
    try:
        await _bluetoothctl("scan", "on", timeout=10)
        await _bluetoothctl("pair", key.address)
        await _bluetoothctl("trust", key.address)
        await _bluetoothctl("connect", key.address)
        info = await _bluetoothctl("info", key.address, timeout=5)
        assert "Paired: yes" in info and "input-keyboard" in info, info
        for _ in range(100):  # BlueZ subscribes to the input report once the link is encrypted
            if hid.host_connected:
                break
            await asyncio.sleep(0.1)
        assert perform_gesture(firmware, Gesture("long-press", "hes"))
        assert hid.reports_sent == 14
        devices = Path("/proc/bus/input/devices").read_text(encoding="utf-8")
        assert NAME in devices  # BlueZ's HID-over-GATT made it an input device
    finally:
        await _bluetoothctl("remove", key.address, timeout=5)
        await key.stop()
