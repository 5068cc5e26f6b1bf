"""The simulated key as a BLE GATT peripheral on Bumble.

The peripheral exposes the keybridge GATT service (see :mod:`keybridge.protocol.fragments`),
advertises its name and the service UUID, reassembles each connection's writes into messages,
hands every message to a handler (the firmware core's ``handle``) and sends the replies back as
notifications, fragmented to the connection's ATT_MTU.

It runs on any Bumble HCI transport (a USB controller makes it a real BLE peripheral) or on a
virtual controller attached to a Bumble ``LocalLink`` (see :mod:`firmware_sim.links.virtual_radio`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bumble import data_types, gatt, hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from firmware_sim.links.device import FAST_POLL_S, IDLE_POLL_S, tell_connection
from firmware_sim.links.device import Device as KeyDevice  # bumble's Device is the radio's
from keybridge.errors import FrameError
from keybridge.protocol.constants import PROTOCOL_VERSION, MessageType
from keybridge.protocol.fragments import (
    ATT_MIN_MTU,
    DEFAULT_MAX_MESSAGE_SIZE,
    INFO_CHAR_UUID,
    RX_CHAR_UUID,
    SERVICE_UUID,
    TX_CHAR_UUID,
    LinkInfo,
    Reassembler,
    StateFlags,
    fragment,
)

if TYPE_CHECKING:
    from firmware_sim.links.ble_hid import HidKeyboard

log = logging.getLogger(__name__)
_CONTROLLER_LOG = logging.getLogger("bumble.controller")
_HOST_LOG = logging.getLogger("bumble.host")

#: A message handler: one request in, the messages to send back out (sync or async).
MessageHandler = Callable[[bytes], Sequence[bytes] | Awaitable[Sequence[bytes]]]


_KEEPALIVE = bytes([MessageType.KEEPALIVE])
_RESPONSE = bytes([MessageType.RESPONSE])

#: Legacy advertising data holds 31 bytes: flags (3) and the 128-bit service UUID (18) leave 10,
#: so a name of up to 8 bytes is advertised whole. Longer names are advertised shortened and
#: sent whole in the scan response (which real scanners merge; Bumble's virtual link does not).
MAX_ADVERTISED_NAME = 8
#: Advertising interval (ms): the legal minimum, so scans on the virtual link finish quickly.
ADVERTISING_INTERVAL_MS = 20.0
DEFAULT_MAX_MTU = 247


def default_address(name: str) -> str:
    """A static random address derived from ``name`` (stable across restarts)."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] |= 0xC0  # the two top bits mark a static random address
    return ":".join(f"{b:02X}" for b in digest)


def advertising_payloads(name: str, *, keyboard: bool = False) -> tuple[bytes, bytes]:
    """Advertising data and scan response for a key called ``name``.

    A key that is also a keyboard advertises the keyboard appearance and the HID service
    beside the keybridge service; its name then fits only in the scan response.
    """
    flags = data_types.Flags(
        AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
        | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED
    )
    uuids = data_types.CompleteListOf128BitServiceUUIDs([UUID(SERVICE_UUID)])
    encoded = name.encode()
    short: data_types.StringDataType
    if len(encoded) <= MAX_ADVERTISED_NAME:
        short = data_types.CompleteLocalName(name)
    else:
        cut = encoded[:MAX_ADVERTISED_NAME].decode(errors="ignore")
        short = data_types.ShortenedLocalName(cut)
    if keyboard:
        from firmware_sim.links.ble_hid import APPEARANCE_KEYBOARD

        hid = data_types.CompleteListOf16BitServiceUUIDs([UUID.from_16_bits(0x1812)])
        appearance = data_types.Appearance.from_int(APPEARANCE_KEYBOARD)
        adv = bytes(AdvertisingData([flags, hid, uuids, appearance]))  # 29 bytes: no name
    else:
        adv = bytes(AdvertisingData([flags, uuids, short]))
    scan_response = bytes(AdvertisingData([data_types.CompleteLocalName(name)]))
    return adv, scan_response


