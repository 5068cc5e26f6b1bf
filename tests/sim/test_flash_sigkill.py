"""Power cuts: SIGKILL a simulator process at random moments while it writes its flash.

Each round starts a process that stores credentials one by one and prints ``ACK n`` after each
acknowledged write, kills it, and loads the state file: it must load, hold every acknowledged
write, and at most the one write that was in flight. The kill comes from outside after a random
delay, or from the key's own flash (the ``power-cut-after-writes`` fault: after a random number
of writes, in the middle of the next one). 8 + 16 kills; 150 + 150 with ``--reliability-long``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_sim.firmware.flash import Flash

SLOTS = 100  # names c0..c99: after the first hundred writes, each write replaces a credential
WRITES_PER_ROUND = 5000  # more than a round can do before its kill
MIN_ACKS = 20
ROUNDS = {"sigkill": (8, 150), "power-cut": (16, 150)}
"""Kills per way of killing: (short, long)."""
MAX_CUT_AFTER = 10

WRITER = """
import sys
from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.protocol.commands import OtpPutRequest
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.messages import Request, decode_message, encode_message

path, start, count, slots = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
flash = Flash(path)
if len(sys.argv) > 5:  # the key cuts its own power: after this many writes, within the next
    import random
    from firmware_sim.firmware.flash import Base64Secrets
    from firmware_sim.links.faults import PowerCutFlash

    writes, seed = int(sys.argv[5]), sys.argv[6]
    flash = PowerCutFlash(path, secrets=Base64Secrets(), writes=writes, rng=random.Random(seed))
key = Firmware(flash, KeyClock(mode="fixed", value=0), Button("auto"))
link = SecureLink(key, pair_firmware(key, host_id=bytes(16)))  # requests travel sealed
print("READY", flush=True)
for i in range(start, start + count):
    body = OtpPutRequest(name=f"c{i % slots}", secret=b"%020d" % i, overwrite=True)
    [answer] = link.handle(encode_message(Request(i & 0xFFFF, Command.OTP_PUT, body.to_fields())))
    assert decode_message(answer).status == Status.OK, answer
    print(f"ACK {i}", flush=True)
print("DONE", flush=True)
"""

ROOT = Path(__file__).resolve().parents[2]


def run_round(path: Path, start: int, rng: random.Random, how: str) -> tuple[list[int], bool]:
    """One writer process killed after a random delay (``sigkill``) or by its own flash
    (``power-cut``); the acknowledged indexes, and if killed."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    args = [sys.executable, "-c", WRITER, str(path), str(start), str(WRITES_PER_ROUND), str(SLOTS)]
    if how == "power-cut":
        args += [str(rng.randint(0, MAX_CUT_AFTER)), str(rng.random())]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert process.stdout is not None
    try:
        ready = process.stdout.readline()
        seen = [ready]
        if how == "sigkill":
            # Wait for some ACKs (so every round writes, however fast or slow the machine),
            # then a random delay: the kill lands anywhere in a write, or between two writes.
            for _ in range(rng.randint(MIN_ACKS, 3 * MIN_ACKS)):
                seen.append(process.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.1))
            process.send_signal(signal.SIGKILL)
        # Read on through the same buffered reader: readline() may have buffered ACK lines
        # that communicate(), reading the raw descriptor, would never see.
        out = b"".join(seen) + process.stdout.read()
        assert process.stderr is not None
        err = process.stderr.read()  # a few lines at most: the pipe cannot fill
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    lines = out.decode("ascii", "replace").splitlines()
    killed = process.returncode == -signal.SIGKILL
    assert killed or "DONE" in lines, err.decode()
    acked = [int(line[4:]) for line in lines if line.startswith("ACK ") and line[4:].isdigit()]
    return acked, killed


def stored_writes(path: Path) -> dict[str, int]:
    state = Flash(path).load()  # raises FlashError if the file were damaged
    assert state is not None
    return {c.name: int(c.secret) for c in state.credentials}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "power-cut"])
def test_sigkill_never_loses_an_acknowledged_write(
    tmp_path: Path, how: str, reliability_long: bool
) -> None:
    rng = random.Random(os.environ.get("KEYBRIDGE_SIGKILL_SEED", "4242") + how)
    rounds = ROUNDS[how][reliability_long]
    path = tmp_path / "key.state"
    model: dict[str, int] = {}
    start = 0
    kills = acks = in_flight_landed = 0
    started = time.monotonic()
    for _ in range(rounds):
        acked, killed = run_round(path, start, rng, how)
        assert acked == list(range(start, start + len(acked)))
        kills += killed
        acks += len(acked)
        for i in acked:
            model[f"c{i % SLOTS}"] = i
        actual = stored_writes(path)
        if actual != model:
            # Only the write in flight at the kill may have landed without its ACK.
            pending = start + len(acked)
            assert pending < start + WRITES_PER_ROUND
            assert actual == {**model, f"c{pending % SLOTS}": pending}
            in_flight_landed += 1
            model = actual
        start += WRITES_PER_ROUND
        assert {p.name for p in tmp_path.iterdir()} <= {"key.state", ".key.state.tmp"}
    if how == "sigkill":
        assert kills >= rounds // 2, "the writers finished before the kill: the test proves nothing"
        assert acks >= rounds * MIN_ACKS
    else:
        assert kills == rounds, "a power cut did not kill its writer"
    print(f"{how}: {rounds} rounds, {kills} kills, {acks} acknowledged writes, "
          f"{in_flight_landed} unacknowledged writes landed, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
