"""OTP calculate over the virtual BLE radio against a bare GATT write -> notify echo.

Both run on the same connection in the same run: the key (firmware core behind the keybridge
GATT service) also exposes a raw echo characteristic pair, so the ratio isolates what keybridge
adds (fragmentation, reassembly, session, firmware) over the BLE stack's own round trip.
Also counts ATT packets per calculate (25-byte credential name, in an encrypted session) each
way at ATT_MTU 247 and 23, and checks what a CLI command that does not use BLE imports.

    python bench/ble_roundtrip.py [--rounds N]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import statistics
import subprocess
import sys
import time

from bumble import gatt
from bumble.device import Connection

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.ble_peripheral import BleKeyPeripheral
from firmware_sim.links.virtual_radio import VirtualRadio
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.fragments import fragment
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport.ble import BleBackend, BleTransport
from keybridge.transport.bumble_backend import BumbleCentral

NAME = "HES.Web:qa-bench@corp.com"  # 25 bytes
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ECHO_SERVICE = "aede01f0-ad2f-472f-9a38-aaff9e26eddc"
ECHO_IN = "aede01f1-ad2f-472f-9a38-aaff9e26eddc"
ECHO_OUT = "aede01f2-ad2f-472f-9a38-aaff9e26eddc"


def add_raw_echo(key: BleKeyPeripheral) -> None:
    """A bench-only service on the key: each write comes straight back as a notification."""
    device = key.device
    assert device is not None
    out: gatt.Characteristic[bytes] = gatt.Characteristic(
        ECHO_OUT, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
    )

    pending: set[asyncio.Future[None]] = set()

    def on_write(connection: Connection, value: bytes) -> None:
        task = asyncio.ensure_future(device.notify_subscriber(connection, out, bytes(value)))
        pending.add(task)
        task.add_done_callback(pending.discard)

    into: gatt.Characteristic[bytes] = gatt.Characteristic(
        ECHO_IN,
        gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
        gatt.Characteristic.WRITEABLE,
        gatt.CharacteristicValue[bytes](write=on_write),
    )
    device.add_service(gatt.Service(ECHO_SERVICE, [into, out]))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(mtu: int, rounds: int) -> dict[str, float]:
    radio = VirtualRadio()
    central = BumbleCentral(radio.attach_host("host"))
    try:
        firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
        key = await radio.add_key(firmware, name="kb-bench", max_mtu=mtu)
        add_raw_echo(key)
        link = BleTransport("ble:kb-bench", backend=BleBackend.on_central(central), timeout=5)
        sizes: dict[str, int] = {}
        async with link:
            send, receive = link.send, link.receive

            async def counting_send(message: bytes) -> None:
                sizes["request"] = len(message)
                await send(message)

            async def counting_receive(timeout: float) -> bytes:
                reply = await receive(timeout)
                sizes["response"] = len(reply)
                return reply

            link.send = counting_send  # type: ignore[method-assign]
            link.receive = counting_receive  # type: ignore[method-assign]
            session = await KeySession.attach(link, ConnectOptions(config=HostConfig(None)))
            await session.pairing.pair(lambda code: True)  # the key's button is on auto
            await session.otp_put(Credential.from_secret(SECRET), NAME)

            before = (key.stats.att_in, key.stats.att_out)
            await session.otp_calculate(NAME)
            packets_in = key.stats.att_in - before[0]
            packets_out = key.stats.att_out - before[1]

            client = link._client
            assert client is not None
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(ECHO_OUT, lambda _c, data: queue.put_nowait(bytes(data)))
            # The echo carries the sealed request's bytes in the same ATT packets (fragments of
            # ATT_MTU - 3), so at ATT_MTU 23 both pay for several packets each way.
            chunks = fragment(bytes(sizes["request"]), mtu - 3)
            # Interleaved, so both see the same machine load.
            calculate: list[float] = []
            bare: list[float] = []
            for _ in range(rounds):
                start = time.perf_counter()
                await session.otp_calculate(NAME)
                calculate.append(time.perf_counter() - start)
                start = time.perf_counter()
                for chunk in chunks:
                    await client.write_gatt_char(ECHO_IN, chunk, response=False)
                for _ in chunks:
                    await asyncio.wait_for(queue.get(), 5)
                bare.append(time.perf_counter() - start)
        return {
            "p50": statistics.median(calculate),
            "p99": percentile(calculate, 0.99),
            "bare_p50": statistics.median(bare),
            "bare_p99": percentile(bare, 0.99),
            "packets_in": packets_in,
            "packets_out": packets_out,
            "request": sizes["request"],
            "response": sizes["response"],
            "bare_size": sum(map(len, chunks)),
            "bare_packets": len(chunks),
        }
    finally:
        await central.close()
        await radio.close()


def _imported(code: str, watched: tuple[str, ...]) -> list[str]:
    probe = code + f"\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & {set(watched)!r}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(ast.literal_eval(out.stdout.strip()))


def ble_imports_of_cli() -> str:
    """What the CLI and the session import of bleak and Bumble, and what a pty/TCP ``serve``
    imports of them and asyncio (its cold start is measured: BLE serving must cost it nothing)."""
    cli = _imported(
        "import sys, importlib\n"
        "for m in ('keybridge.cli.main', 'keybridge.session', 'keybridge.transport'):\n"
        "    try: importlib.import_module(m)\n"
        "    except ImportError: pass",
        ("bleak", "bumble"),
    )
    serve = _imported(
        "import sys\n"
        "from firmware_sim.serve import KeyServer, parse_args\n"
        "KeyServer(parse_args(['--link', 'pty'])); parse_args(['--link', 'tcp:0'])",
        ("bleak", "bumble", "asyncio"),
    )
    return f"{cli}; by serve --link pty/tcp: {serve}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    ns = parser.parse_args()
    for mtu in (247, 23):
        r = asyncio.run(run(mtu, ns.rounds))
        print(
            f"ATT_MTU {mtu:3}: calculate p50 {r['p50'] * 1e3:.2f} ms p99 {r['p99'] * 1e3:.2f} ms | "
            f"bare echo ({r['bare_size']:.0f} B, {r['bare_packets']:.0f} packets each way) "
            f"p50 {r['bare_p50'] * 1e3:.2f} ms "
            f"p99 {r['bare_p99'] * 1e3:.2f} ms | ratio p50 {r['p50'] / r['bare_p50']:.2f}x "
            f"p99 {r['p99'] / r['bare_p99']:.2f}x"
        )
        print(
            f"             ATT packets per calculate: host->key {r['packets_in']:.0f} "
            f"({r['request']:.0f}-byte request), key->host {r['packets_out']:.0f} "
            f"({r['response']:.0f}-byte response)"
        )
    print(f"BLE modules imported without BLE, by the CLI: {ble_imports_of_cli()} (goal: none)")


if __name__ == "__main__":
    main()
