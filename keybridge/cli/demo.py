"""The end-to-end story: HES two-factor authentication with a key that types the codes.

``keybridge demo`` (also ``python -m keybridge.cli.demo``) runs it on embedded defaults: a
simulated key on a pty served by a thread of this process, its state in a temporary directory,
this host's pairing kept in memory, and the HES model on a temporary SQLite file. Nothing outside
the temporary directory is read or written. It is application code, beside the commands: with
them, the one place that starts a simulated key (the host library never imports the simulator).

The story: create an HES administrator; Add OTP App (the grouped key and its QR code); pair with
the key; store the key on it as a user pastes it (grouped, lowercase); the key types the
verification code into the Add OTP App page; 10 recovery codes; log in with the password and the
code the key types into the login form; log in with a recovery code, refused the second time;
disable and re-enable 2FA (new recovery codes); reset the OTP app (codes kept). Each step is
checked against what HES does; :attr:`DemoResult.ok` only if all of them behaved.

Time is the demo's own clock, moved on by a TOTP period between logins (as a user would wait),
given to HES and set on the key: every run tells the same story in well under a second.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keybridge.errors import KeybridgeError
from keybridge.hes import Hes, LoginStatus
from keybridge.hes.form import LoginForm, OtpSetupForm
from keybridge.hes.types import ISSUER
from keybridge.hostconfig import HostConfig
from keybridge.keyboard import SinkBackend, get_layout
from keybridge.otp.codes import totp
from keybridge.otp.credential import Credential
from keybridge.otp.qr import terminal_qr
from keybridge.otp.secret import decode_secret
from keybridge.session import ConnectOptions, KeySession

__all__ = ["Check", "DemoResult", "main", "run_demo", "summarise"]

EMAIL = "admin@example.com"
PASSWORD = "correct horse battery staple"
CREDENTIAL = f"{ISSUER}:{EMAIL}"
"""The name the key stores the HES key under: the label of HES's ``otpauth://`` URI."""
PERIOD = 30

Say = Callable[[str], None]


@dataclass(frozen=True)
class Check:
    """One expectation of the story: what HES (or the key) must do, and whether it did."""

    step: int
    label: str
    ok: bool
    detail: str = ""


@dataclass
class DemoResult:
    """Every check of a run, in order, and the run's wall time."""

    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


