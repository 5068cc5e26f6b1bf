"""``keybridge otp``: store, list, compute, type, delete and rename OTP credentials."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keybridge.cli.common import (
    Fields,
    PinPolicy,
    confirm,
    open_key,
    report,
    require_terminal,
    run,
    says,
    settings,
    user_config,
    with_key,
)
from keybridge.cli.names import complete_layouts, complete_names, match_name
from keybridge.errors import InvalidInputError

if TYPE_CHECKING:
    from keybridge.keyboard.backends import KeyboardBackend
    from keybridge.otp import Credential
    from keybridge.session import CredentialInfo, KeySession

LAYOUT_HELP = "Keyboard layout of the computer the code is typed on."


class LayoutType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3
    """A keyboard layout id (``gb`` is ``uk``), completed from the layouts keybridge knows."""

    name = "[us|uk|de|fr]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from keybridge.keyboard import get_layout

        try:
            layout: str = get_layout(str(value)).id
            return layout
        except InvalidInputError as exc:
            self.fail(str(exc), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        return complete_layouts(incomplete)


LAYOUT = LayoutType()


@click.group()
def otp() -> None:
    """Store, list, compute and type OTP codes on the key."""


def _canonical_layout(layout: str | None) -> str | None:
    """The layout id the key knows ("gb" -> "uk"); a clear error before anything reaches the key."""
    if layout is None:
        return None
    from keybridge.keyboard import get_layout

    return get_layout(layout).id


def _credential_from_options(
    secret: str | None,
    uri: str | None,
    qr: Path | None,
    digits: int | None,
    period: int | None,
    algorithm: str | None,
    hotp: bool,
    counter: int | None,
) -> Credential:
    """The credential ``otp add`` stores: from --secret and options, or from a URI / QR code
    with the options given overriding it. ``uri == "-"`` reads the URI from stdin."""
    from keybridge.otp import Algorithm, Credential, OtpKind

    if len([s for s in (secret, uri, qr) if s is not None]) > 1:
        raise click.UsageError("give one of --secret, --uri and --qr")
    if counter is not None and not hotp and uri is None and qr is None:
        raise click.UsageError("--counter applies to --hotp credentials only")
    if period is not None and hotp:
        raise click.UsageError("--period applies to TOTP credentials only: drop it for --hotp")
    if qr is not None or uri is not None:
        if uri == "-":
            uri = _uri_from_stdin()
        parsed = Credential.from_qr(qr) if qr is not None else Credential.from_uri(str(uri))
        if counter is not None and parsed.kind is not OtpKind.HOTP:
            raise click.UsageError("--counter applies to HOTP credentials only")
        if period is not None and parsed.kind is OtpKind.HOTP:
            raise click.UsageError("--period applies to TOTP credentials only")
        overrides: dict[str, Any] = {
            "digits": digits,
            "period": period,
            "counter": counter,
            "algorithm": None if algorithm is None else Algorithm.parse(algorithm),
        }
        return dataclasses.replace(parsed, **{k: v for k, v in overrides.items() if v is not None})
    if secret is None:
        secret = click.prompt("Secret (Base32, as shown by HES)", hide_input=True, err=True)
    assert secret is not None
    return Credential.from_secret(
        secret,
        kind="hotp" if hotp else "totp",
        algorithm=algorithm or "SHA1",
        digits=digits if digits is not None else 6,
        period=period if period is not None else 30,
        counter=counter,
    )


def _uri_from_stdin() -> str:
    """An otpauth:// URI from stdin: a line holding it, or the JSON `keybridge --json hes
    enable-otp EMAIL` prints (its ``uri``)."""
    import json
    import sys

    text = sys.stdin.read(1 << 16).strip()
    if text.startswith("{"):
        try:
            document: Any = json.loads(text)
            uri = document.get("uri")
        except (ValueError, AttributeError):
            uri = None
        if not isinstance(uri, str):
            raise InvalidInputError(
                '--uri - read JSON without a "uri" string: pipe `keybridge --json hes '
                "enable-otp EMAIL` or an otpauth:// URI"
            )
        return uri
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise InvalidInputError("--uri - read nothing from stdin: pipe an otpauth:// URI into it")


