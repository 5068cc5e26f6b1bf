"""A bleak backend over a Bumble central: keybridge's bleak code on a Bumble HCI transport.

:class:`BumbleCentral` is a Bumble device acting as BLE central on any Bumble HCI transport
(``tcp-client:127.0.0.1:PORT`` to join a simulator's virtual radio, ``usb:0`` for a USB
controller, ...) or on an in-process virtual link. :class:`BumbleBleakScanner` and
:class:`BumbleBleakClient` implement bleak's backend interfaces on it; pass them to
``BleakScanner(backend=...)``/``BleakClient(backend=...)`` with ``bumble_central=central``.

Only what keybridge uses is implemented: scanning with advertisement data, connect with an MTU
exchange, service discovery, reads, writes (with or without response), notifications,
disconnect. Pairing raises :class:`NotImplementedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak.uuids import normalize_uuid_str
from bumble import hci
from bumble.core import UUID, AdvertisingData, BaseBumbleError
from bumble.core import TimeoutError as BumbleTimeoutError
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy
from bumble.host import Host
from bumble.transport import open_transport
from bumble.transport.common import Transport

if TYPE_CHECKING:
    from bleak.args import SizedBuffer

log = logging.getLogger(__name__)

#: MTU the client asks for in the exchange (the peripheral may grant less).
DEFAULT_REQUESTED_MTU = 517

_PROPERTY_NAMES: dict[Characteristic.Properties, str] = {
    Characteristic.Properties.BROADCAST: "broadcast",
    Characteristic.Properties.READ: "read",
    Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    Characteristic.Properties.WRITE: "write",
    Characteristic.Properties.NOTIFY: "notify",
    Characteristic.Properties.INDICATE: "indicate",
    Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}

_UUID_LIST_TYPES = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def uuid_str(uuid: UUID) -> str:
    """A Bumble UUID in bleak's normalised form (lowercase, 128-bit)."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


def address_key(address: str) -> str:
    """Canonical form of an address string for look-ups (no type suffix, upper case)."""
    return address.split("/")[0].upper()


AdvertisementListener = Callable[[Advertisement], None]


class BumbleCentral:
    """A Bumble device used as BLE central by the bleak backend classes.

    Create it with :meth:`open` (HCI transport spec), or from a Bumble ``Host`` (e.g. on a
    virtual controller: ``BumbleCentral(radio.attach_host())``); :meth:`close` when done.
    """

    def __init__(self, host: Host, transport: Transport | None = None) -> None:
        config = DeviceConfiguration()
        config.name = "keybridge-host"
        config.address = hci.Address(_random_static_address())
        self.device = Device(config=config, host=host)
        self.description = "virtual link" if transport is None else "Bumble HCI transport"
        self._transport = transport
        self._started = False
        self._start_lock = asyncio.Lock()
        self._listeners: list[AdvertisementListener] = []
        self._scan_users = 0
        self._scan_lock = asyncio.Lock()
        #: Every advertiser seen since start: address key -> (address, last local name).
        self.seen: dict[str, tuple[hci.Address, str | None]] = {}
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)

    @classmethod
    async def open(cls, hci_spec: str) -> BumbleCentral:
        """A central on the Bumble HCI transport ``hci_spec`` (not yet started)."""
        try:
            transport = await open_transport(hci_spec)
        except (OSError, BaseBumbleError, ValueError) as exc:
            raise BleakError(f"cannot open Bumble HCI transport {hci_spec!r}: {exc}") from exc
        central = cls(Host(transport.source, transport.sink), transport)
        central.description = f"Bumble HCI transport {hci_spec}"
        return central

    async def start(self) -> None:
        """Reset the controller and bring the device up (idempotent)."""
        async with self._start_lock:
            if not self._started:
                await self.device.power_on()
                self._started = True

    async def close(self) -> None:
        """Disconnect everything and release the HCI transport."""
        if self._started:
            for connection in list(self.device.connections.values()):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await connection.disconnect()
            self._started = False
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    # -- scanning ----------------------------------------------------------------------------

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        name = advertisement.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or (
            advertisement.data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
        )
        key = address_key(advertisement.address.to_string(False))
        previous = self.seen.get(key)
        self.seen[key] = (advertisement.address, name or (previous[1] if previous else None))
        for listener in list(self._listeners):
            listener(advertisement)

    async def start_scanning(self, listener: AdvertisementListener, active: bool = True) -> None:
        """Deliver advertisements to ``listener`` until :meth:`stop_scanning`."""
        await self.start()
        async with self._scan_lock:
            self._listeners.append(listener)
            self._scan_users += 1
            if self._scan_users == 1:
                await self.device.start_scanning(active=active, filter_duplicates=False)

    async def stop_scanning(self, listener: AdvertisementListener) -> None:
        """Stop delivering to ``listener`` (and stop the radio scan when nobody listens)."""
        async with self._scan_lock:
            if listener not in self._listeners:
                return
            self._listeners.remove(listener)
            self._scan_users -= 1
            if self._scan_users == 0 and self._started:
                await self.device.stop_scanning()

    async def resolve(self, address: str, timeout: float) -> hci.Address:
        """The typed address of an advertiser, scanning up to ``timeout`` s if not yet seen."""
        key = address_key(address)
        if key in self.seen:
            return self.seen[key][0]
        found: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

        def listener(advertisement: Advertisement) -> None:
            if address_key(advertisement.address.to_string(False)) == key and not found.done():
                found.set_result(advertisement.address)

        await self.start_scanning(listener)
        try:
            async with asyncio.timeout(timeout):
                return await found
        except TimeoutError:
            raise BleakDeviceNotFoundError(
                address, f"no BLE device with address {address} advertised within {timeout} s"
            ) from None
        finally:
            await self.stop_scanning(listener)


