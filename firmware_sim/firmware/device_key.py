"""Secrets at rest in the simulator: sealed under a device key kept in its own file.

The state file ``STATE`` holds every secret (OTP secrets, pairing keys, the PIN hash) sealed with
ChaCha20-Poly1305 under a 32-byte device key stored in ``STATE.devkey`` (mode 0600), created
with the state on first start. The state file alone reveals no secret; the two files together
are the key's flash. Each blob is bound to its slot (``otp:NAME``, ``host:ID``, ``pin``), so
blobs cannot be swapped between credentials.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

from firmware_sim.firmware.flash import ADVICE, Flash, FlashError
from keybridge.protocol.secure.at_rest import (
    DEVICE_KEY_LENGTH,
    new_device_key,
    open_at_rest,
    seal_at_rest,
)
from keybridge.protocol.secure.errors import AtRestError

__all__ = ["DEVICE_KEY_SUFFIX", "DeviceKeySecrets", "device_key_path", "encrypted_flash"]

DEVICE_KEY_SUFFIX = ".devkey"
_PREFIX = "k1:"

log = logging.getLogger(__name__)


def device_key_path(state: str | os.PathLike[str]) -> Path:
    """Where the device key of the state file ``state`` lives: ``STATE.devkey``."""
    path = Path(state)
    return path.with_name(path.name + DEVICE_KEY_SUFFIX)


class DeviceKeySecrets:
    """A :class:`~firmware_sim.firmware.flash.SecretCodec` sealing each secret under
    ``device_key``."""

    def __init__(
        self,
        device_key: bytes,
        *,
        where: str = "the key state file",
        nonces: Callable[[str], bytes] | None = None,
    ) -> None:
        if len(device_key) != DEVICE_KEY_LENGTH:
            raise FlashError(
                f"the device key for {where} has {len(device_key)} bytes, not "
                f"{DEVICE_KEY_LENGTH}: the device key file is damaged"
            )
        self._key = device_key
        self._where = where
        # Injected only to write reproducible state files (load-test provisioning): the nonce
        # for each slot must then be used once per device key.
        self._nonces = nonces

    @classmethod
    def for_state(cls, state: str | os.PathLike[str]) -> DeviceKeySecrets:
        """The device key next to ``state``; made (mode 0600) when neither file exists yet.

        A state file without its device key is refused: its secrets cannot be read.
        """
        state_path = Path(state)
        key_path = device_key_path(state_path)
        try:
            with key_path.open("rb") as file:
                key = file.read(DEVICE_KEY_LENGTH + 1)  # a longer file is damaged: not all read
                _keep_private(file.fileno(), key_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise FlashError(
                f"cannot read the device key file {key_path}: {exc.strerror or exc}; {ADVICE}"
            ) from exc
        else:
            if len(key) != DEVICE_KEY_LENGTH:
                size = f"{len(key)} bytes" if len(key) <= DEVICE_KEY_LENGTH else "more bytes"
                raise FlashError(
                    f"the device key file {key_path} is damaged: it has {size}, not "
                    f"{DEVICE_KEY_LENGTH}; {ADVICE}"
                )
            return cls(key, where=str(state_path))
        if state_path.exists():
            raise FlashError(
                f"the device key {key_path} of the key state file {state_path} is missing, so "
                "its secrets cannot be read: restore the device key file, or delete the state "
                "file to start a new key"
            )
        key = new_device_key()
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, key)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FlashError(
                f"cannot create the device key {key_path}: {exc.strerror or exc}; check the "
                "directory exists and is writable"
            ) from exc
        return cls(key, where=str(state_path))

    def seal(self, secret: bytes, slot: str = "") -> str:
        nonce = self._nonces(slot) if self._nonces is not None else None
        sealed = seal_at_rest(self._key, secret, slot.encode("utf-8"), nonce=nonce)
        return _PREFIX + base64.b64encode(sealed).decode("ascii")

    def open(self, sealed: str, slot: str = "") -> bytes:
        if not sealed.startswith(_PREFIX):
            raise FlashError(
                f"{self._where} holds a secret that is not sealed under a device key: it was "
                f"written by an older simulator or by hand; {ADVICE}"
            )
        try:
            blob = base64.b64decode(sealed[len(_PREFIX) :].encode("ascii"), validate=True)
            return open_at_rest(self._key, blob, slot.encode("utf-8"))
        except (AtRestError, binascii.Error, ValueError) as exc:
            raise FlashError(
                f"{self._where}: a secret cannot be opened with its device key ({exc}); the "
                "state file and the device key file do not belong together"
            ) from None


def _keep_private(fd: int, path: Path) -> None:
    """Take a device key file that others may read to 0600 (it opens every secret of its state;
    the change loses nothing, where a warning alone would leave it readable)."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o077:
        os.fchmod(fd, mode & 0o700)
        log.warning(
            "the device key file %s was readable by others (mode %04o): made it 0600", path, mode
        )


def encrypted_flash(state: str | os.PathLike[str]) -> Flash:
    """The simulator's flash: ``state`` with secrets sealed under ``STATE.devkey``."""
    return Flash(state, secrets=DeviceKeySecrets.for_state(state))