@dataclass
class LinkStats:
    """ATT packet and message counters (for benchmarks and tests)."""

    att_in: int = 0
    att_out: int = 0
    messages_in: int = 0
    messages_out: int = 0
    frame_errors: int = 0
    connections: int = 0


@dataclass
class _ConnectionState:
    reassembler: Reassembler
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


class BleKeyPeripheral:
    """A keybridge key as a GATT peripheral on a Bumble device.

    Args:
        handler: a firmware core (``handle`` and ``poll``, polled while a host is connected), or
            a callable given each reassembled message that returns the messages to send back.
        name: advertised local name.
        address: static random address (default: derived from ``name``).
        max_mtu: largest ATT_MTU the key accepts in the MTU exchange (23 forces the minimum).
        protocol_version: reported by the info characteristic.
        state_flags: called on each read of the info characteristic.
        on_disconnect: called when a host disconnects (e.g. to drop a secure session).
        keyboard: HID over GATT beside the keybridge service (the key as a BLE keyboard).
    """

    def __init__(
        self,
        handler: MessageHandler | KeyDevice,
        *,
        name: str,
        address: str | None = None,
        max_mtu: int = DEFAULT_MAX_MTU,
        protocol_version: int = PROTOCOL_VERSION,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        state_flags: Callable[[], StateFlags] | None = None,
        on_disconnect: Callable[[], None] | None = None,
        keyboard: HidKeyboard | None = None,
    ) -> None:
        if max_mtu < ATT_MIN_MTU:
            raise ValueError(f"max_mtu must be at least {ATT_MIN_MTU}")
        if callable(handler):
            self._handle: MessageHandler = handler
            self._poll: Callable[[], list[bytes]] | None = None
            self._device_hooks: KeyDevice | None = None
        else:
            self._handle = handler.handle
            self._poll = handler.poll
            self._device_hooks = handler
        self.name = name
        if len(name.encode()) > MAX_ADVERTISED_NAME:
            log.warning(
                "BLE name %r is over %d bytes: advertised shortened (whole in the scan response)",
                name,
                MAX_ADVERTISED_NAME,
            )
        self.address = (address or default_address(name)).upper()
        self.max_mtu = max_mtu
        self.protocol_version = protocol_version
        self.max_message_size = max_message_size
        self.state_flags = state_flags or (lambda: StateFlags(0))
        self.on_disconnect = on_disconnect
        self.keyboard = keyboard
        self.stats = LinkStats()
        self.device: Device | None = None
        self._transport: Transport | None = None
        self._states: dict[Connection, _ConnectionState] = {}
        self._tx_char: gatt.Characteristic[bytes] | None = None
        self._stopping = False
        self._readvertise: asyncio.Task[None] | None = None

    # -- set-up ------------------------------------------------------------------------------

    def _build_device(self, host: Host) -> Device:
        config = DeviceConfiguration()
        config.name = self.name
        config.address = hci.Address(self.address)
        adv, scan_response = advertising_payloads(self.name, keyboard=self.keyboard is not None)
        config.advertising_data = adv
        config.scan_response_data = scan_response
        config.advertising_interval_min = ADVERTISING_INTERVAL_MS
        config.advertising_interval_max = ADVERTISING_INTERVAL_MS
        device = Device(config=config, host=host)
        device.gatt_server.max_mtu = self.max_mtu
        rx: gatt.Characteristic[bytes] = gatt.Characteristic(
            RX_CHAR_UUID,
            gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue[bytes](write=self._on_write),
        )
        tx: gatt.Characteristic[bytes] = gatt.Characteristic(
            TX_CHAR_UUID,
            gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            b"",
        )
        info: gatt.Characteristic[bytes] = gatt.Characteristic(
            INFO_CHAR_UUID,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue[bytes](read=self._read_info),
        )
        device.add_service(gatt.Service(SERVICE_UUID, [rx, tx, info]))
        if self.keyboard is not None:
            self.keyboard.install(device)
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self._tx_char = tx
        return device

    async def start_on_host(self, host: Host, transport: Transport | None = None) -> None:
        """Power on a device on ``host`` and start advertising."""
        self._transport = transport
        self.device = self._build_device(host)
        await self.device.power_on()
        await self.advertise()

    async def advertise(self) -> None:
        """(Re)start connectable advertising."""
        assert self.device is not None
        # Restarted by our own task on disconnection (not Bumble's auto_restart), so that stop()
        # can wait for it: an HCI command still in flight when the loop ends is an error.
        await self.device.start_advertising(auto_restart=False)

    async def stop(self) -> None:
        """Disconnect any host, stop advertising and release the HCI transport."""
        self._stopping = True
        for state in self._states.values():
            if state.worker is not None:
                state.worker.cancel()
        if self.device is not None:
            for connection in list(self.device.connections.values()):
                try:
                    async with asyncio.timeout(2):
                        await connection.disconnect()
                except Exception as exc:  # best effort on shutdown
                    log.debug("disconnect on stop failed: %s", exc)
            if self._readvertise is not None:
                with contextlib.suppress(Exception):
                    await self._readvertise
            await self.device.stop_advertising()
        self._states.clear()
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    async def disconnect_all(self) -> None:
        """Drop every connection (fault injection: the radio link goes away)."""
        assert self.device is not None
        for connection in list(self.device.connections.values()):
            await connection.disconnect()

    async def _advertise_again(self) -> None:
        try:
            await self.advertise()
        except Exception as exc:  # logged; the key stops being visible
            log.warning("%s: cannot advertise again after a disconnection: %s", self.name, exc)

    # -- GATT callbacks ----------------------------------------------------------------------

    def _read_info(self, _connection: Connection) -> bytes:
        info = LinkInfo(self.protocol_version, self.state_flags(), self.max_message_size)
        return info.to_bytes()

    def _on_connection(self, connection: Connection) -> None:
        self.stats.connections += 1
        if self._device_hooks is not None:
            tell_connection(self._device_hooks, "made")
        state = _ConnectionState(Reassembler(self.max_message_size))
        state.worker = asyncio.get_running_loop().create_task(self._serve(connection, state))
        self._states[connection] = state

        def on_disconnection(_reason: int) -> None:
            gone = self._states.pop(connection, None)
            if gone is not None and gone.worker is not None:
                gone.worker.cancel()
            if self._device_hooks is not None:
                tell_connection(self._device_hooks, "lost")
            if self.on_disconnect is not None:
                self.on_disconnect()
            if not self._stopping:
                self._readvertise = asyncio.get_running_loop().create_task(self._advertise_again())

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    def _on_write(self, connection: Connection, value: bytes) -> None:
        self.stats.att_in += 1
        state = self._states.get(connection)
        if state is None:
            return
        try:
            message = state.reassembler.feed(bytes(value))
        except FrameError as exc:
            self.stats.frame_errors += 1
            log.warning("%s: %s", self.name, exc)
            return
        if message is not None:
            self.stats.messages_in += 1
            log.debug("%s: < %s", self.name, message.hex(" "))
            state.inbox.put_nowait(message)

    async def _serve(self, connection: Connection, state: _ConnectionState) -> None:
        # One worker per connection keeps replies in request order; it also polls the core.
        waiting = False
        while True:
            try:
                async with asyncio.timeout(FAST_POLL_S if waiting else IDLE_POLL_S):
                    message = await state.inbox.get()
            except TimeoutError:
                replies: Sequence[bytes] = self._poll() if self._poll is not None else []
            else:
                result = self._handle(message)
                replies = await result if inspect.isawaitable(result) else result
            for reply in replies:
                # A KEEPALIVE means a request waits for the button; its RESPONSE ends the wait.
                if reply[:1] == _KEEPALIVE:
                    waiting = True
                elif reply[:1] == _RESPONSE:
                    waiting = False
                await self._notify(connection, reply)

    async def _notify(self, connection: Connection, message: bytes) -> None:
        assert self.device is not None and self._tx_char is not None
        size = connection.att_mtu - 3
        log.debug("%s: > %s", self.name, message.hex(" "))
        for part in fragment(message, size):
            self.stats.att_out += 1
            await self.device.notify_subscriber(connection, self._tx_char, part)
        self.stats.messages_out += 1


