"""Fixed test vectors for pairing, session open, sealed frames and sealing at rest.

The same inputs and outputs are printed in ``docs/security.md``. Two checks: the code
reproduces the pinned bytes, and an independent re-derivation from the documented formulas
(plain hashlib/hmac and a hand-written HKDF) reproduces them too, so the document and the code
cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from keybridge.protocol.secure import (
    Pairing,
    PairingHost,
    PairingKey,
    SessionHost,
    SessionKey,
    open_at_rest,
    seal_at_rest,
)

HOST_ID = bytes(range(0x00, 0x10))
KEY_ID = bytes(range(0x10, 0x20))
HOST_PRIVATE = bytes(range(0x20, 0x40))
KEY_PRIVATE = bytes(range(0x40, 0x60))
HOST_NONCE = bytes(range(0x60, 0x70))
KEY_NONCE = bytes(range(0x70, 0x80))
HOST_EPHEMERAL = bytes(range(0x80, 0xA0))
KEY_EPHEMERAL = bytes(range(0xA0, 0xC0))
HOST_SESSION_NONCE = bytes(range(0xC0, 0xD0))
KEY_SESSION_NONCE = bytes(range(0xD0, 0xE0))
PING_REQUEST = bytes.fromhex("01000102")  # REQUEST seq 1 PING
PING_RESPONSE = bytes.fromhex("0200010200")  # RESPONSE seq 1 PING OK

PAIR_BEGIN = bytes.fromhex(
    "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"
    "000102030405060708090a0b0c0d0e0f"
    "8ec799302b75abb53659a97be44362b3752e626179a8e9faf878aa64d526a6d8"
)
PAIR_BEGIN_REPLY = bytes.fromhex(
    "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a"
    "707172737475767778797a7b7c7d7e7f"
    "101112131415161718191a1b1c1d1e1f"
)
PAIR_CONFIRM = bytes.fromhex(
    "606162636465666768696a6b6c6d6e6f"
    "2654815c5c70a7ad2f26d4def8b73e25a9e9b297b9c993cef438b200c8d14def"
)
PAIR_CONFIRM_REPLY = bytes.fromhex(
    "303d41ba3f7e6773fcc73c2ee28bb19dcc3c4b590d29664ef4ce3c4a35b590b0"
)
CODE = "551506"
PAIRING_KEY = bytes.fromhex("cb484a86512945a9b5f6c03f3817963d1aeac6f4eb0fc5b06dc11b4049d19fde")

SESSION_OPEN = bytes.fromhex(
    "000102030405060708090a0b0c0d0e0f"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
    "493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d"
)
SESSION_OPEN_REPLY = bytes.fromhex(
    "101112131415161718191a1b1c1d1e1f"
    "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "605a725d2a4adfeeb1a29e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23c"
    "414bfa8900d74b66f6f1760cea434e9bf60eff941de85eb53409efc6cd7a6cf2"
)
SESSION_ID = bytes.fromhex("0be9b675")
SEALED_PING = bytes.fromhex("100be9b67500000000ba3f10f68918de75b5f2f2b5d90a733be8fddc19")
SEALED_PING_REPLY = bytes.fromhex("100be9b6750000000083cfedc81de5f0c1ee2acba871bdd00c427ba47ea9")

DEVICE_KEY = bytes(range(32))
AT_REST_NONCE = bytes(range(12))
AT_REST = bytes.fromhex(
    "01000102030405060708090a0bc3b95b577024e110f2cb6fb8ab4d56335bd2a8c58bf98ae1a74f3d7165dab409"
)


def test_pairing_vector() -> None:
    host = PairingHost(HOST_ID, private_key=HOST_PRIVATE, nonce=HOST_NONCE)
    key = PairingKey(KEY_ID, private_key=KEY_PRIVATE, nonce=KEY_NONCE)
    assert host.begin() == PAIR_BEGIN
    assert key.begin(PAIR_BEGIN) == PAIR_BEGIN_REPLY
    assert host.confirm(PAIR_BEGIN_REPLY) == PAIR_CONFIRM
    assert key.confirm(PAIR_CONFIRM) == host.code == CODE
    assert key.accept() == PAIR_CONFIRM_REPLY
    pairing = host.finish(PAIR_CONFIRM_REPLY, user_confirmed=True)
    assert pairing == key.pairing == Pairing(HOST_ID, KEY_ID, PAIRING_KEY)


def test_session_vector() -> None:
    pairing = Pairing(HOST_ID, KEY_ID, PAIRING_KEY)
    host = SessionHost(pairing, ephemeral_key=HOST_EPHEMERAL, nonce=HOST_SESSION_NONCE)
    key = SessionKey(
        KEY_ID, {HOST_ID: PAIRING_KEY}.get, ephemeral_key=KEY_EPHEMERAL, nonce=KEY_SESSION_NONCE
    )
    assert host.request() == SESSION_OPEN
    assert key.accept(SESSION_OPEN) == SESSION_OPEN_REPLY
    channel = host.finish(SESSION_OPEN_REPLY)
    assert channel.session_id == key.channel.session_id == SESSION_ID
    assert channel.seal(PING_REQUEST) == SEALED_PING
    assert key.channel.open(SEALED_PING) == PING_REQUEST
    assert key.channel.seal(PING_RESPONSE) == SEALED_PING_REPLY
    assert channel.open(SEALED_PING_REPLY) == PING_RESPONSE


def test_at_rest_vector() -> None:
    assert seal_at_rest(DEVICE_KEY, b"JBSWY3DPEHPK3PXP", b"otp:1", nonce=AT_REST_NONCE) == AT_REST
    assert open_at_rest(DEVICE_KEY, AT_REST, b"otp:1") == b"JBSWY3DPEHPK3PXP"


# --- independent re-derivation from docs/security.md -------------------------------------


def th(domain: bytes, *fields: bytes) -> bytes:
    return hashlib.sha256(
        b"".join(len(f).to_bytes(2, "big") + f for f in (domain, *fields))
    ).digest()


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.digest(salt, ikm, "sha256")
    out, block = b"", b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.digest(prk, block + info + bytes([i]), "sha256")
        out += block
    return out[:length]


def x25519(private: bytes, public: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public)
    )


def public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def test_pairing_vector_matches_documented_formulas() -> None:
    host_pub, key_pub = public(HOST_PRIVATE), public(KEY_PRIVATE)
    commitment = th(b"keybridge pairing v1 commit", host_pub, HOST_ID, HOST_NONCE)
    assert host_pub + HOST_ID + commitment == PAIR_BEGIN
    assert key_pub + KEY_NONCE + KEY_ID == PAIR_BEGIN_REPLY
    t = th(b"keybridge pairing v1", host_pub, HOST_ID, commitment, key_pub, KEY_NONCE, KEY_ID,
           HOST_NONCE)  # fmt: skip
    shared = x25519(HOST_PRIVATE, key_pub)
    code = int.from_bytes(hkdf(shared, t, b"keybridge pairing v1 code", 8), "big") % 10**6
    assert f"{code:06d}" == CODE
    host_mac = hmac.digest(hkdf(shared, t, b"keybridge pairing v1 host confirm"), t, "sha256")
    key_mac = hmac.digest(hkdf(shared, t, b"keybridge pairing v1 key confirm"), t, "sha256")
    assert HOST_NONCE + host_mac == PAIR_CONFIRM
    assert key_mac == PAIR_CONFIRM_REPLY
    assert hkdf(shared, t, b"keybridge pairing v1 pairing key") == PAIRING_KEY


def test_session_vector_matches_documented_formulas() -> None:
    host_eph, key_eph = public(HOST_EPHEMERAL), public(KEY_EPHEMERAL)
    assert HOST_ID + HOST_SESSION_NONCE + host_eph == SESSION_OPEN
    t = th(b"keybridge session v1", HOST_ID, KEY_ID, HOST_SESSION_NONCE, host_eph,
           KEY_SESSION_NONCE, key_eph)  # fmt: skip
    ikm = PAIRING_KEY + x25519(HOST_EPHEMERAL, key_eph)
    salt = HOST_SESSION_NONCE + KEY_SESSION_NONCE
    proof = hmac.digest(hkdf(ikm, salt, b"keybridge session v1 key proof" + t), t, "sha256")
    assert KEY_ID + KEY_SESSION_NONCE + key_eph + proof == SESSION_OPEN_REPLY
    assert hkdf(ikm, salt, b"keybridge session v1 id" + t, 4) == SESSION_ID
    h2k = hkdf(ikm, salt, b"keybridge session v1 h2k" + t)
    k2h = hkdf(ikm, salt, b"keybridge session v1 k2h" + t)
    header = SEALED_PING[:9]  # 10 | session_id (4) | counter (4)
    nonce = (1).to_bytes(4, "big") + (0).to_bytes(8, "big")
    assert header + ChaCha20Poly1305(h2k).encrypt(nonce, PING_REQUEST, header) == SEALED_PING
    nonce = (2).to_bytes(4, "big") + (0).to_bytes(8, "big")
    assert header + ChaCha20Poly1305(k2h).encrypt(nonce, PING_RESPONSE, header) == (
        SEALED_PING_REPLY
    )


def test_at_rest_vector_matches_documented_formula() -> None:
    aead = ChaCha20Poly1305(DEVICE_KEY)
    assert (
        b"\x01"
        + AT_REST_NONCE
        + aead.encrypt(AT_REST_NONCE, b"JBSWY3DPEHPK3PXP", b"\x01" + b"otp:1")
        == AT_REST
    )


def test_vectors_are_printed_in_the_security_document() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
    flat = "".join(doc.split())
    for value in (
        PAIR_BEGIN, PAIR_BEGIN_REPLY, PAIR_CONFIRM, PAIR_CONFIRM_REPLY, PAIRING_KEY,
        SESSION_OPEN, SESSION_OPEN_REPLY, SESSION_ID, SEALED_PING, SEALED_PING_REPLY, AT_REST,
        HOST_PRIVATE, KEY_PRIVATE, HOST_EPHEMERAL, KEY_EPHEMERAL,
    ):  # fmt: skip
        assert value.hex() in flat
    assert f"code{CODE}" in flat
