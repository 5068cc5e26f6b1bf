"""The host's pairing file: location, permissions, atomic writes, damaged files."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from keybridge.hostconfig import CONFIG_DIR_ENV, ConfigError, HostConfig, config_dir
from keybridge.protocol.secure import Pairing


def pairing(config: HostConfig, n: int) -> Pairing:
    return Pairing(config.host_id, bytes([n]) * 16, bytes([n + 1]) * 32)


def test_the_env_variable_picks_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    monkeypatch.delenv(CONFIG_DIR_ENV)
    assert config_dir().name == "keybridge"  # the platform's user config directory


def test_round_trip_with_private_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "keybridge"
    config = HostConfig.load(directory)
    assert config.keys == [] and len(config.host_id) == 16
    config.add("KB0000000001", pairing(config, 1))
    config.add("KB0000000002", pairing(config, 2))
    path = directory / "pairings.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    again = HostConfig.load(directory)
    assert again.host_id == config.host_id
    assert again.pairing_for("KB0000000002") == pairing(config, 2)
    assert again.pairing_for("KB0000000009") is None
    assert again.remove("KB0000000001") and not again.remove("KB0000000001")
    assert [k.serial for k in HostConfig.load(directory).keys] == ["KB0000000002"]
    assert [p.name for p in directory.iterdir()] == ["pairings.json"]  # no temporary left
    assert "pairing_key" not in repr(again.keys[0])  # never in a log line


@pytest.mark.parametrize(
    "text", ["{", "[]", '{"version": 2}', '{"version": 1, "host_id": "zz", "keys": {}}']
)
def test_a_damaged_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "pairings.json").write_text(text)
    with pytest.raises(ConfigError, match=r"damaged.*keybridge pair"):
        HostConfig.load(tmp_path)


def test_a_pairing_of_another_host_is_refused(tmp_path: Path) -> None:
    config = HostConfig.load(tmp_path)
    with pytest.raises(ValueError, match="another host"):
        config.add("KB1", Pairing(b"\x00" * 16, bytes(16), bytes(32)))
    assert not (tmp_path / "pairings.json").exists()


def test_memory_config_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = HostConfig.memory()
    config.add("KB1", pairing(config, 3))
    assert config.pairing_for("KB1") is not None
    assert list(tmp_path.iterdir()) == []


def test_the_file_holds_no_otp_secret_fields(tmp_path: Path) -> None:
    config = HostConfig.load(tmp_path)
    config.add("KB1", pairing(config, 4))
    doc = json.loads((tmp_path / "pairings.json").read_text())
    assert set(doc) == {"version", "host_id", "keys"}
    assert set(doc["keys"]["KB1"]) == {"key_id", "pairing_key"}


def _valid(config: HostConfig) -> dict[str, object]:
    config.add("KB0000000001", pairing(config, 1))
    assert config.path is not None
    doc: dict[str, object] = json.loads(config.path.read_text())
    return doc


DAMAGED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "a 0xFF byte": (lambda good: b"\xff" + good, "not UTF-8 text: byte 0xFF at 0"),
    "UTF-16 text": (lambda good: good.decode().encode("utf-16"), "not UTF-8 text: byte 0xFF"),
    "UTF-16-LE text": (lambda good: good.decode().encode("utf-16-le"), "not JSON"),
    "nested arrays": (lambda good: b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "nested in keys": (
        lambda good: good.replace(
            b'"keys": {', b'"keys": {"x": ' + b"[" * 99_999 + b"]" * 99_999 + b", "
        ),
        "nested too deeply",
    ),
    "version a string": (
        lambda good: good.replace(b'"version": 1', b'"version": "1"'),
        "unknown version '1'",
    ),
    "version true": (
        lambda good: good.replace(b'"version": 1', b'"version": true'),
        "unknown version True",
    ),
    "host id a number": (
        lambda good: re.sub(rb'"host_id": "\w+"', b'"host_id": 7', good),
        "host_id must be a string",
    ),
    "host id short": (
        lambda good: re.sub(rb'"host_id": "\w+"', b'"host_id": "00"', good),
        "host_id has 1 bytes",
    ),
    "keys a list": (
        lambda good: json.dumps({**json.loads(good), "keys": []}).encode(),
        "keys must be an object",
    ),
    "key id of 15 bytes": (
        lambda good: good.replace(b'"key_id": "' + b"01" * 16, b'"key_id": "' + b"01" * 15),
        "key_id has 15 bytes",
    ),
    "pairing key null": (
        lambda good: re.sub(rb'"pairing_key": "\w+"', b'"pairing_key": null', good),
        "pairing_key must be a string",
    ),
    "a key an array": (
        lambda good: re.sub(rb'"KB0000000001": \{[^}]*\}', b'"KB0000000001": []', good),
        "must be an object",
    ),
    "serial with a newline": (
        lambda good: good.replace(b'"KB0000000001"', b'"KB\\n1"'),
        "is not a serial number",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_file_is_one_line_and_left_alone(tmp_path: Path, case: str) -> None:
    path = tmp_path / "pairings.json"
    good = (json.dumps(_valid(HostConfig.load(tmp_path)), indent=2, sort_keys=True) + "\n").encode()
    damage, words = DAMAGED[case]
    data = damage(good)
    assert data != good
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        HostConfig.load(tmp_path)
    message = str(info.value)
    assert message.startswith(f"the pairing file {path} is damaged (") and words in message
    assert "\n" not in message and len(message) < 400
    assert "move it aside and pair your keys again with `keybridge pair`" in message
    assert path.read_bytes() == data


def test_an_existing_open_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "keybridge"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    config = HostConfig.load(directory)
    config.add("KB0000000001", pairing(config, 1))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    directory.chmod(0o755)  # reading the pairings closes it too
    assert HostConfig.load(directory).pairing_for("KB0000000001") == pairing(config, 1)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_shared_directory_is_refused_not_changed(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)  # as /tmp
    config = HostConfig.load(directory)
    with pytest.raises(ConfigError, match=r"open to other users .* KEYBRIDGE_CONFIG_DIR"):
        config.add("KB0000000001", pairing(config, 1))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o1777
    assert list(directory.iterdir()) == []
