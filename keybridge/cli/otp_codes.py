"""``keybridge otp code``'s forms: one code, every code, copied to the clipboard, watched."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from keybridge.cli.common import PinPolicy, open_key, report, run, settings
from keybridge.cli.names import match_name
from keybridge.errors import InvalidInputError
from keybridge.otp.codes import OtpKind
from keybridge.protocol.constants import Status
from keybridge.protocol.status import NotFoundError

if TYPE_CHECKING:
    from keybridge.session import CredentialInfo, KeySession

Fields = dict[str, Any]


async def _pick(key: KeySession, query: str | None) -> CredentialInfo:
    """The one credential ``query`` picks; without a query, the only one on the key."""
    entries = await key.otp_list()
    if query is None:
        if len(entries) == 1:
            return entries[0]
        if not entries:
            raise NotFoundError(
                Status.NOT_FOUND, "the key holds no credential: add one with `keybridge otp add`"
            )
        listing = ", ".join(e.name for e in entries)
        raise InvalidInputError(f"the key holds {len(entries)} credentials ({listing}): give NAME")
    name = match_name(query, [e.name for e in entries])
    return next(e for e in entries if e.name == name)


async def one_code(key: KeySession, query: str | None) -> Fields:
    entry = await _pick(key, query)
    result = await key.otp_calculate(entry.name)
    return {
        "name": entry.name,
        "code": result.code,
        "valid_until": result.valid_until,
        "counter": result.counter,
        "valid_for": result.valid_for,
    }


def render_code(r: Fields) -> str:
    if r["valid_for"] is not None:
        return f"{r['code']}  (valid for {r['valid_for']} s)"
    return str(r["code"])


def render_single(r: Fields) -> str:
    return str(r["code"])


async def all_codes(key: KeySession) -> Fields:
    """Every TOTP code that needs no button; the others listed with why they are not shown."""
    codes: list[Fields] = []
    for entry in await key.otp_list():
        item: Fields = {"name": entry.name, "kind": entry.kind.name, "code": None}
        if entry.require_button:
            item["not_computed"] = "needs the button: give its name"
        elif entry.kind is OtpKind.HOTP:
            item["not_computed"] = "HOTP: give its name (computing uses up a counter value)"
        else:
            result = await key.otp_calculate(entry.name)
            item.update(code=result.code, valid_for=result.valid_for)
        codes.append(item)
    return {"codes": codes}


def render_all(r: Fields) -> str:
    codes = r["codes"]
    if not codes:
        return "No credentials on the key."
    width = max(len(c["name"]) for c in codes)
    lines = []
    for c in codes:
        if c["code"] is None:
            lines.append(f"{c['name']:<{width}}  [{c['not_computed']}]")
        else:
            lines.append(f"{c['name']:<{width}}  {c['code']}  (valid for {c['valid_for']} s)")
    return "\n".join(lines)


def copy(query: str | None) -> None:
    """Compute the code and put it on the clipboard, cleared after 30 s (the code is not
    printed). The clipboard tool is found first: without one the key is not asked."""
    from keybridge.clipboard import CLEAR_AFTER, clear_later, find_clipboard

    tool = find_clipboard()

    async def go() -> Fields:
        async with open_key(pin=PinPolicy.REQUIRED) as key:
            return await one_code(key, query)

    result = run(go())
    tool.copy(result["code"])
    clear_later(tool, result["code"], CLEAR_AFTER)
    fields = {k: v for k, v in result.items() if k != "code"}
    fields.update(copied=True, cleared_after=CLEAR_AFTER)
    report(
        fields,
        lambda f: (
            f"Copied the code for {f['name']} to the clipboard (cleared in {f['cleared_after']} s)."
        ),
    )


def watch(query: str | None) -> None:
    """A live countdown that renews the code as it expires, until Ctrl-C (exit 0)."""
    try:
        run(_watch(query))
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            click.echo("", err=True)


async def _watch(query: str | None) -> None:
    import json

    live = sys.stdout.isatty() and not settings().as_json
    async with open_key(pin=PinPolicy.REQUIRED) as key:
        entry = await _pick(key, query)
        if entry.kind is OtpKind.HOTP:
            raise click.UsageError(
                f"{entry.name} is an HOTP credential: its code changes only when asked "
                "(drop --watch)"
            )
        while True:
            result = await one_code(key, entry.name)
            # At least a second per code: a key whose clock stands still renews no faster.
            expires = time.monotonic() + max(1, result["valid_for"] or 0)
            if settings().as_json:
                click.echo(json.dumps({"ok": True, **result}))
            elif not live:
                click.echo(render_code(result))
            while True:
                left = max(0, round(expires - time.monotonic()))
                if live:
                    click.echo(f"\r{entry.name}  {result['code']}  ({left:2d} s left) ", nl=False)
                if left <= 0:
                    break
                await asyncio.sleep(min(1.0, max(0.05, expires - time.monotonic())))
            if live:
                click.echo("")
