"""``keybridge agent``: run the host agent (foreground), or ``start`` / ``stop`` / ``status`` /
``lock`` / ``unlock`` it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from keybridge.cli.common import (
    Fields,
    PinPolicy,
    report,
    run,
    settings,
    user_config,
    with_key,
)
from keybridge.cli.output import table

if TYPE_CHECKING:
    from keybridge.agent.hotkey import HotkeyOptions
    from keybridge.userconfig import UserConfig

F = TypeVar("F", bound=Callable[..., Any])

START_TIMEOUT = 30.0
"""Seconds ``agent start`` waits for the agent's READY line (a BLE key can take a while)."""


def _agent_options(command: F) -> F:
    command = click.option(
        "--pin-timeout",
        type=click.FloatRange(0),
        metavar="S",
        help="Seconds the agent keeps a verified PIN (in memory only; 0: never; default: "
        "agent.pin_timeout in the settings file, else 900).",
    )(command)
    return click.option(
        "--device",
        "-d",
        "device",
        metavar="URL",
        help="Key to serve (default: keybridge's --device, $KEYBRIDGE_DEVICE, the settings "
        "file's device, or the only one).",
    )(command)


def _hotkey_options(command: F) -> F:
    options = [
        click.option(
            "--hotkey",
            metavar="KEYS",
            help="Global hotkey that types the code into the focused window "
            "(default: hotkey.keys in the settings file, else ctrl+alt+o, when an X display "
            "is set).",
        ),
        click.option("--no-hotkey", is_flag=True, help="Grab no hotkey."),
        click.option(
            "--credential",
            metavar="NAME",
            help="The credential the hotkey types (default: hotkey.credential, the settings "
            "file's rules, or the only one).",
        ),
        click.option(
            "--enter/--no-enter",
            default=None,
            help="Whether the hotkey types Enter after the code (default: hotkey.enter, else yes).",
        ),
        click.option(
            "--layout",
            metavar="L",
            help="Keyboard layout the hotkey types for: us, uk, de, fr (default: the desktop's).",
        ),
        click.option(
            "--config",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Read this settings file instead of config.toml (the hotkey's options and "
            "rules, the device, the PIN timeout).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings_file(config: Path | None) -> UserConfig:
    """The settings the agent reads: ``--config FILE``, else ``config.toml``."""
    from keybridge.userconfig import UserConfig

    return UserConfig.load(config) if config is not None else user_config()


def _pin_timeout(given: float | None, config: UserConfig) -> float:
    from keybridge.agent.core import DEFAULT_PIN_TIMEOUT

    if given is not None:
        return given
    stored = config.get("agent.pin_timeout")
    return float(stored) if stored is not None else DEFAULT_PIN_TIMEOUT


def _hotkey_from(hotkey: dict[str, Any], config: UserConfig) -> HotkeyOptions | None:
    """The hotkey's options (the command line's, else the settings file's), checked now: a
    bad spec or settings file is one line."""
    from keybridge.agent.hotkey import DEFAULT_HOTKEY, Hotkey, HotkeyOptions
    from keybridge.agent.windows import rules_of
    from keybridge.keyboard import get_layout

    spec = hotkey["hotkey"]
    if hotkey["no_hotkey"]:
        if spec is not None:
            raise click.UsageError("give --hotkey or --no-hotkey, not both")
        return None
    parsed = Hotkey.parse(spec or config.get("hotkey.keys") or DEFAULT_HOTKEY)
    layout = hotkey["layout"]
    enter = hotkey["enter"]
    if spec is None and not os.environ.get("DISPLAY"):
        return None  # a headless agent: no hotkey unless asked for
    return HotkeyOptions(
        parsed,
        credential=hotkey["credential"] or config.get("hotkey.credential"),
        enter=enter if enter is not None else config.get("hotkey.enter") is not False,
        layout=get_layout(layout).id if layout is not None else None,
        rules=tuple(rules_of(config)),
    )


def _hotkey_args(hotkey: dict[str, Any]) -> list[str]:
    """The hotkey's options as ``keybridge agent`` arguments (for ``agent start``)."""
    args: list[str] = []
    for name, value in hotkey.items():
        flag = "--" + name.replace("_", "-")
        if name == "enter" and value is not None:
            args.append("--enter" if value else "--no-enter")
        elif value is True:
            args.append(flag)
        elif value not in (None, False):
            args += [flag, str(value)]
    return args


@click.group(invoke_without_command=True)
@_agent_options
@_hotkey_options
@click.pass_context
def agent(
    ctx: click.Context, /, device: str | None, pin_timeout: float | None, **hotkey: Any
) -> None:
    """Run the host agent in the foreground; it prints `READY agent SOCKET` once it serves.

    While it runs, every keybridge command uses it: one connection to the key, the PIN asked
    once and kept for --pin-timeout. See docs/agent.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    from keybridge.agent.paths import socket_path
    from keybridge.agent.run import serve
    from keybridge.discovery import resolve_device
    from keybridge.log import configure_logging

    config = _settings_file(hotkey["config"])
    hotkey_options = _hotkey_from(hotkey, config)
    timeout = _pin_timeout(pin_timeout, config)
    url = resolve_device(device or settings().device or config.get("device"))
    configure_logging(settings().verbose)
    _warn_of_an_old_rules_file()

    def ready(path: Path) -> None:
        click.echo(f"READY agent {path}")
        sys.stdout.flush()

    run(serve(url, socket_path(), pin_timeout=timeout, ready=ready, hotkey=hotkey_options))


def _warn_of_an_old_rules_file() -> None:
    from keybridge.hostconfig import config_dir

    old = config_dir() / "agent.toml"
    if old.exists():
        click.echo(
            f"Warning: {old} is no longer read: move its [[rule]] tables into config.toml "
            "as [[hotkey.rules]] tables (see `keybridge config path`)",
            err=True,
        )


def _call(op: str) -> Any:
    from keybridge.agent.client import AgentClient

    async def go() -> Any:
        client = await AgentClient.connect()
        try:
            return await client.call(op)
        finally:
            await client.close()

    return run(go())


@agent.command("start")
@_agent_options
@_hotkey_options
def start(device: str | None, pin_timeout: float | None, **hotkey: Any) -> None:
    """Start the agent in the background; returns once it serves."""
    from keybridge.agent.paths import LOG_NAME, prepare_directory, socket_path
    from keybridge.agent.wire import AgentUnavailableError
    from keybridge.discovery import resolve_device
    from keybridge.errors import KeybridgeError

    path = socket_path()
    try:
        status = _call("status")
    except AgentUnavailableError:
        pass
    else:
        raise KeybridgeError(
            f"an agent already runs (pid {status['pid']}) at {path}: stop it first with"
            " `keybridge agent stop`"
        )
    # A bad hotkey or settings file: one line here, not in the log.
    config = _settings_file(hotkey["config"])
    _hotkey_from(hotkey, config)
    timeout = _pin_timeout(pin_timeout, config)
    url = resolve_device(device or settings().device or config.get("device"))
    log_path = prepare_directory(path.parent) / LOG_NAME
    args = [sys.executable, "-m", "keybridge"]
    args += ["-v"] * settings().verbose
    args += ["agent", "--device", url, "--pin-timeout", str(timeout), *_hotkey_args(hotkey)]
    pid, line = _spawn(args, log_path)
    if not line.startswith("READY agent "):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise KeybridgeError(f"the agent did not start: {tail[0]} (log: {log_path})")
    report(
        {"pid": pid, "socket": line.removeprefix("READY agent "), "device": url},
        lambda r: f"Agent started (pid {r['pid']}) for {r['device']} on {r['socket']}.",
    )


def _spawn(args: list[str], log_path: Path) -> tuple[int, str]:
    """Start ``args`` detached (its own session: the terminal's Ctrl-C and hang-up do not
    reach it; stderr to ``log_path``); its pid and first stdout line ("" if it exits or says
    nothing for START_TIMEOUT)."""
    import select

    read_end, write_end = os.pipe()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        pid = os.posix_spawn(
            args[0],
            args,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
                (os.POSIX_SPAWN_CLOSE, read_end),
            ],
            setsid=True,
        )
    finally:
        os.close(write_end)
        os.close(log)
    with os.fdopen(read_end, "rb") as output:
        ready, _, _ = select.select([output], [], [], START_TIMEOUT)
        line = output.readline().decode(errors="replace").strip() if ready else ""
    return pid, line


@agent.command("stop")
def stop() -> None:
    """Stop the running agent (it forgets the PIN and closes the key's connection)."""
    import time

    from keybridge.agent.paths import socket_path

    status = _call("status")
    _call("stop")
    path = socket_path()
    deadline = time.monotonic() + 5.0
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    report({"stopped": True, "pid": status["pid"]}, lambda r: f"Agent stopped (pid {r['pid']}).")


def render_status(s: Fields) -> str:
    left = int(s["unlock_expires_in"] or 0)
    unlock = f"unlocked ({left} s left)" if s["unlocked"] else "locked"
    key = f"connected ({s['serial']})" if s["connected"] else "not connected (retrying)"
    return table(
        [
            ("socket", s["socket"]),
            ("pid", s["pid"]),
            ("device", s["device"]),
            ("key", key),
            ("session", "encrypted" if s["encrypted"] else "not encrypted"),
            ("PIN", unlock),
            ("PIN timeout", f"{s['pin_timeout']:g} s"),
        ]
    )


@agent.command("status")
def status() -> None:
    """Show whether an agent runs, its key and whether it holds the PIN unlock."""
    from keybridge.agent.paths import socket_path

    report({**_call("status"), "socket": str(socket_path())}, render_status)


@agent.command("lock")
def lock() -> None:
    """Make the agent forget the PIN now (e.g. from a screen locker's hook)."""
    _call("lock")
    report({"locked": True}, lambda _: "The agent forgot the PIN; the key is locked.")


@agent.command("unlock")
def unlock() -> None:
    """Give the agent the key's PIN now (kept for its --pin-timeout)."""
    _call("status")  # an agent must run: unlocking a direct connection would be pointless
    _unlock()


@with_key(pin=PinPolicy.REQUIRED, render=lambda _: "The agent holds the PIN unlock.")
async def _unlock(key: Any) -> Fields:
    return {"unlocked": True}
