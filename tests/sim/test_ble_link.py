"""The BLE path end to end on an in-process virtual radio: bleak transport -> Bumble central ->
virtual link -> simulated key (Bumble GATT peripheral). Echo handlers stand in for the core."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bumble import data_types, gatt, hci
from bumble.core import AdvertisingData
from bumble.device import Device, DeviceConfiguration

from firmware_sim.links.ble_peripheral import attach_virtual_controller, default_address
from firmware_sim.links.virtual_radio import VirtualRadio
from keybridge.errors import (
    DeviceNotFoundError,
    LinkTimeoutError,
    TransportError,
    VersionMismatchError,
)
from keybridge.protocol.fragments import SERVICE_UUID, StateFlags, fragment, fragment_count
from keybridge.transport.ble import BleBackend, BleTransport, scan

SIZES = [0, 1, 19, 20, 40, 244, 245, 1000, 2048]


def echo(message: bytes) -> list[bytes]:
    return [message]


def transport(target: str, backend: BleBackend, **options: float) -> BleTransport:
    options.setdefault("timeout", 3.0)
    options.setdefault("scan_timeout", 2.0)
    return BleTransport(target, backend=backend, **options)  # type: ignore[arg-type]


async def test_scan_finds_keys_by_service(radio: VirtualRadio, backend: BleBackend) -> None:
    key = await radio.add_key(echo, name="kb-scan")
    # A BLE device without the keybridge service must not be listed.
    other = await _plain_device(radio, "other")
    found = await scan(0.3, backend=backend)
    assert [(k.name, k.address) for k in found] == [("kb-scan", key.address)]
    assert found[0].rssi < 0
    assert found[0].url == f"ble://{key.address}"
    await other.stop_advertising()


@pytest.mark.parametrize("mtu", [23, 247])
async def test_round_trip_sizes(radio: VirtualRadio, backend: BleBackend, mtu: int) -> None:
    key = await radio.add_key(echo, name="kb-echo", max_mtu=mtu)
    async with transport("ble:kb-echo", backend) as link:
        assert link.att_mtu == mtu
        assert link.info is not None and link.info.protocol_version == 1
        for size in SIZES:
            message = bytes(i % 251 for i in range(size))
            before = (key.stats.att_in, key.stats.att_out)
            await link.send(message)
            assert await link.receive(3.0) == message
            expected = fragment_count(size, mtu - 3)
            assert key.stats.att_in - before[0] == expected
            assert key.stats.att_out - before[1] == expected
    assert key.stats.frame_errors == 0


async def test_connect_by_address(radio: VirtualRadio, backend: BleBackend) -> None:
    key = await radio.add_key(echo, name="kb-addr")
    async with transport(f"ble://{key.address.lower()}", backend) as link:
        await link.send(b"ping")
        assert await link.receive(3.0) == b"ping"


async def test_two_keys_chosen_by_name_and_address(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    def tagged(tag: bytes) -> object:
        return lambda message: [tag + message]

    one = await radio.add_key(tagged(b"1:"), name="kb-one")  # type: ignore[arg-type]
    two = await radio.add_key(tagged(b"2:"), name="kb-two")  # type: ignore[arg-type]
    assert one.address != two.address
    found = {k.name: k.address for k in await scan(0.3, backend=backend)}
    assert found == {"kb-one": one.address, "kb-two": two.address}
    for target, tag in [
        ("ble:kb-two", b"2:"),
        ("ble:kb-one", b"1:"),
        (f"ble://{two.address}", b"2:"),
        (f"ble://{one.address}", b"1:"),
    ]:
        async with transport(target, backend) as link:
            await link.send(b"x")
            assert await link.receive(3.0) == tag + b"x"


async def test_disconnect_mid_operation_then_reconnect(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    release = asyncio.Event()

    async def slow_echo(message: bytes) -> Sequence[bytes]:
        if message == b"slow":
            await release.wait()
        return [message]

    key = await radio.add_key(slow_echo, name="kb-drop")
    async with transport("ble:kb-drop", backend) as link:
        await link.send(b"slow")
        waiting = asyncio.ensure_future(link.receive(10.0))
        await asyncio.sleep(0.05)
        await key.disconnect_all()
        with pytest.raises(TransportError, match="lost while waiting") as caught:
            await waiting
        assert not isinstance(caught.value, LinkTimeoutError)
        assert not link.connected
        with pytest.raises(TransportError, match="next operation reconnects"):
            await link.receive(1.0)
        release.set()
        # The next call reconnects (the key advertises again after the drop).
        await link.send(b"again")
        assert await link.receive(3.0) == b"again"
        assert key.stats.connections == 2


async def test_notifications_of_a_dropped_connection_are_ignored(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    key = await radio.add_key(echo, name="kb-late")
    link = transport("ble:kb-late", backend)
    handlers = []
    make_handler = link._notification_handler

    def recording(client: object) -> object:
        handlers.append(make_handler(client))  # type: ignore[arg-type]
        return handlers[-1]

    link._notification_handler = recording  # type: ignore[assignment,method-assign]
    async with link:
        await link.send(b"first")
        assert await link.receive(3.0) == b"first"
        await key.disconnect_all()
        await link.send(b"second")  # reconnects
        # A notification the old connection's backend delivers late: a whole message.
        handlers[0](None, bytearray(fragment(b"stale", 243)[0]))  # type: ignore[arg-type]
        assert link.stale_notifications == 1
        assert await link.receive(3.0) == b"second"
        assert key.stats.connections == 2


async def test_receive_times_out(radio: VirtualRadio, backend: BleBackend) -> None:
    await radio.add_key(lambda message: [], name="kb-mute")
    async with transport("ble:kb-mute", backend) as link:
        await link.send(b"anyone?")
        with pytest.raises(LinkTimeoutError, match="no reply"):
            await link.receive(0.2)


async def test_unknown_key_is_not_found(radio: VirtualRadio, backend: BleBackend) -> None:
    await radio.add_key(echo, name="kb-here")
    link = transport("ble:kb-absent", backend, scan_timeout=0.3)
    with pytest.raises(DeviceNotFoundError, match="no BLE device with name 'kb-absent'"):
        await link.open()


async def test_device_without_service_is_rejected(radio: VirtualRadio, backend: BleBackend) -> None:
    other = await _plain_device(radio, "notakey")
    link = transport("ble:notakey", backend)
    with pytest.raises(DeviceNotFoundError, match="is not a keybridge key"):
        await link.open()
    await other.stop_advertising()


async def test_newer_protocol_version_is_refused(radio: VirtualRadio, backend: BleBackend) -> None:
    await radio.add_key(echo, name="kb-v9", protocol_version=9)
    link = transport("ble:kb-v9", backend)
    with pytest.raises(VersionMismatchError, match=r"version 9.*up to version 1"):
        await link.open()


async def test_info_flags_and_limits(radio: VirtualRadio, backend: BleBackend) -> None:
    await radio.add_key(
        echo,
        name="kb-info",
        state_flags=lambda: StateFlags.CLOCK_SET | StateFlags.PAIRED,
        max_message_size=512,
    )
    async with transport("ble:kb-info", backend) as link:
        assert link.info is not None
        assert link.info.flags == StateFlags.CLOCK_SET | StateFlags.PAIRED
        with pytest.raises(Exception, match="exceeds the key's limit of 512"):
            await link.send(bytes(513))


async def test_bad_fragments_are_dropped_by_the_key(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    key = await radio.add_key(echo, name="kb-frag")
    async with transport("ble:kb-frag", backend) as link:
        client, rx = link._client, link._rx  # a misbehaving host, below the transport
        assert client is not None and rx is not None
        await client.write_gatt_char(rx, b"\x05orphan", response=False)
        await client.write_gatt_char(rx, b"\x80start", response=False)
        await client.write_gatt_char(rx, b"\x02gap", response=False)
        await link.send(b"fine")
        assert await link.receive(3.0) == b"fine"
    assert key.stats.frame_errors == 2


async def test_partial_message_never_reaches_the_key(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    seen: list[bytes] = []

    def record(message: bytes) -> list[bytes]:
        seen.append(message)
        return [message]

    key = await radio.add_key(record, name="kb-part", max_mtu=23)
    async with transport("ble:kb-part", backend) as link:
        client, rx = link._client, link._rx
        assert client is not None and rx is not None
        await client.write_gatt_char(rx, b"\x80first half of a put", response=False)
        await asyncio.sleep(0.02)
        await key.disconnect_all()
        # The next connection starts with a fresh reassembler: the half message is gone.
        await link.send(b"\x01whole")
        assert await link.receive(3.0) == b"\x01whole"
    assert seen == [b"\x01whole"]
    assert key.stats.frame_errors == 0


async def test_backend_connect_times_out_then_succeeds(
    radio: VirtualRadio, backend: BleBackend
) -> None:
    key = await radio.add_key(echo, name="kb-gone")
    [found] = await scan(0.2, backend=backend)
    assert key.device is not None
    await key.device.stop_advertising()  # the key vanishes between scan and connect
    client = backend.client(_ble_device(found.address), timeout=0.3)
    with pytest.raises(BleakError, match="timed out"):
        await client.connect()
    await key.advertise()
    await client.connect()
    assert client.is_connected and client.mtu_size == 247
    assert client.services.get_service(SERVICE_UUID) is not None
    await client.disconnect()
    assert not client.is_connected


def _ble_device(address: str) -> BLEDevice:
    return BLEDevice(address, None, None)


async def test_send_before_open_is_an_error(backend: BleBackend) -> None:
    with pytest.raises(TransportError, match="not open"):
        await transport("ble:kb-x", backend).send(b"x")


async def _plain_device(radio: VirtualRadio, name: str) -> Device:
    """A BLE peripheral advertising a name but offering only an unrelated (battery) service."""
    config = DeviceConfiguration()
    config.name = name
    config.address = hci.Address(default_address(name))
    device = Device(config=config, host=attach_virtual_controller(radio.link, name))
    device.add_service(gatt.Service("180F", []))
    await device.power_on()
    name_only = AdvertisingData([data_types.CompleteLocalName(name)])
    await device.start_advertising(
        advertising_data=bytes(name_only), advertising_interval_min=20, advertising_interval_max=20
    )
    return device


def test_service_uuid_is_128_bit() -> None:
    assert len(SERVICE_UUID) == 36
