"""BLE transport on bleak: scan, connect, fragment, reassemble, reconnect.

Device URLs (see ``docs/protocol.md`` section 7)::

    ble://ADDRESS            the key at this address (on macOS: the CoreBluetooth UUID)
    ble:NAME                 the key advertising this local name
    ...?hci=SPEC             use a Bumble central on the Bumble HCI transport SPEC instead of
                             the platform's BLE stack, e.g. ?hci=tcp-client:127.0.0.1:40123 to
                             join a simulator started with ``--link ble-virtual``

Without ``hci=``, the environment variable ``KEYBRIDGE_BLE_BACKEND`` decides: ``platform`` (or
unset) uses bleak's backend for this OS; ``bumble:SPEC`` uses a Bumble central on SPEC.

This module imports bleak; import it only on BLE code paths. Bumble is imported only when a
Bumble central is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from keybridge.errors import (
    DeviceNotFoundError,
    FrameError,
    LinkTimeoutError,
    MessageError,
    TransportError,
    VersionMismatchError,
)
from keybridge.protocol.constants import PROTOCOL_VERSION
from keybridge.protocol.fragments import (
    ATT_MAX_MTU,
    ATT_MIN_MTU,
    ATT_VALUE_OVERHEAD,
    INFO_CHAR_UUID,
    RX_CHAR_UUID,
    SERVICE_UUID,
    TX_CHAR_UUID,
    LinkInfo,
    Reassembler,
    fragment,
)
from keybridge.transport.base import Transport
from keybridge.transport.ble_config import (
    BACKEND_ENV,
    BleBackend,
    BleTarget,
    looks_like_address,
    parse_ble_url,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "BACKEND_ENV",
    "BleBackend",
    "BleTarget",
    "BleTransport",
    "FoundKey",
    "parse_ble_url",
    "scan",
    "transport_for_url",
]

log = logging.getLogger(__name__)

_BLEAK_FAILURES = (BleakError, OSError, EOFError, TimeoutError)


# -- scanning ----------------------------------------------------------------------------------


HIDEEZ_SERVICE_UUIDS = (
    "59ac0000-0f4a-ca95-0849-a6670829557f",
    "59ac0001-0f4a-ca95-0849-a6670829557f",
)
"""The GATT services a real Hideez Key advertises: the vendor's closed protocol, not ours."""


@dataclass(frozen=True)
class FoundKey:
    """A key seen advertising the keybridge service, or a Hideez Key (``vendor="hideez"``:
    it speaks Hideez's closed protocol, reached with Hideez Client, not with keybridge)."""

    name: str | None
    address: str
    rssi: int
    hci: str | None = None
    vendor: str = "keybridge"

    @property
    def url(self) -> str:
        """Device URL that reaches this key."""
        return BleTarget(self.address, True, self.hci).url()


async def scan(
    timeout: float = 5.0, *, backend: BleBackend | None = None, hci: str | None = None
) -> list[FoundKey]:
    """Keys advertising the keybridge service, and Hideez Keys (their ``vendor`` says which),
    seen during ``timeout`` seconds, strongest first."""
    owned = backend is None
    chosen = backend or await BleBackend.configured(hci)
    found: dict[str, FoundKey] = {}

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name
        uuids = {u.lower() for u in adv.service_uuids}
        if SERVICE_UUID in uuids:
            vendor = "keybridge"
        elif uuids.intersection(HIDEEZ_SERVICE_UUIDS):
            vendor = "hideez"
        else:  # a backend that does not filter by service
            return
        found[device.address] = FoundKey(name, device.address, adv.rssi, chosen.hci, vendor)

    try:
        scanner = chosen.scanner(
            detection_callback=on_advertisement,
            service_uuids=[SERVICE_UUID, *HIDEEZ_SERVICE_UUIDS],
        )
        await scanner.start()
        try:
            await asyncio.sleep(timeout)
        finally:
            await scanner.stop()
    except _BLEAK_FAILURES as exc:
        raise TransportError(f"BLE scan failed on {chosen.description}: {exc}") from exc
    finally:
        if owned:
            await chosen.aclose()
    return sorted(found.values(), key=lambda k: -k.rssi)


# -- the transport -----------------------------------------------------------------------------


