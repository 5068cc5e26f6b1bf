"""A real Hideez Key seen by a scan: listed as a Hideez Key (its vendor's closed protocol),
never dropped nor mistaken for a keybridge key. The key here is a Bumble peripheral on the
virtual radio advertising Hideez's service UUIDs; the scan is keybridge's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from bumble import data_types, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Device, DeviceConfiguration

from firmware_sim.links.ble_peripheral import attach_virtual_controller, default_address
from keybridge.transport.ble import HIDEEZ_SERVICE_UUIDS, scan

if TYPE_CHECKING:
    from firmware_sim.links.virtual_radio import VirtualRadio
    from keybridge.transport.ble import BleBackend


async def _hideez_key(radio: VirtualRadio, name: str, uuid: str) -> Device:
    config = DeviceConfiguration()
    config.name = name
    config.address = hci.Address(default_address(name))
    device = Device(config=config, host=attach_virtual_controller(radio.link, name))
    await device.power_on()
    advertised = AdvertisingData(
        [
            data_types.CompleteListOf128BitServiceUUIDs([UUID(uuid.upper())]),
            data_types.CompleteLocalName(name),
        ]
    )
    await device.start_advertising(
        advertising_data=bytes(advertised), advertising_interval_min=20, advertising_interval_max=20
    )
    return device


@pytest.mark.parametrize("uuid", HIDEEZ_SERVICE_UUIDS)
async def test_a_hideez_key_is_listed_as_one(
    radio: VirtualRadio, backend: BleBackend, uuid: str
) -> None:
    ours = await radio.add_key(lambda m: [m], name="kb-ours")
    hideez = await _hideez_key(radio, "HK-1", uuid)
    found = {k.name: k for k in await scan(0.3, backend=backend)}
    assert set(found) == {"kb-ours", "HK-1"}
    assert found["HK-1"].vendor == "hideez"
    assert found["HK-1"].address == default_address("HK-1")
    assert (found["kb-ours"].vendor, found["kb-ours"].address) == ("keybridge", ours.address)
    await hideez.stop_advertising()
