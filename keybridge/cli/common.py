"""Helpers every command module shares: settings access, async running, key connection."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from keybridge.cli.output import emit

if TYPE_CHECKING:
    from keybridge.cli.main import Settings
    from keybridge.session import KeySession

T = TypeVar("T")


def settings() -> Settings:
    obj: Settings = click.get_current_context().find_root().obj
    return obj


def run(coro: Awaitable[T]) -> T:
    import asyncio  # not at module level: commands that never talk to a key do without it

    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


def report(value: Any, text: Callable[[Any], str] | None = None) -> None:
    """Print a command result in the format the user chose (``--json`` or text)."""
    emit(value, as_json=settings().as_json, text=text)


def _countdown(reason: int, ms_left: int) -> None:
    if settings().as_json or not sys.stderr.isatty():
        click.echo(f"Press the button on your key ({ms_left // 1000} s left)...", err=True)
        return
    click.echo(
        f"\rPress the button on your key ({ms_left // 1000:2d} s left)... ", nl=False, err=True
    )


@asynccontextmanager
async def open_key(
    *, set_time: bool = True, pin: bool | None = None, secure: bool = True
) -> AsyncIterator[KeySession]:
    """Connect to the key named by ``--device`` (or the only one attached).

    The connection opens an encrypted session when this host is paired with the key. With a
    PIN set on the key, the PIN is asked for (without echo) and verified for this session when
    ``pin`` is true; by default, for the ``otp`` commands.
    """
    from keybridge.discovery import resolve_device
    from keybridge.session import KeySession

    url = resolve_device(settings().device)
    async with KeySession.connect(
        url, set_time=set_time, on_keepalive=_countdown, secure=secure
    ) as key:
        if pin is None:
            pin = " otp " in f" {click.get_current_context().command_path} "
        if pin and key.encrypted and key.key_info is not None and key.key_info.pin_set:
            import asyncio

            entered = await asyncio.to_thread(
                click.prompt, "PIN", hide_input=True, err=True, type=str
            )
            await key.pin_verify(entered)
        yield key