@otp.command("add")
@click.argument("name", required=False)
@click.option("--secret", metavar="BASE32", help="The secret (prompted without echo if absent).")
@click.option(
    "--uri", metavar="URI", help="An otpauth:// URI; - reads it (or enable-otp JSON) from stdin."
)
@click.option(
    "--qr",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A screenshot or photo of the enrolment QR code.",
)
@click.option("--issuer", help="Issuer (e.g. HES.Web); the name becomes ISSUER:NAME.")
@click.option("--digits", type=click.IntRange(6, 8), help="Code length (default 6).")
@click.option("--period", type=click.IntRange(15, 120), help="TOTP period in seconds (default 30).")
@click.option(
    "--algorithm",
    type=click.Choice(["SHA1", "SHA256", "SHA512"], case_sensitive=False),
    help="HMAC algorithm (default SHA1).",
)
@click.option("--hotp", is_flag=True, help="Counter-based (HOTP) instead of time-based.")
@click.option("--counter", type=click.IntRange(0), help="Initial HOTP counter (default 0).")
@click.option("--touch", is_flag=True, help="Require a button press for every code.")
@click.option("--layout", type=LAYOUT, help=LAYOUT_HELP)
@click.option("-f", "--force", is_flag=True, help="Replace a credential of the same name unasked.")
def add(
    name: str | None,
    secret: str | None,
    uri: str | None,
    qr: Path | None,
    issuer: str | None,
    digits: int | None,
    period: int | None,
    algorithm: str | None,
    hotp: bool,
    counter: int | None,
    touch: bool,
    layout: str | None,
    force: bool,
) -> None:
    """Store a credential on the key. The secret never leaves it again.

    A URI or QR code names it ISSUER:ACCOUNT (HES.Web:you@example.com); NAME overrides that.
    Replacing a credential of the same name asks first (--force does not).
    """
    from keybridge.otp.names import check_name

    if uri == "-" and settings().pin_stdin:
        raise click.UsageError("--uri - and --pin-stdin both read stdin: set KEYBRIDGE_PIN instead")
    if name is None and uri is None and qr is None:
        raise click.UsageError("give NAME: only a URI or QR code names the credential itself")
    cred = _credential_from_options(secret, uri, qr, digits, period, algorithm, hotp, counter)
    if name is None:
        # The URI's label, issuer included; --issuer replaces the URI's issuer.
        name = cred.account if issuer else cred.name
        if name is None:
            raise click.UsageError("the URI names no account: give NAME")
    else:
        if issuer is None and uri is None and qr is None:  # a bare secret: the default issuer
            issuer = user_config().get("issuer")
    if issuer is not None:
        check_name(issuer, "the issuer")
    if issuer and not name.startswith(f"{issuer}:"):
        name = f"{issuer}:{name}"
    check_name(name)  # before connecting: bad input never reaches the key
    _store(cred, name, require_button=touch, layout=layout, overwrite=force)


@with_key(pin=PinPolicy.REQUIRED, render=says("Stored {name} on the key."))
async def _store(
    key: KeySession,
    cred: Credential,
    name: str,
    *,
    require_button: bool,
    layout: str | None,
    overwrite: bool,
) -> Fields:
    import asyncio

    from keybridge.protocol.status import AlreadyExistsError

    try:
        await key.otp_put(
            cred, name, require_button=require_button, layout=layout, overwrite=overwrite
        )
    except AlreadyExistsError:
        # Re-enrolling the same account: the old secret is stale, but replacing it is the
        # user's call.
        await asyncio.to_thread(
            confirm,
            f"{name} is already on the key: replace it (its old secret is lost)?",
            refusal=f"{name!r} is already on the key and was kept: replace it with --force, "
            "or pick another name",
        )
        await key.otp_put(cred, name, require_button=require_button, layout=layout, overwrite=True)
        return {"name": name, "stored": True, "replaced": True}
    return {"name": name, "stored": True}


