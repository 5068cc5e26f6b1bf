"""``keybridge pair``, ``keybridge unpair`` and ``keybridge pin set|change|verify``."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from keybridge.cli.common import open_key, report, run
from keybridge.cli.output import table


def _ask_pin(prompt: str, *, twice: bool = False) -> str:
    pin: str = click.prompt(prompt, hide_input=True, confirmation_prompt=twice, err=True, type=str)
    return pin


@click.command()
@click.option(
    "--yes",
    is_flag=True,
    help="Do not ask whether the codes match (only when you compared them another way).",
)
def pair(yes: bool) -> None:
    """Pair this host with the key: compare the 6-digit codes, then press the key's button."""

    async def go() -> dict[str, Any]:
        # No session first: a pairing the key has lost must not stand in the way of a new one.
        async with open_key(set_time=False, pin=False, secure=False) as key:
            answered = asyncio.Event()
            countdown = key.on_keepalive

            def on_keepalive(reason: int, ms_left: int) -> None:
                if answered.is_set() and countdown is not None:  # not while the user reads
                    countdown(reason, ms_left)

            key.on_keepalive = on_keepalive

            async def confirm(code: str) -> bool:
                click.echo(f"Pairing code: {code[:3]} {code[3:]}", err=True)
                if yes:
                    matched = True
                else:
                    matched = await asyncio.to_thread(
                        click.confirm, "Does the key show the same code?", err=True
                    )
                if matched:
                    click.echo("Press the button on your key to accept.", err=True)
                answered.set()
                return matched

            pairing = await key.pair(confirm)
            assert key.key_info is not None
            return {
                "serial": key.key_info.serial,
                "host_id": pairing.host_id.hex(),
                "key_id": pairing.key_id.hex(),
            }

    result = run(go())
    report(result, lambda r: f"\nPaired with key {r['serial']} (this host: {r['host_id']}).")


@click.command()
@click.argument("host_id", required=False)
@click.option("--list", "list_hosts", is_flag=True, help="List the hosts paired with the key.")
def unpair(host_id: str | None, list_hosts: bool) -> None:
    """Remove this host's pairing from the key, or another host's by HOST_ID (hex)."""
    target: bytes | None = None
    if host_id is not None:
        try:
            target = bytes.fromhex(host_id)
        except ValueError:
            raise click.BadParameter("HOST_ID is 32 hex digits (see --list)") from None

    async def go() -> Any:
        async with open_key(set_time=False, pin=False) as key:
            if list_hosts:
                return [
                    {"host_id": h.hex(), "this_host": current}
                    for h, current in await key.list_hosts()
                ]
            await key.unpair(target)
            return {"unpaired": (target or key.config.host_id).hex()}

    result = run(go())
    if list_hosts:
        report(
            result,
            lambda r: "\n".join(
                f"{h['host_id']}{'  (this host)' if h['this_host'] else ''}" for h in r
            ),
        )
    else:
        report(result, lambda r: f"Host {r['unpaired']} is no longer paired with the key.")


@click.group()
def pin() -> None:
    """Set, change or check the key's PIN (4-16 digits)."""


@pin.command("set")
@click.option(
    "--max-retries",
    type=click.IntRange(1, 32),
    default=8,
    show_default=True,
    help="Wrong PINs in a row after which the key erases every credential and pairing.",
)
def pin_set(max_retries: int) -> None:
    """Protect the key with a PIN; OTP commands then ask for it."""
    new = _ask_pin("New PIN", twice=True)

    async def go() -> None:
        async with open_key(pin=False) as key:
            await key.pin_set(new, max_retries=max_retries)

    run(go())
    report({"pin_set": True}, lambda _: f"PIN set ({max_retries} wrong PINs erase the key).")


@pin.command("change")
def pin_change() -> None:
    """Change the PIN (the old PIN counts as an attempt if wrong)."""
    old = _ask_pin("Current PIN")
    new = _ask_pin("New PIN", twice=True)

    async def go() -> None:
        async with open_key(pin=False) as key:
            await key.pin_change(old, new)

    run(go())
    report({"pin_changed": True}, lambda _: "PIN changed.")


@pin.command("verify")
def pin_verify() -> None:
    """Check a PIN (and see how many attempts are left)."""
    entered = _ask_pin("PIN")

    async def go() -> Any:
        async with open_key(pin=False) as key:
            await key.pin_verify(entered)
            return await key.info()

    info = run(go())
    report(
        {"pin_ok": True, "pin_retries": info.pin_retries},
        lambda r: table([("PIN", "correct"), ("attempts left", r["pin_retries"])]),
    )
