"""Typed key operations over a :class:`~keybridge.protocol.channel.Channel`.

Connecting reads the key's info, refuses a key of another protocol version, opens an encrypted
session when this host is paired with the key (its pairing is in :mod:`keybridge.hostconfig`)
and sets the key's clock to this host's inside it (the key has no battery clock). A key this
host never paired answers only its info: ``key.pairing.pair(confirm)`` pairs it first. What a
credential is, is checked by :class:`~keybridge.otp.Credential`; what the key can store (name,
period, layout) is checked here, so mistakes fail early with a message saying what to change;
the key checks again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TypeVar

from keybridge.errors import InvalidInputError, VersionMismatchError
from keybridge.hostconfig import HostConfig
from keybridge.otp.names import check_name
from keybridge.protocol import constants as limits
from keybridge.protocol.channel import NOT_PAIRED, Channel, KeepaliveCallback
from keybridge.protocol.commands import (
    Body,
    Empty,
    GetInfoResponse,
    HandshakeBody,
    OtpCalculateResponse,
    OtpListRequest,
    OtpListResponse,
    OtpNameRequest,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    OtpTypeResponse,
    PingBody,
    SessionOpenRequest,
    SetTimeRequest,
    SetTimeResponse,
)
from keybridge.protocol.constants import PROTOCOL_VERSION, Command, Status, Tag, TypeTarget
from keybridge.protocol.secure import Pairing, SessionHost
from keybridge.protocol.status import AccessDeniedError
from keybridge.session.options import ConnectOptions
from keybridge.session.pairing import Pairings
from keybridge.session.pin import Pin
from keybridge.session.results import Code, CredentialInfo, KeyInfo, Typed
from keybridge.transport import Transport, open_transport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from keybridge.otp.credential import Credential

__all__ = ["KeySession"]

log = logging.getLogger(__name__)

B = TypeVar("B", bound=Body)

_DEFAULTS = ConnectOptions()


class KeySession:
    """Typed operations on one key. Build it on a :class:`Channel`, or use :meth:`connect`.

    ``config`` holds this host's id and pairings (default: :meth:`HostConfig.load`, read when
    first needed). The PIN is :attr:`pin` (``key.pin.verify(...)``), pairing is
    :attr:`pairing` (``key.pairing.pair(confirm)``).

    ::

        async with KeySession.connect("socket://127.0.0.1:7000") as key:
            await key.otp_put(Credential.from_uri(uri))
            print((await key.otp_calculate("HES.Web:me@example.com")).code)
    """

    def __init__(self, channel: Channel, *, config: HostConfig | None = None) -> None:
        self.channel = channel
        self._config = config
        self.key_info: KeyInfo | None = None
        """The key's info as read when the session started."""
        self.clock_offset = 0
        """The key's clock minus this host's, in whole seconds, as of the last :meth:`set_time`
        (0 until then): a key may run a fixed or skewed clock."""
        self.pin = Pin(self)
        """The key's PIN: set, change, verify."""
        self.pairing = Pairings(self)
        """This host's pairing with the key: pair, unpair, the key's hosts."""

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
        cls, url: str, options: ConnectOptions = _DEFAULTS
    ) -> AsyncIterator[KeySession]:
        """Open the key at ``url``, check its version, open a session if paired, set its
        clock; close on exit."""
        async with open_transport(url) as transport:
            yield await cls.attach(transport, options)

    @classmethod
    async def attach(cls, transport: Transport, options: ConnectOptions = _DEFAULTS) -> KeySession:
        """A session on an already open transport, after the same checks as :meth:`connect`."""
        channel = Channel(
            transport,
            timeout=options.timeout,
            retries=options.retries,
            on_keepalive=options.on_keepalive,
        )
        session = cls(channel, config=options.config)
        await session.start(
            set_time=options.set_time, force_time=options.force_time, secure=options.secure
        )
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

    async def serial(self) -> str:
        """The key's serial number (read once)."""
        if self.key_info is None:
            self.key_info = await self.info()
        return self.key_info.serial

    async def open_session(self, pairing: Pairing | None = None) -> None:
        """Open an encrypted session with the key (one round trip); every later request is
        sealed. ``pairing`` defaults to this host's pairing with the key."""
        serial = await self.serial()
        if pairing is None:
            pairing = self.config.pairing_for(serial)
            if pairing is None:
                raise AccessDeniedError(Status.ACCESS_DENIED, NOT_PAIRED)
        self.channel.secure = None
        opening = SessionHost(pairing)
        try:
            # PAIRING_ID says which pairing this is: a key that holds an old and a new one of
            # this host (a pairing the host had not yet used) opens under it, and commits it.
            request = SessionOpenRequest(opening.request(), pairing.pairing_id)
            reply = await self.call(Command.SESSION_OPEN, request, HandshakeBody)
        except AccessDeniedError as exc:
            raise AccessDeniedError(
                Status.ACCESS_DENIED,
                f"the key {serial} no longer knows this host (it was unpaired, reset, or "
                "erased after wrong PINs): pair this host with `keybridge pair` again",
                exc.detail,
            ) from None
        self.channel.secure = opening.finish(reply.payload)
        log.debug("encrypted session open with %s", serial)

    def forget_pairing(self) -> None:
        """The key no longer knows this host: drop the pairing here and end the session."""
        if self.key_info is not None:
            self.config.remove(self.key_info.serial)
        if self.channel.secure is not None:
            self.channel.secure.close("this host is no longer paired")
        self.channel.secure = None

    async def call(self, command: Command, body: Body, expected: type[B]) -> B:
        """Send ``command`` with ``body``; the answer's body, of type ``expected``."""
        result = await self.channel.call(command, body)
        if not isinstance(result, expected):  # BODIES and the methods disagree: a bug
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
        body = await self.call(Command.PING, PingBody(payload), PingBody)
        return body.payload

    async def set_time(self, t: float | None = None, *, force: bool = False) -> int:
        """Set the key's clock to ``t`` (default: now); returns the key's time afterwards.

        The key refuses to go back more than a few minutes unless ``force`` is set.
        """
        when = int(time.time() if t is None else t)
        if when < 0:
            raise InvalidInputError(f"time {when} is before 1970: give a unix time in seconds")
        body = await self.call(
            Command.SET_TIME, SetTimeRequest(time=when, force=force), SetTimeResponse
        )
        log.debug("set the clock of %s to %d (key now at %d)", self.description, when, body.time)
        self.clock_offset = body.time - int(time.time())
        return body.time

    async def reset(self) -> None:
        """Factory reset: erases every credential, the PIN and every pairing (the key asks
        for its button); pair again afterwards."""
        await self.call(Command.RESET, Empty(), Empty)
        self.forget_pairing()

    # Credentials --------------------------------------------------------------------------

    async def otp_put(
        self,
        credential: Credential,
        name: str | None = None,
        *,
        require_button: bool = False,
        layout: str | None = None,
        overwrite: bool = False,
    ) -> str:
        """Store ``credential`` under ``name`` (default: its label, ``issuer:account``);
        returns the name used. The key never gives a secret back."""
        if name is None:
            name = credential.name
            if name is None:
                raise InvalidInputError("the credential has no account to name it by: give a name")
        _check_name(name)
        if not limits.PERIOD_MIN <= credential.period <= limits.PERIOD_MAX:
            raise InvalidInputError(
                f"a period of {credential.period} s is not supported: use"
                f" {limits.PERIOD_MIN}..{limits.PERIOD_MAX} s (30 is usual)"
            )
        request = OtpPutRequest(
            name=name,
            secret=credential.key,
            kind=credential.kind,
            algorithm=credential.algorithm,
            digits=credential.digits,
            period=credential.period,
            counter=credential.counter or 0,  # None for TOTP: the wire's default
            require_button=require_button,
            layout=_check_layout(layout),
            overwrite=overwrite,
        )
        await self.call(Command.OTP_PUT, request, Empty)
        return name

    async def otp_list(self) -> list[CredentialInfo]:
        """Every stored credential, in the key's order (fetched page by page)."""
        entries: list[CredentialInfo] = []
        while True:
            page = await self.call(
                Command.OTP_LIST, OtpListRequest(start=len(entries)), OtpListResponse
            )
            entries.extend(CredentialInfo.from_entry(entry) for entry in page.entries)
            if not page.entries or len(entries) >= page.total:
                return entries

    async def otp_delete(self, name: str) -> None:
        _check_name(name)
        await self.call(Command.OTP_DELETE, OtpNameRequest(name), Empty)

    async def otp_rename(self, name: str, new_name: str) -> None:
        _check_name(name)
        _check_name(new_name)
        await self.call(Command.OTP_RENAME, OtpRenameRequest(name, new_name), Empty)

    async def otp_calculate(self, name: str) -> Code:
        """The key computes the code at its own clock (or its HOTP counter, which advances)."""
        _check_name(name)
        body = await self.call(Command.OTP_CALCULATE, OtpNameRequest(name), OtpCalculateResponse)
        valid_for = None
        if body.valid_until is not None:
            key_now = time.time() + self.clock_offset
            valid_for = max(0, int(body.valid_until - key_now))
        return Code(body.code, body.valid_until, body.counter, valid_for)

    async def otp_type(self, name: str, enter: bool = False, layout: str | None = None) -> Typed:
        """The key's keystrokes for the code (+ Enter), for a keyboard backend to deliver."""
        _check_name(name)
        request = OtpTypeRequest(name=name, enter=enter, layout=_check_layout(layout))
        body = await self.call(Command.OTP_TYPE, request, OtpTypeResponse)
        return Typed.from_bytes(body.reports, body.layout)

    async def otp_type_on_key(
        self, name: str, enter: bool = False, layout: str | None = None
    ) -> str:
        """Have the key type the code (+ Enter) on its own keyboard, to the computer bonded with
        it over Bluetooth (HID over GATT); returns the layout it typed in."""
        _check_name(name)
        request = OtpTypeRequest(
            name=name, enter=enter, layout=_check_layout(layout), target=TypeTarget.KEYBOARD
        )
        body = await self.call(Command.OTP_TYPE, request, OtpTypeResponse)
        return body.layout


def _check_name(name: str) -> None:
    check_name(name, "the credential name")


def _check_layout(layout: str | None) -> str | None:
    if layout is None:
        return None
    layout = layout.strip().lower()
    if not layout:
        raise InvalidInputError("an empty keyboard layout was given: use e.g. us, uk, de or fr")
    return layout
