"""``keybridge`` entry point: global options, lazy command loading, error mapping.

Commands live one group per module and are imported only when run, so ``keybridge --help`` and
commands that do not touch BLE, QR codes or the HES model never import them.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

import click

from keybridge.cli.errors import ExitCode, exit_code_for, in_user_terms
from keybridge.errors import KeybridgeError

# name -> (module, attribute, one-line help shown by --help without importing the module)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "agent": ("keybridge.cli.cmd_agent", "agent", "Run the host agent, or start/stop it."),
    "devices": ("keybridge.cli.cmd_key", "devices", "List keys on serial ports, simulators, BLE."),
    "info": ("keybridge.cli.cmd_key", "info", "Show a key's identity, versions and state."),
    "reset": ("keybridge.cli.cmd_key", "reset", "Factory-reset a key (erases every credential)."),
    "otp": ("keybridge.cli.cmd_otp", "otp", "Store, list, compute and type OTP codes."),
    "hes": ("keybridge.cli.cmd_hes", "hes", "Drive the HES two-factor model on a SQLite file."),
    "sim": ("keybridge.cli.cmd_sim", "sim", "Run a simulated key."),
    "loadtest": (
        "keybridge.cli.cmd_loadtest",
        "loadtest",
        "Log in to an HES with many simulated keys (Locust).",
    ),
    "demo": ("keybridge.cli.cmd_demo", "demo", "Run the end-to-end story on a simulated key."),
    "pair": ("keybridge.cli.cmd_security", "pair", "Pair this host with a key (button press)."),
    "unpair": ("keybridge.cli.cmd_security", "unpair", "Remove a host's pairing from the key."),
    "pin": ("keybridge.cli.cmd_security", "pin", "Set, change or check the key's PIN."),
    "config": ("keybridge.cli.cmd_config", "config", "Show or change your settings (config.toml)."),
    "doctor": ("keybridge.cli.cmd_doctor", "doctor", "Check what this computer has for keybridge."),
    "completion": ("keybridge.cli.cmd_help", "completion", "Print a shell completion script."),
    "man": ("keybridge.cli.cmd_help", "man", "Print the manual page (troff), made from --help."),
}


class CliError(click.ClickException):
    """A library error shown as one line, with the exit code of its kind."""

    def __init__(self, error: KeybridgeError) -> None:
        super().__init__(in_user_terms(str(error)))
        self.exit_code = exit_code_for(error)  # type: ignore[misc]


class Settings:
    """Global options, passed to commands as the click context object."""

    # A plain class: dataclasses (and the inspect module it loads) would add ~10 ms to every
    # start, --help included.
    __slots__ = ("as_json", "device", "pin_stdin", "verbose")

    def __init__(
        self, device: str | None, as_json: bool, verbose: int, pin_stdin: bool = False
    ) -> None:
        self.device = device
        self.as_json = as_json
        self.verbose = verbose
        self.pin_stdin = pin_stdin


class LazyGroup(click.Group):
    """The root group: loads commands on demand and is the one place errors become one line.

    Library errors, click's usage errors and aborted prompts all leave as one ``Error: ...``
    line on stderr with their exit code (and, with ``--json``, the JSON error object on
    stdout): the group's own options fail in :meth:`make_context`, everything below it in
    :meth:`invoke`.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        as_json = "--json" in args  # before parsing consumes them; nothing is parsed on error
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc, as_json=as_json) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS:
            module, attr, _ = _COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                # A warning (a short OTP key...) is one line for the user, not a source location.
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except KeybridgeError as exc:
            import logging  # only here: --help and commands that never log do without it

            log = logging.getLogger("keybridge")
            if log.isEnabledFor(logging.DEBUG):
                log.debug("error details", exc_info=exc)
            error = CliError(exc)
            if isinstance(ctx.obj, Settings) and ctx.obj.as_json:
                _echo_json_error(exc, error.exit_code)
            raise error from exc
        except KeyboardInterrupt:
            # Ctrl-C while waiting for the key: the documented exit code, not click's "Aborted!".
            if sys.stderr.isatty():
                click.echo("", err=True)  # ends the line the terminal's ^C is on
            raise _one_line(KeyboardInterrupt(), as_json=_as_json(ctx)) from None
        except (click.UsageError, click.Abort) as exc:
            raise _one_line(exc, as_json=_as_json(ctx)) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in sorted(_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--device",
    "-d",
    envvar="KEYBRIDGE_DEVICE",
    metavar="URL",
    help="Key to use: a serial device path, socket://HOST:PORT, ble://ADDRESS or ble:NAME "
    "(default: $KEYBRIDGE_DEVICE, or the only key attached).",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option(
    "--pin-stdin",
    is_flag=True,
    help="Read the key's PIN from the first line of stdin (scripts; $KEYBRIDGE_PIN also "
    "works, both less safe than an agent's cached unlock).",
)
@click.option("-v", "--verbose", count=True, help="-v: log; -vv: also hex-dump every frame.")
@click.version_option(package_name="keybridge", prog_name="keybridge")
@click.pass_context
def cli(
    ctx: click.Context, device: str | None, as_json: bool, pin_stdin: bool, verbose: int
) -> None:
    """keybridge: keep your HES two-factor secret on a key that types the code."""
    ctx.obj = Settings(device=device, as_json=as_json, verbose=verbose, pin_stdin=pin_stdin)
    if verbose:
        from keybridge.log import configure_logging

        configure_logging(verbose)


class _OneLineError(click.ClickException):
    """Shown by click as ``Error: MESSAGE`` on stderr, nothing else, exiting ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]


def _one_line(
    exc: click.UsageError | click.Abort | KeyboardInterrupt, *, as_json: bool
) -> click.ClickException:
    """The one-line error for a usage error, an aborted prompt or Ctrl-C (README "Exit
    codes"); with ``as_json`` the JSON error object is printed now. Raise what it returns.

    An aborted prompt is told apart by the exception click raised it from: Ctrl-C is an
    interruption (130), end of input is an unanswered prompt and a "no" a declined one (1).
    """
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc  # `keybridge` alone: the help text, as click shows it
    cause = exc.__context__ if isinstance(exc, click.Abort) else exc
    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx is not None else "keybridge"
        message = " ".join(exc.format_message().split()).rstrip(".")
        kind, text, code = "UsageError", f"{message} (see `{command} --help`)", ExitCode.BAD_INPUT
    elif isinstance(cause, KeyboardInterrupt):
        kind, text, code = "Interrupted", "interrupted", ExitCode.INTERRUPTED
    elif isinstance(cause, EOFError):
        kind, code = "Aborted", ExitCode.REFUSED
        text = "aborted: the prompt got no answer (end of input); answer it, or see --help"
    else:
        kind, text, code = "Aborted", "aborted: not confirmed", ExitCode.REFUSED
    if as_json:
        _echo_json({"type": kind, "message": text, "exit_code": int(code)})
    return _OneLineError(text, code)


def _as_json(ctx: click.Context) -> bool:
    # The root's parsed options: a subcommand's name is resolved before the group's callback
    # has made the Settings.
    return bool(ctx.find_root().params.get("as_json"))


def _echo_json_error(exc: KeybridgeError, exit_code: int) -> None:
    """With --json, a failure is a JSON object on stdout too (the stderr line stays)."""
    error: dict[str, Any] = {"type": type(exc).__name__, "message": in_user_terms(str(exc))}
    status = getattr(exc, "status", None)  # a DeviceError: the key's status
    if status is not None:
        error["status"] = getattr(status, "name", status)
    attempts = getattr(exc, "attempts_remaining", None)
    if attempts is not None:
        error["attempts_remaining"] = attempts
    error["exit_code"] = exit_code
    _echo_json(error)


def _echo_json(error: dict[str, Any]) -> None:
    import json

    click.echo(json.dumps({"ok": False, "error": error}, indent=2))


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    click.echo(f"Warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the ``keybridge`` console script)."""
    cli.main(args=argv, prog_name="keybridge")


if __name__ == "__main__":
    main()
