"""Wire protocol v1: link framing, messages, typed command bodies, statuses.

One definition imported by both ends: the host (:mod:`keybridge.session`) and the simulated
key (:mod:`firmware_sim`). ``docs/protocol.md`` documents every byte.
"""

from keybridge.protocol.constants import (
    PROTOCOL_VERSION,
    Command,
    HashAlgorithm,
    KeepaliveReason,
    MessageType,
    OtpKind,
    Status,
    Tag,
)
from keybridge.protocol.messages import (
    Fields,
    Keepalive,
    Message,
    Request,
    Response,
    Sealed,
    decode_message,
    encode_message,
)

__all__ = [
    "PROTOCOL_VERSION",
    "Command",
    "Fields",
    "HashAlgorithm",
    "Keepalive",
    "KeepaliveReason",
    "Message",
    "MessageType",
    "OtpKind",
    "Request",
    "Response",
    "Sealed",
    "Status",
    "Tag",
    "decode_message",
    "encode_message",
]
