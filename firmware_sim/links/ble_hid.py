"""The key as a Bluetooth keyboard: HID over GATT beside the keybridge service.

:class:`HidKeyboard` adds to the key's Bumble device the HID service (0x1812: a boot-keyboard
report map, the input report with its Report Reference, the boot keyboard input and output
reports, HID information, control point, protocol mode), Device Information (0x180A) and
Battery (0x180F), and LE Secure Connections bonding: the key shows a passkey on its log (the
OS asks the user to type it), or pairs Just Works when asked. Bonds are kept in a file beside
the key's state (:class:`BondStore`), so a host stays paired across restarts.

Every HID characteristic needs an encrypted link to be read or subscribed to, and reports go
only to connections that are encrypted *and* bonded: a central that never bonded receives
nothing. The core types through it as a :class:`~firmware_sim.firmware.keyboard_out.KeyboardOut`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from bumble import gatt
from bumble.device import Connection, Device
from bumble.keys import KeyStore, PairingKeys
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from keybridge.keyboard.reports import REPORT_SIZE

__all__ = ["APPEARANCE_KEYBOARD", "REPORT_MAP", "BondStore", "HidKeyboard", "PairingMode"]

log = logging.getLogger(__name__)

APPEARANCE_KEYBOARD = 0x03C1
"""GAP appearance "Keyboard" (HID subtype of the Human Interface Device category)."""

REPORT_ID = 1
# A boot-protocol keyboard (modifiers, reserved byte, six keys; five LEDs out) under report ID 1.
REPORT_MAP = bytes.fromhex(
    "05 01 09 06 a1 01 85 01"  # Generic Desktop, Keyboard, Application, Report ID 1
    "05 07 19 e0 29 e7 15 00 25 01 75 01 95 08 81 02"  # 8 modifier bits
    "95 01 75 08 81 01"  # reserved byte
    "95 05 75 01 05 08 19 01 29 05 91 02 95 01 75 03 91 01"  # 5 LEDs and padding (output)
    "95 06 75 08 15 00 25 65 05 07 19 00 29 65 81 00"  # 6 key codes
    "c0"
)
HID_INFORMATION = bytes([0x11, 0x01, 0x00, 0x02])
"""bcdHID 1.11, no country code, flags: normally connectable."""
_INPUT, _OUTPUT = 1, 2
_PROTOCOL_REPORT = 1
_NOTIFY = bytes([0x1B])  # ATT_HANDLE_VALUE_NTF

PairingMode = Literal["passkey", "just-works"]

_ENCRYPTED_READ = gatt.Characteristic.READ_REQUIRES_ENCRYPTION
_ENCRYPTED_RW = gatt.Characteristic.READ_REQUIRES_ENCRYPTION | (
    gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION
)


class BondStore(KeyStore):
    """Bumble's key store in a JSON file (0600, written atomically: temp file, fsync, rename).

    The file holds the bonded hosts' link keys; it sits beside the key's state file, as BlueZ
    keeps its bonds under ``/var/lib/bluetooth``, readable by the key's owner only. ``owner``
    gives the key's current identity (its key id): bonds made under another one (before a
    factory reset) are forgotten, so a reset key types to no computer it knew before.
    """

    def __init__(self, path: Path | None, owner: Callable[[], bytes] | None = None) -> None:
        self.path = path
        self._owner = owner
        self._owner_id: str | None = None
        self._keys: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict) or not isinstance(loaded.get("peers"), dict):
                    raise ValueError("not a bond file")
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"the bond file {path} cannot be used ({exc}): remove it, and pair the "
                    "computers with the key again"
                ) from None
            self._owner_id = loaded.get("owner")
            self._keys = loaded["peers"]
        self._check_owner()

    @property
    def names(self) -> set[str]:
        """The bonded peers' addresses."""
        self._check_owner()
        return set(self._keys)

    def _check_owner(self) -> None:
        if self._owner is None:
            return
        current = self._owner().hex()
        if self._owner_id == current:
            return
        if self._keys:
            log.warning("the key was reset: its %d Bluetooth bonds are forgotten", len(self._keys))
        self._keys.clear()
        self._owner_id = current
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        temp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"owner": self._owner_id, "peers": self._keys}, out, sort_keys=True, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)

    async def delete(self, name: str) -> None:
        self._keys.pop(name, None)
        self._save()

    async def update(self, name: str, keys: PairingKeys) -> None:
        self._check_owner()
        self._keys.setdefault(name, {}).update(keys.to_dict())
        self._save()
        log.info("bonded with %s", name)

    async def get(self, name: str) -> PairingKeys | None:
        self._check_owner()
        keys = self._keys.get(name)
        return None if keys is None else PairingKeys.from_dict(keys)

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        self._check_owner()
        return [(name, PairingKeys.from_dict(keys)) for name, keys in self._keys.items()]

    async def delete_all(self) -> None:
        self._keys.clear()
        self._save()


