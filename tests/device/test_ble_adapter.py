"""Opt-in: the simulated key as a real BLE peripheral on a Bumble-driven controller, reached by
the OS's own BLE stack through bleak. Needs two radios: a controller Bumble can drive (set
KEYBRIDGE_TEST_PERIPHERAL_HCI, e.g. usb:0) and the host's adapter. Run with --device-tests."""

from __future__ import annotations

import os

import pytest

from firmware_sim.links.ble_peripheral import serve_ble
from keybridge.transport.ble import BleBackend, BleTransport

pytestmark = pytest.mark.device


async def test_real_peripheral_echo() -> None:
    spec = os.environ.get("KEYBRIDGE_TEST_PERIPHERAL_HCI")
    if not spec:
        pytest.skip("set KEYBRIDGE_TEST_PERIPHERAL_HCI to a Bumble HCI transport (e.g. usb:0)")
    key = await serve_ble(lambda message: [message], spec, name="kb-real")
    try:
        link = BleTransport("ble:kb-real", backend=BleBackend.platform(), scan_timeout=15)
        async with link:
            for size in (1, 40, 600):
                await link.send(bytes(size))
                assert await link.receive(5.0) == bytes(size)
    finally:
        await key.stop()
