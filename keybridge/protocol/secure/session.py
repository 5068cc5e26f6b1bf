"""Opening an encrypted session over a paired link: one round trip plus the first sealed frame.

::

    host -> key  SESSION_OPEN        host_id(16) | host_nonce(16) | host_eph_pub(32)
    key -> host  SESSION_OPEN reply  key_id(16) | key_nonce(16) | key_eph_pub(32) | key_proof(32)
    host -> key  SEALED request      (the host's proof: it seals under keys only a holder of
                                      the pairing key can derive from this exchange)

Keys: ``HKDF-SHA256(ikm = pairing_key | X25519(eph, peer_eph), salt = host_nonce | key_nonce,
info = label | transcript)`` for each of ``h2k``, ``k2h``, the session id and the key's proof
key. The ephemeral X25519 exchange gives forward secrecy: a pairing key stolen later does not
decrypt recorded sessions. ``docs/security.md`` explains the choices.
"""

from __future__ import annotations

from collections.abc import Callable

from keybridge.protocol.secure._primitives import (
    ID_LENGTH,
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
from keybridge.protocol.secure.channel import SESSION_ID_LENGTH, Direction, SecureChannel
from keybridge.protocol.secure.errors import SessionOpenError, UnknownHostError
from keybridge.protocol.secure.pairing import Pairing

__all__ = ["PairingKeyLookup", "SessionHost", "SessionKey"]

DOMAIN = b"keybridge session v1"
_INFO_H2K = b"keybridge session v1 h2k"
_INFO_K2H = b"keybridge session v1 k2h"
_INFO_ID = b"keybridge session v1 id"
_INFO_PROOF = b"keybridge session v1 key proof"

_OPEN = (ID_LENGTH, NONCE_LENGTH, PUBLIC_KEY_LENGTH)
_OPEN_REPLY = (ID_LENGTH, NONCE_LENGTH, PUBLIC_KEY_LENGTH, MAC_LENGTH)

PairingKeyLookup = Callable[[bytes], bytes | None]
"""Given a host id, the pairing key the key holds for it, or None (``dict.get`` fits)."""


class _SessionSecrets:
    def __init__(
        self,
        pairing_key: bytes,
        shared: bytes,
        host_id: bytes,
        key_id: bytes,
        host_nonce: bytes,
        host_eph: bytes,
        key_nonce: bytes,
        key_eph: bytes,
    ) -> None:
        th = transcript_hash(DOMAIN, host_id, key_id, host_nonce, host_eph, key_nonce, key_eph)
        ikm, salt = pairing_key + shared, host_nonce + key_nonce
        self.h2k = hkdf(ikm, salt, _INFO_H2K + th)
        self.k2h = hkdf(ikm, salt, _INFO_K2H + th)
        self.session_id = hkdf(ikm, salt, _INFO_ID + th, SESSION_ID_LENGTH)
        self.key_proof = mac(hkdf(ikm, salt, _INFO_PROOF + th), th)


class SessionHost:
    """The host's side: ``request()`` -> SESSION_OPEN payload; ``finish(reply)`` -> channel.

    ``ephemeral_key`` (32 raw X25519 private bytes) and ``nonce`` are for test vectors.
    """

    def __init__(
        self,
        pairing: Pairing,
        *,
        ephemeral_key: bytes | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self._pairing = pairing
        self._private = x25519_private(ephemeral_key)
        self._public = x25519_public_bytes(self._private)
        self._nonce = fixed("nonce", nonce, NONCE_LENGTH)
        self._finished = False

    def request(self) -> bytes:
        """The SESSION_OPEN payload ``host_id | host_nonce | host_eph_pub``."""
        return self._pairing.host_id + self._nonce + self._public

    def finish(self, reply: bytes) -> SecureChannel:
        """Check the key's reply and proof; return the host's end of the session."""
        if self._finished:
            raise SessionOpenError("this session opening was already used; start a new one")
        self._finished = True
        key_id, key_nonce, key_eph, key_proof = split(
            reply, _OPEN_REPLY, "SESSION_OPEN reply", SessionOpenError
        )
        if key_id != self._pairing.key_id:
            raise SessionOpenError(
                f"the key answering is {key_id.hex()}, not the paired key "
                f"{self._pairing.key_id.hex()}: connect to the right key or pair this one"
            )
        shared = x25519_shared(self._private, key_eph, SessionOpenError, "key")
        s = _SessionSecrets(
            self._pairing.pairing_key,
            shared,
            self._pairing.host_id,
            key_id,
            self._nonce,
            self._public,
            key_nonce,
            key_eph,
        )
        if not macs_equal(key_proof, s.key_proof):
            raise SessionOpenError(
                "the key could not prove it holds our pairing key (it was reset or unpaired this "
                "host, or the link was tampered with): pair again with `keybridge pair`"
            )
        return SecureChannel(s.session_id, s.h2k, s.k2h, Direction.HOST_TO_KEY)


class SessionKey:
    """The key's side: ``accept(payload)`` -> SESSION_OPEN reply; then :attr:`channel`.

    The host is authenticated only when the channel opens its first sealed frame
    (:attr:`SecureChannel.peer_authenticated`); the key executes nothing before that.
    """

    def __init__(
        self,
        key_id: bytes,
        pairing_keys: PairingKeyLookup,
        *,
        ephemeral_key: bytes | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self.key_id = fixed("key_id", key_id, ID_LENGTH)
        self._lookup = pairing_keys
        self._private = x25519_private(ephemeral_key)
        self._public = x25519_public_bytes(self._private)
        self._nonce = fixed("nonce", nonce, NONCE_LENGTH)
        self._channel: SecureChannel | None = None
        self.host_id = b""

    @property
    def channel(self) -> SecureChannel:
        """The key's end of the session (after :meth:`accept`)."""
        if self._channel is None:
            raise SessionOpenError("no session: SESSION_OPEN has not been accepted")
        return self._channel

    def accept(self, payload: bytes) -> bytes:
        """Consume SESSION_OPEN; raise :class:`UnknownHostError` for a host that is not paired."""
        if self._channel is not None:
            raise SessionOpenError("this session opening was already used; start a new one")
        host_id, host_nonce, host_eph = split(payload, _OPEN, "SESSION_OPEN", SessionOpenError)
        pairing_key = self._lookup(host_id)
        if pairing_key is None:
            raise UnknownHostError(
                f"host {host_id.hex()} is not paired with this key: pair it with `keybridge pair`"
            )
        shared = x25519_shared(self._private, host_eph, SessionOpenError, "host")
        s = _SessionSecrets(
            pairing_key,
            shared,
            host_id,
            self.key_id,
            host_nonce,
            host_eph,
            self._nonce,
            self._public,
        )
        self.host_id = host_id
        self._channel = SecureChannel(s.session_id, s.k2h, s.h2k, Direction.KEY_TO_HOST)
        return self.key_id + self._nonce + self._public + s.key_proof
