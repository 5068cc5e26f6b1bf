"""The state file: round trips, atomic replacement, and refusal of anything not ours."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import ADVICE, FORMAT_VERSION, MAGIC, Flash, FlashError
from firmware_sim.firmware.state import Credential, KeyState
from keybridge.errors import KeybridgeError
from keybridge.otp.codes import Algorithm, OtpKind

KEY_ID = bytes(range(16))
STATE = KeyState(
    serial="KB00AABBCCDD",
    key_id=KEY_ID,
    credentials=(
        Credential("mail", b"\x00" * 10),
        Credential(
            "bänk 🔑",
            bytes(range(64)),
            OtpKind.HOTP,
            Algorithm.SHA512,
            digits=8,
            period=60,
            counter=2**64 - 2,
            require_button=True,
            layout="fr",
        ),
    ),
)


def image(payload: bytes, *, magic: bytes = MAGIC, version: int = FORMAT_VERSION) -> bytes:
    digest = hashlib.sha256(payload).digest()
    return struct.pack(">5sBI32s", magic, version, len(payload), digest) + payload


def test_missing_file_is_a_fresh_key(tmp_path: Path) -> None:
    assert Flash(tmp_path / "key.state").load() is None


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "key.state"
    Flash(path).save(STATE)
    assert Flash(path).load() == STATE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(MAGIC)
    assert b"\x00" * 10 not in path.read_bytes()[48:]  # secrets are encoded, not raw
    Flash(path).save(KeyState("KB0000000000", key_id=KEY_ID))
    assert Flash(path).load() == KeyState("KB0000000000", key_id=KEY_ID)
    assert [p.name for p in tmp_path.iterdir()] == ["key.state"]


def test_a_stale_temporary_file_is_harmless(tmp_path: Path) -> None:
    (tmp_path / ".key.state.tmp").write_bytes(b"half a write")
    Flash(tmp_path / "key.state").save(STATE)
    assert Flash(tmp_path / "key.state").load() == STATE


def test_memory_flash() -> None:
    flash = Flash.memory()
    assert flash.load() is None
    flash.save(STATE)
    assert flash.load() == STATE
    assert Flash.memory(STATE).load() == STATE


def _corruptions(good: bytes) -> dict[str, tuple[bytes, str]]:
    payload = good[46:]
    return {
        "empty": (b"", "wrong magic"),
        "foreign": (b'{"some": "json"}', "not a keybridge key state"),
        "magic only": (MAGIC, "truncated"),
        "header cut": (good[:30], "truncated"),
        "payload cut": (good[:-5], "truncated"),
        "trailing": (good + b"x", "longer than its header"),
        "bit flip": (good[:-3] + bytes([good[-3] ^ 1]) + good[-2:], "checksum"),
        "future": (image(payload, version=FORMAT_VERSION + 1), "upgrade keybridge"),
        "old": (image(payload, version=0), "unknown format 0"),
        "not json": (image(b"\xff\xfe"), "invalid state"),
        "wrong shape": (image(b"[1, 2]"), "invalid state"),
        "no serial": (image(b'{"credentials": []}'), "invalid state"),
        "bad kind": (
            image(
                json.dumps(
                    {
                        "serial": "KB1",
                        "credentials": [
                            {
                                "name": "x",
                                "secret": "AAAAAAAAAAAAAA==",
                                "kind": "SMS",
                                "algorithm": "SHA1",
                                "digits": 6,
                                "period": 30,
                                "counter": 0,
                                "require_button": False,
                                "layout": None,
                            }
                        ],
                    }
                ).encode()
            ),
            "invalid state",
        ),
        "bad secret": (image(good[46:].replace(b'"secret":"', b'"secret":"!')), "invalid state"),
        "bool digits": (image(good[46:].replace(b'"digits":6', b'"digits":true')), "invalid"),
    }


CORRUPTIONS = _corruptions(Flash.memory().encode(STATE))


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_damaged_files_are_refused_with_a_clear_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / "key.state"
    data, words = CORRUPTIONS[case]
    path.write_bytes(data)
    with pytest.raises(FlashError) as info:
        Flash(path).load()
    message = str(info.value)
    assert words in message
    assert str(path) in message
    assert (
        message.endswith(ADVICE)
        and "restore the state file" in message
        and "--state NEW_FILE" in message
    )
    assert isinstance(info.value, KeybridgeError)
    # The firmware refuses to start on it rather than silently starting empty.
    with pytest.raises(FlashError):
        Firmware(Flash(path), KeyClock(), Button("auto"))
    assert path.read_bytes() == data


def test_unwritable_location(tmp_path: Path) -> None:
    flash = Flash(tmp_path / "missing-dir" / "key.state")
    with pytest.raises(FlashError, match=r"cannot write the key state file .*missing-dir"):
        flash.save(STATE)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "key.state"
    Flash(path).save(STATE)
    path.chmod(0)
    with pytest.raises(FlashError, match="cannot read"):
        Flash(path).load()


credentials = st.builds(
    Credential,
    name=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=16),
    secret=st.binary(min_size=10, max_size=64),
    kind=st.sampled_from(OtpKind),
    algorithm=st.sampled_from(Algorithm),
    digits=st.integers(6, 8),
    period=st.integers(15, 120),
    counter=st.integers(0, 2**64 - 2),
    require_button=st.booleans(),
    layout=st.sampled_from([None, "us", "uk", "de", "fr"]),
)
states = st.builds(
    KeyState,
    serial=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32),
    credentials=st.lists(credentials, max_size=3, unique_by=lambda c: c.name).map(tuple),
    key_id=st.binary(min_size=16, max_size=16),
)


@given(states)
@settings(max_examples=100)
def test_any_state_round_trips(state: KeyState) -> None:
    flash = Flash.memory()
    flash.save(state)
    assert flash.load() == state


@given(st.data())
@settings(max_examples=200)
def test_any_damage_is_detected(data: st.DataObject) -> None:
    good = Flash.memory().encode(STATE)
    damaged = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(damaged) - 1))
        damaged[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    candidate = bytes(damaged[:cut])
    try:
        loaded = Flash.memory().decode(candidate)
    except FlashError:
        return
    assert loaded == STATE  # flips that cancel out (same byte, same mask twice) leave it whole