class _Clock:
    """The story's clock: starts at the beginning of a TOTP period, moves on when told to."""

    def __init__(self) -> None:
        # A second into a period, so the few milliseconds of a step never cross into the next.
        self.now = float(int(time.time()) // PERIOD * PERIOD + 1)

    def __call__(self) -> float:
        return self.now


class _Story:
    def __init__(self, say: Say, marks: tuple[str, str], result: DemoResult) -> None:
        self.say = say
        self.marks = marks
        self.result = result
        self.step = 0

    def heading(self, text: str) -> None:
        self.step += 1
        self.say(f"{self.step}. {text}")

    def show(self, text: str) -> None:
        self.say("\n".join(f"     {line}" for line in text.splitlines()))

    def check(self, label: str, ok: bool, detail: str = "") -> bool:
        self.result.checks.append(Check(self.step, label, ok, "" if ok else detail))
        mark = self.marks[0] if ok else self.marks[1]
        self.say(f"   {mark} {label}" + ("" if ok or not detail else f": {detail}"))
        return ok


async def _key_types(key: KeySession, clock: _Clock, into: Callable[[str], object]) -> str:
    """The key computes the current code at the story's time and types it, with Enter."""
    await key.set_time(clock.now, force=True)
    typed = await key.otp_type(CREDENTIAL, enter=True)
    sink = SinkBackend(into)
    await sink.deliver(typed.reports, get_layout(typed.layout))
    return sink.text


async def _pair(s: _Story, key: KeySession) -> None:
    s.heading("Pair this host with the key")

    def confirm(code: str) -> bool:
        s.show(f"pairing code {code}: the key shows the same; its button is pressed")
        return True

    await key.pairing.pair(confirm)
    s.check("the key accepted the pairing; the session is encrypted", key.encrypted)


def _show_key(s: _Story, page: OtpSetupForm, *, qr: bool) -> None:
    s.show(f"secret key: {page.setup.display_key}")
    if qr:
        s.show(terminal_qr(page.setup.uri))
    grouped = page.setup.display_key
    s.check(
        "the key has 32 Base32 characters, shown in lowercase groups of 4",
        len(page.setup.key) == 32
        and grouped == grouped.lower()
        and all(len(g) == 4 for g in grouped.split(" "))
        and grouped.replace(" ", "").upper() == page.setup.key,
        grouped,
    )


async def _store(s: _Story, key: KeySession, page: OtpSetupForm, state_dir: Path) -> None:
    """Store the key as a user pastes it from the page: grouped and lowercase."""
    s.show(f"keybridge otp add {CREDENTIAL} --secret '{page.setup.display_key}'")
    pasted = Credential.from_secret(page.setup.display_key, account=EMAIL, issuer=ISSUER)
    await key.otp_put(pasted, overwrite=True)  # named by its label, HES.Web:{email}
    names = [c.name for c in await key.otp_list()]
    s.check("the key lists the credential (it never gives the secret back)", CREDENTIAL in names)
    secret = decode_secret(page.setup.key)
    leaks = [
        f.name
        for f in state_dir.iterdir()
        if f.is_file() and _holds(f.read_bytes(), secret, page.setup.key)
    ]
    s.check("the key's files hold no copy of the secret (sealed at rest)", not leaks, str(leaks))


def _holds(data: bytes, secret: bytes, base32: str) -> bool:
    return secret in data or base32.encode() in data or base32.lower().encode() in data


async def _type_verification(
    s: _Story, hes: Hes, key: KeySession, clock: _Clock, page: OtpSetupForm
) -> None:
    typed = await _key_types(key, clock, page.type)
    s.show(f"the key types {typed.rstrip()} + Enter into the verification code field")
    s.check("HES accepted the code: two-factor authentication is on", hes.is_2fa_enabled(EMAIL))


async def _log_in_with_key(s: _Story, hes: Hes, key: KeySession, clock: _Clock) -> bool:
    clock.now += PERIOD
    form = LoginForm(hes)
    step = form.sign_in(EMAIL, PASSWORD).status
    asks = step == LoginStatus.NEEDS_OTP
    s.check("the password step asks for the one-time password", asks, f"HES answered {step}")
    typed = await _key_types(key, clock, form.type)
    s.show(f"30 s later, the key types {typed.rstrip()} + Enter into the login form")
    status = form.result.status if form.result is not None else None
    return s.check("logged in", status == LoginStatus.OK, f"HES answered {status}")


def _log_in_with_recovery(hes: Hes, code: str) -> LoginStatus:
    form = LoginForm(hes)
    form.sign_in(EMAIL, PASSWORD)
    return form.submit_recovery(code).status


async def _story(s: _Story, hes: Hes, key: KeySession, clock: _Clock, state_dir: Path) -> None:
    s.heading(f"Create the HES administrator {EMAIL}")
    hes.create_user(EMAIL, PASSWORD)
    status = hes.login(EMAIL, PASSWORD).status
    s.check("the password alone logs in while 2FA is off", status == LoginStatus.OK, status)

    s.heading("Profile > One-Time Password > Add OTP App")
    page = OtpSetupForm(hes, EMAIL)
    _show_key(s, page, qr=True)
    await _pair(s, key)
    s.heading("Store the key on the key, pasted as HES shows it")
    await _store(s, key, page, state_dir)
    s.heading("The key types the verification code into the Add OTP App page")
    await _type_verification(s, hes, key, clock, page)

    s.heading("HES shows the recovery codes")
    codes = page.recovery_codes or []
    s.show(" ".join(codes))
    s.check(
        "10 distinct recovery codes of 8 characters",
        len(set(codes)) == 10 and all(len(c) == 8 for c in codes),
        f"got {codes}",
    )

    s.heading("Log in: password, then the code the key types")
    await _log_in_with_key(s, hes, key, clock)

    s.heading(f"No key at hand: log in with the recovery code {codes[0]}")
    status = _log_in_with_recovery(hes, codes[0])
    s.check("the recovery code logs in", status == LoginStatus.OK, f"HES answered {status}")
    s.check("9 recovery codes are left", hes.recovery_codes_left(EMAIL) == 9)
    status = _log_in_with_recovery(hes, codes[0])
    refused = status != LoginStatus.OK
    s.check("the same code is refused the second time", refused, f"HES answered {status}")

    s.heading("Disable 2FA, then Add OTP App again: new recovery codes")
    hes.disable_2fa(EMAIL)
    s.check("2FA is off", not hes.is_2fa_enabled(EMAIL))
    clock.now += PERIOD
    page = OtpSetupForm(hes, EMAIL)
    _show_key(s, page, qr=False)
    await _store(s, key, page, state_dir)
    await _type_verification(s, hes, key, clock, page)
    new_codes = page.recovery_codes or []
    s.show("new recovery codes: " + " ".join(new_codes))
    s.check(
        "re-enabling issued 10 new recovery codes",
        len(set(new_codes)) == 10 and not set(new_codes) & set(codes),
        f"got {new_codes}",
    )
    status = _log_in_with_recovery(hes, codes[1])
    dead = status != LoginStatus.OK
    s.check("an old recovery code no longer logs in", dead, f"HES answered {status}")
    await _log_in_with_key(s, hes, key, clock)

    s.heading("Reset the OTP app (a new key) without disabling 2FA: codes kept")
    old_key = decode_secret(page.setup.key)
    hes.reset_otp_app(EMAIL)
    clock.now += PERIOD
    page = OtpSetupForm(hes, EMAIL)
    _show_key(s, page, qr=False)
    await _store(s, key, page, state_dir)
    await _type_verification(s, hes, key, clock, page)
    s.check("confirming the new key issued no recovery codes", page.recovery_codes == [])
    s.check("the 10 recovery codes are kept", hes.recovery_codes_left(EMAIL) == 10)
    step = hes.login(EMAIL, PASSWORD)
    stale = hes.login_otp(step.token or "", totp(old_key, clock.now)).status
    s.check("a code of the old key is refused", stale != LoginStatus.OK, f"HES answered {stale}")
    await _log_in_with_key(s, hes, key, clock)
    status = _log_in_with_recovery(hes, new_codes[2])
    s.check("a kept recovery code logs in", status == LoginStatus.OK, f"HES answered {status}")


async def _run(s: _Story, directory: Path) -> None:
    from firmware_sim.serve import ServeOptions
    from firmware_sim.threaded import serve_in_thread

    clock = _Clock()
    key_dir = directory / "key"
    key_dir.mkdir(mode=0o700)
    options = ServeOptions(state=key_dir / "key.state", announce=False, verbosity=-1)
    with (
        serve_in_thread(options) as urls,
        Hes(directory / "hes.sqlite3", profile="hes", clock=clock) as hes,
    ):
        s.say(f"A simulated key on {urls[0]}, HES on {directory / 'hes.sqlite3'}")
        async with KeySession.connect(urls[0], ConnectOptions(config=HostConfig.memory())) as key:
            await _story(s, hes, key, clock, key_dir)


def run_demo(say: Say = print) -> DemoResult:
    """Tell the story through ``say``; the checks say whether every step behaved as HES."""
    result = DemoResult()
    marks = ("✓", "✗") if _can_print("✓✗") else ("ok", "FAILED")
    story = _Story(say, marks, result)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="keybridge-demo-") as tmp:
        try:
            asyncio.run(_run(story, Path(tmp)))
        except (KeybridgeError, OSError) as exc:
            story.check("the story ran to its end", False, str(exc))
    result.seconds = time.perf_counter() - start
    return result


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def main(say: Say = print) -> int:
    """Run the story; 0 if every step behaved as HES does, 1 otherwise."""
    say("keybridge demo: HES two-factor login with the code typed by a (simulated) key")
    return summarise(run_demo(say), say)


def summarise(result: DemoResult, say: Say) -> int:
    """Say how a story ended (each failed check with its step); 0 if all passed, else 1."""
    if result.ok:
        say(f"All {len(result.checks)} checks behaved as HES does ({result.seconds:.2f} s).")
        return 0
    failed = result.failed
    say(f"{len(failed)} of {len(result.checks)} checks failed:")
    for check in failed:
        say(f"  step {check.step}: {check.label}" + (f" ({check.detail})" if check.detail else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main())
