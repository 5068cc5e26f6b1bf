"""Typed key operations over a :class:`~keybridge.protocol.channel.Channel`.

::

    async with KeySession.connect("socket://127.0.0.1:7000") as key:
        await key.otp_put("HES.Web:me@example.com", "abcd efgh ijkl mnop qrst uvwx yz23 4567")
        print((await key.otp_calculate("HES.Web:me@example.com")).code)

Connecting reads the key's info, refuses a key of another protocol version, opens an encrypted
session when this host is paired with the key (its pairing is in :mod:`keybridge.hostconfig`)
and sets the key's clock to this host's inside it (the key has no battery clock). A key this
host never paired answers only its info: :meth:`KeySession.pair` pairs it first. Inputs are
checked against the key's limits here as well, so mistakes fail early with a message saying
what to change; the key checks again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from keybridge.errors import (
    InvalidInputError,
    InvalidSecretError,
    MessageError,
    VersionMismatchError,
)
from keybridge.hostconfig import HostConfig
from keybridge.otp.codes import Algorithm
from keybridge.protocol import constants as limits
from keybridge.protocol.channel import Channel, KeepaliveCallback
from keybridge.protocol.commands import (
    Body,
    Empty,
    GetInfoResponse,
    HandshakeBody,
    ListEntry,
    ListHostsResponse,
    OtpCalculateResponse,
    OtpListRequest,
    OtpListResponse,
    OtpNameRequest,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    OtpTypeResponse,
    PinChangeRequest,
    PingBody,
    PinRequest,
    PinSetRequest,
    SetTimeRequest,
    SetTimeResponse,
    UnpairRequest,
)
from keybridge.protocol.constants import (
    PIN_RETRIES_DEFAULT,
    PIN_RETRIES_MAX,
    PIN_RETRIES_MIN,
    PROTOCOL_VERSION,
    Command,
    HashAlgorithm,
    OtpKind,
    Status,
    Tag,
)
from keybridge.protocol.secure import (
    Pairing,
    PairingHost,
    PairingRejectedError,
    SessionHost,
    check_pin_format,
)
from keybridge.protocol.status import AccessDeniedError, PinError
from keybridge.transport import Transport, open_transport

__all__ = [
    "Code",
    "ConfirmCallback",
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
    """A code the key computed: TOTP codes carry ``valid_until`` (unix time, by the key's
    clock) and ``valid_for`` (whole seconds left by the key's clock when it answered); HOTP
    codes carry ``counter``."""

    code: str
    valid_until: int | None = None
    counter: int | None = None
    valid_for: int | None = None

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

ConfirmCallback = Callable[[str], bool | Awaitable[bool]]
"""Shows the 6-digit pairing code; returns whether the user saw the same code on the key."""

_NOT_PAIRED = "this host is not paired with the key: pair this host with `keybridge pair` first"


class KeySession:
    """Typed operations on one key. Build it on a :class:`Channel`, or use :meth:`connect`.

    ``config`` holds this host's id and pairings (default: :meth:`HostConfig.load`, read when
    first needed).
    """

    def __init__(self, channel: Channel, *, config: HostConfig | None = None) -> None:
        self.channel = channel
        self._config = config
        self.key_info: KeyInfo | None = None
        """The key's info as read when the session started."""
        self.clock_offset = 0
        """The key's clock minus this host's, in whole seconds, as of the last :meth:`set_time`
        (0 until then): a key may run a fixed or skewed clock."""

    @property
    def config(self) -> HostConfig:
        if self._config is None:
            self._config = HostConfig.load()
        return self._config

    @property
    def encrypted(self) -> bool:
        """An encrypted session with the key is open."""
        secure = self.channel.secure
        return secure is not None and not secure.closed

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
        config: HostConfig | None = None,
        secure: bool = True,
    ) -> AsyncIterator[KeySession]:
        """Open the key at ``url``, check its version, open a session if paired, set its
        clock; close on exit."""
        async with open_transport(url) as transport:
            yield await cls.attach(
                transport,
                set_time=set_time,
                force_time=force_time,
                timeout=timeout,
                retries=retries,
                on_keepalive=on_keepalive,
                config=config,
                secure=secure,
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
        config: HostConfig | None = None,
        secure: bool = True,
    ) -> KeySession:
        """A session on an already open transport, after the same checks as :meth:`connect`."""
        channel = Channel(transport, timeout=timeout, retries=retries, on_keepalive=on_keepalive)
        session = cls(channel, config=config)
        await session.start(set_time=set_time, force_time=force_time, secure=secure)
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

    async def start(
        self, *, set_time: bool = True, force_time: bool = False, secure: bool = True
    ) -> KeyInfo:
        """Check the key's protocol version; if this host is paired with the key, open an
        encrypted session and set the key's clock in it. Returns the key's info.

        ``secure=False`` reads the info only (to pair again over a pairing the key lost).
        """
        info = await self.info()
        self.key_info = info
        pairing = self.config.pairing_for(info.serial) if secure else None
        if pairing is None:
            log.info("%s (%s) is not paired with this host", self.description, info.serial)
            return info
        await self.open_session(pairing)
        if set_time:
            await self.set_time(force=force_time)
        return info

    async def _serial(self) -> str:
        if self.key_info is None:
            self.key_info = await self.info()
        return self.key_info.serial

    # Security -----------------------------------------------------------------------------

    async def open_session(self, pairing: Pairing | None = None) -> None:
        """Open an encrypted session with the key (one round trip); every later request is
        sealed. ``pairing`` defaults to this host's pairing with the key."""
        serial = await self._serial()
        if pairing is None:
            pairing = self.config.pairing_for(serial)
            if pairing is None:
                raise AccessDeniedError(Status.ACCESS_DENIED, _NOT_PAIRED)
        self.channel.secure = None
        opening = SessionHost(pairing)
        try:
            reply = await self._call(
                Command.SESSION_OPEN, HandshakeBody(opening.request()), HandshakeBody
            )
        except AccessDeniedError as exc:
            raise AccessDeniedError(
                Status.ACCESS_DENIED,
                f"the key {serial} no longer knows this host (it was unpaired, reset, or "
                "erased after wrong PINs): pair this host with `keybridge pair` again",
                exc.detail,
            ) from None
        self.channel.secure = opening.finish(reply.payload)
        log.debug("encrypted session open with %s", serial)

    async def pair(self, confirm: ConfirmCallback) -> Pairing:
        """Pair this host with the key, store the pairing, and open a session.

        ``confirm(code)`` shows the 6-digit code while the key shows its own and waits for its
        button; it returns (or resolves to) whether the user saw the same code on both. The
        key needs its button pressed within 15 s (keep-alives reach :attr:`on_keepalive`).
        """
        serial = await self._serial()
        self.channel.secure = None
        host = PairingHost(self.config.host_id)
        begin = await self._call(Command.PAIR_BEGIN, HandshakeBody(host.begin()), HandshakeBody)
        payload = host.confirm(begin.payload)
        waiting = asyncio.ensure_future(
            self._call(Command.PAIR_CONFIRM, HandshakeBody(payload), HandshakeBody)
        )
        await asyncio.sleep(0)  # PAIR_CONFIRM goes out: the key shows its code now
        try:
            answer = confirm(host.code)
            matched = bool(await answer) if inspect.isawaitable(answer) else bool(answer)
        except BaseException:
            await _abandon(waiting)
            raise
        if not matched:
            await _abandon(waiting)
            raise PairingRejectedError(
                "pairing cancelled: the codes did not match; do not press the button on the "
                "key (it gives up after 15 s), then pair again"
            )
        reply = await waiting
        pairing = host.finish(reply.payload, user_confirmed=True)
        self.config.add(serial, pairing)
        await self.open_session(pairing)
        await self.set_time()
        return pairing

    async def unpair(self, host_id: bytes | None = None) -> None:
        """Remove a host's pairing from the key: this host's (the default) or another's by
        id. Removing this host ends the session and forgets the pairing here too."""
        await self._call(Command.UNPAIR, UnpairRequest(host_id), Empty)
        if host_id is None or host_id == self.config.host_id:
            self._forget_pairing()

    async def list_hosts(self) -> list[tuple[bytes, bool]]:
        """The hosts paired with the key: (host id, is it this session's host)."""
        body = await self._call(Command.LIST_HOSTS, Empty(), ListHostsResponse)
        return [(entry.host_id, entry.current) for entry in body.hosts]

    async def pin_set(self, pin: str, *, max_retries: int = PIN_RETRIES_DEFAULT) -> None:
        """Protect the key with a PIN (4-16 digits); ``max_retries`` wrong PINs erase it."""
        check_pin_format(pin)
        if not PIN_RETRIES_MIN <= max_retries <= PIN_RETRIES_MAX:
            raise InvalidInputError(
                f"max retries {max_retries} is out of range: use {PIN_RETRIES_MIN}.."
                f"{PIN_RETRIES_MAX} (8 is usual)"
            )
        await self._call(Command.PIN_SET, PinSetRequest(pin, max_retries), Empty)

    async def pin_verify(self, pin: str) -> None:
        """Unlock the OTP commands for this session; a wrong PIN raises :class:`PinError`
        with ``attempts_remaining``."""
        check_pin_format(pin)
        await self._pin_call(Command.PIN_VERIFY, PinRequest(pin))

    async def pin_change(self, old_pin: str, new_pin: str) -> None:
        check_pin_format(old_pin)
        check_pin_format(new_pin)
        await self._pin_call(Command.PIN_CHANGE, PinChangeRequest(old_pin, new_pin))

    async def _pin_call(self, command: Command, body: Body) -> None:
        try:
            await self._call(command, body, Empty)
        except PinError as exc:
            if exc.status == Status.PIN_LOCKED:
                self._forget_pairing()  # the key erased every pairing, ours included
            raise

    def _forget_pairing(self) -> None:
        if self.key_info is not None:
            self.config.remove(self.key_info.serial)
        if self.channel.secure is not None:
            self.channel.secure.close("this host is no longer paired")
        self.channel.secure = None

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
        self.clock_offset = body.time - int(time.time())
        return body.time

    async def reset(self) -> None:
        """Factory reset: erases every credential, the PIN and every pairing (the key asks
        for its button); pair again afterwards."""
        await self._call(Command.RESET, Empty(), Empty)
        self._forget_pairing()

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
        valid_for = None
        if body.valid_until is not None:
            key_now = time.time() + self.clock_offset
            valid_for = max(0, int(body.valid_until - key_now))
        return Code(body.code, body.valid_until, body.counter, valid_for)

    async def otp_type(self, name: str, enter: bool = False, layout: str | None = None) -> Typed:
        """The key's keystrokes for the code (+ Enter), for a keyboard backend to deliver."""
        _check_name(name)
        request = OtpTypeRequest(name=name, enter=enter, layout=_check_layout(layout))
        body = await self._call(Command.OTP_TYPE, request, OtpTypeResponse)
        return Typed(_split_reports(body.reports), body.layout)


async def _abandon(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it is over (a cancellation can be lost when the awaited
    answer arrives at the same moment, so it is repeated)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: an error of an abandoned request is not reported


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
