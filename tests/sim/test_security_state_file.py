"""Secrets at rest: the simulator's state file alone holds no secret; its device key lives in
its own 0600 file, and a missing or foreign device key is a clear error."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.firmware.device_key import DeviceKeySecrets, device_key_path, encrypted_flash
from firmware_sim.firmware.flash import Flash, FlashError
from firmware_sim.firmware.state import Credential, KeyState
from firmware_sim.simulator import Simulator, SimulatorError
from keybridge.hostconfig import HostConfig
from keybridge.otp import Credential as OtpCredential
from keybridge.session import KeySession

MakeSimulator = Callable[..., Simulator]
HES = "k5qw 4zlb nrxw 4zlp mfzw 4zdf mvzg 65dq"
RAW = base64.b32decode(HES.replace(" ", "").upper())
OTHER = bytes(range(100, 164))  # a 64-byte secret


def encodings(raw: bytes) -> list[bytes]:
    b32 = base64.b32encode(raw).decode().rstrip("=")
    return [
        b32.encode(),
        b32.lower().encode(),
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw),
    ]


async def test_the_state_file_holds_no_secret(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    state = tmp_path / "key.state"
    sim = make_simulator(state=state)
    async with KeySession.connect(sim.url) as key:
        await key.otp_put(OtpCredential.from_secret(HES), "HES.Web:me@example.com")
        await key.otp_put(OtpCredential.from_secret(OTHER, kind="hotp"), "other")
        await key.pin.set("246810")
    sim.stop()
    image = state.read_bytes()
    secrets = [RAW, OTHER, HostConfig.load().keys[0].pairing_key, b"246810"]
    for secret in secrets:
        for needle in encodings(secret):
            assert needle not in image, (secret, needle)
    assert b"HES.Web:me@example.com" in image  # names are not secret: the file is the key's
    devkey = device_key_path(state)
    assert stat.S_IMODE(devkey.stat().st_mode) == 0o600 and len(devkey.read_bytes()) == 32
    # With its device key the state opens and holds the secrets.
    loaded = encrypted_flash(state).load()
    assert loaded is not None
    assert {c.secret for c in loaded.credentials} == {RAW, OTHER}


def test_a_missing_device_key_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "k.state"
    flash = encrypted_flash(state)
    flash.save(KeyState("KB0000000001", (Credential("a", RAW),), key_id=bytes(16)))
    device_key_path(state).unlink()
    with pytest.raises(FlashError, match=r"device key .*k\.state\.devkey.* is missing"):
        encrypted_flash(state)


def test_a_foreign_device_key_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "k.state"
    encrypted_flash(state).save(KeyState("KB0000000001", (Credential("a", RAW),), key_id=bytes(16)))
    device_key_path(state).write_bytes(os.urandom(32))
    with pytest.raises(FlashError, match="do not belong together"):
        encrypted_flash(state).load()
    device_key_path(state).write_bytes(b"short")
    with pytest.raises(FlashError, match="damaged"):
        encrypted_flash(state)


def test_a_blob_moved_to_another_slot_does_not_open(tmp_path: Path) -> None:
    codec = DeviceKeySecrets(bytes(32))
    sealed = codec.seal(RAW, "otp:a")
    assert codec.open(sealed, "otp:a") == RAW
    with pytest.raises(FlashError):
        codec.open(sealed, "otp:b")
    with pytest.raises(FlashError, match="not sealed"):
        codec.open(base64.b64encode(RAW).decode(), "otp:a")  # an unencrypted state
    plain = tmp_path / "plain.state"
    Flash(plain).save(KeyState("KB0000000002", (Credential("a", RAW),), key_id=bytes(16)))
    with pytest.raises(FlashError, match="missing"):
        encrypted_flash(plain)


def test_the_simulator_refuses_to_start_without_its_device_key(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    state = tmp_path / "k.state"
    sim = make_simulator(state=state)
    sim.stop()
    device_key_path(state).unlink()
    with pytest.raises(SimulatorError, match="device key"):
        sim.start()
