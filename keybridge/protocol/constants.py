"""Numbers of protocol v1: message types, commands, statuses, field tags and key limits.

Both ends import these; ``docs/protocol.md`` documents every value.
"""

from __future__ import annotations

from enum import IntEnum

from keybridge.otp.names import NAME_MAX_BYTES as NAME_MAX_BYTES  # re-exported: a key limit

PROTOCOL_VERSION = 1
"""Version of the message layer; ``GET_INFO`` reports it and the host refuses other versions."""


class MessageType(IntEnum):
    """First byte of every message."""

    REQUEST = 0x01
    RESPONSE = 0x02
    KEEPALIVE = 0x03
    SEALED = 0x10
    """Encrypted-session envelope; its plaintext is a complete REQUEST or RESPONSE message."""


class Command(IntEnum):
    GET_INFO = 0x01
    PING = 0x02
    SET_TIME = 0x03
    CANCEL = 0x04
    OTP_PUT = 0x10
    OTP_LIST = 0x11
    OTP_DELETE = 0x12
    OTP_RENAME = 0x13
    OTP_CALCULATE = 0x14
    OTP_TYPE = 0x15
    RESET = 0x20
    # Pairing, sessions and the PIN (0x30..0x4F).
    PAIR_BEGIN = 0x30
    PAIR_CONFIRM = 0x31
    SESSION_OPEN = 0x32
    UNPAIR = 0x33
    LIST_HOSTS = 0x34
    PIN_SET = 0x38
    PIN_VERIFY = 0x39
    PIN_CHANGE = 0x3A


class Status(IntEnum):
    """Outcome of a request; every non-OK value is a named error."""

    OK = 0x00
    UNKNOWN_COMMAND = 0x01
    BAD_PARAMETER = 0x02
    BAD_MESSAGE = 0x03
    NOT_FOUND = 0x04
    ALREADY_EXISTS = 0x05
    STORAGE_FULL = 0x06
    ACCESS_DENIED = 0x07
    CLOCK_NOT_SET = 0x08
    CLOCK_BACKWARDS = 0x09
    BUTTON_TIMEOUT = 0x0A
    BUTTON_DENIED = 0x0B
    PIN_REQUIRED = 0x0C
    PIN_INVALID = 0x0D
    PIN_LOCKED = 0x0E
    UNSUPPORTED_LAYOUT = 0x0F
    CANNOT_TYPE = 0x10
    BUSY = 0x11
    STORAGE_ERROR = 0x12
    CANCELLED = 0x13
    # The key's own keyboard (HID over GATT), 0x20 up.
    NO_KEYBOARD_HOST = 0x20
    """OTP_TYPE to the key's keyboard while no bonded host is connected to it."""
    INTERNAL_ERROR = 0x7F

    @classmethod
    def from_code(cls, code: int) -> Status | int:
        """The enum member, or the bare integer for a status this host does not know."""
        try:
            return cls(code)
        except ValueError:
            return code


class KeepaliveReason(IntEnum):
    WAITING_FOR_BUTTON = 0x01
    PROCESSING = 0x02


class Tag(IntEnum):
    """Field tags (TLV: tag u8, length u16 big-endian, value)."""

    NAME = 0x01
    SECRET = 0x02
    KIND = 0x03
    ALGORITHM = 0x04
    DIGITS = 0x05
    PERIOD = 0x06
    COUNTER = 0x07
    REQUIRE_BUTTON = 0x08
    LAYOUT = 0x09
    TIME = 0x0A
    ENTER = 0x0B
    CODE = 0x0C
    REPORTS = 0x0D
    NEW_NAME = 0x0E
    FORCE = 0x0F
    START = 0x10
    ENTRY = 0x11
    TOTAL = 0x12
    PAYLOAD = 0x13
    SERIAL = 0x14
    FIRMWARE_VERSION = 0x15
    PROTOCOL_VERSION = 0x16
    CAPACITY = 0x17
    USED = 0x18
    CLOCK_SET = 0x19
    PAIRED_HOSTS = 0x1A
    PIN_SET = 0x1B
    PIN_RETRIES = 0x1C
    TIMEOUT_MS = 0x1D
    DETAIL = 0x1E
    MAX_MESSAGE = 0x1F
    LAYOUTS = 0x20
    VALID_UNTIL = 0x21
    OVERWRITE = 0x22
    # Pairing, sessions and the PIN (0x40..0x5F).
    HANDSHAKE = 0x40
    HOST_ID = 0x41
    PIN = 0x42
    NEW_PIN = 0x43
    MAX_RETRIES = 0x44
    HOST = 0x45
    CURRENT = 0x46
    PAIRING_ID = 0x47
    # The key's own keyboard (0x60..0x6F).
    TARGET = 0x60


class TypeTarget(IntEnum):
    """Where OTP_TYPE's reports go (field TARGET; absent means HOST)."""

    HOST = 0x00
    """Returned in the answer, for the host to type."""
    KEYBOARD = 0x01
    """Sent by the key as HID input reports to its bonded, connected BLE host."""


# Limits the key enforces (DESIGN section 4); hosts check them early for better messages.
CAPACITY = 128
# NAME_MAX_BYTES (64) is the credential model's rule, imported above from keybridge.otp.names.
SECRET_MIN_BYTES = 10
SECRET_MAX_BYTES = 64
DIGITS_MIN, DIGITS_MAX = 6, 8
PERIOD_MIN, PERIOD_MAX = 15, 120
BUTTON_TIMEOUT_S = 15.0
CLOCK_BACKWARDS_TOLERANCE_S = 300
"""The key refuses to move its clock back by more than this unless the host forces it."""
LIST_PAGE_BYTES = 1024
"""The key packs OTP_LIST entries into pages of at most this many field bytes."""
MAX_PAIRED_HOSTS = 16
PAIRING_ID_LENGTH = 8
"""Bytes of SESSION_OPEN's PAIRING_ID (which of a host's pairings the session opens under)."""
PIN_RETRIES_DEFAULT = 8
PIN_RETRIES_MIN, PIN_RETRIES_MAX = 1, 32
UNAUTHENTICATED_COMMANDS = frozenset(
    {
        Command.GET_INFO,
        Command.CANCEL,
        Command.PAIR_BEGIN,
        Command.PAIR_CONFIRM,
        Command.SESSION_OPEN,
    }
)
"""The only commands a key answers outside an encrypted session; others get ACCESS_DENIED.
The host sends nothing else unsealed (it fails closed before a byte is written)."""
