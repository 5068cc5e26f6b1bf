"""The ``--faults`` grammar and the fault layers: what each fault does, seeded reproducibility,
the hang-up, the power cut, and a stderr log that never blocks."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from firmware_sim.firmware.flash import Base64Secrets, Flash
from firmware_sim.firmware.state import Credential, KeyState
from firmware_sim.links.fault_spec import FaultSpec, StreamFaults, parse_faults
from firmware_sim.links.faults import FaultyPort, FaultyStream, PowerCutFlash, with_seed
from firmware_sim.links.log_handler import NonBlockingHandler
from firmware_sim.links.reactor import Reactor
from firmware_sim.serve import ServeOptions, parse_args, seeded
from keybridge.errors import InvalidInputError
from keybridge.files import temporary_path
from keybridge.protocol.framing import FrameDecoder, encode_frame


def test_the_documented_example() -> None:
    spec = parse_faults(
        "drop=0.05,corrupt=0.01@in,duplicate=0.02,delay=0.01:200ms,disconnect-after=40,"
        "power-cut-after-writes=3,seed=7"
    )
    assert spec.inbound == StreamFaults(
        drop=0.05, corrupt=0.01, duplicate=0.02, delay=0.01, delay_s=0.2
    )
    assert spec.outbound == StreamFaults(drop=0.05, duplicate=0.02, delay=0.01, delay_s=0.2)
    assert (spec.disconnect_after, spec.power_cut_after_writes, spec.seed) == (40, 3, 7)
    assert spec.link_faults


def test_shares_durations_and_directions() -> None:
    spec = parse_faults("drop-byte=1%@out,corrupt-byte=0.5%@in,delay=1:1.5s@in")
    assert spec.outbound == StreamFaults(drop_byte=0.01)
    assert spec.inbound == StreamFaults(corrupt_byte=0.005, delay=1.0, delay_s=1.5)
    assert not parse_faults("power-cut-after-writes=0").link_faults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drop=2", "not a share"),
        ("drop=-0.1", "not a share"),
        ("drop=nan", "not a share"),
        ("drop=five%", "not a share"),
        ("drop", "no value"),
        ("", "no value"),
        ("drop=0.1,,seed=1", "no value"),
        ("explode=0.1", "unknown fault 'explode'"),
        ("drop=0.1@up", "@up is not a direction"),
        ("delay=0.1", "give the delay"),
        ("delay=0.1:200", "not a delay"),
        ("delay=0.1:0ms", "not a delay"),
        ("delay=0.1:2min", "not a delay"),
        ("drop=0.1:200ms", "only delay takes a duration"),
        ("drop=0.1,drop=0.2@in", "drop is given twice for @in"),
        ("seed=1,seed=2", "seed is given twice"),
        ("seed=x", "not a whole number"),
        ("disconnect-after=0", "at least 1"),
        ("power-cut-after-writes=-1", "at least 0"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        parse_faults(text)
    assert "\n" not in str(info.value)


def test_a_seed_is_added_once() -> None:
    seeded = with_seed("drop=0.1")
    assert parse_faults(seeded).seed is not None
    assert with_seed(seeded) == seeded
    assert with_seed("drop=0.1,seed=3") == "drop=0.1,seed=3"


FRAMES = [encode_frame(bytes([1, i % 256, 2, 3, 4, 5, 6, 7])) for i in range(2000)]


def run(faults: StreamFaults, seed: int, chunks: list[bytes]) -> tuple[list[bytes], FaultyStream]:
    """Push ``chunks`` through a stream; the messages that decode at the far end."""
    reactor = Reactor()
    decoder = FrameDecoder()
    out: list[bytes] = []
    stream = FaultyStream(
        faults, random.Random(seed), reactor, lambda data: out.extend(decoder.feed(data))
    )
    try:
        for chunk in chunks:
            stream.feed(chunk)
        while stream._held:  # delayed frames: run the reactor until they are out
            reactor.run_once(0.1)
    finally:
        reactor.close()
    return out, stream


def test_without_faults_every_frame_passes_even_split_anywhere() -> None:
    data = b"".join(FRAMES[:50])
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    out, _ = run(StreamFaults(), 1, chunks)
    assert out == [decode(frame) for frame in FRAMES[:50]]


def decode(frame: bytes) -> bytes:
    [message] = FrameDecoder().feed(frame)
    return message


def test_each_fault_does_what_it_says_at_about_its_share() -> None:
    sent = [decode(frame) for frame in FRAMES]
    out, stream = run(StreamFaults(drop=0.1), 5, FRAMES)
    assert 150 < stream.counts.dropped < 250
    assert len(out) == len(FRAMES) - stream.counts.dropped
    assert set(out) <= set(sent)

    out, stream = run(StreamFaults(corrupt=0.1), 5, FRAMES)
    assert 150 < stream.counts.corrupted < 250
    assert len(out) == len(FRAMES) - stream.counts.corrupted  # the CRC catches every one

    out, stream = run(StreamFaults(duplicate=0.1), 5, FRAMES)
    assert 150 < stream.counts.duplicated < 250
    assert len(out) == len(FRAMES) + stream.counts.duplicated

    out, stream = run(StreamFaults(delay=0.01, delay_s=0.001), 5, FRAMES)
    assert stream.counts.delayed > 5
    assert out == sent  # delayed, never reordered

    out, stream = run(StreamFaults(corrupt_byte=0.01, drop_byte=0.01), 5, FRAMES)
    assert stream.counts.bytes_corrupted > 100 and stream.counts.bytes_dropped > 100
    assert 0 < len(out) < len(FRAMES)
    assert set(out) <= set(sent)  # noise loses frames; it never forges one


def test_the_same_seed_gives_the_same_faults() -> None:
    faults = StreamFaults(drop=0.05, corrupt=0.05, duplicate=0.05, corrupt_byte=0.001)
    first, _ = run(faults, 7, FRAMES)
    again, _ = run(faults, 7, FRAMES)
    other, _ = run(faults, 8, FRAMES)
    assert first == again
    assert first != other


class Recorder:
    """A port that records what reaches it."""

    name = "key 1"
    device = None

    def __init__(self) -> None:
        self.fed: list[bytes] = []
        self.write = None

    def connect(self, write):  # type: ignore[no-untyped-def]
        self.write = write

    def disconnect(self) -> None:
        self.write = None

    def feed(self, data: bytes) -> None:
        self.fed.append(data)
        if self.write is not None:
            self.write(b"\x00answer\x00")

    def poke(self) -> None: ...

    def close(self) -> None: ...


def test_disconnect_after_n_frames_runs_the_nth_and_loses_its_answer() -> None:
    reactor = Reactor()
    inner = Recorder()
    port = FaultyPort(inner, reactor, FaultSpec(disconnect_after=3), seed=1)  # type: ignore[arg-type]
    hung_up: list[bool] = []
    port.on_hang_up = lambda: hung_up.append(True)
    answers: list[bytes] = []
    port.connect(answers.append)
    try:
        port.feed(b"".join(FRAMES[:5]))
        reactor.run_once(0)
    finally:
        reactor.close()
    assert len(inner.fed) == 3
    assert len(answers) == 2
    assert hung_up == [True]


def state(n: int) -> KeyState:
    credential = Credential(name=f"c{n}", secret=b"%020d" % n)
    return KeyState(serial="S1", key_id=bytes(16), credentials=(credential,))


@pytest.mark.parametrize("seed", range(12))
def test_a_power_cut_leaves_the_old_or_the_new_state(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "key.state"
    cuts: list[int] = []
    flash = PowerCutFlash(
        path,
        secrets=Base64Secrets(),
        writes=2,
        rng=random.Random(seed),
        cut=lambda: cuts.append(1),
    )
    flash.save(state(1))
    flash.save(state(2))
    assert not cuts
    flash.save(state(3))  # the cut: in a real process, nothing runs after it
    assert cuts == [1]
    assert Flash(path).load() in (state(2), state(3))
    assert not temporary_path(path).exists() or Flash(path).load() == state(2)


def test_the_log_drops_and_counts_lines_instead_of_blocking() -> None:
    read, write = os.pipe()
    os.set_blocking(read, False)
    handler = NonBlockingHandler(write)
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = logging.LogRecord("firmware_sim", logging.INFO, __file__, 1, "x" * 200, None, None)
    try:
        for _ in range(2000):  # 400 KB into a 64 KiB pipe nobody reads: would block
            handler.emit(record)
        assert handler.dropped > 0
        while True:
            try:
                if not os.read(read, 65536):
                    break
            except BlockingIOError:
                break
        handler.emit(record)
        text = os.read(read, 65536).decode()
    finally:
        os.close(read)
        os.close(write)
    assert text.startswith(f"firmware_sim: {handler.dropped_total} log lines dropped")
    assert handler.dropped == 0


def test_serve_takes_faults_and_refuses_link_faults_on_ble(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_args(["--faults", "drop=0.1,seed=2"]).faults == "drop=0.1,seed=2"
    assert parse_args(["--link", "ble-virtual", "--faults", "power-cut-after-writes=2"]).faults
    with pytest.raises(SystemExit) as info:
        parse_args(["--link", "ble-virtual", "--faults", "drop=0.1"])
    assert info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "pty and tcp" in line
    assert parse_faults(seeded(ServeOptions(faults="drop=0.1")).faults).seed is not None
