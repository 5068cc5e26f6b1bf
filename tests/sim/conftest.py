"""Fixtures shared by the simulator tests: a virtual BLE radio and a host central on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from firmware_sim.links.virtual_radio import VirtualRadio
    from keybridge.transport.ble import BleBackend


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    """An in-process virtual radio for keys (BLE peripherals) and hosts; closed after the test."""
    # Bumble loads only for the tests that use the radio.
    from firmware_sim.links.virtual_radio import VirtualRadio

    radio = VirtualRadio()
    yield radio
    await radio.close()


@pytest.fixture
async def backend(radio: VirtualRadio) -> AsyncIterator[BleBackend]:
    """The host's BLE backend: a Bumble central attached to ``radio``."""
    from keybridge.transport.ble import BleBackend
    from keybridge.transport.bumble_backend import BumbleCentral

    central = BumbleCentral(radio.attach_host("host"))
    yield BleBackend.on_central(central)
    await central.close()
