"""The key reuses a TOTP code only for the same credential object and the same time step."""

from __future__ import annotations

import dataclasses

from firmware_sim.firmware.otp_store import compute_code
from firmware_sim.firmware.state import Credential
from keybridge.otp.codes import OtpKind, totp

SECRET = b"12345678901234567890"


def test_a_code_is_reused_within_its_step_and_recomputed_after() -> None:
    credential = Credential("a", SECRET)
    first = compute_code(credential, 59.0)
    assert compute_code(credential, 30.0, first) is first  # same step (1)
    later = compute_code(credential, 60.0, first)
    assert later is not first and later.code == totp(SECRET, 60) and later.valid_until == 90


def test_a_changed_credential_never_gets_the_old_code() -> None:
    credential = Credential("a", SECRET)
    first = compute_code(credential, 59.0)
    for changed in (
        dataclasses.replace(credential, secret=b"another secret 12345"),
        dataclasses.replace(credential, digits=8),
        Credential("a", SECRET),  # equal, but another object: not trusted either
    ):
        again = compute_code(changed, 59.0, first)
        assert again is not first
        assert again.code == totp(changed.secret, 59, digits=changed.digits)


def test_an_hotp_code_is_never_reused() -> None:
    credential = Credential("h", SECRET, kind=OtpKind.HOTP, counter=5)
    first = compute_code(credential, None)
    assert compute_code(credential, None, first) is not first
