"""This host's identity and its pairings with keys: ``pairings.json`` in the config directory.

The directory is ``platformdirs.user_config_dir("keybridge")``, or ``$KEYBRIDGE_CONFIG_DIR``
(tests point it at a temporary directory). The file holds the host id (16 random bytes, made
once) and, per key serial number, the key id and the 32-byte pairing key. It is written
atomically (temporary file, fsync, rename) with mode 0600 in a 0700 directory. No OTP secret
is ever written here.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keybridge.errors import KeybridgeError
from keybridge.files import write_atomically
from keybridge.protocol.secure import Pairing

__all__ = ["CONFIG_DIR_ENV", "ConfigError", "HostConfig", "KeyPairing", "config_dir"]

CONFIG_DIR_ENV = "KEYBRIDGE_CONFIG_DIR"
FILE_NAME = "pairings.json"
_VERSION = 1


class ConfigError(KeybridgeError):
    """The host's pairing file cannot be read or written."""


def config_dir() -> Path:
    """``$KEYBRIDGE_CONFIG_DIR``, else the platform's user config directory for keybridge."""
    override = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("keybridge"))


@dataclass(frozen=True)
class KeyPairing:
    """What this host keeps about one paired key."""

    serial: str
    key_id: bytes
    pairing_key: bytes

    def __repr__(self) -> str:  # never put a pairing key in a log line
        return f"KeyPairing(serial={self.serial!r}, key_id={self.key_id.hex()})"


class HostConfig:
    """This host's id and pairings; :meth:`load` reads the file, changes are saved at once.

    ``HostConfig(None)`` keeps everything in memory (tests, one-off tools).
    """

    def __init__(self, path: Path | None, host_id: bytes | None = None) -> None:
        self.path = path
        self.host_id = host_id if host_id is not None else secrets.token_bytes(16)
        self._keys: dict[str, KeyPairing] = {}

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None) -> HostConfig:
        """The config in ``directory`` (default: :func:`config_dir`); empty if absent."""
        path = Path(directory if directory is not None else config_dir()) / FILE_NAME
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise ConfigError(f"cannot read the pairing file {path}: {exc.strerror}") from exc
        try:
            doc = json.loads(text)
            if doc.get("version") != _VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            config = cls(path, bytes.fromhex(doc["host_id"]))
            for serial, item in doc["keys"].items():
                config._keys[serial] = KeyPairing(
                    serial, bytes.fromhex(item["key_id"]), bytes.fromhex(item["pairing_key"])
                )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"the pairing file {path} is damaged ({exc}): delete it and pair your keys "
                "again with `keybridge pair`"
            ) from None
        return config

    @classmethod
    def memory(cls) -> HostConfig:
        return cls(None)

    def pairing_for(self, serial: str) -> Pairing | None:
        """The pairing with the key whose serial number is ``serial``, if any."""
        item = self._keys.get(serial)
        if item is None:
            return None
        return Pairing(self.host_id, item.key_id, item.pairing_key)

    @property
    def keys(self) -> list[KeyPairing]:
        return list(self._keys.values())

    def add(self, serial: str, pairing: Pairing) -> None:
        """Remember a pairing (replacing one with the same key) and save."""
        if pairing.host_id != self.host_id:
            raise ValueError("the pairing was made for another host id")
        self._keys[serial] = KeyPairing(serial, pairing.key_id, pairing.pairing_key)
        self.save()

    def remove(self, serial: str) -> bool:
        """Forget the pairing with ``serial`` and save; False if there was none."""
        if self._keys.pop(serial, None) is None:
            return False
        self.save()
        return True

    def save(self) -> None:
        if self.path is None:
            return
        doc: dict[str, Any] = {
            "version": _VERSION,
            "host_id": self.host_id.hex(),
            "keys": {
                k.serial: {"key_id": k.key_id.hex(), "pairing_key": k.pairing_key.hex()}
                for k in self._keys.values()
            },
        }
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(self.path, data, per_process_temp=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the pairing file {self.path}: {exc.strerror or exc}"
            ) from exc
