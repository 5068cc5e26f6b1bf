"""Key-wide commands: ``devices``, ``info``, ``reset``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keybridge.cli.common import PinPolicy, report, run, with_key
from keybridge.cli.output import table, words
from keybridge.errors import KeybridgeError

if TYPE_CHECKING:
    from keybridge.discovery import FoundDevice
    from keybridge.session import KeyInfo, KeySession


@click.command()
@click.option("--ble/--no-ble", default=False, help="Also scan for BLE keys (takes a few seconds).")
@click.option("--timeout", type=float, default=3.0, show_default=True, help="BLE scan seconds.")
def devices(ble: bool, timeout: float) -> None:
    """List keys: running simulators, serial ports of key bridges, and BLE keys with --ble.

    What could not be searched (no BLE adapter, bleak not installed) is said in one line; the
    keys found elsewhere are still listed.
    """
    from keybridge.discovery import running_simulators, serial_candidates

    found: list[FoundDevice] = running_simulators() + serial_candidates()
    if ble:
        try:
            found += _ble_devices(timeout)
        except (KeybridgeError, ImportError) as exc:
            reason = "bleak is not installed: `pip install 'keybridge[ble]'`"
            if isinstance(exc, KeybridgeError):
                reason = f"{exc}; is a Bluetooth adapter present and on? (`keybridge doctor`)"
            click.echo(f"Warning: BLE keys were not searched: {reason}", err=True)

    def text(items: list[FoundDevice]) -> str:
        if not items:
            return "No keys found. Start a simulator with `keybridge sim serve`."
        return "\n".join(f"{d.url}  {d.kind}: {d.description}" for d in items)

    report(found, text)


def _ble_devices(timeout: float) -> list[FoundDevice]:
    from keybridge.discovery import FoundDevice
    from keybridge.transport.ble import scan

    found = []
    for key in run(scan(timeout)):
        name = f"{key.name} " if key.name else ""
        if key.vendor == "hideez":
            description = (
                f"Hideez Key {name}({key.rssi} dBm): it speaks Hideez's closed protocol, "
                "not keybridge's; use Hideez Client for it"
            )
            found.append(FoundDevice(key.url, "hideez", description))
        else:
            found.append(FoundDevice(key.url, "ble", f"{name}({key.rssi} dBm)"))
    return found


def render_info(i: KeyInfo) -> str:
    return table(
        [
            ("serial", i.serial),
            ("firmware", i.firmware_version),
            ("protocol", i.protocol_version),
            ("credentials", f"{i.used} of {i.capacity}"),
            ("clock", "set" if i.clock_set else "not set"),
            ("layouts", words(i.layouts)),
            ("paired hosts", i.paired_hosts),
            ("PIN", "set" if i.pin_set else "not set"),
        ]
    )


@click.command()
@with_key(pin=PinPolicy.NEVER, render=render_info)
async def info(key: KeySession) -> KeyInfo:
    """Show the key's identity, versions, capacity, clock and security state."""
    return await key.info()


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(yes: bool) -> None:
    """Factory-reset the key: erases every credential. Needs the button."""
    if not yes:
        click.confirm("Erase every credential on the key?", abort=True, err=True)
    _reset()


@with_key(pin=PinPolicy.NEVER, render=lambda _: "The key was reset.")
async def _reset(key: KeySession) -> dict[str, bool]:
    await key.reset()
    return {"reset": True}