class VirtualController(Controller):
    """Bumble's virtual controller, with LE Create Connection Cancel doing what the spec says.

    The stock one acknowledges the cancel but keeps the connection pending and never completes
    it, so a central whose connect times out hangs, and later connects by surprise when the
    peer advertises again (holding a key nobody uses).
    """

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is not None:
            failed = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            # Deferred so that it follows the command's own Command Complete event.
            asyncio.get_running_loop().call_soon(self.send_hci_packet, failed)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        # The stock controller sends the advertising data again as the scan response: a key
        # that is also a keyboard has its name in its real scan response only.
        if isinstance(
            packet,
            hci.HCI_LE_Advertising_Report_Event | hci.HCI_LE_Extended_Advertising_Report_Event,
        ):
            packet = type(packet)([self._scan_response(report) for report in packet.reports])
        if _CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.host:
            # As the stock one does, without formatting the packet for a debug log that is
            # off: that formatting cost a virtual radio most of its time per packet.
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):  # the same dispatch, unlogged
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Command):
            self.on_hci_command_packet(packet)
        else:
            super().on_hci_packet(packet)

    def _scan_response(self, report: Any) -> Any:
        legacy = hci.HCI_LE_Advertising_Report_Event.EventType.SCAN_RSP
        extended = hci.HCI_LE_Extended_Advertising_Report_Event.EventType.SCAN_RESPONSE
        is_legacy = isinstance(report, hci.HCI_LE_Advertising_Report_Event.Report)
        is_response = report.event_type == legacy if is_legacy else report.event_type & extended
        if not is_response:
            return report
        advertiser = self.link.find_le_controller(report.address) if self.link else None
        if advertiser is None:
            return report
        data = bytes(advertiser.le_legacy_advertiser.scan_response_data)
        for advertising_set in advertiser.advertising_sets.values():
            if advertising_set.random_address == report.address:
                data = bytes(advertising_set.scan_response_data)
        return dataclasses.replace(report, data=bytes(data))


