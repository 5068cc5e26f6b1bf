"""The firmware core behind the BLE GATT service, driven by the host session over the virtual
radio: pair, store an HES secret, calculate, type, in an encrypted session; at the smallest and
a common ATT_MTU; then a second connection reopens the session from the stored pairing."""

from __future__ import annotations

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.virtual_radio import VirtualRadio
from keybridge.hes.model import Hes
from keybridge.hostconfig import HostConfig
from keybridge.keyboard.reports import decode_reports
from keybridge.otp.credential import Credential
from keybridge.protocol.fragments import fragment_count
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport.ble import BleBackend, BleTransport

EMAIL = "qa-ble@corp.com"
NAME = "HES.Web:qa-bench@corp.com"  # 25 bytes, the size the packet-count goal is stated for


@pytest.mark.parametrize("mtu", [23, 247])
async def test_hes_secret_calculate_and_type(
    radio: VirtualRadio, backend: BleBackend, mtu: int
) -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    key = await radio.add_key(firmware, name="kb-hes", max_mtu=mtu)
    hes = Hes(":memory:", password_cost=2)
    hes.create_user(EMAIL, "pw")
    setup = hes.begin_otp_setup(EMAIL)
    config = HostConfig(None)
    link = BleTransport("ble:kb-hes", backend=backend, timeout=3, scan_timeout=2)
    sizes: list[int] = []
    async with link:
        session = await KeySession.attach(link, ConnectOptions(config=config))
        await session.pairing.pair(lambda code: True)
        assert session.encrypted
        await session.otp_put(Credential.from_secret(setup.display_key), NAME)

        send = link.send

        async def recording_send(message: bytes) -> None:
            sizes.append(len(message))
            await send(message)

        link.send = recording_send  # type: ignore[method-assign]
        before = (key.stats.att_in, key.stats.att_out, key.stats.messages_out)
        code = await session.otp_calculate(NAME)
        packets_in = key.stats.att_in - before[0]
        packets_out = key.stats.att_out - before[1]
        # Each message takes exactly as many ATT packets as the fragment format says.
        assert sizes and packets_in == sum(fragment_count(n, mtu - 3) for n in sizes)
        assert key.stats.messages_out - before[2] == 1
        # The packet-count goal: one each way at ATT_MTU 247, at most three at 23.
        assert (packets_in, packets_out) == ((1, 1) if mtu == 247 else (3, 3))

        assert len(hes.confirm_otp_setup(EMAIL, code.code)) == 10
        typed = await session.otp_type(NAME, enter=True)
        assert decode_reports(typed.reports, typed.layout) == code.code + "\n"
    assert link.att_mtu == mtu
    assert key.stats.frame_errors == 0

    # A new connection: the stored pairing opens a new encrypted session by itself.
    async with BleTransport("ble:kb-hes", backend=backend, timeout=3, scan_timeout=2) as again:
        session = await KeySession.attach(again, ConnectOptions(config=config))
        assert session.encrypted
        assert [c.name for c in await session.otp_list()] == [NAME]
    assert key.stats.connections == 2
