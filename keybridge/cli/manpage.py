"""A troff manual page (``man 7 groff_man``) made from the click command tree, so the manual
says what ``--help`` says: every command with its usage, help text and options."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime

import click

from keybridge.cli.errors import ExitCode

_EXIT_CODES = [
    (ExitCode.OK, "success"),
    (ExitCode.REFUSED, "refused by the key or the server; a prompt declined or unanswered"),
    (ExitCode.BAD_INPUT, "bad input or a usage error; an ambiguous name or device"),
    (ExitCode.NO_DEVICE, "no device, or the link to it failed or timed out"),
    (ExitCode.PROTOCOL, "protocol error (another protocol version, garbled answers)"),
    (ExitCode.INTERRUPTED, "interrupted (Ctrl-C)"),
]
_ENVIRONMENT = [
    ("KEYBRIDGE_DEVICE", "the key to use, as --device"),
    ("KEYBRIDGE_PIN", "the key's PIN, for scripts (less safe than an agent's cached unlock)"),
    ("KEYBRIDGE_CONFIG_DIR", "the config directory (settings and pairings)"),
]
_FILES = [
    ("config.toml", "settings (keybridge config path prints where)"),
    ("pairings.json", "this host's pairings with keys, mode 0600"),
]


def escape(text: str) -> str:
    """Text as troff reads it: backslashes doubled, a leading dot or quote made literal."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """Every command below ``command`` (itself first), each with its context."""
    yield command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))


def _paragraphs(text: str) -> list[str]:
    """Help text as troff paragraphs; click's ``\\b`` blocks stay as written (``.nf``)."""
    lines: list[str] = []
    import inspect

    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if lines:
            lines.append(".PP")
        if paragraph.startswith("\b"):
            lines += [".nf", escape(paragraph.removeprefix("\b").strip("\n")), ".fi"]
        else:
            lines.append(escape(" ".join(paragraph.split())))
    return lines


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        lines += [".TP", f"\\fB{escape(names)}\\fR", escape(help_text)]
    return lines


def _date() -> date:
    """Today, or ``$SOURCE_DATE_EPOCH``'s day (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).date()
    return date.today()


def render(cli: click.Group, *, name: str = "keybridge", version: str = "") -> str:
    """The manual page of ``cli`` as troff source."""
    root = click.Context(cli, info_name=name)
    out = [
        f'.TH {name.upper()} 1 "{_date().isoformat()}" "{escape(name)} {escape(version)}"'
        ' "User Commands"',
        ".SH NAME",
        f"{escape(name)} \\- {escape(cli.help or '').splitlines()[0].split(': ', 1)[-1]}",
        ".SH SYNOPSIS",
        f"\\fB{escape(name)}\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH OPTIONS",
        *_options(cli, root),
        ".SH COMMANDS",
    ]
    for command, ctx in walk(cli, root):
        if command is cli:
            continue
        pieces = command.collect_usage_pieces(ctx)
        out += [".SS", f"\\fB{escape(ctx.command_path)}\\fR {escape(' '.join(pieces))}"]
        out += _paragraphs(command.help or command.short_help or "")
        if not isinstance(command, click.Group):
            out += _options(command, ctx)
    out += [".SH EXIT STATUS"]
    for code, meaning in _EXIT_CODES:
        out += [".TP", f"\\fB{int(code)}\\fR", escape(meaning)]
    out += [".SH ENVIRONMENT"]
    for var, meaning in _ENVIRONMENT:
        out += [".TP", f"\\fB{var}\\fR", escape(meaning)]
    out += [".SH FILES", "In the config directory:"]
    for file, meaning in _FILES:
        out += [".TP", f"\\fI{file}\\fR", escape(meaning)]
    return "\n".join(line for line in out if line != "") + "\n"
