"""``serve --gesture`` as a process: an OS's HID host joins the simulator's virtual radio over
its HCI relay, bonds, and receives the code the gesture (SIGURG, ``Simulator.make_gesture``)
types; ``serve``'s keyboard options are checked on the command line."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from firmware_sim import serve
from firmware_sim.firmware import otp_store
from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.device_key import encrypted_flash
from firmware_sim.simulator import Simulator
from keybridge.keyboard.reports import decode_reports
from keybridge.protocol.commands import OtpPutRequest

SECRET = b"12345678901234567890"
NOW = 1_111_111_109


def _state_with_credential(path: Path) -> None:
    firmware = Firmware(encrypted_flash(path), KeyClock.parse("real"), Button("auto"))
    firmware.commit(otp_store.put(firmware.state, OtpPutRequest("hes", SECRET)))


async def test_the_gesture_types_into_a_bonded_os(tmp_path: Path) -> None:
    from bumble.host import Host
    from bumble.transport import open_transport

    from firmware_sim.testing.hid_host import HidHost

    state = tmp_path / "key.state"
    _state_with_credential(state)
    with Simulator(
        link="ble-virtual",
        state=state,
        clock=f"fixed:{NOW}",
        keyboard="just-works",
        gesture="long-press:hes",
    ) as sim:
        url = urlparse(sim.url)
        transport = await open_transport(parse_qs(url.query)["hci"][0])
        try:
            host = HidHost(Host(transport.source, transport.sink))
            await host.connect(url.netloc)
            await host.bond()
            await host.subscribe()
            sim.make_gesture()
            typed = decode_reports(await host.take(14), "us")
            await host.disconnect()
        finally:
            await transport.close()
    assert typed == pyotp.TOTP(base64.b32encode(SECRET).decode()).at(NOW) + "\n"
    assert (tmp_path / "key.state.bonds").stat().st_mode & 0o077 == 0
    assert re.search(r"long-press gesture: typed", sim.log_text())


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--keyboard", "yes", "--link", "ble-virtual"], "use passkey or just-works"),
        (["--gesture", "shake:hes", "--link", "ble-virtual"], "unknown gesture"),
        (["--gesture", "long-press:hes"], "need a BLE link"),
        (["--keyboard", "passkey", "--link", "tcp"], "need a BLE link"),
    ],
)
def test_bad_keyboard_options_are_one_line(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        serve.parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1


def test_a_gesture_implies_a_passkey_keyboard() -> None:
    options = serve.parse_args(["--link", "ble-virtual", "--gesture", "double-press:a:b"])
    assert (options.keyboard, options.gesture) == ("passkey", "double-press:a:b")
