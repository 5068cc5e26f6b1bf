"""The key types by itself: from the button gesture to the last HID report of a 6-digit code
and Enter at the OS's HID host, against the same reports returned over the keybridge service.

Both run in the same run on one virtual radio, interleaved: key A is a Bluetooth keyboard
bonded with an OS's HID host (the gesture's 14 reports are notified on its input report); key B,
the same firmware, answers a host's OTP_TYPE in an encrypted session with the same 14 reports
in one sealed response. Goal: gesture <= 1.2x the keybridge round trip. The OS's stand-in
(``firmware_sim.testing.hid_host.HidHost``) takes each input report from its ATT notification as
it arrives, as an OS's HID driver does.

    python bench/ble_keyboard.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.firmware.keyboard_out import Gesture, perform_gesture
from firmware_sim.links.ble_hid import HidKeyboard
from firmware_sim.links.virtual_radio import VirtualRadio
from firmware_sim.testing.hid_host import HidHost
from keybridge.hostconfig import HostConfig
from keybridge.keyboard.reports import decode_reports
from keybridge.otp.credential import Credential
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport.ble import BleBackend, BleTransport
from keybridge.transport.bumble_backend import BumbleCentral

NAME = "HES.Web:qa-bench@corp.com"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
REPORTS = 14  # 6 digits and Enter, a press and a release each
GOAL = 1.2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(rounds: int) -> dict[str, float]:
    radio = VirtualRadio()
    central = BumbleCentral(radio.attach_host("host"))
    os_host = HidHost(radio.attach_host("os"))
    try:
        keys = []
        for name in ("kb-a", "kb-b"):
            firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
            hid = HidKeyboard(name=name, pairing="just-works")
            firmware.keyboard = hid
            keys.append((firmware, hid, await radio.add_key(firmware, name=name, keyboard=hid)))
        (typist, _, typist_key), _ = keys
        link = BleTransport("ble:kb-b", backend=BleBackend.on_central(central), timeout=5)
        async with link:
            session = await KeySession.attach(link, ConnectOptions(config=HostConfig(None)))
            await session.pairing.pair(lambda code: True)  # the key's button is on auto
            await session.otp_put(Credential.from_secret(SECRET), NAME)
            # Key A gets the same credential (and its clock) through its own firmware core.
            typist.clock.set(time.time(), False)
            from firmware_sim.firmware import otp_store
            from keybridge.protocol.commands import OtpPutRequest

            typist.commit(otp_store.put(typist.state, OtpPutRequest(NAME, _secret())))

            await os_host.connect(typist_key.address)
            await os_host.bond()
            await os_host.subscribe()
            gesture = Gesture("long-press", NAME)

            typed: list[float] = []
            returned: list[float] = []
            for _ in range(rounds):
                start = time.perf_counter()
                assert perform_gesture(typist, gesture)
                reports = await os_host.take(REPORTS)
                typed.append(time.perf_counter() - start)
                assert len(decode_reports(reports, "us")) == 7
                while typist.keyboard is not None and typist.keyboard.busy:
                    await asyncio.sleep(0)  # the sender's task ends after its last report

                start = time.perf_counter()
                answer = await session.otp_type(NAME, enter=True)
                returned.append(time.perf_counter() - start)
                assert len(answer.reports) == REPORTS
        return {
            "p50": statistics.median(typed),
            "p99": percentile(typed, 0.99),
            "base_p50": statistics.median(returned),
            "base_p99": percentile(returned, 0.99),
        }
    finally:
        await os_host.disconnect()
        await central.close()
        await radio.close()


def _secret() -> bytes:
    import base64

    return base64.b32decode(SECRET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    ns = parser.parse_args()
    r = asyncio.run(run(ns.rounds))
    ratio = r["p50"] / r["base_p50"]
    print(
        f"gesture -> last of {REPORTS} HID reports: p50 {r['p50'] * 1e3:.2f} ms "
        f"p99 {r['p99'] * 1e3:.2f} ms | OTP_TYPE over the keybridge service (same reports "
        f"returned): p50 {r['base_p50'] * 1e3:.2f} ms p99 {r['base_p99'] * 1e3:.2f} ms | "
        f"ratio p50 {ratio:.2f}x p99 {r['p99'] / r['base_p99']:.2f}x "
        f"(goal <= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
