"""Helpers every command module shares: settings access, async running, the key decorator."""

from __future__ import annotations

import contextlib
import enum
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

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
    """Run a command's coroutine. Ctrl-C and SIGTERM cancel it, so a request waiting for the
    key's button is cancelled on the key (CANCEL) before the command exits as interrupted."""
    import asyncio  # not at module level: commands that never talk to a key do without it
    import signal

    async def wrapper() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        terminated = False

        def on_sigterm() -> None:
            nonlocal terminated
            terminated = True
            if task is not None:
                task.cancel()

        # No signal handlers outside the main thread or on some loops: SIGTERM then just ends.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            return await coro
        except asyncio.CancelledError:
            if terminated:  # as Ctrl-C (asyncio.run cancels the task for SIGINT itself)
                raise KeyboardInterrupt from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

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
    """Connect to the key named by ``--device`` (or the only one attached).

    The connection opens an encrypted session when this host is paired with the key. With
    ``PinPolicy.REQUIRED`` and a PIN set on the key, the PIN is asked for (without echo) and
    verified for this session.
    """
    from keybridge.discovery import resolve_device
    from keybridge.session import ConnectOptions, KeySession

    url = resolve_device(settings().device)
    options = ConnectOptions(set_time=set_time, on_keepalive=_countdown, secure=secure)
    async with KeySession.connect(url, options) as key:
        info = key.key_info
        if pin is PinPolicy.REQUIRED and key.encrypted and info is not None and info.pin_set:
            import asyncio

            entered = await asyncio.to_thread(
                click.prompt, "PIN", hide_input=True, err=True, type=str
            )
            await key.pin.verify(entered)
        yield key


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
