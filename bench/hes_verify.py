"""Verifications per second: the HES model's TOTP check against pyotp, measured in one run.

Both check a 6-digit HMAC-SHA1 code over a window of 2 steps each side (HES's). Worst case: a
wrong code, so all 5 steps are computed. Typical case: the current code (pyotp stops after 3
steps, HES's order -2..+2 too). keybridge's figure includes parsing the typed code; it works on
key bytes decoded once (as the model does per login), pyotp decodes Base32 on every step.
Goal: at least 3x pyotp.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pyotp

from keybridge.hes.verify import parse_totp_code, verify_totp
from keybridge.otp.codes import hotp, time_step

KEY = bytes(range(1, 21))
B32 = base64.b32encode(KEY).decode()
AT = 1_700_000_000
ROUNDS = 5


def rate(check: Callable[[], object], seconds: float = 0.4) -> float:
    """Best of ROUNDS runs, in calls per second."""
    best = 0.0
    batch = 1000
    for _ in range(ROUNDS):
        calls = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(batch):
                check()
            calls += batch
        best = max(best, calls / elapsed)
    return best


def main() -> int:
    otp = pyotp.TOTP(B32)
    step = time_step(AT)
    inside = {hotp(KEY, step + d) for d in range(-2, 3)}
    wrong = next(c for s in range(step + 100, step + 200) if (c := hotp(KEY, s)) not in inside)
    right = hotp(KEY, step)
    assert verify_totp(KEY, parse_totp_code(right), AT) == step
    assert verify_totp(KEY, parse_totp_code(wrong), AT) is None
    assert otp.verify(right, for_time=AT, valid_window=2)
    assert not otp.verify(wrong, for_time=AT, valid_window=2)

    ok = True
    for case, code in (("worst (wrong code)", wrong), ("typical (current code)", right)):
        ours = rate(lambda code=code: verify_totp(KEY, parse_totp_code(code), AT))
        decoded = rate(
            lambda code=code: verify_totp(base64.b32decode(B32), parse_totp_code(code), AT)
        )
        ref = rate(lambda code=code: otp.verify(code, for_time=AT, valid_window=2))
        ratio = ours / ref
        ok &= ratio >= 3
        print(f"{case}:")
        print(f"  keybridge verify_totp       {ours:12,.0f} /s  ({ratio:.1f}x pyotp)")
        print(f"  same, decoding Base32 too   {decoded:12,.0f} /s  ({decoded / ref:.1f}x pyotp)")
        print(f"  pyotp TOTP.verify(window=2) {ref:12,.0f} /s")
    print("goal >= 3x pyotp:", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
