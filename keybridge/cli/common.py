"""Helpers every command module shares: settings access, async running, the key decorator."""

from __future__ import annotations

import enum
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import click

from keybridge.cli.output import emit

if TYPE_CHECKING:
    from keybridge.cli.main import Settings
    from keybridge.session import KeySession

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class PinPolicy(enum.Enum):
    """Whether a command needs the key's PIN verified before it runs."""

    NEVER = "never"
    """Not asked: pairing, the PIN commands themselves, key-wide commands."""
    REQUIRED = "required"
    """Asked (without echo) and verified for the session when the key has a PIN set."""


Fields = dict[str, Any]
"""A command's own result, for results that are no session type: JSON as it is."""


def says(template: str) -> Callable[[Fields], str]:
    """A renderer filling ``template`` with a result's fields: ``says("Deleted {name}.")``."""
    return lambda fields: template.format(**fields)


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
    *, pin: PinPolicy, set_time: bool = True, secure: bool = True
) -> AsyncIterator[KeySession]:
    """Connect to the key named by ``--device`` (or the only one attached): through the agent
    when one serves this user (and that device), else directly.

    The connection opens an encrypted session when this host is paired with the key. With
    ``PinPolicy.REQUIRED`` and a PIN set on the key, the PIN is asked for (without echo) and
    verified for this session, unless the agent holds the key unlocked (it keeps a verified
    PIN for its ``--pin-timeout``).
    """
    from keybridge.agent.client import agent_session

    async with agent_session(settings().device, secure=secure, on_keepalive=_countdown) as agent:
        if agent is not None:
            # The agent's session has KeySession's surface (tests/cli/test_cli_agent.py holds
            # the two to the same outputs).
            yield await _unlocked(cast("KeySession", agent), pin, agent.unlocked)
            return
    async with _direct(set_time=set_time, secure=secure) as key:
        yield await _unlocked(key, pin, False)


@asynccontextmanager
async def _direct(*, set_time: bool, secure: bool) -> AsyncIterator[KeySession]:
    from keybridge.discovery import resolve_device
    from keybridge.session import ConnectOptions, KeySession

    url = resolve_device(settings().device)
    options = ConnectOptions(set_time=set_time, on_keepalive=_countdown, secure=secure)
    async with KeySession.connect(url, options) as key:
        yield key


async def _unlocked(key: KeySession, pin: PinPolicy, unlocked: bool) -> KeySession:
    info = key.key_info
    if (
        pin is PinPolicy.REQUIRED
        and not unlocked
        and key.encrypted
        and info is not None
        and info.pin_set
    ):
        import asyncio

        entered = await asyncio.to_thread(click.prompt, "PIN", hide_input=True, err=True, type=str)
        await key.pin.verify(entered)
    return key


def with_key(
    *,
    pin: PinPolicy,
    render: Callable[[R], str] | None = None,
    set_time: bool = True,
    secure: bool = True,
) -> Callable[[Callable[Concatenate[KeySession, P], Awaitable[R]]], Callable[P, None]]:
    """Run an async command body on the key (as trezorlib's ``with_session``) and print what
    it returns: as JSON with ``--json``, else through ``render`` (``str`` by default).

    ::

        @otp.command("code")
        @click.argument("name")
        @with_key(pin=PinPolicy.REQUIRED, render=render_code)
        async def code(key: KeySession, name: str) -> Code:
            return await key.otp_calculate(name)

    The key is opened (and the PIN verified, per ``pin``) before the body runs and closed after.
    """

    def decorator(
        body: Callable[Concatenate[KeySession, P], Awaitable[R]],
    ) -> Callable[P, None]:
        @functools.wraps(body)
        def command(*args: P.args, **kwargs: P.kwargs) -> None:
            async def go() -> R:
                async with open_key(pin=pin, set_time=set_time, secure=secure) as key:
                    return await body(key, *args, **kwargs)

            report(run(go()), render)

        return command

    return decorator
