"""The host's pairing file: location, permissions, atomic writes, damaged files."""

from __future__ import annotations

import json
import stat
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
