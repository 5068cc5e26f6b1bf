"""Wire protocol v1: link framing, messages, typed command bodies, statuses.

One definition imported by both ends: the host (:mod:`keybridge.session`) and the simulated
key (:mod:`firmware_sim`). ``docs/protocol.md`` documents every byte.
"""

from keybridge.protocol.constants import (
    PROTOCOL_VERSION,
    Command,
    KeepaliveReason,
    MessageType,
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
    "Keepalive",
    "KeepaliveReason",
    "Message",
    "MessageType",
    "Request",
    "Response",
    "Sealed",
    "Status",
    "Tag",
    "decode_message",
    "encode_message",
]
