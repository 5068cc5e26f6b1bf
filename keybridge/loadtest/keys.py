"""The keys dir of a load test, and the in-process simulated key each load user owns.

Layout (written by :mod:`~keybridge.loadtest.provision`, all private to its owner)::

    manifest.json        format, version, seed, users, profile, the load generator's host id
    accounts.jsonl       one account a line: email, password, pairing, credential name,
                         recovery codes (the load test needs them; nothing prints them)
    keys/00000.state     the key of account 0 (its secrets sealed under 00000.state.devkey)
    spent/00000          recovery codes of account 0 used so far (written by load runs)

The pairing key of each key is on the host side here, as in any host's config: what the load
generator needs to open the key's encrypted session. The OTP secret is only in the key's state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.device_key import encrypted_flash
from firmware_sim.testing.paired import SecureLink
from keybridge.errors import InvalidInputError, ProtocolError
from keybridge.files import write_atomically
from keybridge.protocol.commands import (
    Body,
    OtpCalculateResponse,
    OtpNameRequest,
    SetTimeRequest,
)
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure.pairing import Pairing

__all__ = [
    "ACCOUNTS",
    "FORMAT",
    "KEYS",
    "MANIFEST",
    "VERSION",
    "Account",
    "LoadKey",
    "Manifest",
    "SpentCodes",
    "load_accounts",
    "read_manifest",
    "state_path",
]

FORMAT = "keybridge-loadtest-keys"
VERSION = 1
MANIFEST = "manifest.json"
ACCOUNTS = "accounts.jsonl"
KEYS = "keys"
SPENT = "spent"


@dataclass(frozen=True)
class Manifest:
    seed: int
    users: int
    profile: str
    host_id: bytes


@dataclass(frozen=True)
class Account:
    """One provisioned account and the pairing of its key with the load generator."""

    index: int
    email: str
    password: str
    credential: str
    key_id: bytes
    pairing_key: bytes
    recovery_codes: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "email": self.email,
                "password": self.password,
                "credential": self.credential,
                "key_id": self.key_id.hex(),
                "pairing_key": self.pairing_key.hex(),
                "recovery_codes": list(self.recovery_codes),
            },
            separators=(",", ":"),
        )


def state_path(keys_dir: Path, index: int) -> Path:
    return keys_dir / KEYS / f"{index:05d}.state"


def read_manifest(keys_dir: Path) -> Manifest:
    """The keys dir's manifest; one clear line if it is not a provisioned keys dir."""
    path = keys_dir / MANIFEST
    try:
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ValueError("not our format")
        return Manifest(
            int(doc["seed"]), int(doc["users"]), str(doc["profile"]), bytes.fromhex(doc["host_id"])
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInputError(
            f"{keys_dir} is not a provisioned keys dir (no readable {MANIFEST}): "
            "make one with `keybridge hes provision --keys-dir DIR`"
        ) from None


@cache
def load_accounts(keys_dir: Path) -> tuple[Account, ...]:
    """Every account of the keys dir (read once per process)."""
    accounts = []
    with (keys_dir / ACCOUNTS).open(encoding="utf-8") as file:
        for index, line in enumerate(file):
            doc = json.loads(line)
            accounts.append(
                Account(
                    index=index,
                    email=doc["email"],
                    password=doc["password"],
                    credential=doc["credential"],
                    key_id=bytes.fromhex(doc["key_id"]),
                    pairing_key=bytes.fromhex(doc["pairing_key"]),
                    recovery_codes=tuple(doc["recovery_codes"]),
                )
            )
    return tuple(accounts)


class SpentCodes:
    """The recovery codes of one account already used by earlier load runs (a redeemed code
    stays spent in the store, so the next run must not count it as a right code)."""

    def __init__(self, keys_dir: Path, index: int) -> None:
        self._path = keys_dir / SPENT / f"{index:05d}"
        try:
            self.count = int(self._path.read_text("ascii"))
        except (OSError, ValueError):
            self.count = 0

    def take(self) -> None:
        self.count += 1
        self._path.parent.mkdir(mode=0o700, exist_ok=True)
        write_atomically(self._path, str(self.count).encode("ascii"))


class LoadKey:
    """One simulated key, in process: the firmware core over its state file, an encrypted
    session with it as the load generator's host, codes asked for through the protocol."""

    def __init__(self, keys_dir: Path, manifest: Manifest, account: Account) -> None:
        self.account = account
        self.firmware = Firmware(
            encrypted_flash(state_path(keys_dir, account.index)), KeyClock(), Button("auto")
        )
        pairing = Pairing(manifest.host_id, account.key_id, account.pairing_key)
        self._link = SecureLink(self.firmware, pairing)
        self._seq = 0
        self._call(Command.SET_TIME, SetTimeRequest(time=int(time.time())))

    def _call(self, command: Command, body: Body) -> Response:
        self._seq = self._seq % 0xFE00 + 1  # 0xFExx are the pairing helpers' own numbers
        for raw in self._link.handle(encode_message(Request(self._seq, command, body.to_fields()))):
            message = decode_message(raw)
            if isinstance(message, Response) and message.seq == self._seq:
                if message.status != Status.OK:
                    raise ProtocolError(f"the key answered {command.name} with {message.status!r}")
                return message
        raise ProtocolError(f"the key sent no answer to {command.name}")

    def code(self) -> tuple[str, int]:
        """The key's current code for the account and the TOTP step it belongs to."""
        answer = self._call(Command.OTP_CALCULATE, OtpNameRequest(self.account.credential))
        body = OtpCalculateResponse.from_fields(answer.fields)
        step = (body.valid_until or 0) // 30 - 1
        return body.code, step
