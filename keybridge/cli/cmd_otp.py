"""``keybridge otp``: store, list, compute, type, delete and rename OTP credentials."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keybridge.cli.common import open_key, report, run, settings
from keybridge.errors import InvalidInputError

if TYPE_CHECKING:
    from keybridge.otp import Algorithm

LAYOUT_HELP = "Keyboard layout of the computer the code is typed on: us, uk, de, fr."


@click.group()
def otp() -> None:
    """Store, list, compute and type OTP codes on the key."""


@dataclass(frozen=True)
class _Credential:
    """What ``otp add`` stores: from --secret and options, or from a URI / QR code."""

    key: bytes = field(repr=False)
    kind: str
    algorithm: Algorithm
    digits: int
    period: int
    counter: int


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
) -> _Credential:
    from keybridge.otp import Algorithm
    from keybridge.otp.secret import decode_secret
    from keybridge.otp.uri import parse_uri

    if len([s for s in (secret, uri, qr) if s is not None]) > 1:
        raise click.UsageError("give one of --secret, --uri and --qr")
    if counter is not None and not hotp and uri is None and qr is None:
        raise click.UsageError("--counter applies to --hotp credentials only")
    if qr is not None:
        from keybridge.otp.qr import read_otpauth_qr

        uri = read_otpauth_qr(qr)
    if uri is not None:
        p = parse_uri(uri)
        return _Credential(
            key=p.key,
            kind=p.kind.value,
            algorithm=Algorithm.parse(algorithm) if algorithm else p.algorithm,
            digits=digits if digits is not None else p.digits,
            period=period if period is not None else p.period,
            counter=counter if counter is not None else (p.counter or 0),
        )
    if secret is None:
        secret = click.prompt("Secret (Base32, as shown by HES)", hide_input=True, err=True)
    assert secret is not None
    return _Credential(
        key=decode_secret(secret),
        kind="hotp" if hotp else "totp",
        algorithm=Algorithm.parse(algorithm) if algorithm else Algorithm.SHA1,
        digits=digits if digits is not None else 6,
        period=period if period is not None else 30,
        counter=counter or 0,
    )


@otp.command("add")
@click.argument("name")
@click.option("--secret", metavar="BASE32", help="The secret (prompted without echo if absent).")
@click.option("--uri", metavar="URI", help="An otpauth:// URI (from a QR code).")
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
@click.option("--layout", help=LAYOUT_HELP)
@click.option("--force", is_flag=True, help="Replace a credential of the same name.")
def add(
    name: str,
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
    """Store a credential on the key. The secret never leaves it again."""
    cred = _credential_from_options(secret, uri, qr, digits, period, algorithm, hotp, counter)
    if issuer and not name.startswith(f"{issuer}:"):
        name = f"{issuer}:{name}"
    layout = _canonical_layout(layout)

    async def go() -> None:
        from keybridge.protocol.status import AlreadyExistsError

        async with open_key() as key:
            try:
                await key.otp_put(
                    name,
                    cred.key,
                    kind=cred.kind,
                    algorithm=cred.algorithm,
                    digits=cred.digits,
                    period=cred.period,
                    counter=cred.counter,
                    require_button=touch,
                    layout=layout,
                    overwrite=force,
                )
            except AlreadyExistsError as exc:
                raise AlreadyExistsError(
                    exc.status,
                    f"{name!r} is already on the key: pick another name, or replace it with"
                    " --force",
                ) from None

    run(go())
    report({"name": name, "stored": True}, lambda _: f"Stored {name} on the key.")


@otp.command("list")
def list_() -> None:
    """List the credentials on the key (never their secrets)."""

    async def go() -> Any:
        async with open_key() as key:
            return await key.otp_list()

    entries = run(go())

    def text(items: list[Any]) -> str:
        if not items:
            return "No credentials on the key."
        lines = []
        for e in items:
            kind = getattr(e.kind, "name", str(e.kind)).upper()
            flags = " touch" if e.require_button else ""
            lines.append(f"{e.name}  ({kind}, {e.digits} digits{flags})")
        return "\n".join(lines)

    report(entries, text)


@otp.command("code")
@click.argument("name")
def code(name: str) -> None:
    """Have the key compute the current code for NAME."""

    async def go() -> Any:
        async with open_key() as key:
            return await key.otp_calculate(name)

    result = run(go())

    def text(r: Any) -> str:
        if r.valid_for is not None:
            return f"{r.code}  (valid for {r.valid_for} s)"
        return str(r.code)

    report(result, text)


@otp.command("type")
@click.argument("name")
@click.option("--enter", is_flag=True, help="Press Enter after the code.")
@click.option("--layout", help=LAYOUT_HELP + " (default: the credential's; us for a browser)")
@click.option(
    "--to",
    "backend",
    type=click.Choice(["os", "stdout", "browser"]),
    default="os",
    show_default=True,
    help="Where the keystrokes go: the focused window (os), this terminal (stdout), or the "
    "focused field of a browser's active page (browser, with --cdp).",
)
@click.option(
    "--cdp",
    metavar="URL",
    help="With --to browser: the DevTools address of a Chromium started with "
    "--remote-debugging-port (e.g. http://127.0.0.1:9222).",
)
def type_(name: str, enter: bool, layout: str | None, backend: str, cdp: str | None) -> None:
    """Have the key type the current code for NAME."""
    from keybridge.keyboard import SinkBackend, get_backend, get_layout

    if (backend == "browser") != (cdp is not None):
        raise click.UsageError("--to browser and --cdp URL go together: give both or neither")
    if backend == "browser" and layout is None:
        layout = "us"  # the browser types key codes as a US keyboard
    layout = _canonical_layout(layout)
    # With --json, what stdout would show goes into the JSON result instead.
    to_json = backend == "stdout" and settings().as_json

    async def go() -> Any:
        async with contextlib.AsyncExitStack() as stack:
            if cdp is not None:
                # The browser is reached first: an unreachable one costs the key nothing.
                from keybridge.keyboard.browser import BrowserBackend, open_cdp_page

                sink: Any = BrowserBackend(await stack.enter_async_context(open_cdp_page(cdp)))
            else:
                sink = SinkBackend() if to_json else get_backend(backend)
            async with open_key() as key:
                typed = await key.otp_type(name, enter=enter, layout=layout)
            await sink.deliver(typed.reports, get_layout(typed.layout))
            return typed, sink

    typed, sink = run(go())
    result = {"name": name, "typed": True, "layout": typed.layout, "keystrokes": len(typed.reports)}
    if isinstance(sink, SinkBackend):
        report({**result, "text": sink.text})
    elif backend != "stdout":
        report(result, lambda _: f"Typed the code for {name}.")


@otp.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete NAME from the key."""

    async def go() -> None:
        async with open_key() as key:
            await key.otp_delete(name)

    run(go())
    report({"name": name, "deleted": True}, lambda _: f"Deleted {name}.")


@otp.command("rename")
@click.argument("old")
@click.argument("new")
def rename(old: str, new: str) -> None:
    """Rename a credential."""
    if not new.strip():
        raise InvalidInputError("the new name is empty: give 1-64 characters")

    async def go() -> None:
        async with open_key() as key:
            await key.otp_rename(old, new)

    run(go())
    report({"name": new, "renamed_from": old}, lambda _: f"Renamed {old} to {new}.")
