"""The key as a Bluetooth keyboard over the virtual radio: an OS's HID host bonds, subscribes,
and receives the reports of a button gesture; the code it decodes is the TOTP code."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyotp
import pytest

from firmware_sim.firmware import otp_store
from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.firmware.keyboard_out import Gesture, perform_gesture
from firmware_sim.firmware.state import KeyState
from keybridge.keyboard.reports import decode_reports
from keybridge.protocol.commands import OtpPutRequest

if TYPE_CHECKING:
    from firmware_sim.links.ble_hid import HidKeyboard
    from firmware_sim.links.ble_peripheral import BleKeyPeripheral
    from firmware_sim.links.virtual_radio import VirtualRadio
    from firmware_sim.testing.hid_host import HidHost
    from keybridge.transport.ble import BleBackend

SECRET = b"12345678901234567890"
NOW = 1_111_111_109.0
GESTURE = Gesture("long-press", "hes")


@dataclass
class KeyboardKey:
    firmware: Firmware
    hid: HidKeyboard
    peripheral: BleKeyPeripheral


def _firmware(button: str = "auto") -> Firmware:
    firmware = Firmware(
        Flash.memory(KeyState(serial="KB0000000001", key_id=bytes(16))),
        KeyClock(lambda: NOW, "fixed", NOW),
        Button.parse(button),
    )
    firmware.commit(otp_store.put(firmware.state, OtpPutRequest("hes", SECRET)))
    return firmware


async def _serve(radio: VirtualRadio, tmp_path: Path, button: str = "auto") -> KeyboardKey:
    from firmware_sim.links.ble_hid import HidKeyboard

    firmware = _firmware(button)
    hid = HidKeyboard(
        name="kbhid", bonds=tmp_path / "key.state.bonds", owner=lambda: firmware.state.key_id
    )
    peripheral = await radio.add_key(firmware, name="kbhid", keyboard=hid)
    firmware.keyboard = hid
    return KeyboardKey(firmware, hid, peripheral)


@pytest.fixture
async def key(radio: VirtualRadio, tmp_path: Path) -> KeyboardKey:
    return await _serve(radio, tmp_path)


@pytest.fixture
async def os_host(radio: VirtualRadio) -> AsyncIterator[HidHost]:
    from firmware_sim.testing.hid_host import HidHost

    host = HidHost(radio.attach_host("os"))
    yield host
    await host.disconnect()


def _passkey_of(hid: HidKeyboard):  # type: ignore[no-untyped-def]
    async def read() -> int:
        while hid.passkey is None:  # the user reads the key's display
            await asyncio.sleep(0.01)
        return int(hid.passkey)

    return read


def _expected_code() -> str:
    totp = pyotp.TOTP(base64.b32encode(SECRET).decode())
    return totp.at(int(NOW))


async def _bond(host: HidHost, key: KeyboardKey) -> None:
    await host.connect(key.peripheral.address)
    await host.bond(_passkey_of(key.hid))
    await host.subscribe()


async def test_a_bonded_host_types_the_gesture_code(key: KeyboardKey, os_host: HidHost) -> None:
    await _bond(os_host, key)
    assert key.hid.store.names  # the bond is kept
    assert perform_gesture(key.firmware, GESTURE)
    reports = await os_host.take(14)  # 6 digits and Enter, press and release each
    assert decode_reports(reports, "us") == _expected_code() + "\n"


async def test_the_bond_survives_a_reconnect_and_a_restart(
    radio: VirtualRadio, key: KeyboardKey, os_host: HidHost, tmp_path: Path
) -> None:
    await _bond(os_host, key)
    await os_host.disconnect()
    await key.peripheral.stop()
    again = await _serve(radio, tmp_path)  # a new key process on the same state and bonds
    await os_host.connect(again.peripheral.address)
    await os_host.encrypt()
    await os_host.subscribe()
    assert again.hid.passkey is None  # no new pairing
    assert perform_gesture(again.firmware, GESTURE)
    assert decode_reports(await os_host.take(14), "us") == _expected_code() + "\n"


async def test_a_host_that_never_bonded_receives_nothing(
    radio: VirtualRadio, key: KeyboardKey, os_host: HidHost, caplog: pytest.LogCaptureFixture
) -> None:
    from firmware_sim.testing.hid_host import HidHost

    await _bond(os_host, key)
    await os_host.disconnect()
    stranger = HidHost(radio.attach_host("stranger"), address="C0:0B:22:22:22:22")
    await stranger.connect(key.peripheral.address)
    with pytest.raises(Exception, match=r"(?i)encrypt|authenticat"):
        await stranger.subscribe()  # the HID service needs an encrypted link
    with caplog.at_level(logging.WARNING):
        assert not perform_gesture(key.firmware, GESTURE)
    assert "no bonded host" in caplog.text
    assert stranger.reports.empty()
    assert key.hid.reports_sent == 0
    await stranger.disconnect()


async def test_no_bonded_host_no_typing(key: KeyboardKey, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert not perform_gesture(key.firmware, GESTURE)
    assert "no bonded host" in caplog.text
    assert key.hid.reports_sent == 0


async def test_a_host_session_has_the_key_type_on_its_keyboard(
    key: KeyboardKey, os_host: HidHost, backend: BleBackend
) -> None:
    from keybridge.hostconfig import HostConfig
    from keybridge.protocol.constants import Status
    from keybridge.protocol.status import DeviceError
    from keybridge.session import ConnectOptions, KeySession
    from keybridge.transport.ble import BleTransport

    # Found by name: a keyboard key's name is in its scan response only.
    link = BleTransport("ble:kbhid", backend=backend, timeout=5, scan_timeout=3)
    async with link:
        session = await KeySession.attach(link, ConnectOptions(config=HostConfig(None)))
        await session.pairing.pair(lambda code: True)
        with pytest.raises(DeviceError) as refused:
            await session.otp_type_on_key("hes", enter=True)
        assert refused.value.status == Status.NO_KEYBOARD_HOST
    # One connection at a time: the OS bonds once the host session is gone.
    await _bond(os_host, key)
    assert perform_gesture(key.firmware, GESTURE)
    assert decode_reports(await os_host.take(14), "us") == _expected_code() + "\n"


async def test_a_reset_key_forgets_its_bonds(
    key: KeyboardKey, os_host: HidHost, caplog: pytest.LogCaptureFixture
) -> None:
    await _bond(os_host, key)
    assert key.hid.host_connected
    key.firmware.commit(key.firmware.security.wiped())  # RESET: a new key id
    key.firmware.commit(otp_store.put(key.firmware.state, OtpPutRequest("hes", SECRET)))
    with caplog.at_level(logging.WARNING):
        assert not perform_gesture(key.firmware, GESTURE)
    assert "Bluetooth bonds are forgotten" in caplog.text
    assert key.hid.store.names == set()
    assert os_host.reports.empty()


def test_a_damaged_bond_file_is_refused_and_kept(tmp_path: Path) -> None:
    from firmware_sim.links.ble_hid import BondStore

    path = tmp_path / "key.state.bonds"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="remove it, and pair the computers"):
        BondStore(path)
    assert path.read_text(encoding="utf-8") == "{not json"