class _ShowPasskey(PairingDelegate):
    """The key's side of pairing: it displays (logs) the passkey the OS asks the user for."""

    def __init__(self, keyboard: HidKeyboard, io: PairingDelegate.IoCapability) -> None:
        super().__init__(io_capability=io)
        self.keyboard = keyboard

    async def display_number(self, number: int, digits: int) -> None:
        self.keyboard.passkey = f"{number:0{digits}d}"
        log.warning("%s: Bluetooth pairing passkey %s", self.keyboard.name, self.keyboard.passkey)
        if self.keyboard.on_passkey is not None:
            self.keyboard.on_passkey(self.keyboard.passkey)


class HidKeyboard:
    """The key's own keyboard: HID over GATT services, bonding and the report queue.

    Args:
        name: the key's name (for its log lines).
        serial: the key's serial number (Device Information).
        bonds: the bond file (None: bonds live in memory).
        pairing: ``passkey`` (the key shows a 6-digit passkey) or ``just-works``.
        on_passkey: called with each passkey the key shows.
        owner: the key's identity (its key id; see :class:`BondStore`).
    """

    def __init__(
        self,
        *,
        name: str,
        serial: str = "",
        bonds: Path | None = None,
        pairing: PairingMode = "passkey",
        on_passkey: Callable[[str], None] | None = None,
        owner: Callable[[], bytes] | None = None,
    ) -> None:
        self.name = name
        self.serial = serial
        self.store = BondStore(bonds, owner)
        self.pairing: PairingMode = pairing
        self.on_passkey = on_passkey
        self.passkey: str | None = None
        """The last passkey the key showed."""
        self.reports_sent = 0
        self.on_report: Callable[[bytes], None] | None = None
        """Called after each report went out (benchmarks)."""
        self.device: Device | None = None
        self._input: gatt.Characteristic[bytes] | None = None
        self._boot_input: gatt.Characteristic[bytes] | None = None
        self._protocol_mode = _PROTOCOL_REPORT

    # -- KeyboardOut -------------------------------------------------------------------------

    @property
    def host_connected(self) -> bool:
        return bool(self._hosts())

    @property
    def busy(self) -> bool:
        """The radio still holds packets the controller has not sent (an earlier code's)."""
        queue = self.device.host.le_acl_packet_queue if self.device is not None else None
        return queue is not None and queue.pending > 0

    def send(self, reports: bytes) -> None:
        """Hand every report to the Bluetooth stack now, in order (it queues them for the
        controller, which sends them as its connection events come)."""
        assert self.device is not None
        hosts = self._hosts()
        if not hosts:
            log.warning("%s: no bonded host connected; the reports are dropped", self.name)
            return
        char = self._input if self._protocol_mode == _PROTOCOL_REPORT else self._boot_input
        assert char is not None
        server = self.device.gatt_server
        prefix = _NOTIFY + char.handle.to_bytes(2, "little")
        for offset in range(0, len(reports), REPORT_SIZE):
            report = reports[offset : offset + REPORT_SIZE]
            for connection in hosts:
                # The ATT notification sent directly: Bumble's notify_subscriber formats each
                # one for its debug log, which costs more than sending it.
                cccd = server.subscribers.get(connection, {}).get(char.handle)
                if cccd is not None and cccd[:1] and cccd[0] & 0x01:
                    server.send_gatt_pdu(connection, prefix + report)
            self.reports_sent += 1
            if self.on_report is not None:
                self.on_report(report)

    # -- set-up ------------------------------------------------------------------------------

    def install(self, device: Device) -> None:
        """Add the HID, Device Information and Battery services and bonding to ``device``."""
        self.device = device
        device.keystore = self.store
        just_works = self.pairing == "just-works"
        io = (
            PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
            if just_works
            else PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY
        )
        delegate = _ShowPasskey(self, io)
        device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True, mitm=not just_works, bonding=True, delegate=delegate
        )
        device.add_service(self._hid_service(device))
        device.add_service(
            DeviceInformationService(
                manufacturer_name="keybridge",
                model_number="keybridge simulated key",
                serial_number=self.serial or None,
                firmware_revision="0.1.0-sim",
            )
        )
        device.add_service(BatteryService(lambda _connection: 100))

    def _hid_service(self, device: Device) -> gatt.Service:
        props = gatt.Characteristic.Properties
        self._input = gatt.Characteristic(
            gatt.GATT_REPORT_CHARACTERISTIC,
            props.READ | props.NOTIFY,
            _ENCRYPTED_READ,
            bytes(REPORT_SIZE),
            descriptors=[
                gatt.Descriptor(
                    gatt.GATT_REPORT_REFERENCE_DESCRIPTOR,
                    _ENCRYPTED_READ,
                    bytes([REPORT_ID, _INPUT]),
                )
            ],
        )
        self._input.descriptors = [*self._input.descriptors, _encrypted_cccd(device, self._input)]
        output: gatt.Characteristic[bytes] = gatt.Characteristic(
            gatt.GATT_REPORT_CHARACTERISTIC,
            props.READ | props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            _ENCRYPTED_RW,
            bytes(1),
            descriptors=[
                gatt.Descriptor(
                    gatt.GATT_REPORT_REFERENCE_DESCRIPTOR,
                    _ENCRYPTED_READ,
                    bytes([REPORT_ID, _OUTPUT]),
                )
            ],
        )
        self._boot_input = gatt.Characteristic(
            gatt.GATT_BOOT_KEYBOARD_INPUT_REPORT_CHARACTERISTIC,
            props.READ | props.NOTIFY,
            _ENCRYPTED_READ,
            bytes(REPORT_SIZE),
        )
        self._boot_input.descriptors = [_encrypted_cccd(device, self._boot_input)]
        boot_output: gatt.Characteristic[bytes] = gatt.Characteristic(
            gatt.GATT_BOOT_KEYBOARD_OUTPUT_REPORT_CHARACTERISTIC,
            props.READ | props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            _ENCRYPTED_RW,
            bytes(1),
        )
        protocol_mode: gatt.Characteristic[bytes] = gatt.Characteristic(
            gatt.GATT_PROTOCOL_MODE_CHARACTERISTIC,
            props.READ | props.WRITE_WITHOUT_RESPONSE,
            _ENCRYPTED_RW,
            gatt.CharacteristicValue[bytes](
                read=lambda _c: bytes([self._protocol_mode]), write=self._set_protocol_mode
            ),
        )
        characteristics: list[gatt.Characteristic[Any]] = [
            protocol_mode,
            gatt.Characteristic(
                gatt.GATT_REPORT_MAP_CHARACTERISTIC, props.READ, _ENCRYPTED_READ, REPORT_MAP
            ),
            self._input,
            output,
            self._boot_input,
            boot_output,
            gatt.Characteristic(
                gatt.GATT_HID_INFORMATION_CHARACTERISTIC,
                props.READ,
                _ENCRYPTED_READ,
                HID_INFORMATION,
            ),
            gatt.Characteristic(
                gatt.GATT_HID_CONTROL_POINT_CHARACTERISTIC,
                props.WRITE_WITHOUT_RESPONSE,
                gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION,
                bytes(1),
            ),
        ]
        return gatt.Service(gatt.GATT_HUMAN_INTERFACE_DEVICE_SERVICE, characteristics)

    def _set_protocol_mode(self, _connection: Connection, value: bytes) -> None:
        if value[:1] in (b"\x00", b"\x01"):
            self._protocol_mode = value[0]

    # -- sending -----------------------------------------------------------------------------

    def _hosts(self) -> list[Connection]:
        """Connections that may receive reports: encrypted, to a bonded peer."""
        if self.device is None:
            return []
        bonded = self.store.names
        return [
            connection
            for connection in self.device.connections.values()
            if connection.is_encrypted and str(connection.peer_address) in bonded
        ]


def _encrypted_cccd(device: Device, characteristic: gatt.Characteristic[bytes]) -> gatt.Descriptor:
    """The characteristic's subscription descriptor, writable on an encrypted link only (the
    GATT server would add one anyone may write)."""
    return gatt.Descriptor(
        gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
        _ENCRYPTED_RW,
        device.gatt_server.make_descriptor_value(characteristic),
    )
