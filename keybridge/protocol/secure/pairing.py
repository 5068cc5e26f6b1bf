"""Pairing a host with a key: X25519 with a committed host nonce and a 6-digit comparison.

Four payloads in two round trips (``docs/security.md`` has the byte layouts and the reasoning)::

    host -> key  PAIR_BEGIN          host_pub(32) | host_id(16) | commitment(32)
    key -> host  PAIR_BEGIN reply    key_pub(32) | key_nonce(16) | key_id(16)
    host -> key  PAIR_CONFIRM        host_nonce(16) | host_mac(32)
    key -> host  PAIR_CONFIRM reply  key_mac(32)          (only after the button press)

The host commits to its nonce before it sees the key's values and reveals it last, so a
man in the middle must fix every value it controls before the value that decides one side's
code is known: it matches both codes with probability 1e-6, not by trying a million keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from keybridge.protocol.secure._primitives import (
    ID_LENGTH,
    KEY_LENGTH,
    MAC_LENGTH,
    NONCE_LENGTH,
    PUBLIC_KEY_LENGTH,
    fixed,
    hkdf,
    mac,
    macs_equal,
    split,
    transcript_hash,
    x25519_private,
    x25519_public_bytes,
    x25519_shared,
)
from keybridge.protocol.secure.errors import PairingError, PairingRejectedError

__all__ = [
    "CODE_DIGITS",
    "Pairing",
    "PairingHost",
    "PairingKey",
    "pairing_id",
]

CODE_DIGITS = 6
DOMAIN = b"keybridge pairing v1"
_COMMIT_DOMAIN = b"keybridge pairing v1 commit"
_INFO_CODE = b"keybridge pairing v1 code"
_INFO_HOST_CONFIRM = b"keybridge pairing v1 host confirm"
_INFO_KEY_CONFIRM = b"keybridge pairing v1 key confirm"
_INFO_PAIRING_KEY = b"keybridge pairing v1 pairing key"
_PAIRING_ID_DOMAIN = b"keybridge pairing v1 id"
_PAIRING_ID_LENGTH = 8

_BEGIN = (PUBLIC_KEY_LENGTH, ID_LENGTH, 32)
_BEGIN_REPLY = (PUBLIC_KEY_LENGTH, NONCE_LENGTH, ID_LENGTH)
_CONFIRM = (NONCE_LENGTH, MAC_LENGTH)
_CONFIRM_REPLY = (MAC_LENGTH,)


@dataclass(frozen=True)
class Pairing:
    """The outcome both sides store: who paired with whom, and the long-term pairing key."""

    host_id: bytes
    key_id: bytes
    pairing_key: bytes = field(repr=False)

    @property
    def pairing_id(self) -> bytes:
        """Names this pairing in SESSION_OPEN (:func:`pairing_id`)."""
        return pairing_id(self.pairing_key)


def pairing_id(pairing_key: bytes) -> bytes:
    """8 bytes naming a pairing key without revealing it: ``TH("keybridge pairing v1 id",
    pairing_key)[:8]``. A host sends it in SESSION_OPEN so that a key holding an old and a new
    pairing of the host knows which one the session opens under."""
    return transcript_hash(_PAIRING_ID_DOMAIN, pairing_key)[:_PAIRING_ID_LENGTH]


@dataclass(frozen=True)
class _Derived:
    code: str
    host_confirm_key: bytes
    key_confirm_key: bytes
    pairing_key: bytes
    transcript: bytes


def _commitment(host_pub: bytes, host_id: bytes, host_nonce: bytes) -> bytes:
    return transcript_hash(_COMMIT_DOMAIN, host_pub, host_id, host_nonce)


def _derive(
    shared: bytes,
    host_pub: bytes,
    host_id: bytes,
    commitment: bytes,
    key_pub: bytes,
    key_nonce: bytes,
    key_id: bytes,
    host_nonce: bytes,
) -> _Derived:
    th = transcript_hash(
        DOMAIN, host_pub, host_id, commitment, key_pub, key_nonce, key_id, host_nonce
    )
    # 64 bits reduced mod 10^6: the bias (< 2^-44) is irrelevant next to the 1e-6 guess.
    code_int = int.from_bytes(hkdf(shared, th, _INFO_CODE, 8), "big") % 10**CODE_DIGITS
    return _Derived(
        code=f"{code_int:0{CODE_DIGITS}d}",
        host_confirm_key=hkdf(shared, th, _INFO_HOST_CONFIRM),
        key_confirm_key=hkdf(shared, th, _INFO_KEY_CONFIRM),
        pairing_key=hkdf(shared, th, _INFO_PAIRING_KEY, KEY_LENGTH),
        transcript=th,
    )


class _HostState(enum.Enum):
    NEW = enum.auto()
    BEGUN = enum.auto()
    CONFIRMED = enum.auto()
    DONE = enum.auto()
    FAILED = enum.auto()


class PairingHost:
    """The host's side of pairing.

    ``begin()`` -> PAIR_BEGIN payload; ``confirm(reply)`` -> PAIR_CONFIRM payload (and ``code``
    to show); ``finish(reply, user_confirmed=...)`` -> :class:`Pairing`. Any failure ends the
    attempt: start a new ``PairingHost``. ``private_key`` and ``nonce`` are for test vectors.
    """

    def __init__(
        self,
        host_id: bytes | None = None,
        *,
        private_key: bytes | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self.host_id = fixed("host_id", host_id, ID_LENGTH)
        self._private = x25519_private(private_key)
        self._public = x25519_public_bytes(self._private)
        self._nonce = fixed("nonce", nonce, NONCE_LENGTH)
        self._commitment = _commitment(self._public, self.host_id, self._nonce)
        self._state = _HostState.NEW
        self._derived: _Derived | None = None
        self._key_id = b""

    @property
    def code(self) -> str:
        """The 6-digit confirmation value to show the user (after :meth:`confirm`)."""
        if self._derived is None:
            raise PairingError("no confirmation code yet: call confirm() with the key's reply")
        return self._derived.code

    def begin(self) -> bytes:
        """The PAIR_BEGIN payload: ``host_pub | host_id | commitment``."""
        self._expect(_HostState.NEW, "begin")
        self._state = _HostState.BEGUN
        return self._public + self.host_id + self._commitment

    def confirm(self, begin_reply: bytes) -> bytes:
        """Consume the key's PAIR_BEGIN reply; return the PAIR_CONFIRM payload."""
        self._expect(_HostState.BEGUN, "confirm")
        self._state = _HostState.FAILED
        key_pub, key_nonce, key_id = split(
            begin_reply, _BEGIN_REPLY, "PAIR_BEGIN reply", PairingError
        )
        shared = x25519_shared(self._private, key_pub, PairingError, "key")
        self._derived = _derive(
            shared,
            self._public,
            self.host_id,
            self._commitment,
            key_pub,
            key_nonce,
            key_id,
            self._nonce,
        )
        self._key_id = key_id
        self._state = _HostState.CONFIRMED
        return self._nonce + mac(self._derived.host_confirm_key, self._derived.transcript)

    def finish(self, confirm_reply: bytes, *, user_confirmed: bool) -> Pairing:
        """Check the key's MAC and return the pairing.

        ``user_confirmed`` must say whether the user saw the same code on both sides: a man in
        the middle can answer the host with a valid MAC, only the user's comparison stops it.
        """
        self._expect(_HostState.CONFIRMED, "finish")
        self._state = _HostState.FAILED
        assert self._derived is not None
        (key_mac,) = split(confirm_reply, _CONFIRM_REPLY, "PAIR_CONFIRM reply", PairingError)
        if not macs_equal(key_mac, mac(self._derived.key_confirm_key, self._derived.transcript)):
            raise PairingError(
                "the key's confirmation MAC is wrong: the exchange was tampered with or the key "
                "derived another secret; do not trust this link and pair again"
            )
        if not user_confirmed:
            raise PairingRejectedError(
                "pairing cancelled: the codes were not confirmed to match; pair again and "
                "compare the code on the key with the one shown here"
            )
        self._state = _HostState.DONE
        return Pairing(self.host_id, self._key_id, self._derived.pairing_key)

    def _expect(self, state: _HostState, step: str) -> None:
        if self._state is not state:
            raise PairingError(
                f"pairing step {step}() out of order (state {self._state.name.lower()}); "
                "start a new pairing"
            )


