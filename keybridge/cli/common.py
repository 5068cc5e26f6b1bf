"""Helpers every command module shares: settings access, async running, the key decorator.

:func:`key_session` is the one place a command gets a session and its PIN unlock: a host
agent, where one runs, plugs in there (its session, its cached unlock); without one the CLI
connects directly and takes the PIN from ``--pin-stdin``, ``KEYBRIDGE_PIN`` or a prompt.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import click

from keybridge.cli.output import emit

if TYPE_CHECKING:
    from keybridge.cli.main import Settings
    from keybridge.session import ConnectOptions, KeySession
    from keybridge.userconfig import UserConfig

PIN_ENV = "KEYBRIDGE_PIN"
"""A PIN for scripts; less safe than an agent's cached unlock (other processes of this user can
read a process's environment)."""

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class PinPolicy(enum.Enum):
    """Whether a command needs the key's PIN verified before it runs."""

    NEVER = "never"
    """Not asked: pairing, the PIN commands themselves, key-wide commands."""
    REQUIRED = "required"
    """Asked (without echo) and verified for the session when the key has a PIN set."""
    CACHED = "cached"
    """Only an unlock an agent holds; never asked nor tried (shell completion)."""


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


def user_config() -> UserConfig:
    """The settings file (read once per command)."""
    from keybridge.userconfig import UserConfig

    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    cached = root.meta.get("keybridge.userconfig") if root is not None else None
    if cached is None:
        cached = UserConfig.load()
        if root is not None:
            root.meta["keybridge.userconfig"] = cached
    config: UserConfig = cached
    return config


def device_url(given: str | None) -> str:
    """The key to use: ``--device`` / ``KEYBRIDGE_DEVICE``, else the settings file's
    ``device``, else the only key attached."""
    from keybridge.discovery import resolve_device

    return resolve_device(given or user_config().get("device"))


def interactive() -> bool:
    """A person can answer a prompt here (stdin is a terminal)."""
    return sys.stdin.isatty()


def confirm(question: str, *, refusal: str) -> None:
    """Ask ``question`` (a "no" aborts); without a terminal refuse with ``refusal``: an
    unanswerable confirmation never counts as a yes."""
    require_terminal(refusal)
    click.confirm(question, abort=True, err=True)


def require_terminal(refusal: str) -> None:
    """Refuse with ``refusal`` unless a person can answer a confirmation here."""
    from keybridge.cli.errors import NotConfirmedError

    if not interactive():
        raise NotConfirmedError(refusal)


def _read_pin_stdin() -> str:
    ctx = click.get_current_context().find_root()
    cached: str | None = ctx.meta.get("keybridge.pin")
    if cached is None:
        from keybridge.errors import InvalidInputError

        cached = sys.stdin.readline().rstrip("\r\n")
        if not cached:
            raise InvalidInputError(
                "--pin-stdin got no PIN: write the PIN as the first line of stdin"
            )
        ctx.meta["keybridge.pin"] = cached
    return cached


def ask_pin(prompt: str = "PIN", *, retries: int | None = None) -> str:
    """The PIN that unlocks the key: from ``--pin-stdin``, else ``$KEYBRIDGE_PIN``, else a
    prompt without echo. With ``retries == 1`` (the last try before the key erases itself) it
    is announced first, and a PIN from a script is not tried at all."""
    from_script = settings().pin_stdin or bool(os.environ.get(PIN_ENV))
    if retries == 1:
        warning = (
            "1 PIN attempt is left: a wrong PIN now erases every credential and pairing on the key"
        )
        if from_script:
            from keybridge.cli.errors import NotConfirmedError

            raise NotConfirmedError(
                f"{warning}, so a PIN from --pin-stdin or {PIN_ENV} is not tried: "
                "enter it yourself with `keybridge pin verify`"
            )
        click.echo(f"Warning: {warning}.", err=True)
    if settings().pin_stdin:
        return _read_pin_stdin()
    if os.environ.get(PIN_ENV):
        return os.environ[PIN_ENV]
    entered: str = click.prompt(prompt, hide_input=True, err=True, type=str)
    return entered


