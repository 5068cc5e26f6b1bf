"""``keybridge hes``: drive the HES two-factor model on a SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keybridge.cli.common import report
from keybridge.cli.errors import ExitCode
from keybridge.cli.output import local_time, table

if TYPE_CHECKING:
    from keybridge.hes import Hes, LoginStep


@click.group()
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KEYBRIDGE_HES_STORE",
    help="SQLite file of the HES model (default: hes.sqlite3 in your user data directory).",
)
@click.option(
    "--profile",
    type=click.Choice(["hes", "strict"]),
    default="hes",
    show_default=True,
    help="'hes' behaves as HES does; 'strict' fixes its weaknesses.",
)
@click.pass_context
def hes(ctx: click.Context, store: Path | None, profile: str) -> None:
    """Drive the HES two-factor model (users, OTP enrolment, recovery codes, login)."""
    # The model opens on first use, so `hes serve --store F` never creates the default store.
    ctx.obj = _StoreOptions(store, profile)


class _StoreOptions:
    __slots__ = ("profile", "store")

    def __init__(self, store: Path | None, profile: str) -> None:
        self.store = store
        self.profile = profile


def _model() -> Hes:
    from keybridge.hes import Hes

    ctx = click.get_current_context()
    options: _StoreOptions = ctx.find_object(_StoreOptions)  # type: ignore[assignment]
    model = Hes(options.store, options.profile)
    ctx.call_on_close(model.close)
    return model


def _codes_text(codes: list[str]) -> str:
    if not codes:
        return "Recovery codes kept (none issued now)."
    lines = ["Recovery codes (each works once; save them somewhere safe):"]
    lines += [f"  {code}" for code in codes]
    return "\n".join(lines)


@hes.command("create-user")
@click.argument("email")
@click.password_option(help="Password (prompted without echo when not given).")
def create_user(email: str, password: str) -> None:
    """Create an account."""
    _model().create_user(email, password)
    report({"email": email, "created": True}, lambda _: f"Created {email}.")


@hes.command("enable-otp")
@click.argument("email")
@click.option("--qr/--no-qr", default=True, help="Show the enrolment QR code in the terminal.")
def enable_otp(email: str, qr: bool) -> None:
    """Profile > One-Time Password > Add OTP App: show the key and its QR code."""
    setup = _model().begin_otp_setup(email)

    def text(_: Any) -> str:
        lines = [
            "Scan the QR code or enter this key in your OTP app or key",
            "(spaces and casing do not matter):",
            "",
            f"  {setup.display_key}",
            "",
            f"URI: {setup.uri}",
        ]
        if qr:
            from keybridge.otp.qr import terminal_qr

            lines += ["", terminal_qr(setup.uri)]
        lines += ["", f"Then confirm with: keybridge hes confirm-otp {email} CODE"]
        return "\n".join(lines)

    report(setup, text)


@hes.command("confirm-otp")
@click.argument("email")
@click.argument("code")
def confirm_otp(email: str, code: str) -> None:
    """Confirm the OTP app with one current code; shows recovery codes on first enabling."""
    codes = _model().confirm_otp_setup(email, code)
    report({"enabled": True, "recovery_codes": codes}, lambda v: _codes_text(v["recovery_codes"]))


@hes.command("disable-2fa")
@click.argument("email")
def disable_2fa(email: str) -> None:
    """Turn two-factor authentication off (recovery codes are cleared)."""
    _model().disable_2fa(email)
    report({"enabled": False}, lambda _: f"Two-factor authentication is off for {email}.")


@hes.command("reset-otp-app")
@click.argument("email")
def reset_otp_app(email: str) -> None:
    """New OTP key; confirm it again. Recovery codes are kept."""
    setup = _model().reset_otp_app(email)
    report(setup, lambda s: f"New key: {s.display_key}\nURI: {s.uri}\nConfirm it with confirm-otp.")


@hes.command("new-recovery-codes")
@click.argument("email")
def new_recovery_codes(email: str) -> None:
    """Replace all recovery codes."""
    codes = _model().new_recovery_codes(email)
    report({"recovery_codes": codes}, lambda v: _codes_text(v["recovery_codes"]))


@hes.command("status")
@click.argument("email")
def status(email: str) -> None:
    """Show an account's two-factor state (no secrets)."""
    info = _model().user(email)
    report(
        info,
        lambda i: table(
            [
                ("email", i.email),
                ("2FA enabled", "yes" if i.two_factor_enabled else "no"),
                ("recovery codes left", i.recovery_codes_left),
                ("failed attempts", i.failed_attempts),
                ("locked until", local_time(i.locked_until) if i.locked_until else "-"),
            ]
        ),
    )


@hes.command("login")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, help="Password (prompted if absent).")
@click.option("--otp", "otp_code", metavar="CODE", help="The one-time password.")
@click.option("--recovery", "recovery_code", metavar="CODE", help="Log in with a recovery code.")
def login(email: str, password: str, otp_code: str | None, recovery_code: str | None) -> None:
    """Log in: password, then the one-time password or a recovery code."""
    if otp_code and recovery_code:
        raise click.UsageError("give --otp or --recovery, not both")
    model = _model()
    step = model.login(email, password)
    token = step.token
    if step.status == "needs_otp" and token:
        if recovery_code is not None:
            step = model.login_recovery(token, recovery_code)
        else:
            code: str = otp_code or click.prompt("One-time password", err=True)
            step = model.login_otp(token, code)
    _finish(step)


