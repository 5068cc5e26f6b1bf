"""Typed key operations over a :class:`~keybridge.protocol.channel.Channel`.

::

    async with KeySession.connect("socket://127.0.0.1:7000") as key:
        await key.otp_put("HES.Web:me@example.com", "abcd efgh ijkl mnop qrst uvwx yz23 4567")
        print((await key.otp_calculate("HES.Web:me@example.com")).code)

Connecting reads the key's info, refuses a key of another protocol version and sets the key's
clock to this host's (the key has no battery clock). Inputs are checked against the key's limits
here as well, so mistakes fail early with a message saying what to change; the key checks again.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from keybridge.errors import (
    InvalidInputError,
    InvalidSecretError,
    MessageError,
    VersionMismatchError,
)
from keybridge.otp.codes import Algorithm
from keybridge.protocol import constants as limits
from keybridge.protocol.channel import Channel, KeepaliveCallback
from keybridge.protocol.commands import (
    Body,
    Empty,
    GetInfoResponse,
    ListEntry,
    OtpCalculateResponse,
    OtpListRequest,
    OtpListResponse,
    OtpNameRequest,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    OtpTypeResponse,
    PingBody,
    SetTimeRequest,
    SetTimeResponse,
)
from keybridge.protocol.constants import PROTOCOL_VERSION, Command, HashAlgorithm, OtpKind, Tag
from keybridge.transport import Transport, open_transport

__all__ = [
    "Code",
    "CredentialInfo",
    "KeyInfo",
    "KeySession",
    "Typed",
    "algorithm_from_wire",
    "algorithm_to_wire",
]

log = logging.getLogger(__name__)

try:
    from keybridge.otp.secret import decode_secret as _decode_base32
except ImportError:  # pragma: no cover - only while keybridge.otp.secret is missing

    def _decode_base32(text: str) -> bytes:
        canonical = "".join(text.split()).replace("-", "").upper().rstrip("=")
        try:
            return base64.b32decode(canonical + "=" * (-len(canonical) % 8))
        except ValueError:
            raise InvalidSecretError(
                "the secret is not valid Base32: use the letters A-Z and digits 2-7"
            ) from None


_REPORT_SIZE = 8
_MAX_COUNTER = 2**64 - 1

_ALGORITHMS: dict[Algorithm, HashAlgorithm] = {
    Algorithm.SHA1: HashAlgorithm.SHA1,
    Algorithm.SHA256: HashAlgorithm.SHA256,
    Algorithm.SHA512: HashAlgorithm.SHA512,
}
_WIRE_ALGORITHMS = {wire: algorithm for algorithm, wire in _ALGORITHMS.items()}


def algorithm_to_wire(algorithm: Algorithm | str) -> HashAlgorithm:
    """The protocol value of an OTP hash algorithm (``"sha-256"`` and the like are accepted)."""
    return _ALGORITHMS[Algorithm.parse(algorithm)]


def algorithm_from_wire(wire: HashAlgorithm) -> Algorithm:
    """The :class:`~keybridge.otp.Algorithm` of a protocol value."""
    return _WIRE_ALGORITHMS[wire]


def _kind(kind: OtpKind | str) -> OtpKind:
    """Accept the protocol enum or text (``"totp"``; the URI module's ``OtpKind`` is text)."""
    if isinstance(kind, OtpKind):
        return kind
    try:
        return OtpKind[str(kind).strip().upper()]
    except KeyError:
        raise InvalidInputError(f"OTP kind {kind!r} is not supported: use totp or hotp") from None


@dataclass(frozen=True)
class KeyInfo:
    """What the key says about itself (``GET_INFO``)."""

    serial: str
    firmware_version: str
    protocol_version: int
    capacity: int
    used: int
    clock_set: bool
    time: int | None
    """The key's clock (unix seconds) when it answered, if set."""
    max_message: int
    layouts: tuple[str, ...]
    paired_hosts: int
    pin_set: bool
    pin_retries: int | None

    @classmethod
    def from_body(cls, body: GetInfoResponse) -> KeyInfo:
        layouts = tuple(part for part in body.layouts.replace(",", " ").split() if part)
        return cls(
            serial=body.serial,
            firmware_version=body.firmware_version,
            protocol_version=body.protocol_version,
            capacity=body.capacity,
            used=body.used,
            clock_set=body.clock_set,
            time=body.time,
            max_message=body.max_message,
            layouts=layouts,
            paired_hosts=body.paired_hosts,
            pin_set=body.pin_set,
            pin_retries=body.pin_retries,
        )


@dataclass(frozen=True)
class CredentialInfo:
    """One stored credential as ``OTP_LIST`` describes it (never its secret)."""

    name: str
    kind: OtpKind
    algorithm: Algorithm
    digits: int
    period: int
    require_button: bool
    layout: str | None

    @classmethod
    def from_entry(cls, entry: ListEntry) -> CredentialInfo:
        return cls(
            name=entry.name,
            kind=entry.kind,
            algorithm=algorithm_from_wire(entry.algorithm),
            digits=entry.digits,
            period=entry.period,
            require_button=entry.require_button,
            layout=entry.layout,
        )


@dataclass(frozen=True)
class Code:
    """A code the key computed: TOTP codes carry ``valid_until``, HOTP codes ``counter``."""

    code: str
    valid_until: int | None = None
    counter: int | None = None

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class Typed:
    """The keystrokes the key produced: 8-byte boot-keyboard reports, and their layout."""

    reports: list[bytes]
    layout: str


class OtpCredential(Protocol):
    """What :meth:`KeySession.put_params` reads (``keybridge.otp.uri.OtpParams`` fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> bytes: ...
    @property
    def account(self) -> str: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def algorithm(self) -> Algorithm: ...
    @property
    def digits(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def counter(self) -> int | None: ...


B = TypeVar("B", bound=Body)


class KeySession:
    """Typed operations on one key. Build it on a :class:`Channel`, or use :meth:`connect`."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        *,
        set_time: bool = True,
        force_time: bool = False,
        timeout: float = 2.0,
        retries: int = 3,
        on_keepalive: KeepaliveCallback | None = None,
    ) -> AsyncIterator[KeySession]:
        """Open the key at ``url``, check its version, set its clock; close on exit."""
        async with open_transport(url) as transport:
            yield await cls.attach(
                transport,
                set_time=set_time,
                force_time=force_time,
                timeout=timeout,
                retries=retries,
                on_keepalive=on_keepalive,
            )

    @classmethod
    async def attach(
        cls,
        transport: Transport,
        *,
        set_time: bool = True,
        force_time: bool = False,
        timeout: float = 2.0,
        retries: int = 3,
        on_keepalive: KeepaliveCallback | None = None,
    ) -> KeySession:
        """A session on an already open transport, after the same checks as :meth:`connect`."""
        channel = Channel(transport, timeout=timeout, retries=retries, on_keepalive=on_keepalive)
        session = cls(channel)
        await session.start(set_time=set_time, force_time=force_time)
        return session

    @property
    def description(self) -> str:
        return self.channel.description

    @property
    def on_keepalive(self) -> KeepaliveCallback | None:
        """Called while the key waits (for its button): show a prompt with a countdown."""
        return self.channel.on_keepalive

    @on_keepalive.setter
    def on_keepalive(self, callback: KeepaliveCallback | None) -> None:
        self.channel.on_keepalive = callback

    async def start(self, *, set_time: bool = True, force_time: bool = False) -> KeyInfo:
        """Check the key's protocol version and set its clock; returns its info."""
        info = await self.info()
        if set_time:
            await self.set_time(force=force_time)
        return info

    async def _call(self, command: Command, body: Body, expected: type[B]) -> B:
        result = await self.channel.call(command, body)
        if not isinstance(result, expected):  # BODIES and the methods below disagree: a bug
            raise TypeError(f"{command.name} returned {type(result).__name__}")
        return result

    # Device -------------------------------------------------------------------------------

    async def info(self) -> KeyInfo:
        """The key's info; raises :class:`VersionMismatchError` for another protocol version."""
        fields = await self.channel.exchange(Command.GET_INFO)
        # Check the version before decoding the rest: another version may lay it out otherwise.
        raw = fields.get(Tag.PROTOCOL_VERSION)
        if raw is None or len(raw) != 1:
            raise VersionMismatchError(
                f"the device at {self.description} reports no protocol version: it is not a"
                f" keybridge key, or its firmware predates protocol version {PROTOCOL_VERSION}"
            )
        version = raw[0]
        if version != PROTOCOL_VERSION:
            advice = (
                "update keybridge on this host (`pip install -U keybridge`)"
                if version > PROTOCOL_VERSION
                else f"update the key's firmware to one speaking version {PROTOCOL_VERSION}"
            )
            raise VersionMismatchError(
                f"the key at {self.description} speaks protocol version {version}, this"
                f" keybridge speaks version {PROTOCOL_VERSION}: {advice}"
            )
        return KeyInfo.from_body(GetInfoResponse.from_fields(fields))

    async def ping(self, payload: bytes = b"") -> bytes:
        """Echo ``payload`` through the key; returns what came back."""
        body = await self._call(Command.PING, PingBody(payload), PingBody)
        return body.payload

    async def set_time(self, t: float | None = None, *, force: bool = False) -> int:
        """Set the key's clock to ``t`` (default: now); returns the key's time afterwards.

        The key refuses to go back more than a few minutes unless ``force`` is set.
        """
        when = int(time.time() if t is None else t)
        if when < 0:
            raise InvalidInputError(f"time {when} is before 1970: give a unix time in seconds")
        body = await self._call(
            Command.SET_TIME, SetTimeRequest(time=when, force=force), SetTimeResponse
        )
        log.debug("set the clock of %s to %d (key now at %d)", self.description, when, body.time)
        return body.time

    async def reset(self) -> None:
        """Factory reset: erases every credential (the key asks for its button)."""
        await self._call(Command.RESET, Empty(), Empty)

    # Credentials --------------------------------------------------------------------------

    async def otp_put(
        self,
        name: str,
        secret: bytes | str,
        *,
        kind: OtpKind | str = OtpKind.TOTP,
        algorithm: Algorithm | str = Algorithm.SHA1,
        digits: int = 6,
        period: int = 30,
        counter: int = 0,
        require_button: bool = False,
        layout: str | None = None,
        overwrite: bool = False,
    ) -> None:
        """Store a credential. ``secret`` is raw key bytes or Base32 text (spaces and case do
        not matter). The key never gives a secret back."""
        otp_kind = _kind(kind)
        key = _decode_base32(secret) if isinstance(secret, str) else bytes(secret)
        _check_name(name)
        if not limits.SECRET_MIN_BYTES <= len(key) <= limits.SECRET_MAX_BYTES:
            raise InvalidSecretError(
                f"a secret of {len(key)} bytes is not supported: the key takes"
                f" {limits.SECRET_MIN_BYTES}..{limits.SECRET_MAX_BYTES} bytes"
            )
        if not limits.DIGITS_MIN <= digits <= limits.DIGITS_MAX:
            raise InvalidInputError(f"{digits} digits is not supported: use 6, 7 or 8")
        if not limits.PERIOD_MIN <= period <= limits.PERIOD_MAX:
            raise InvalidInputError(
                f"a period of {period} s is not supported: use"
                f" {limits.PERIOD_MIN}..{limits.PERIOD_MAX} s (30 is usual)"
            )
        if not 0 <= counter <= _MAX_COUNTER:
            raise InvalidInputError(f"HOTP counter {counter} is out of range: use 0..2**64-1")
        if otp_kind == OtpKind.TOTP and counter:
            raise InvalidInputError("a counter applies to HOTP only: leave it at 0 for TOTP")
        request = OtpPutRequest(
            name=name,
            secret=key,
            kind=otp_kind,
            algorithm=algorithm_to_wire(algorithm),
            digits=digits,
            period=period,
            counter=counter,
            require_button=require_button,
            layout=_check_layout(layout),
            overwrite=overwrite,
        )
        await self._call(Command.OTP_PUT, request, Empty)

    async def put_params(
        self,
        params: OtpCredential,
        name: str | None = None,
        *,
        require_button: bool = False,
        layout: str | None = None,
        overwrite: bool = False,
    ) -> str:
        """Store a credential parsed from an ``otpauth://`` URI; the name defaults to
        ``issuer:account``. Returns the name used."""
        if name is None:
            name = f"{params.issuer}:{params.account}" if params.issuer else params.account
        await self.otp_put(
            name,
            params.key,
            kind=params.kind,
            algorithm=params.algorithm,
            digits=params.digits,
            period=params.period,
            counter=params.counter or 0,
            require_button=require_button,
            layout=layout,
            overwrite=overwrite,
        )
        return name

    async def otp_list(self) -> list[CredentialInfo]:
        """Every stored credential, in the key's order (fetched page by page)."""
        entries: list[CredentialInfo] = []
        while True:
            page = await self._call(
                Command.OTP_LIST, OtpListRequest(start=len(entries)), OtpListResponse
            )
            entries.extend(CredentialInfo.from_entry(entry) for entry in page.entries)
            if not page.entries or len(entries) >= page.total:
                return entries

    async def otp_delete(self, name: str) -> None:
        _check_name(name)
        await self._call(Command.OTP_DELETE, OtpNameRequest(name), Empty)

    async def otp_rename(self, name: str, new_name: str) -> None:
        _check_name(name)
        _check_name(new_name)
        await self._call(Command.OTP_RENAME, OtpRenameRequest(name, new_name), Empty)

    async def otp_calculate(self, name: str) -> Code:
        """The key computes the code at its own clock (or its HOTP counter, which advances)."""
        _check_name(name)
        body = await self._call(Command.OTP_CALCULATE, OtpNameRequest(name), OtpCalculateResponse)
        return Code(body.code, body.valid_until, body.counter)

    async def otp_type(self, name: str, enter: bool = False, layout: str | None = None) -> Typed:
        """The key's keystrokes for the code (+ Enter), for a keyboard backend to deliver."""
        _check_name(name)
        request = OtpTypeRequest(name=name, enter=enter, layout=_check_layout(layout))
        body = await self._call(Command.OTP_TYPE, request, OtpTypeResponse)
        return Typed(_split_reports(body.reports), body.layout)


def _check_name(name: str) -> None:
    size = len(name.encode("utf-8"))
    if size == 0:
        raise InvalidInputError("a credential name cannot be empty: give a name")
    if size > limits.NAME_MAX_BYTES:
        raise InvalidInputError(
            f"the name {name[:20]!r}... is {size} bytes in UTF-8: the key allows at most"
            f" {limits.NAME_MAX_BYTES}; shorten it"
        )


def _check_layout(layout: str | None) -> str | None:
    if layout is None:
        return None
    layout = layout.strip().lower()
    if not layout:
        raise InvalidInputError("an empty keyboard layout was given: use e.g. us, uk, de or fr")
    return layout


def _split_reports(data: bytes) -> list[bytes]:
    if len(data) % _REPORT_SIZE:
        raise MessageError(
            f"the key sent {len(data)} bytes of keyboard reports, not a multiple of {_REPORT_SIZE}"
        )
    return [data[i : i + _REPORT_SIZE] for i in range(0, len(data), _REPORT_SIZE)]
