"""This host's identity and its pairings with keys: ``pairings.json`` in the config directory.

The directory is ``platformdirs.user_config_dir("keybridge")``, or ``$KEYBRIDGE_CONFIG_DIR``
(tests point it at a temporary directory). The file holds the host id (16 random bytes, made
once) and, per key serial number, the key id and the 32-byte pairing key. It is written
atomically (temporary file, fsync, rename) with mode 0600 in a 0700 directory (an existing
directory is taken to 0700). No OTP secret is ever written here. A file that does not parse,
or holds a value of the wrong type or length, is refused with one line and never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keybridge.errors import KeybridgeError
from keybridge.files import write_atomically
from keybridge.protocol.secure import Pairing

# The cheap constants module: reading the file does not import cryptography.
from keybridge.protocol.secure._primitives import ID_LENGTH, KEY_LENGTH

__all__ = ["CONFIG_DIR_ENV", "ConfigError", "HostConfig", "KeyPairing", "config_dir"]

CONFIG_DIR_ENV = "KEYBRIDGE_CONFIG_DIR"
FILE_NAME = "pairings.json"
_VERSION = 1
_MAX_FILE_BYTES = 1 << 20
"""Far more than any host's pairings (16 per key); a bigger file is not read."""
_SERIAL_MAX_LENGTH = 64


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
        """The config in ``directory`` (default: :func:`config_dir`); empty if absent.

        A file that is not a valid pairing file raises :class:`ConfigError` and is left as it
        is: no later save replaces it until the user has moved it away.
        """
        path = Path(directory if directory is not None else config_dir()) / FILE_NAME
        try:
            with path.open("rb") as file:
                data = file.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the pairing file {path}: {exc.strerror or exc}; check its "
                "permissions (it should be yours, mode 0600)"
            ) from exc
        # Reading alone already closes a directory left open (best effort: the file is 0600,
        # and a save refuses a directory it cannot close).
        with contextlib.suppress(OSError):
            _close(path.parent)
        try:
            host_id, keys = _parse(data)
        except ValueError as exc:
            raise ConfigError(
                f"the pairing file {path} is damaged ({exc}); it is left as it is: restore it "
                f"from a backup, or move it aside and pair your keys again with `keybridge pair`"
            ) from None
        config = cls(path, host_id)
        config._keys = keys
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
            _private_directory(self.path.parent)
            write_atomically(self.path, data, per_process_temp=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the pairing file {self.path}: {exc.strerror or exc}"
            ) from exc


def _parse(data: bytes) -> tuple[bytes, dict[str, KeyPairing]]:
    """The host id and pairings in a pairing file; ValueError saying what is wrong."""
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError(f"over {_MAX_FILE_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: byte 0x{data[exc.start]:02X} at {exc.start}") from None
    except RecursionError:  # json recurses once per nesting level
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    version = doc.get("version")
    if isinstance(version, bool) or version != _VERSION:
        raise ValueError(f"unknown version {_short(version)}")
    host_id = _hex(doc, "host_id", ID_LENGTH, "")
    items = doc.get("keys")
    if not isinstance(items, dict):
        raise ValueError("keys must be an object")
    keys: dict[str, KeyPairing] = {}
    for serial, item in items.items():
        if not (1 <= len(serial) <= _SERIAL_MAX_LENGTH and serial.isprintable()):
            raise ValueError(f"key serial {_short(serial)} is not a serial number")
        if not isinstance(item, dict):
            raise ValueError(f"keys[{serial!r}] must be an object")
        at = f"keys[{serial!r}]."
        keys[serial] = KeyPairing(
            serial, _hex(item, "key_id", ID_LENGTH, at), _hex(item, "pairing_key", KEY_LENGTH, at)
        )
    return host_id, keys


def _hex(item: dict[str, Any], name: str, length: int, at: str) -> bytes:
    text = item.get(name)
    if not isinstance(text, str):
        raise ValueError(f"{at}{name} must be a string of {2 * length} hex digits")
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{at}{name} is not hexadecimal") from None
    if len(value) != length:
        raise ValueError(f"{at}{name} has {len(value)} bytes; it must have {length}")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _private_directory(directory: Path) -> None:
    """Make ``directory`` (mode 0700) or take an existing one to 0700: pairing keys live in it.

    A directory that is not ours to close is refused rather than used.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _close(directory):
        raise ConfigError(
            f"the config directory {directory} is open to other users and is not yours to "
            f"close: point {CONFIG_DIR_ENV} at a directory of your own"
        )


def _close(directory: Path) -> bool:
    """Take ``directory`` to 0700 if others may open it; False if it is not ours to change
    (another user's, or a shared one with the sticky bit such as ``/tmp``)."""
    info = directory.stat()
    if stat.S_IMODE(info.st_mode) & 0o077 == 0:
        return True
    if info.st_uid != os.getuid() or info.st_mode & stat.S_ISVTX:
        return False
    os.chmod(directory, 0o700)
    return True
