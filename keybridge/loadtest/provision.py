"""Provisioning a load test: N HES accounts with 2FA on, and a simulated key for each.

Every value comes from the seed (SHAKE-256 of the seed, the account's index and a label), so the
same seed writes the same keys dir byte for byte and the same accounts, codes and password hashes
into the store. The accounts go into the store in one transaction
(:meth:`~keybridge.hes.Hes.add_enrolled_users`); each key's state is the one the key would hold
after ``pair`` and ``otp add`` of the account's ``otpauth://`` URI (its credential built by the
key's own OTP_PUT validation), written without the per-file fsync of a running key: a cut
provisioning is simply run again with ``--force``.

The accounts are test accounts: their passwords sit in the keys dir for the load generator, and
``password_cost`` (scrypt N) defaults to a cheap value so that the load measures the second
factor, not the password hash. Never use them for anything real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.firmware.device_key import DeviceKeySecrets, device_key_path
from firmware_sim.firmware.flash import Flash
from firmware_sim.firmware.otp_store import credential_from_put
from firmware_sim.firmware.state import KeyState, PairedHost, check_state
from keybridge.errors import InvalidInputError, InvalidStateError
from keybridge.hes import Hes, authenticator_uri
from keybridge.hes.enrolment import KEY_BYTES
from keybridge.hes.passwords import hash_password
from keybridge.hes.store import MEMORY
from keybridge.hes.types import RECOVERY_CODE_COUNT, EnrolledUser
from keybridge.loadtest.keys import (
    ACCOUNTS,
    FORMAT,
    KEYS,
    MANIFEST,
    VERSION,
    Account,
    state_path,
)
from keybridge.otp import Credential
from keybridge.protocol.commands import OtpPutRequest
from keybridge.protocol.secure._primitives import ID_LENGTH, KEY_LENGTH
from keybridge.protocol.secure.at_rest import DEVICE_KEY_LENGTH

__all__ = ["PROVISION_PASSWORD_COST", "Provisioned", "email_of", "provision"]

PROVISION_PASSWORD_COST = 16
"""scrypt N of provisioned test accounts (HES-like cost: 16384, about 50 ms a login)."""
_SIBLINGS = ("-journal", "-wal", "-shm")


def email_of(index: int) -> str:
    return f"user{index:05d}@loadtest.example"


def _derive(seed: int, index: int, label: str, size: int) -> bytes:
    return hashlib.shake_256(f"keybridge loadtest\0{seed}\0{index}\0{label}".encode()).digest(size)


@dataclass(frozen=True)
class Provisioned:
    store: str
    keys_dir: str
    users: int
    seed: int
    profile: str
    first: str
    last: str


def _recovery_codes(seed: int, index: int) -> tuple[str, ...]:
    codes: dict[str, None] = {}
    j = 0
    while len(codes) < RECOVERY_CODE_COUNT:  # HES's form: 8 lowercase hex characters, distinct
        codes[_derive(seed, index, f"recovery {j}", 4).hex()] = None
        j += 1
    return tuple(codes)


def _check_targets(store: Path, keys_dir: Path, force: bool) -> None:
    if str(store) in (MEMORY, ""):
        raise InvalidInputError("--store must be a file: the load test's server opens it")
    if store.is_dir():
        raise InvalidInputError(f"--store {store} is a directory: give a file path")
    if keys_dir.exists() and not keys_dir.is_dir():
        raise InvalidInputError(f"--keys-dir {keys_dir} is a file: give a directory")
    store_used = store.exists() and store.stat().st_size > 0
    keys_used = keys_dir.is_dir() and any(keys_dir.iterdir())
    if keys_used and not (keys_dir / MANIFEST).exists():
        raise InvalidStateError(
            f"{keys_dir} holds other files, not a keys dir made by provisioning: "
            "give an empty or new directory"
        )
    if (store_used or keys_used) and not force:
        used = store if store_used else keys_dir
        raise InvalidStateError(
            f"{used} is not empty: add --force to replace it, or give new paths"
        )
    if force:
        for path in (store, *(store.with_name(store.name + s) for s in _SIBLINGS)):
            path.unlink(missing_ok=True)
        if keys_used:
            shutil.rmtree(keys_dir)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _make_key(keys_dir: Path, seed: int, account: Account, host_id: bytes, otp_key: str) -> None:
    index = account.index
    credential = Credential.from_uri(authenticator_uri(account.email, otp_key))
    stored = credential_from_put(
        OtpPutRequest(
            name=account.credential,
            secret=credential.key,
            kind=credential.kind,
            algorithm=credential.algorithm,
            digits=credential.digits,
            period=credential.period,
        )
    )
    state = KeyState(
        serial="KB" + _derive(seed, index, "serial", 5).hex().upper(),
        credentials=(stored,),
        key_id=account.key_id,
        hosts=(PairedHost(host_id, account.pairing_key),),
    )
    check_state(state)
    path = state_path(keys_dir, index)
    device_key = _derive(seed, index, "device key", DEVICE_KEY_LENGTH)
    secrets = DeviceKeySecrets(
        device_key, where=str(path), nonces=lambda slot: _derive(seed, index, f"nonce {slot}", 12)
    )
    _write_private(device_key_path(path), device_key)
    _write_private(path, Flash(path, secrets=secrets).encode(state))


def _accounts(
    keys_dir: Path, users: int, seed: int, host_id: bytes, cost: int, lines: list[str]
) -> Iterator[EnrolledUser]:
    for index in range(users):
        email = email_of(index)
        password = _derive(seed, index, "password", 9).hex()
        otp_key = base64.b32encode(_derive(seed, index, "otp key", KEY_BYTES)).decode("ascii")
        credential = Credential.from_uri(authenticator_uri(email, otp_key))
        assert credential.name is not None  # the URI's label names the account
        account = Account(
            index=index,
            email=email,
            password=password,
            credential=credential.name,
            key_id=_derive(seed, index, "key id", ID_LENGTH),
            pairing_key=_derive(seed, index, "pairing key", KEY_LENGTH),
            recovery_codes=_recovery_codes(seed, index),
        )
        _make_key(keys_dir, seed, account, host_id, otp_key)
        lines.append(account.to_json())
        salt = _derive(seed, index, "salt", 16)
        yield EnrolledUser(
            email, hash_password(password, cost, salt=salt), otp_key, account.recovery_codes
        )


def provision(
    store: Path,
    keys_dir: Path,
    users: int,
    *,
    seed: int = 0,
    profile: str = "hes",
    password_cost: int = PROVISION_PASSWORD_COST,
    force: bool = False,
) -> Provisioned:
    """Write ``users`` accounts into a new store and their keys into ``keys_dir``."""
    if users < 1:
        raise InvalidInputError(f"--users {users}: give at least 1")
    if users > 99_999:
        raise InvalidInputError(f"--users {users}: at most 99999 accounts per keys dir")
    _check_targets(store, keys_dir, force)
    host_id = _derive(seed, -1, "host id", ID_LENGTH)
    (keys_dir / KEYS).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    lines: list[str] = []
    with Hes(store, profile, password_cost=password_cost) as hes:
        hes.add_enrolled_users(_accounts(keys_dir, users, seed, host_id, password_cost, lines))
    _write_private(keys_dir / ACCOUNTS, ("\n".join(lines) + "\n").encode("utf-8"))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "seed": seed,
        "users": users,
        "profile": hes.profile.value,
        "host_id": host_id.hex(),
    }
    _write_private(keys_dir / MANIFEST, (json.dumps(manifest) + "\n").encode("utf-8"))
    return Provisioned(
        str(store), str(keys_dir), users, seed, hes.profile.value, email_of(0), email_of(users - 1)
    )