def render_list(items: list[CredentialInfo]) -> str:
    if not items:
        return "No credentials on the key."
    lines = []
    for e in items:
        flags = " touch" if e.require_button else ""
        lines.append(f"{e.name}  ({e.kind.name}, {e.digits} digits{flags})")
    return "\n".join(lines)


@otp.command("list")
@with_key(pin=PinPolicy.REQUIRED, render=render_list)
async def list_(key: KeySession) -> list[CredentialInfo]:
    """List the credentials on the key (never their secrets)."""
    return await key.otp_list()


async def resolve(key: KeySession, query: str) -> str:
    """The credential name ``query`` picks (a unique, case-insensitive part of one)."""
    return match_name(query, [entry.name for entry in await key.otp_list()])


@otp.command("code")
@click.argument("query", metavar="[NAME]", required=False, shell_complete=complete_names)
@click.option("-s", "--single", is_flag=True, help="Print the code alone (one credential).")
@click.option("--copy", is_flag=True, help="Copy the code to the clipboard (cleared after 30 s).")
@click.option(
    "--watch", is_flag=True, help="Show the code live, renewed as it expires; Ctrl-C ends."
)
def code(query: str | None, single: bool, copy: bool, watch: bool) -> None:
    """Have the key compute the code for NAME (a unique part of a name is enough).

    Without NAME, every code: those that need the button, and HOTP ones (computing one uses
    up a counter value), are listed but not computed.
    """
    from keybridge.cli import otp_codes

    if copy and watch:
        raise click.UsageError("give --copy or --watch, not both")
    if query is None and not (single or copy or watch):
        with_key(pin=PinPolicy.REQUIRED, render=otp_codes.render_all)(otp_codes.all_codes)()
    elif watch:
        otp_codes.watch(query)
    elif copy:
        otp_codes.copy(query)
    else:
        render = otp_codes.render_single if single else otp_codes.render_code
        with_key(pin=PinPolicy.REQUIRED, render=render)(otp_codes.one_code)(query)


@otp.command("type")
@click.argument("query", metavar="NAME", shell_complete=complete_names)
@click.option("--enter", is_flag=True, help="Press Enter after the code.")
@click.option(
    "--layout",
    type=LAYOUT,
    help=LAYOUT_HELP + " (default: config; else with --to os the desktop's, with --to browser us,"
    " otherwise the credential's)",
)
@click.option(
    "--to",
    "backend",
    type=click.Choice(["os", "stdout", "browser", "key"]),
    default="os",
    show_default=True,
    help="Where the keystrokes go: the focused window (os: X11, or uinput), this terminal "
    "(stdout), the focused field of a browser's active page (browser, with --cdp), or the "
    "computer bonded with the key as a Bluetooth keyboard, which the key types into (key).",
)
@click.option(
    "--cdp",
    metavar="URL",
    help="With --to browser: the DevTools address of a Chromium started with "
    "--remote-debugging-port (e.g. http://127.0.0.1:9222).",
)
@click.option(
    "--delay",
    type=click.FloatRange(0, 600),
    default=0,
    metavar="SECONDS",
    help="Wait this long first, to focus the field the code goes to.",
)
def type_(
    query: str, enter: bool, layout: str | None, backend: str, cdp: str | None, delay: float
) -> None:
    """Have the key type the current code for NAME (a unique part of a name is enough)."""
    import time

    from keybridge.keyboard import SinkBackend, get_backend

    if (backend == "browser") != (cdp is not None):
        raise click.UsageError("--to browser and --cdp URL go together: give both or neither")
    layout = layout or user_config().get("layout")
    if backend == "os":
        from keybridge.keyboard.desktop import resolve_layout

        # The desktop's keymap makes the characters: the key must type for that layout.
        layout = resolve_layout(layout)
    elif backend == "browser":
        layout = _canonical_layout(layout or "us")  # the browser types key codes as a US keyboard
    else:
        layout = _canonical_layout(layout)
    # With --json, what stdout would show goes into the JSON result instead.
    to_json = backend == "stdout" and settings().as_json
    # --to stdout: the keystrokes are the output, nothing else is printed (but with --json).
    quiet = backend == "stdout"

    def said(result: Fields) -> str:
        return "" if quiet else f"Typed the code for {result['name']}."

    # Before the key is asked: the code is computed when it is typed, not before the wait.
    time.sleep(delay)
    if cdp is not None:
        report(run(_type_into_browser(query, enter, layout, cdp)), said)
        return
    if backend == "key":
        with_key(pin=PinPolicy.REQUIRED, render=said)(_type_on_key)(query, enter, layout)
        return
    sink = SinkBackend() if to_json else get_backend(backend)
    deliver = with_key(pin=PinPolicy.REQUIRED, render=said)(_deliver)
    deliver(query, enter, layout, sink)