class QuietHost(Host):
    """Bumble's host, without formatting every HCI packet for a debug log that is off (per
    packet, that cost more than the rest of the host's work on a virtual radio)."""

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper is not None or _HOST_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        else:
            super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper is not None or _HOST_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.hci_sink:
            self.hci_sink.on_packet(bytes(packet))


def attach_virtual_controller(link: LocalLink, name: str) -> Host:
    """A Bumble host driving a new virtual controller on ``link``."""
    controller = VirtualController(name, link=link)
    return QuietHost(controller, AsyncPipeSink(controller))


async def serve_ble(
    handler: MessageHandler | KeyDevice,
    hci_transport: str | LocalLink,
    *,
    name: str,
    **options: Any,
) -> BleKeyPeripheral:
    """Serve ``handler`` as a BLE key and return the advertising peripheral.

    ``hci_transport`` is a Bumble HCI transport spec (``usb:0``, ``serial:/dev/ttyACM0``,
    ``tcp-client:HOST:PORT``, ...) or a virtual link. ``options`` go to
    :class:`BleKeyPeripheral`.
    """
    peripheral = BleKeyPeripheral(handler, name=name, **options)
    if isinstance(hci_transport, LocalLink):
        await peripheral.start_on_host(attach_virtual_controller(hci_transport, f"key-{name}"))
    else:
        transport = await open_transport(hci_transport)
        host = QuietHost(transport.source, transport.sink)
        await peripheral.start_on_host(host, transport)
    return peripheral
