"""``keybridge otp``: store, list, compute, type, delete and rename OTP credentials."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keybridge.cli.common import Fields, PinPolicy, says, settings, with_key
from keybridge.errors import InvalidInputError

if TYPE_CHECKING:
    from keybridge.keyboard.backends import KeyboardBackend
    from keybridge.otp import Credential
    from keybridge.session import Code, CredentialInfo, KeySession

LAYOUT_HELP = "Keyboard layout of the computer the code is typed on: us, uk, de, fr."


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
    with the options given overriding it."""
    from keybridge.otp import Algorithm, Credential, OtpKind

    if len([s for s in (secret, uri, qr) if s is not None]) > 1:
        raise click.UsageError("give one of --secret, --uri and --qr")
    if counter is not None and not hotp and uri is None and qr is None:
        raise click.UsageError("--counter applies to --hotp credentials only")
    if period is not None and hotp:
        raise click.UsageError("--period applies to TOTP credentials only: drop it for --hotp")
    if qr is not None or uri is not None:
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
    _store(cred, name, require_button=touch, layout=_canonical_layout(layout), overwrite=force)


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
    from keybridge.protocol.status import AlreadyExistsError

    try:
        await key.otp_put(
            cred, name, require_button=require_button, layout=layout, overwrite=overwrite
        )
    except AlreadyExistsError as exc:
        raise AlreadyExistsError(
            exc.status,
            f"{name!r} is already on the key: pick another name, or replace it with --force",
        ) from None
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


def render_code(r: Code) -> str:
    if r.valid_for is not None:
        return f"{r.code}  (valid for {r.valid_for} s)"
    return r.code


@otp.command("code")
@click.argument("name")
@with_key(pin=PinPolicy.REQUIRED, render=render_code)
async def code(key: KeySession, name: str) -> Code:
    """Have the key compute the current code for NAME."""
    return await key.otp_calculate(name)


@otp.command("type")
@click.argument("name")
@click.option("--enter", is_flag=True, help="Press Enter after the code.")
@click.option(
    "--layout",
    help=LAYOUT_HELP + " (default: with --to os the desktop's, else the credential's)",
)
@click.option(
    "--to",
    "backend",
    type=click.Choice(["os", "stdout"]),
    default="os",
    show_default=True,
    help="Where the keystrokes go: the focused window (os: X11, or uinput) or this terminal.",
)
@click.option(
    "--delay",
    type=click.FloatRange(0, 600),
    default=0,
    metavar="SECONDS",
    help="Wait this long first, to focus the field the code goes to.",
)
def type_(name: str, enter: bool, layout: str | None, backend: str, delay: float) -> None:
    """Have the key type the current code for NAME."""
    import time

    from keybridge.keyboard import SinkBackend, get_backend

    if backend == "os":
        from keybridge.keyboard.desktop import resolve_layout

        # The desktop's keymap makes the characters: the key must type for that layout.
        layout = resolve_layout(layout)
    else:
        layout = _canonical_layout(layout)
    # With --json, what stdout would show goes into the JSON result instead.
    to_json = backend == "stdout" and settings().as_json
    sink = SinkBackend() if to_json else get_backend(backend)
    # --to stdout: the keystrokes are the output, nothing else is printed (but with --json).
    say = "" if backend == "stdout" else f"Typed the code for {name}."
    deliver = with_key(pin=PinPolicy.REQUIRED, render=lambda _: say)(_deliver)
    # Before the key is asked: the code is computed when it is typed, not before the wait.
    time.sleep(delay)
    deliver(name, enter, layout, sink)


async def _deliver(
    key: KeySession, name: str, enter: bool, layout: str | None, sink: KeyboardBackend
) -> Fields:
    from keybridge.keyboard import SinkBackend, get_layout

    typed = await key.otp_type(name, enter=enter, layout=layout)
    await sink.deliver(typed.reports, get_layout(typed.layout))
    result = {"name": name, "typed": True, "layout": typed.layout, "keystrokes": len(typed.reports)}
    if isinstance(sink, SinkBackend):
        result["text"] = sink.text
    return result


@otp.command("delete")
@click.argument("name")
@with_key(pin=PinPolicy.REQUIRED, render=says("Deleted {name}."))
async def delete(key: KeySession, name: str) -> Fields:
    """Delete NAME from the key."""
    await key.otp_delete(name)
    return {"name": name, "deleted": True}


@otp.command("rename")
@click.argument("old")
@click.argument("new")
def rename(old: str, new: str) -> None:
    """Rename a credential."""
    if not new.strip():
        raise InvalidInputError("the new name is empty: give 1-64 characters")
    _rename(old, new)


@with_key(pin=PinPolicy.REQUIRED, render=says("Renamed {renamed_from} to {name}."))
async def _rename(key: KeySession, old: str, new: str) -> Fields:
    await key.otp_rename(old, new)
    return {"name": new, "renamed_from": old}
