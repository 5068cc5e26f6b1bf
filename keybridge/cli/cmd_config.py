"""``keybridge config get|set|unset|path``: the settings file (``config.toml``)."""

from __future__ import annotations

import click

from keybridge.cli.common import report, user_config


def _complete_keys(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    from keybridge.userconfig import KEYS

    return [
        click.shell_completion.CompletionItem(key, help=setting.help)
        for key, setting in KEYS.items()
        if key.startswith(incomplete)
    ]


@click.group()
def config() -> None:
    """Your settings: default device, layout, issuer, agent and hotkey (a TOML file).

    Keys: device, layout, issuer, agent.use, agent.pin_timeout, hotkey.keys,
    hotkey.credential, hotkey.enter. `--device` and KEYBRIDGE_DEVICE win over `device`.
    """


@config.command("path")
def path() -> None:
    """Print where the settings file is (it may not exist yet)."""
    from keybridge.userconfig import config_path

    where = config_path()
    report({"path": str(where), "exists": where.exists()}, lambda r: r["path"])


@config.command("get")
@click.argument("key", required=False, shell_complete=_complete_keys)
def get(key: str | None) -> None:
    """Print KEY's value, or every setting that is set."""
    settings = user_config()
    if key is None:
        values = dict(settings.values)
        report(values, lambda v: "\n".join(f"{k} = {_text(x)}" for k, x in v.items()))
        return
    value = settings.get(key)
    report({"key": key, "value": value}, lambda r: "" if r["value"] is None else _text(r["value"]))


@config.command("set")
@click.argument("key", shell_complete=_complete_keys)
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Set KEY to VALUE (true/false for agent.use and hotkey.enter, seconds for
    agent.pin_timeout)."""
    stored = user_config().set(key, value)
    report({"key": key, "value": stored}, lambda r: f"{key} = {_text(r['value'])}")


@config.command("unset")
@click.argument("key", shell_complete=_complete_keys)
def unset(key: str) -> None:
    """Remove KEY (its default applies again)."""
    user_config().set(key, None)
    report({"key": key, "value": None}, lambda _: f"{key} is no longer set.")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
