"""A Bumble central playing an OS's Bluetooth HID host, for tests and benchmarks.

It does what BlueZ, Windows or macOS do with a BLE keyboard: connect, bond (typing the passkey
the key shows, or Just Works), find the HID service's input report by its Report Reference,
subscribe to it and take every report it notifies. On a reconnection it encrypts with the
bond's key instead of pairing again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bumble import att, gatt, hci
from bumble.device import Connection, Device, DeviceConfiguration, Peer
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate

from firmware_sim.links.ble_hid import REPORT_ID

__all__ = ["HidHost"]

Passkey = Callable[[], Awaitable[int]]
"""Where the user reads the passkey from (the key's display)."""


class _TypePasskey(PairingDelegate):
    def __init__(self, passkey: Passkey | None) -> None:
        io = (
            PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
            if passkey is None
            else PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY
        )
        super().__init__(io_capability=io)
        self.passkey = passkey

    async def get_number(self) -> int | None:
        return None if self.passkey is None else await self.passkey()


class HidHost:
    """An OS's HID host on ``host`` (a Bumble host: a virtual controller or a real one)."""

    def __init__(self, host: Host, *, address: str = "C0:0A:11:11:11:11") -> None:
        config = DeviceConfiguration()
        config.name = "hid-host"
        config.address = hci.Address(address)
        self.device = Device(config=config, host=host)
        self.device.keystore = MemoryKeyStore()  # the OS's own bonds
        self.reports: asyncio.Queue[bytes] = asyncio.Queue()
        self.connection: Connection | None = None
        self._started = False

    async def connect(self, address: str, timeout: float = 10.0) -> Connection:
        """Connect to the key at ``address`` (its static random address)."""
        if not self._started:
            await self.device.power_on()
            self._started = True
        self.connection = await self.device.connect(
            hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS), timeout=timeout
        )
        return self.connection

    async def bond(self, passkey: Passkey | None = None) -> None:
        """Pair and bond (LE Secure Connections): ``passkey`` types what the key shows;
        None pairs Just Works."""
        assert self.connection is not None
        delegate = _TypePasskey(passkey)
        self.device.pairing_config_factory = lambda _c: PairingConfig(
            sc=True, mitm=passkey is not None, bonding=True, delegate=delegate
        )
        await self.connection.pair()

    async def encrypt(self) -> None:
        """Encrypt the link with the bond's key (a bonded OS reconnecting)."""
        assert self.connection is not None
        await self.connection.encrypt()

    async def subscribe(self) -> None:
        """Find the input report (Report Reference: report ID 1, input) and subscribe."""
        assert self.connection is not None
        peer = Peer(self.connection)
        [service] = await peer.discover_service(gatt.GATT_HUMAN_INTERFACE_DEVICE_SERVICE)
        for char in await peer.discover_characteristics(
            uuids=[gatt.GATT_REPORT_CHARACTERISTIC], service=service
        ):
            for descriptor in await peer.discover_descriptors(char):
                if descriptor.type == gatt.GATT_REPORT_REFERENCE_DESCRIPTOR:
                    reference = bytes(await descriptor.read_value())
                    if reference == bytes([REPORT_ID, 1]):
                        await peer.subscribe(char, self.reports.put_nowait)
                        self._take_notifications(char.handle)
                        return
        raise AssertionError("the key has no input report")

    def _take_notifications(self, handle: int) -> None:
        # As an OS's HID driver does, a notification of the input report is a key event taken
        # as it arrives; Bumble's GATT client would first format it for its debug log.
        assert self.connection is not None and self.connection.gatt_client is not None
        client = self.connection.gatt_client
        on_gatt_pdu = client.on_gatt_pdu

        def on_pdu(pdu: att.ATT_PDU) -> None:
            if (
                isinstance(pdu, att.ATT_Handle_Value_Notification)
                and pdu.attribute_handle == handle
            ):
                self.reports.put_nowait(bytes(pdu.attribute_value))
            else:
                on_gatt_pdu(pdu)

        client.on_gatt_pdu = on_pdu  # type: ignore[method-assign,assignment]

    async def take(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The next ``count`` reports the key sent."""
        async with asyncio.timeout(timeout):
            return [bytes(await self.reports.get()) for _ in range(count)]

    async def disconnect(self) -> None:
        if self.connection is not None:
            await self.connection.disconnect()
            self.connection = None
