"""Narrated walk-through of the HES two-factor model (``python -m keybridge.demo``).

Plays an administrator enabling 2FA on HES and logging in, on a temporary SQLite store, with
codes computed by :mod:`keybridge.otp.codes` (what the Hideez key will compute). Every step is
checked against what HES does; the exit status is 0 only if all of them behaved.
"""

from __future__ import annotations

import base64
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from keybridge.hes import Hes, LoginStatus
from keybridge.otp.codes import totp

__all__ = ["main"]

EMAIL = "admin@example.com"
PASSWORD = "correct horse battery staple"
START = 1_700_000_000.0


class _Clock:
    """A clock the walk-through moves forward itself, so every run tells the same story."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class _Checks:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.failed: list[str] = []

    def check(self, label: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.out(f"  ✓ {label}")
        else:
            self.failed.append(label)
            self.out(f"  ✗ {label}" + (f": {detail}" if detail else ""))


def _walk(hes: Hes, clock: _Clock, c: _Checks, say: Callable[[str], None]) -> None:
    say(f"1. Create the administrator {EMAIL}")
    hes.create_user(EMAIL, PASSWORD)
    step = hes.login(EMAIL, PASSWORD)
    c.check("password alone logs in while 2FA is off", step.status == LoginStatus.OK)

    say("2. Profile -> One-Time Password -> Add OTP App")
    setup = hes.begin_otp_setup(EMAIL)
    say(f"     secret key : {setup.display_key}")
    say(f"     QR code URI: {setup.uri}")
    c.check("the secret key has 32 Base32 characters", len(setup.key) == 32)
    key = base64.b32decode(setup.key)

    say("3. Confirm with the current code (computed as the key computes it)")
    code = totp(key, clock.now)
    say(f"     code {code}")
    codes = hes.confirm_otp_setup(EMAIL, code)
    c.check("2FA is on", hes.is_2fa_enabled(EMAIL))
    say("4. Recovery codes:")
    say("     " + " ".join(codes))
    c.check(
        "10 recovery codes of 8 characters",
        len(set(codes)) == 10 and all(len(x) == 8 for x in codes),
        f"got {codes}",
    )

    clock.now += 60
    say("5. Log in: password, then the one-time password")
    step = hes.login(EMAIL, PASSWORD)
    c.check("the password step asks for the OTP", step.status == LoginStatus.NEEDS_OTP)
    result = hes.login_otp(step.token or "", totp(key, clock.now))
    c.check("the TOTP code logs in", result.status == LoginStatus.OK, str(result.status))

    say(f"6. Log in with a recovery code ({codes[0]})")
    step = hes.login(EMAIL, PASSWORD)
    result = hes.login_recovery(step.token or "", codes[0])
    c.check("the recovery code logs in", result.status == LoginStatus.OK, str(result.status))
    c.check("9 recovery codes are left", hes.recovery_codes_left(EMAIL) == 9)
    step = hes.login(EMAIL, PASSWORD)
    result = hes.login_recovery(step.token or "", codes[0])
    c.check("the same recovery code is refused the second time", result.status != LoginStatus.OK)

    say("7. Disable 2FA, then enable it again")
    hes.disable_2fa(EMAIL)
    c.check("2FA is off", not hes.is_2fa_enabled(EMAIL))
    setup = hes.begin_otp_setup(EMAIL)
    key = base64.b32decode(setup.key)
    clock.now += 30
    new_codes = hes.confirm_otp_setup(EMAIL, totp(key, clock.now))
    c.check(
        "re-enabling issues 10 new recovery codes",
        len(new_codes) == 10 and not set(new_codes) & set(codes),
    )
    step = hes.login(EMAIL, PASSWORD)
    result = hes.login_recovery(step.token or "", codes[1])
    c.check("an old recovery code is dead", result.status != LoginStatus.OK)

    say("8. Reset the OTP app (new key) without disabling 2FA")
    old_key = key
    setup = hes.reset_otp_app(EMAIL)
    key = base64.b32decode(setup.key)
    clock.now += 30
    kept = hes.confirm_otp_setup(EMAIL, totp(key, clock.now))
    c.check("confirming the new key issues no new codes", kept == [])
    c.check("the recovery codes are kept", hes.recovery_codes_left(EMAIL) == 10)
    step = hes.login(EMAIL, PASSWORD)
    result = hes.login_otp(step.token or "", totp(old_key, clock.now))
    c.check("the old key's code is refused", result.status != LoginStatus.OK)
    result = hes.login_recovery(step.token or "", new_codes[0])
    c.check("a kept recovery code logs in", result.status == LoginStatus.OK)


def main(out: Callable[[str], None] = print) -> int:
    """Run the walk-through; 0 if every step behaved as HES does, 1 otherwise."""
    out("keybridge: the HES two-factor model, step by step (faithful profile)")
    checks = _Checks(out)
    clock = _Clock()
    with (
        tempfile.TemporaryDirectory(prefix="keybridge-demo-") as tmp,
        Hes(Path(tmp) / "hes.sqlite3", profile="hes", clock=clock) as hes,
    ):
        try:
            _walk(hes, clock, checks, out)
        except Exception as exc:  # the demo reports any failure as a failed step
            checks.check("the walk-through ran to the end", False, repr(exc))
    if checks.failed:
        out(f"{len(checks.failed)} step(s) did not behave as HES does: {', '.join(checks.failed)}")
        return 1
    out("All steps behaved as HES does.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