class _KeyState(enum.Enum):
    NEW = enum.auto()
    BEGUN = enum.auto()
    AWAITING_BUTTON = enum.auto()
    DONE = enum.auto()
    FAILED = enum.auto()


class PairingKey:
    """The key's side of pairing.

    ``begin(payload)`` -> PAIR_BEGIN reply; ``confirm(payload)`` -> the code to display (host
    proven, now wait for the button); ``accept()`` -> PAIR_CONFIRM reply once the user pressed
    the button, then :attr:`pairing` holds the result; ``reject()`` ends the attempt.
    """

    def __init__(
        self,
        key_id: bytes,
        *,
        private_key: bytes | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self.key_id = fixed("key_id", key_id, ID_LENGTH)
        self._private = x25519_private(private_key)
        self._public = x25519_public_bytes(self._private)
        self._nonce = fixed("nonce", nonce, NONCE_LENGTH)
        self._state = _KeyState.NEW
        self._host_pub = self._host_id = self._commitment = b""
        self._derived: _Derived | None = None
        self._pairing: Pairing | None = None

    @property
    def pairing(self) -> Pairing:
        """The result, available after :meth:`accept`."""
        if self._pairing is None:
            raise PairingError("pairing is not complete: the button press has not been accepted")
        return self._pairing

    @property
    def host_id(self) -> bytes:
        """The host id received in PAIR_BEGIN (empty before)."""
        return self._host_id

    def begin(self, payload: bytes) -> bytes:
        """Consume PAIR_BEGIN; return the reply ``key_pub | key_nonce | key_id``."""
        self._expect(_KeyState.NEW, "PAIR_BEGIN")
        self._state = _KeyState.FAILED
        self._host_pub, self._host_id, self._commitment = split(
            payload, _BEGIN, "PAIR_BEGIN", PairingError
        )
        self._state = _KeyState.BEGUN
        return self._public + self._nonce + self.key_id

    def confirm(self, payload: bytes) -> str:
        """Consume PAIR_CONFIRM: check the host's commitment and MAC; return the code to show."""
        self._expect(_KeyState.BEGUN, "PAIR_CONFIRM")
        self._state = _KeyState.FAILED
        host_nonce, host_mac = split(payload, _CONFIRM, "PAIR_CONFIRM", PairingError)
        if not macs_equal(self._commitment, _commitment(self._host_pub, self._host_id, host_nonce)):
            raise PairingError(
                "the host's nonce does not match its commitment: the exchange was tampered "
                "with; pair again"
            )
        shared = x25519_shared(self._private, self._host_pub, PairingError, "host")
        derived = _derive(
            shared,
            self._host_pub,
            self._host_id,
            self._commitment,
            self._public,
            self._nonce,
            self.key_id,
            host_nonce,
        )
        if not macs_equal(host_mac, mac(derived.host_confirm_key, derived.transcript)):
            raise PairingError(
                "the host's confirmation MAC is wrong: the exchange was tampered with; pair again"
            )
        self._derived = derived
        self._state = _KeyState.AWAITING_BUTTON
        return derived.code

    def accept(self) -> bytes:
        """The user pressed the button: return the PAIR_CONFIRM reply (the key's MAC)."""
        self._expect(_KeyState.AWAITING_BUTTON, "accept")
        assert self._derived is not None
        self._state = _KeyState.DONE
        self._pairing = Pairing(self._host_id, self.key_id, self._derived.pairing_key)
        return mac(self._derived.key_confirm_key, self._derived.transcript)

    def reject(self) -> None:
        """The button was not pressed in time, or was denied: forget everything."""
        self._state = _KeyState.FAILED
        self._derived = None

    def _expect(self, state: _KeyState, step: str) -> None:
        if self._state is not state:
            raise PairingError(
                f"{step} out of order (pairing state {self._state.name.lower()}); "
                "start again with PAIR_BEGIN"
            )
