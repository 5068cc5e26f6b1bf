"""``keybridge pair``, ``keybridge unpair`` and ``keybridge pin set|change|verify``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import click

from keybridge.cli.common import Fields, PinPolicy, pin_for, says, with_key
from keybridge.cli.errors import plural
from keybridge.cli.output import table

if TYPE_CHECKING:
    from keybridge.session import KeySession


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
    _pair(yes)


# No session first: a pairing the key has lost must not stand in the way of a new one.
@with_key(
    pin=PinPolicy.NEVER,
    set_time=False,
    secure=False,
    render=says("\nPaired with key {serial} (this host: {host_id})."),
)
async def _pair(key: KeySession, yes: bool) -> Fields:
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

    pairing = await key.pairing.pair(confirm)
    assert key.key_info is not None
    return {
        "serial": key.key_info.serial,
        "host_id": pairing.host_id.hex(),
        "key_id": pairing.key_id.hex(),
    }


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
    if list_hosts:
        _list_hosts()
    else:
        _unpair(target)


def render_hosts(hosts: list[dict[str, Any]]) -> str:
    return "\n".join(f"{h['host_id']}{'  (this host)' if h['this_host'] else ''}" for h in hosts)


@with_key(pin=PinPolicy.NEVER, set_time=False, render=render_hosts)
async def _list_hosts(key: KeySession) -> list[dict[str, Any]]:
    return [{"host_id": h.hex(), "this_host": current} for h, current in await key.pairing.hosts()]


@with_key(
    pin=PinPolicy.NEVER,
    set_time=False,
    render=says("Host {unpaired} is no longer paired with the key."),
)
async def _unpair(key: KeySession, target: bytes | None) -> dict[str, str]:
    await key.pairing.unpair(target)
    return {"unpaired": (target or key.config.host_id).hex()}


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
    said = f"PIN set ({plural(max_retries, 'wrong PIN')} in a row erase the key)."
    with_key(pin=PinPolicy.NEVER, render=lambda _: said)(_pin_set)(new, max_retries)


async def _pin_set(key: KeySession, new: str, max_retries: int) -> dict[str, bool]:
    await key.pin.set(new, max_retries=max_retries)
    return {"pin_set": True}


@pin.command("change")
def pin_change() -> None:
    """Change the PIN (the old PIN counts as an attempt if wrong; --pin-stdin or KEYBRIDGE_PIN
    give the old one)."""
    _pin_change()


@with_key(pin=PinPolicy.NEVER, render=lambda _: "PIN changed.")
async def _pin_change(key: KeySession) -> dict[str, bool]:
    old = await pin_for(key, "Current PIN")
    new = await asyncio.to_thread(_ask_pin, "New PIN", twice=True)
    await key.pin.change(old, new)
    return {"pin_changed": True}


@pin.command("verify")
def pin_verify() -> None:
    """Check a PIN (and see how many attempts are left); --pin-stdin or KEYBRIDGE_PIN give it."""
    _pin_verify()


def render_pin_check(r: Fields) -> str:
    return table([("PIN", "correct"), ("attempts left", r["pin_retries"])])


@with_key(pin=PinPolicy.NEVER, render=render_pin_check)
async def _pin_verify(key: KeySession) -> Fields:
    await key.pin.verify(await pin_for(key))
    info = await key.info()
    return {"pin_ok": True, "pin_retries": info.pin_retries}