def _random_static_address() -> str:
    raw = bytearray(secrets.token_bytes(6))
    raw[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in raw)


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """Bleak's view of a Bumble advertisement."""
    data = advertisement.data
    uuids: list[str] = []
    for ad_type in _UUID_LIST_TYPES:
        listed = data.get(ad_type)
        if isinstance(listed, list):
            uuids.extend(uuid_str(u) for u in listed if isinstance(u, UUID))
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME
    )
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    return AdvertisementData(
        local_name=name,
        manufacturer_data={},
        service_data={},
        service_uuids=uuids,
        tx_power=tx_power if isinstance(tx_power, int) else None,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


class BumbleBleakScanner(BaseBleakScanner):
    """``BaseBleakScanner`` on a :class:`BumbleCentral` (keyword argument ``bumble_central``)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bumble_central: BumbleCentral,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._central = bumble_central
        self._active = scanning_mode == "active"

    async def start(self) -> None:
        self.seen_devices = {}
        await self._central.start_scanning(self._on_advertisement, self._active)

    async def stop(self) -> None:
        await self._central.stop_scanning(self._on_advertisement)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = advertisement.address.to_string(False)
        previous = self.seen_devices.get(address)
        if adv.local_name is None and previous is not None:
            adv = adv._replace(local_name=previous[1].local_name)
        device = self.create_or_update_device(
            address, address, adv.local_name, advertisement.address, adv
        )
        self.call_detection_callbacks(device, adv)


class BumbleBleakClient(BaseBleakClient):
    """``BaseBleakClient`` on a :class:`BumbleCentral` (keyword argument ``bumble_central``).

    Extra keyword argument ``bumble_mtu``: the MTU requested in the exchange after connecting.
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        bumble_central: BumbleCentral,
        bumble_mtu: int = DEFAULT_REQUESTED_MTU,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._central = bumble_central
        self._requested_mtu = bumble_mtu
        self._target = (
            address_or_ble_device.details
            if isinstance(address_or_ble_device, BLEDevice)
            and isinstance(address_or_ble_device.details, hci.Address)
            else None
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    # -- connection --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        seen = self._central.seen.get(address_key(self.address))
        return seen[1] if seen and seen[1] else self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if pair:
            log.info("Bumble backend: pairing before connect is not supported; ignored")
        await self._central.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        try:
            target = self._target or await self._central.resolve(self.address, self._timeout)
            # Bumble's own timeout cancels the pending LE connection cleanly.
            connection = await self._central.device.connect(
                target, timeout=max(0.1, deadline - loop.time())
            )
            self._connection = connection
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            async with asyncio.timeout(max(0.1, deadline - loop.time())):
                self._peer = Peer(connection)
                await self._peer.request_mtu(self._requested_mtu)
                self.services = await self._discover(self._peer)
        except (TimeoutError, BumbleTimeoutError):
            await self._abort()
            raise BleakError(
                f"connecting to {self.address} timed out after {self._timeout} s"
            ) from None
        except BaseBumbleError as exc:
            await self._abort()
            raise BleakError(f"connecting to {self.address} failed: {exc}") from exc

    async def _abort(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await self._connection.disconnect()
        self._forget()

    def _forget(self) -> None:
        self._connection = None
        self._peer = None
        self._subscriptions.clear()

    def _on_disconnection(self, _reason: int) -> None:
        was_connected = self._connection is not None
        self._forget()
        if was_connected and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await connection.disconnect()
        except (TimeoutError, BaseBumbleError) as exc:
            log.debug("disconnect from %s: %s", self.address, exc)
        self._forget()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the Bumble bleak backend does not pair")

    async def unpair(self) -> None:
        raise NotImplementedError("the Bumble bleak backend does not pair")

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        services: list[ServiceProxy] = await peer.discover_services()
        for service in services:
            bleak_service = BleakGATTService(service, service.handle, uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for char in await peer.discover_characteristics(service=service):
                bleak_char = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    uuid_str(char.uuid),
                    cast(Any, list(_property_names(char.properties))),
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                descriptors: list[DescriptorProxy] = await peer.discover_descriptors(char)
                for descriptor in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, uuid_str(descriptor.type), bleak_char
                        )
                    )
        return collection

    # -- I/O ---------------------------------------------------------------------------------

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        with _bumble_errors(f"reading {characteristic.uuid}"):
            return bytearray(await peer.read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        with _bumble_errors(f"reading descriptor {descriptor.uuid}"):
            return bytearray(await peer.read_value(descriptor.obj))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        with _bumble_errors(f"writing {characteristic.uuid}"):
            await peer.write_value(characteristic.obj, bytes(data), with_response=response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        with _bumble_errors(f"writing descriptor {descriptor.uuid}"):
            await peer.write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        with _bumble_errors(f"subscribing to {characteristic.uuid}"):
            await peer.subscribe(proxy, subscriber)
        self._subscriptions[characteristic.handle] = subscriber

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        subscriber = self._subscriptions.pop(characteristic.handle, None)
        with _bumble_errors(f"unsubscribing from {characteristic.uuid}"):
            await peer.unsubscribe(characteristic.obj, subscriber)


def _property_names(properties: Characteristic.Properties) -> Iterator[str]:
    for flag, name in _PROPERTY_NAMES.items():
        if properties & flag:
            yield name


@contextlib.contextmanager
def _bumble_errors(what: str) -> Iterator[None]:
    """Turn Bumble's exceptions into bleak's, as any bleak backend would."""
    try:
        yield
    except BaseBumbleError as exc:
        raise BleakError(f"{what} failed: {exc}") from exc