class BleTransport(Transport):
    """A key over BLE: one message per :meth:`send`/:meth:`receive`, fragmented on the wire.

    Args:
        target: a ``ble:`` URL, or a bare address or name.
        backend: bleak backend to use (default: from the URL's ``hci=`` or the environment).
        timeout: bound on each connect attempt and each GATT operation, in seconds.
        scan_timeout: how long to look for the key before giving up.
        connect_attempts: connection tries before failing (scanning is not retried).
        max_protocol_version: newest protocol version this host understands.
    """

    def __init__(
        self,
        target: str,
        *,
        backend: BleBackend | None = None,
        timeout: float = 10.0,
        scan_timeout: float = 5.0,
        connect_attempts: int = 3,
        max_protocol_version: int = PROTOCOL_VERSION,
    ) -> None:
        if target.lower().startswith("ble:"):
            self.target = parse_ble_url(target)
        else:
            self.target = BleTarget(target, looks_like_address(target))
        self.timeout = timeout
        self.scan_timeout = scan_timeout
        self.connect_attempts = max(1, connect_attempts)
        self.max_protocol_version = max_protocol_version
        self.description = self.target.url()
        self.info: LinkInfo | None = None
        self.frame_errors = 0
        self.stale_notifications = 0
        self._backend = backend
        self._owns_backend = backend is None
        self._opened = False
        self._client: BleakClient | None = None
        self._rx: BleakGATTCharacteristic | None = None
        self._tx: BleakGATTCharacteristic | None = None
        self._fragment_size = ATT_MIN_MTU - ATT_VALUE_OVERHEAD
        self._reassembler = Reassembler()
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        # Resolved when the current connection drops; shared by every wait on that connection.
        self._lost: asyncio.Future[None] | None = None
        self._send_lock = asyncio.Lock()

    # -- public API --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a BLE connection to the key is up."""
        return self._client is not None

    @property
    def att_mtu(self) -> int:
        """ATT_MTU in use for writes to the key (23 until connected)."""
        return self._fragment_size + ATT_VALUE_OVERHEAD

    async def open(self) -> None:
        if self._backend is None:
            self._backend = await BleBackend.configured(self.target.hci)
        self._opened = True
        try:
            await self._connect()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._opened = False
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*_BLEAK_FAILURES):
                async with asyncio.timeout(self.timeout):
                    await client.disconnect()
        if self._owns_backend and self._backend is not None:
            backend, self._backend = self._backend, None
            await backend.aclose()

    async def send(self, message: bytes) -> None:
        if not self._opened:
            raise TransportError(f"{self.description} is not open: call open() first")
        if self.info is not None and len(message) > self.info.max_message_size:
            raise MessageError(
                f"message of {len(message)} bytes exceeds the key's limit of "
                f"{self.info.max_message_size} bytes"
            )
        async with self._send_lock:
            if self._client is None:
                log.info("reconnecting to %s", self.description)
                await self._connect()
            client, rx = self._client, self._rx
            assert client is not None and rx is not None
            for part in fragment(message, self._fragment_size):
                if self._is_lost():
                    raise self._lost_error("sending")
                try:
                    async with asyncio.timeout(self.timeout):
                        await client.write_gatt_char(rx, part, response=False)
                except _BLEAK_FAILURES as exc:
                    if self._is_lost():
                        raise self._lost_error("sending") from exc
                    raise TransportError(f"writing to {self.description} failed: {exc}") from exc

    async def receive(self, timeout: float) -> bytes:
        if not self._inbox.empty():
            return self._inbox.get_nowait()
        if not self._opened:
            raise TransportError(f"{self.description} is not open: call open() first")
        if self._client is None:
            raise self._lost_error("waiting for a reply")
        lost = self._lost
        assert lost is not None
        getter = asyncio.ensure_future(self._inbox.get())
        try:
            waiters: set[asyncio.Future[Any]] = {getter, lost}
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        if lost.done():
            raise self._lost_error("waiting for a reply")
        raise LinkTimeoutError(f"no reply from {self.description} within {timeout:g} s")

    # -- connection --------------------------------------------------------------------------

    def _is_lost(self) -> bool:
        return self._lost is None or self._lost.done()

    def _lost_error(self, doing: str) -> TransportError:
        return TransportError(
            f"BLE link to {self.description} was lost while {doing}; the key may be out of "
            "range or switched off. The next operation reconnects."
        )

    async def _connect(self) -> None:
        last: TransportError | None = None
        for attempt in range(1, self.connect_attempts + 1):
            device = await self._find()
            try:
                await self._connect_to(device)
                return
            except (DeviceNotFoundError, VersionMismatchError, FrameError):
                raise
            except TransportError as exc:
                last = exc
                log.info("connect attempt %d to %s failed: %s", attempt, self.description, exc)
                await asyncio.sleep(0.1 * attempt)
        raise TransportError(
            f"could not connect to {self.description} after {self.connect_attempts} attempts "
            f"({last}); move closer to the key or check that no other host holds it"
        )

    async def _find(self) -> BLEDevice:
        assert self._backend is not None
        found: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()
        wanted = self.target.identifier
        by_address = self.target.by_address

        def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
            if found.done():
                return
            if by_address:
                hit = device.address.upper() == wanted.upper()
            else:
                hit = wanted in (adv.local_name, device.name)
            if hit:
                found.set_result(device)

        try:
            scanner = self._backend.scanner(detection_callback=on_advertisement)
            await scanner.start()
            try:
                async with asyncio.timeout(self.scan_timeout):
                    return await found
            finally:
                await scanner.stop()
        except TimeoutError:
            what = "address" if by_address else "name"
            raise DeviceNotFoundError(
                f"no BLE device with {what} {wanted!r} found within {self.scan_timeout:g} s "
                f"({self._backend.description}): is the key on and near? "
                "`keybridge devices` lists the keys in range"
            ) from None
        except _BLEAK_FAILURES as exc:
            raise TransportError(f"BLE scan on {self._backend.description} failed: {exc}") from exc

    async def _connect_to(self, device: BLEDevice) -> None:
        assert self._backend is not None
        client = self._backend.client(
            device, disconnected_callback=self._on_disconnected, timeout=self.timeout
        )
        try:
            async with asyncio.timeout(self.timeout + 1):
                await client.connect()
        except _BLEAK_FAILURES as exc:
            with contextlib.suppress(*_BLEAK_FAILURES):
                await client.disconnect()
            raise TransportError(f"connecting to {self.description} failed: {exc}") from exc
        try:
            await self._set_up(client, device)
        except BaseException:
            with contextlib.suppress(*_BLEAK_FAILURES):
                async with asyncio.timeout(self.timeout):
                    await client.disconnect()
            raise

    async def _set_up(self, client: BleakClient, device: BLEDevice) -> None:
        service = client.services.get_service(SERVICE_UUID)
        chars = (
            [service.get_characteristic(u) for u in (RX_CHAR_UUID, TX_CHAR_UUID, INFO_CHAR_UUID)]
            if service is not None
            else [None]
        )
        if service is None or None in chars:
            raise DeviceNotFoundError(
                f"{device.name or device.address} at {device.address} is not a keybridge key: "
                f"it does not offer the keybridge GATT service {SERVICE_UUID}. "
                "Check the address or name (`keybridge devices` lists the keys in range)"
            )
        rx, tx, info_char = chars
        assert rx is not None and tx is not None and info_char is not None
        try:
            async with asyncio.timeout(self.timeout):
                info = LinkInfo.from_bytes(bytes(await client.read_gatt_char(info_char)))
        except _BLEAK_FAILURES as exc:
            raise TransportError(f"reading the key's info failed: {exc}") from exc
        if info.protocol_version > self.max_protocol_version:
            raise VersionMismatchError(
                f"the key at {device.address} speaks protocol version {info.protocol_version}; "
                f"this keybridge understands up to version {self.max_protocol_version}: "
                "upgrade keybridge"
            )
        size = rx.max_write_without_response_size
        if not ATT_MIN_MTU - ATT_VALUE_OVERHEAD <= size <= ATT_MAX_MTU - ATT_VALUE_OVERHEAD:
            size = client.mtu_size - ATT_VALUE_OVERHEAD
        self._fragment_size = max(ATT_MIN_MTU - ATT_VALUE_OVERHEAD, size)
        # Fresh link, fresh state: a reply from the old connection can never arrive now.
        self._reassembler = Reassembler(max(info.max_message_size, 1))
        self._inbox = asyncio.Queue()
        self._lost = asyncio.get_running_loop().create_future()
        self._client = client
        try:
            async with asyncio.timeout(self.timeout):
                await client.start_notify(tx, self._notification_handler(client))
        except _BLEAK_FAILURES as exc:
            self._client = None
            raise TransportError(f"subscribing to the key's notifications failed: {exc}") from exc
        self._rx, self._tx, self.info = rx, tx, info
        log.info(
            "connected to %s (%s), ATT_MTU %d, protocol v%d",
            device.address,
            device.name,
            self.att_mtu,
            info.protocol_version,
        )

    def _notification_handler(
        self, client: BleakClient
    ) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def on_notification(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            if client is not self._client:
                # From a connection that is gone: its message can only be stale.
                self.stale_notifications += 1
                return
            try:
                message = self._reassembler.feed(bytes(data))
            except FrameError as exc:
                self.frame_errors += 1
                log.warning("%s: %s", self.description, exc)
                return
            if message is not None:
                self._inbox.put_nowait(message)

        return on_notification

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is self._client:
            log.info("BLE link to %s lost", self.description)
            self._client = None
            if self._lost is not None and not self._lost.done():
                self._lost.set_result(None)


def transport_for_url(url: str) -> BleTransport:
    """The transport for a ``ble:`` device URL (not yet open)."""
    return BleTransport(url)
