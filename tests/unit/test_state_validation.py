"""A state file with a valid checksum but values the key would never write is refused on load:
one line naming the file, what is wrong and what to do; the file is left as it was."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.device_key import DeviceKeySecrets, device_key_path, encrypted_flash
from firmware_sim.firmware.flash import (
    ADVICE,
    FORMAT_VERSION,
    MAGIC,
    MAX_IMAGE_BYTES,
    Flash,
    FlashError,
    SecretCodec,
)
from firmware_sim.firmware.state import Credential, KeyState, PairedHost, PinRecord
from keybridge.otp.codes import OtpKind
from keybridge.protocol.constants import MAX_PAIRED_HOSTS

STATE = KeyState(
    serial="KB00AABBCCDD",
    key_id=bytes(range(16)),
    credentials=(
        Credential("mail", b"\x01" * 20),
        Credential("bank", b"\x02" * 20, OtpKind.HOTP, counter=5, layout="de"),
    ),
    hosts=(PairedHost(b"\x11" * 16, b"\x22" * 32),),
    pin=PinRecord(b"\x33" * 16, b"\x44" * 32, 1000, 8, 8),
)

Doc = dict[str, Any]
HEADER = struct.calcsize(">5sBI32s")


def good_doc(secrets: SecretCodec | None = None) -> Doc:
    doc: Doc = json.loads(Flash.memory(secrets=secrets).encode(STATE)[HEADER:])
    return doc


def image(payload: bytes) -> bytes:
    digest = hashlib.sha256(payload).digest()
    return struct.pack(">5sBI32s", MAGIC, FORMAT_VERSION, len(payload), digest) + payload


def host(i: int) -> Doc:
    return {"id": bytes([i]).hex() * 16, "key": base64.b64encode(bytes(32)).decode()}


def edit(change: Callable[[Doc], object], secrets: SecretCodec | None = None) -> bytes:
    doc = good_doc(secrets)
    change(doc)
    return image(json.dumps(doc).encode())


def put(path: str, value: object) -> Callable[[Doc], object]:
    """A change setting ``doc[a][b]...`` (``path`` like ``credentials.0.digits``) to ``value``."""
    *parents, last = path.split(".")

    def change(doc: Doc) -> None:
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return change


def drop(key: str) -> Callable[[Doc], object]:
    return lambda doc: doc.pop(key)


# name -> (file bytes, words the message holds)
DAMAGED: dict[str, tuple[bytes, str]] = {
    "digits 0": (
        edit(put("credentials.0.digits", 0)),
        "credentials[0].digits is 0; it must be 6 to 8",
    ),
    "digits 100": (edit(put("credentials.0.digits", 100)), "credentials[0].digits is 100"),
    "period 0": (edit(put("credentials.0.period", 0)), "credentials[0].period is 0; it must be 15"),
    "counter -1": (edit(put("credentials.1.counter", -1)), "credentials[1].counter is -1"),
    "counter 2**64": (edit(put("credentials.1.counter", 2**64)), "credentials[1].counter is"),
    "digits a string": (edit(put("credentials.0.digits", "6")), "digits must be an integer"),
    "digits true": (edit(put("credentials.0.digits", True)), "not true or false"),
    "key id of 3 bytes": (edit(put("key_id", "aabbcc")), "key_id has 3 bytes; it must have 16"),
    "key id missing": (edit(drop("key_id")), "key_id is missing"),
    "key id not hex": (edit(put("key_id", "zz" * 16)), "key_id is not hexadecimal"),
    "credentials an object": (edit(put("credentials", {})), "credentials must be a list"),
    "credentials missing": (edit(drop("credentials")), "credentials is missing"),
    "hosts missing": (edit(drop("hosts")), "hosts is missing"),
    "serial missing": (edit(drop("serial")), "serial is missing"),
    "serial of 10000 characters": (edit(put("serial", "K" * 10_000)), "10000 characters"),
    "serial empty": (edit(put("serial", "")), "serial '' must be 1 to 32"),
    "serial with a newline": (edit(put("serial", "KB\n1")), "printable ASCII"),
    "PIN iterations 0": (edit(put("pin.iterations", 0)), "pin.iterations is 0"),
    "PIN retries -5": (edit(put("pin.retries_left", -5)), "pin.retries_left is -5"),
    "PIN max retries 0": (edit(put("pin.max_retries", 0)), "pin.max_retries is 0"),
    "PIN salt short": (edit(put("pin.salt", "00")), "pin.salt has 1 bytes"),
    "PIN an array": (edit(put("pin", [])), "pin must be an object, not a list"),
    "17 hosts": (
        edit(put("hosts", [host(i) for i in range(MAX_PAIRED_HOSTS + 1)])),
        f"17 paired hosts; the key holds {MAX_PAIRED_HOSTS}",
    ),
    "a host twice": (edit(put("hosts", [host(1), host(1)])), "hosts[1].id 0101"),
    "host key short": (
        edit(put("hosts.0.key", base64.b64encode(b"k").decode())),
        "hosts[0].key has 1 bytes; it must have 32",
    ),
    "duplicate names": (edit(put("credentials.1.name", "mail")), "'mail' appears twice"),
    "layout xx": (edit(put("credentials.1.layout", "xx")), "layout 'xx' is not a layout"),
    "layout missing": (edit(lambda d: d["credentials"][0].pop("layout")), "layout is missing"),
    "name with a control character": (
        edit(put("credentials.0.name", "a\x07b")),
        "credentials[0].name holds control character U+0007",
    ),
    "name a lone surrogate": (edit(put("credentials.0.name", "\ud800")), "lone surrogate"),
    "name empty": (edit(put("credentials.0.name", "")), "credentials[0].name is 0 bytes"),
    "secret too short": (
        edit(put("credentials.0.secret", base64.b64encode(b"short").decode())),
        "credentials[0].secret is 5 bytes",
    ),
    "secret not base64": (edit(put("credentials.0.secret", "!!")), "is not a stored secret"),
    "kind SMS": (edit(put("credentials.0.kind", "SMS")), "kind 'SMS' is not TOTP or HOTP"),
    "credential a number": (edit(put("credentials.0", 7)), "credentials[0] must be an object"),
    "nested arrays": (
        image(b'{"serial": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "nested too deeply",
    ),
    "nested objects": (image(b'{"a":' * 50_000 + b"1" + b"}" * 50_000), "nested too deeply"),
    "not UTF-8": (image(b'{"serial": "\xff"}'), "not JSON"),
}


def test_the_good_document_loads(tmp_path: Path) -> None:
    path = tmp_path / "key.state"
    path.write_bytes(image(json.dumps(good_doc()).encode()))
    assert Flash(path).load() == STATE


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_state_is_refused_and_left_alone(tmp_path: Path, case: str) -> None:
    path = tmp_path / "key.state"
    data, words = DAMAGED[case]
    path.write_bytes(data)
    with pytest.raises(FlashError) as info:
        Flash(path).load()
    message = str(info.value)
    assert words in message
    assert message.startswith(f"the key state file {path} holds an invalid state (")
    assert message.endswith(ADVICE)
    # One line, and short whatever the damage (a 10,000-character serial is not echoed back).
    assert "\n" not in message and len(message) - len(str(path)) < 330
    # The key refuses to start on it: it never starts empty, nor with a new key id.
    with pytest.raises(FlashError):
        Firmware(Flash(path), KeyClock(), Button("auto"))
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["key.state"]


def test_an_oversized_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "key.state"
    path.write_bytes(image(b" " * MAX_IMAGE_BYTES))
    with pytest.raises(FlashError, match=f"is over {MAX_IMAGE_BYTES} bytes"):
        Flash(path).load()


def test_a_state_out_of_limits_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "key.state"
    Flash(path).save(STATE)
    before = path.read_bytes()
    bad = KeyState("KB1", (Credential("x", b"\x01" * 20, digits=9),), key_id=bytes(16))
    with pytest.raises(FlashError, match=r"credentials\[0\]\.digits is 9"):
        Flash(path).save(bad)
    with pytest.raises(FlashError, match="key_id has 0 bytes"):
        Flash(path).save(KeyState("KB1"))
    assert path.read_bytes() == before


DEVICE_KEY = bytes(range(32))
SEALED = DeviceKeySecrets(DEVICE_KEY)
SERVED = {
    "key id missing": (edit(drop("key_id"), SEALED), "key_id is missing"),
    "digits 100": (edit(put("credentials.0.digits", 100), SEALED), "digits is 100"),
    "nested": (image(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
}


@pytest.mark.parametrize("case", list(SERVED))
def test_serve_refuses_a_damaged_state_in_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / "key.state"
    data, words = SERVED[case]
    path.write_bytes(data)
    (tmp_path / "key.state.devkey").write_bytes(DEVICE_KEY)
    (tmp_path / "key.state.devkey").chmod(0o600)  # a looser one is tightened, with a log line
    command = [sys.executable, "-m", "firmware_sim", "serve", "--state", str(path)]
    result = subprocess.run(
        [*command, "--link", "tcp:127.0.0.1:0", "--no-announce"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and words in lines[0] and lines[0].endswith(ADVICE)
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.state", "key.state.devkey"]


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "has 0 bytes, not 32"), (bytes(31), "has 31 bytes"), (bytes(33), "has more bytes")],
)
def test_a_damaged_device_key_is_refused_and_left_alone(
    tmp_path: Path, content: bytes, words: str
) -> None:
    state = tmp_path / "key.state"
    encrypted_flash(state).save(STATE)
    key_file = device_key_path(state)
    key_file.write_bytes(content)
    before = state.read_bytes()
    with pytest.raises(FlashError) as info:
        encrypted_flash(state)
    message = str(info.value)
    assert message.startswith(f"the device key file {key_file} is damaged")
    assert words in message and message.endswith(ADVICE)
    assert key_file.read_bytes() == content and state.read_bytes() == before


def test_an_unreadable_device_key_names_the_file(tmp_path: Path) -> None:
    state = tmp_path / "key.state"
    device_key_path(state).mkdir()
    with pytest.raises(FlashError, match=f"cannot read the device key file {tmp_path}/key"):
        encrypted_flash(state)
    assert not state.exists()


def test_a_device_key_others_can_read_is_made_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "key.state"
    encrypted_flash(state).save(STATE)
    key_file = device_key_path(state)
    key = key_file.read_bytes()
    key_file.chmod(0o644)
    assert encrypted_flash(state).load() == STATE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.read_bytes() == key
    assert "was readable by others (mode 0644): made it 0600" in caplog.text
