"""The security layer's cryptographic core: pure functions and state machines over bytes.

No I/O and no clock: the host session and the simulated key's firmware both import it and
carry its payloads in ordinary messages (pairing, session open) or as the sealed envelope
(message type 0x10). ``docs/security.md`` holds the threat model and every byte layout.

- :mod:`.pairing`: :class:`PairingHost` / :class:`PairingKey` -> :class:`Pairing`
- :mod:`.session`: :class:`SessionHost` / :class:`SessionKey` -> :class:`SecureChannel`
- :mod:`.channel`: the envelope and :class:`SecureChannel`
- :mod:`.pin`: PIN format and hashing
- :mod:`.at_rest`: sealing secrets under a device key

The names of ``channel``, ``pairing`` and ``session`` load their submodule on first use:
importing this package (with its cheap submodules ``errors``, ``pin`` and ``at_rest``) does
not import ``cryptography``, which the simulator needs only once a host pairs, opens a
session or a stored secret is opened.
"""

from keybridge._lazy import lazy_exports
from keybridge.protocol.secure.at_rest import (
    AT_REST_OVERHEAD,
    DEVICE_KEY_LENGTH,
    new_device_key,
    open_at_rest,
    seal_at_rest,
)
from keybridge.protocol.secure.errors import (
    AtRestError,
    ChannelClosedError,
    ForgedFrameError,
    HandshakeError,
    MalformedEnvelopeError,
    PairingError,
    PairingRejectedError,
    PinFormatError,
    ReplayedFrameError,
    SecureChannelError,
    SessionOpenError,
    UnknownHostError,
)
from keybridge.protocol.secure.pin import (
    DEFAULT_PIN_ITERATIONS,
    PIN_MAX_LENGTH,
    PIN_MIN_LENGTH,
    check_pin_format,
    hash_pin,
    new_pin_salt,
    verify_pin,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from keybridge.protocol.secure.channel import (
        ENVELOPE_HEADER_LENGTH,
        ENVELOPE_OVERHEAD,
        SEALED_TYPE,
        SESSION_ID_LENGTH,
        Direction,
        SecureChannel,
    )
    from keybridge.protocol.secure.pairing import CODE_DIGITS, Pairing, PairingHost, PairingKey
    from keybridge.protocol.secure.session import PairingKeyLookup, SessionHost, SessionKey

# These import cryptography: loaded on first use.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            (
                "ENVELOPE_HEADER_LENGTH",
                "ENVELOPE_OVERHEAD",
                "SEALED_TYPE",
                "SESSION_ID_LENGTH",
                "Direction",
                "SecureChannel",
            ),
            "channel",
        ),
        **dict.fromkeys(("CODE_DIGITS", "Pairing", "PairingHost", "PairingKey"), "pairing"),
        **dict.fromkeys(("PairingKeyLookup", "SessionHost", "SessionKey"), "session"),
    },
)


__all__ = [
    "AT_REST_OVERHEAD",
    "CODE_DIGITS",
    "DEFAULT_PIN_ITERATIONS",
    "DEVICE_KEY_LENGTH",
    "ENVELOPE_HEADER_LENGTH",
    "ENVELOPE_OVERHEAD",
    "PIN_MAX_LENGTH",
    "PIN_MIN_LENGTH",
    "SEALED_TYPE",
    "SESSION_ID_LENGTH",
    "AtRestError",
    "ChannelClosedError",
    "Direction",
    "ForgedFrameError",
    "HandshakeError",
    "MalformedEnvelopeError",
    "Pairing",
    "PairingError",
    "PairingHost",
    "PairingKey",
    "PairingKeyLookup",
    "PairingRejectedError",
    "PinFormatError",
    "ReplayedFrameError",
    "SecureChannel",
    "SecureChannelError",
    "SessionHost",
    "SessionKey",
    "SessionOpenError",
    "UnknownHostError",
    "check_pin_format",
    "hash_pin",
    "new_device_key",
    "new_pin_salt",
    "open_at_rest",
    "seal_at_rest",
    "verify_pin",
]