async def pin_for(key: KeySession, prompt: str = "PIN") -> str:
    """The PIN for ``key`` from :func:`ask_pin` (in a worker thread: the key's link stays
    served), announcing the last try before a wipe."""
    import asyncio

    ctx = click.get_current_context()
    retries = key.key_info.pin_retries if key.key_info is not None else None

    def ask() -> str:
        with ctx:  # click's context is per thread
            return ask_pin(prompt, retries=retries)

    return await asyncio.to_thread(ask)


async def unlock(key: KeySession, pin: PinPolicy) -> None:
    """Unlock ``key`` for this session as ``pin`` says, when it has a PIN: verify one from
    :func:`pin_for` (REQUIRED), or refuse (CACHED: there is no cached unlock without an
    agent)."""
    info = key.key_info
    if pin is PinPolicy.NEVER or not key.encrypted or info is None or not info.pin_set:
        return
    if pin is PinPolicy.CACHED:
        from keybridge.protocol.constants import Status
        from keybridge.protocol.status import PinError

        raise PinError(Status.PIN_REQUIRED, "the key is locked by its PIN and no agent holds it")
    await key.pin.verify(await pin_for(key))


@asynccontextmanager
async def key_session(
    device: str | None, options: ConnectOptions, pin: PinPolicy
) -> AsyncIterator[KeySession]:
    """The one place a command gets a session on a key and its PIN unlock.

    Through the host agent when one serves this user (and ``device``, if one is named): its
    link, its session and, for its ``--pin-timeout``, its verified PIN; else the key at
    ``device`` (or the settings file's, or the only one attached) is connected directly. Either
    way a PIN the key needs and nobody holds comes from :func:`unlock`.
    """
    from keybridge.agent.client import agent_session

    async with agent_session(
        device, secure=options.secure, on_keepalive=options.on_keepalive
    ) as agent:
        if agent is not None:
            # The agent's session has KeySession's surface (tests/cli/test_cli_agent.py holds
            # the two to the same outputs).
            key = cast("KeySession", agent)
            _require_pairing(key, pin)
            if not agent.unlocked:
                await unlock(key, pin)
            yield key
            return
    from keybridge.session import KeySession

    async with KeySession.connect(device_url(device), options) as key:
        _require_pairing(key, pin)
        await unlock(key, pin)
        yield key


def _require_pairing(key: KeySession, pin: PinPolicy) -> None:
    if pin is not PinPolicy.NEVER and not key.encrypted:
        # Said here, once: the key's own refusal repeats the advice in other words.
        from keybridge.protocol.constants import Status
        from keybridge.protocol.status import AccessDeniedError

        raise AccessDeniedError(
            Status.ACCESS_DENIED,
            "this host is not paired with the key: pair this host with `keybridge pair` first",
        )


@asynccontextmanager
async def open_key(
    *, pin: PinPolicy, set_time: bool = True, secure: bool = True
) -> AsyncIterator[KeySession]:
    """:func:`key_session` on the key named by ``--device``, with a countdown while the key
    waits for its button.

    The connection opens an encrypted session when this host is paired with the key. With
    ``PinPolicy.REQUIRED`` and a PIN set on the key, the PIN is verified for this session,
    unless the agent holds the key unlocked.
    """
    from keybridge.session import ConnectOptions

    options = ConnectOptions(set_time=set_time, on_keepalive=_countdown, secure=secure)
    async with key_session(settings().device, options, pin) as key:
        yield key


async def completion_names(device: str | None) -> list[str]:
    """The credential names for shell completion: a quick connection that never asks for a
    PIN nor tries one (a wrong one would count against the key's retries)."""
    from keybridge.session import ConnectOptions

    options = ConnectOptions(set_time=False, timeout=1.0, retries=1)
    async with key_session(device, options, PinPolicy.CACHED) as key:
        return [entry.name for entry in await key.otp_list()]


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