def _login_text(message: str, locked_until: float | None) -> str:
    if locked_until is None:
        return message
    return message.replace("try again later", f"try again after {local_time(locked_until)}")


def _finish(step: LoginStep) -> None:
    messages = {
        "ok": "Logged in.",
        "denied": "Login refused: wrong password or code.",
        "locked": "Account locked after too many failed attempts; try again later.",
        "needs_otp": "A one-time password is needed.",
    }
    report(
        {"ok": step.ok, "status": str(step.status), "locked_until": step.locked_until},
        lambda v: _login_text(messages[v["status"]], v["locked_until"]),
    )
    if not step.ok:
        click.get_current_context().exit(ExitCode.REFUSED)


DEFAULT_ADMIN = ("admin@hideez.com", "admin")
"""HES's default account, created by ``serve --default-admin`` on an empty store."""


@hes.command("serve")
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file of the HES model (default: the group's --store).",
)
@click.option(
    "--listen",
    default="127.0.0.1:5000",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to serve on; port 0 picks a free port.",
)
@click.option(
    "--profile",
    "serve_profile",
    type=click.Choice(["hes", "strict"]),
    help="'hes' behaves as HES does; 'strict' fixes its weaknesses (default: the group's).",
)
@click.option("--default-admin", is_flag=True, help="Create admin@hideez.com / admin if empty.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes over the one store (a file; sign-ins hold at every worker).",
)
def serve(
    store: Path | None,
    listen: str,
    serve_profile: str | None,
    default_admin: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    workers: int,
) -> None:
    """Serve HES's login pages and JSON API over the model (READY URL on stdout)."""
    try:
        from keybridge.hes.web import create_app, server
    except ImportError:
        raise click.ClickException(
            "the web emulator needs the web extra: pip install 'keybridge[web]'"
        ) from None
    try:
        where = server.parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give --tls-cert and --tls-key together")
    ctx = click.get_current_context()
    group: _StoreOptions = ctx.find_object(_StoreOptions)  # type: ignore[assignment]
    if store is not None or serve_profile is not None:
        group.store = store or group.store
        group.profile = serve_profile or group.profile
    model = _model()
    if workers != 1:
        from keybridge.hes.web.workers import check_workers

        check_workers(model.path, workers)
    if default_admin:
        _create_default_admin(model)
    if not server.is_loopback(where.host):
        click.echo(
            f"warning: serving on {where.host}, reachable from other machines; "
            "the emulator is a test server (use --listen 127.0.0.1:PORT to keep it local)",
            err=True,
        )
    _log_to_stderr()
    if workers > 1:
        from keybridge.hes.web.workers import serve_workers

        model.close()  # each worker opens its own
        serve_workers(
            model.path,
            model.profile.value,
            where,
            workers,
            lambda url: click.echo(f"READY {url}"),
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        return
    app = create_app(model, https=tls_cert is not None)
    config = server.make_config(app, where, tls_cert=tls_cert, tls_key=tls_key)
    web = server.EmulatorServer(config, lambda url: click.echo(f"READY {url}"))
    try:
        web.run()
    except SystemExit:  # uvicorn exits when it cannot listen, after logging why
        if web.url is not None:
            raise
    if web.url is None:
        raise click.ClickException(f"cannot serve on {listen}: see the message above")


@hes.command("provision")
@click.option(
    "--store",
    "prov_store",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="New SQLite file for the accounts (refused if it has data, unless --force).",
)
@click.option("--users", type=click.IntRange(1, 99_999), required=True, help="How many accounts.")
@click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="New directory for the keys' state files and the load test's account list.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files.")
@click.option(
    "--profile",
    "prov_profile",
    type=click.Choice(["hes", "strict"]),
    help="The store's profile (default: the group's).",
)
@click.option(
    "--password-cost",
    type=int,
    default=16,
    show_default=True,
    help="scrypt N of the test accounts' passwords (test-only; HES-like: 16384).",
)
@click.option("--force", is_flag=True, help="Replace an existing store and keys dir.")
def provision(
    prov_store: Path,
    users: int,
    keys_dir: Path,
    seed: int,
    prov_profile: str | None,
    password_cost: int,
    force: bool,
) -> None:
    """Make N test accounts with 2FA on and a simulated key for each (for `keybridge loadtest`).

    Each key's state file in the keys dir holds its account's secret and the load generator's
    pairing; the accounts' passwords and recovery codes are kept there too (never printed).
    """
    from keybridge.loadtest.provision import provision as make

    group: _StoreOptions = click.get_current_context().find_object(_StoreOptions)  # type: ignore[assignment]
    done = make(
        prov_store,
        keys_dir,
        users,
        seed=seed,
        profile=prov_profile or group.profile,
        password_cost=password_cost,
        force=force,
    )
    report(
        done,
        lambda d: (
            f"Provisioned {d.users} accounts ({d.first} .. {d.last}, profile {d.profile}, "
            f"seed {d.seed}) in {d.store}; their keys in {d.keys_dir}."
        ),
    )


def _create_default_admin(model: Hes) -> None:
    email, password = DEFAULT_ADMIN
    if model.has_users():
        click.echo(f"The store has accounts: {email} not created.", err=True)
        return
    model.create_user(email, password)
    click.echo(f"Created HES's default account {email} (password: {password}).", err=True)


def _log_to_stderr() -> None:
    """Request log and server messages on stderr (stdout carries only the READY line)."""
    import logging
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name in ("uvicorn", "keybridge.hes.web"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
