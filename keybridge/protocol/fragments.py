"""BLE link layer: the GATT service of a key and the fragmentation of messages.

One message (the same bytes the serial link carries inside a COBS frame) travels over BLE as one
or more ATT values of at most ``ATT_MTU - 3`` bytes: writes without response on the RX
characteristic (host -> key), notifications on the TX characteristic (key -> host). Each ATT
value is one *fragment*: a one-byte header, then up to ``ATT_MTU - 4`` bytes of the message.

Fragment header (1 byte)::

    bit 7      MORE: 1 if another fragment of the same message follows, 0 on the last one
    bits 0-6   INDEX: position of the fragment in its message, modulo 128 (the first is 0)

A message of ``n`` bytes takes ``max(1, ceil(n / (ATT_MTU - 4)))`` fragments; an empty message is
the single byte ``0x00``. ATT over L2CAP delivers in order and without loss while a connection
lasts, so any gap is a peer bug or a lost connection: the reassembler raises
:class:`~keybridge.errors.FrameError`, forgets the partial message and drops the offending
fragment; the next fragment with INDEX 0 starts a new message. Each connection starts with a
fresh reassembler.

This module is pure (no BLE library): both the host transport and the simulated key import it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from keybridge.errors import FrameError
from keybridge.protocol.framing import MAX_MESSAGE

#: GATT service of a keybridge key (128-bit, our own; advertised by the key).
SERVICE_UUID = "aede0100-ad2f-472f-9a38-aaff9e26eddc"
#: Host -> key: write without response, one fragment per write.
RX_CHAR_UUID = "aede0101-ad2f-472f-9a38-aaff9e26eddc"
#: Key -> host: notify, one fragment per notification.
TX_CHAR_UUID = "aede0102-ad2f-472f-9a38-aaff9e26eddc"
#: Read: :class:`LinkInfo` (protocol version, state flags, largest message).
INFO_CHAR_UUID = "aede0103-ad2f-472f-9a38-aaff9e26eddc"

ATT_MIN_MTU = 23
ATT_MAX_MTU = 517
#: ATT header of a write command or notification: opcode (1) + handle (2).
ATT_VALUE_OVERHEAD = 3
HEADER_SIZE = 1
MORE_FLAG = 0x80
INDEX_MASK = 0x7F
#: Default bound on a reassembled message: the message limit of every link (docs/protocol.md
#: section 2), so a peer cannot make us buffer without limit and BLE accepts what serial does.
DEFAULT_MAX_MESSAGE_SIZE = MAX_MESSAGE


def fragment_payload_size(att_mtu: int) -> int:
    """Largest ATT value (fragment, header included) that fits one packet at ``att_mtu``."""
    if not ATT_MIN_MTU <= att_mtu <= ATT_MAX_MTU:
        raise ValueError(f"ATT_MTU {att_mtu} is outside {ATT_MIN_MTU}..{ATT_MAX_MTU}")
    return att_mtu - ATT_VALUE_OVERHEAD


def iter_fragments(message: bytes, max_fragment_size: int) -> Iterator[bytes]:
    """Split ``message`` into fragments of at most ``max_fragment_size`` bytes (header included).

    ``max_fragment_size`` is ``ATT_MTU - 3`` (see :func:`fragment_payload_size`), or what the BLE
    stack reports as the largest write without response.
    """
    chunk = max_fragment_size - HEADER_SIZE
    if chunk < 1:
        raise ValueError(f"fragment size {max_fragment_size} leaves no room for data")
    count = max(1, -(-len(message) // chunk))
    for index in range(count):
        more = MORE_FLAG if index < count - 1 else 0
        yield bytes([more | (index & INDEX_MASK)]) + message[index * chunk : (index + 1) * chunk]


def fragment(message: bytes, max_fragment_size: int) -> list[bytes]:
    """List form of :func:`iter_fragments`."""
    return list(iter_fragments(message, max_fragment_size))


def fragment_count(message_size: int, max_fragment_size: int) -> int:
    """How many ATT packets a message of ``message_size`` bytes takes."""
    chunk = max_fragment_size - HEADER_SIZE
    return max(1, -(-message_size // chunk))


class Reassembler:
    """Rebuilds messages from fragments received in order on one connection."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self._parts: list[bytes] = []
        self._size = 0
        self._next_index = 0

    @property
    def in_progress(self) -> bool:
        """True while part of a message has been received."""
        return bool(self._parts)

    def reset(self) -> None:
        """Forget any partial message."""
        self._parts.clear()
        self._size = 0
        self._next_index = 0

    def feed(self, fragment: bytes) -> bytes | None:
        """Take one fragment; return the message it completes, or None if more are expected.

        Raises:
            FrameError: empty fragment, a fragment out of order or missing, or a message over
                ``max_message_size``. The partial message is dropped.
        """
        if not fragment:
            self.reset()
            raise FrameError("empty BLE fragment (no header byte); partial message dropped")
        header = fragment[0]
        index = header & INDEX_MASK
        expected = self._next_index
        if index != expected:
            was_in_progress = self.in_progress
            self.reset()
            if not was_in_progress:
                raise FrameError(
                    f"BLE fragment {index} arrived without the start of its message; dropped"
                )
            raise FrameError(
                f"BLE fragment {index} arrived where fragment {expected} was expected "
                "(missing or out of order); partial message dropped"
            )
        size = self._size + len(fragment) - HEADER_SIZE
        if size > self.max_message_size:
            self.reset()
            raise FrameError(
                f"BLE message exceeds {self.max_message_size} bytes; partial message dropped"
            )
        self._parts.append(fragment[HEADER_SIZE:])
        self._size = size
        if header & MORE_FLAG:
            self._next_index = (index + 1) & INDEX_MASK
            return None
        message = b"".join(self._parts)
        self.reset()
        return message


class StateFlags(enum.IntFlag):
    """State bits of the info characteristic (a quick look before any message)."""

    CLOCK_SET = 0x01
    PAIRED = 0x02
    PIN_SET = 0x04
    LOCKED = 0x08


_INFO = struct.Struct("<BBH")


@dataclass(frozen=True)
class LinkInfo:
    """Value of the info characteristic: ``version u8 | flags u8 | max_message u16 LE``.

    Readers ignore trailing bytes, so later versions may append fields.
    """

    protocol_version: int
    flags: StateFlags
    max_message_size: int

    def to_bytes(self) -> bytes:
        """Encode the 4-byte value."""
        return _INFO.pack(self.protocol_version, int(self.flags), self.max_message_size)

    @classmethod
    def from_bytes(cls, data: bytes) -> LinkInfo:
        """Decode a value read from the key.

        Raises:
            FrameError: fewer than 4 bytes.
        """
        if len(data) < _INFO.size:
            raise FrameError(
                f"BLE info characteristic holds {len(data)} bytes, expected at least "
                f"{_INFO.size}: the device is not a keybridge key or its firmware is broken"
            )
        version, flags, max_size = _INFO.unpack_from(data)
        return cls(version, StateFlags(flags), max_size)