async def _type_on_key(key: KeySession, query: str, enter: bool, layout: str | None) -> Fields:
    name = await resolve(key, query)
    used = await key.otp_type_on_key(name, enter=enter, layout=layout)
    return {"name": name, "typed": True, "layout": used, "on_key": True}


async def _type_into_browser(name: str, enter: bool, layout: str | None, cdp: str) -> Fields:
    from keybridge.keyboard.browser import BrowserBackend, open_cdp_page

    # The browser is reached before the key: an unreachable one costs the key nothing.
    async with open_cdp_page(cdp) as page, open_key(pin=PinPolicy.REQUIRED) as key:
        return await _deliver(key, name, enter, layout, BrowserBackend(page))


async def _deliver(
    key: KeySession, query: str, enter: bool, layout: str | None, sink: KeyboardBackend
) -> Fields:
    from keybridge.keyboard import SinkBackend, get_layout

    name = await resolve(key, query)
    typed = await key.otp_type(name, enter=enter, layout=layout)
    await sink.deliver(typed.reports, get_layout(typed.layout))
    result = {"name": name, "typed": True, "layout": typed.layout, "keystrokes": len(typed.reports)}
    if isinstance(sink, SinkBackend):
        result["text"] = sink.text
    return result


@otp.command("delete")
@click.argument("query", metavar="NAME", shell_complete=complete_names)
@click.option("-f", "--force", is_flag=True, help="Do not ask (needed without a terminal).")
def delete(query: str, force: bool) -> None:
    """Delete NAME from the key (a unique part of a name is enough); asks first."""
    if not force:
        # Refused before connecting: nothing is asked of the key, not even the PIN.
        require_terminal(f"not deleted: confirm at a terminal, or give --force to delete {query!r}")
    _delete(query, force)


@with_key(pin=PinPolicy.REQUIRED, render=says("Deleted {name}."))
async def _delete(key: KeySession, query: str, force: bool) -> Fields:
    import asyncio

    name = await resolve(key, query)
    if not force:
        await asyncio.to_thread(
            confirm,
            f"Delete {name} from the key? Its secret cannot be read back",
            refusal=f"not deleted: give --force to delete {name!r}",
        )
    await key.otp_delete(name)
    return {"name": name, "deleted": True}


@otp.command("rename")
@click.argument("old", metavar="NAME", shell_complete=complete_names)
@click.argument("new", metavar="NEW_NAME")
def rename(old: str, new: str) -> None:
    """Rename a credential (NAME: a unique part of its name is enough)."""
    from keybridge.otp.names import check_name

    if not new.strip():
        raise InvalidInputError("the new name is empty: give 1-64 characters")
    check_name(new, "the new name")  # before connecting: bad input never reaches the key
    _rename(old, new)


@with_key(pin=PinPolicy.REQUIRED, render=says("Renamed {renamed_from} to {name}."))
async def _rename(key: KeySession, query: str, new: str) -> Fields:
    old = await resolve(key, query)
    await key.otp_rename(old, new)
    return {"name": new, "renamed_from": old}
