"""The agent: one key connection, its encrypted session and PIN unlock, shared by requests.

Requests come from the socket server (:meth:`Agent.request`, one operation of the key session
each, as the CLI's commands use them) and from the desktop side, in-process:

**Hotkey hook.** ``await agent.type_code(credential=None, window=WindowInfo(title, wm_class))``
picks the credential (``credential`` if given, matched as the CLI matches names: exact, any
case, a unique part; else the ``choose`` callback's pick for the focused window, else the only
one on the key), has the key compute the code and produce the keyboard reports for its layout
(``enter`` adds Enter), delivers them through the ``keyboard``
backend given to the agent (none: not delivered, the caller does it) and returns a
:class:`TypeResult`. Errors are :class:`~keybridge.errors.KeybridgeError` s with one-line
messages (a notification's text): the key missing, its PIN not unlocked in the agent, no such
credential. Nothing is typed unless the key produced the whole code.

One request at a time reaches the key (the link's lock). The PIN a successful ``pin.verify``
used is kept (:class:`~keybridge.agent.unlock.PinUnlock`) for ``pin_timeout`` seconds of
``clock``; on expiry (or :meth:`lock`) it is wiped and the key's session reopened, which locks
the key again. After a reconnect the agent unlocks the new session with the kept PIN.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from keybridge.agent.link import KeyLink
from keybridge.agent.unlock import Clock, PinUnlock
from keybridge.agent.wire import AgentProtocolError, jsonable
from keybridge.errors import InvalidInputError, KeybridgeError, TransportError
from keybridge.protocol.status import PinError

if TYPE_CHECKING:
    from keybridge.keyboard.backends import KeyboardBackend
    from keybridge.protocol.channel import KeepaliveCallback
    from keybridge.session import CredentialInfo, KeySession

__all__ = ["DEFAULT_PIN_TIMEOUT", "Agent", "Chooser", "Peer", "TypeResult", "WindowInfo"]

log = logging.getLogger(__name__)

DEFAULT_PIN_TIMEOUT = 15 * 60.0
CLOCK_RESYNC = 60.0
"""Seconds after which the agent sets the key's clock again before a request."""


@dataclass(frozen=True)
class WindowInfo:
    """The focused window when the hotkey was pressed (from the desktop side)."""

    title: str | None = None
    wm_class: str | None = None


@dataclass(frozen=True)
class TypeResult:
    """What :meth:`Agent.type_code` did: the credential, the layout the key typed for, its
    8-byte keyboard reports, and whether the agent's keyboard backend delivered them."""

    name: str
    layout: str
    reports: list[bytes]
    delivered: bool


Chooser = Callable[[Sequence["CredentialInfo"], WindowInfo | None], str | None]
"""Picks a credential for the focused window (config-file rules); None: no rule matched."""


class Peer(Protocol):
    """The client a request came from: told about keep-alives, asked to confirm pairing."""

    secure: bool
    """The client wants the encrypted session (False only to pair again)."""

    def keepalive(self, reason: int, ms_left: int) -> None: ...

    def confirm(self, code: str) -> Awaitable[bool]: ...


class Agent:
    """The long-running agent over ``link``. See the module docstring for the hotkey hook."""

    def __init__(
        self,
        link: KeyLink,
        *,
        pin_timeout: float = DEFAULT_PIN_TIMEOUT,
        clock: Clock = time.monotonic,
        keyboard: KeyboardBackend | None = None,
        choose: Chooser | None = None,
    ) -> None:
        self.link = link
        self.unlock = PinUnlock(pin_timeout, clock)
        self.keyboard = keyboard
        self.choose = choose
        self.stopping = asyncio.Event()
        """Set by a ``stop`` request: the server shuts down."""
        self._unlocked: KeySession | None = None  # the session the kept PIN unlocked
        self._time_synced: tuple[KeySession | None, float] = (None, 0.0)

    # The hotkey hook ---------------------------------------------------------------------

    async def type_code(
        self,
        credential: str | None = None,
        window: WindowInfo | None = None,
        *,
        enter: bool = True,
        layout: str | None = None,
        on_keepalive: KeepaliveCallback | None = None,
    ) -> TypeResult:
        """Compute and type the code (see the module docstring); ``on_keepalive`` hears the
        key's keep-alives (waiting for its button: the hotkey tells the user)."""
        async with self.link.lock:
            key = await self._key(secure=True)
            name = await self._pick(key, window, credential)
            key.on_keepalive = on_keepalive
            try:
                typed = await key.otp_type(name, enter=enter, layout=layout)
            except TransportError:
                await self.link.drop()
                raise
            finally:
                key.on_keepalive = None
        if self.keyboard is None:
            return TypeResult(name, typed.layout, typed.reports, delivered=False)
        from keybridge.keyboard import get_layout

        await self.keyboard.deliver(typed.reports, get_layout(typed.layout))
        return TypeResult(name, typed.layout, typed.reports, delivered=True)

    async def _pick(
        self, key: KeySession, window: WindowInfo | None, credential: str | None
    ) -> str:
        entries = await key.otp_list()
        if credential is not None:  # as the CLI takes a name: exact, any case, a unique part
            from keybridge.otp.name_match import match_name

            return match_name(credential, [entry.name for entry in entries])
        if self.choose is not None:
            chosen = self.choose(entries, window)
            if chosen is not None:
                return chosen
        if len(entries) == 1:
            return entries[0].name
        if not entries:
            raise InvalidInputError("no credential on the key: add one with `keybridge otp add`")
        raise InvalidInputError(
            f"{len(entries)} credentials on the key: choose one with --credential NAME"
        )

    # Socket requests -----------------------------------------------------------------------

    async def request(self, op: str, args: Mapping[str, Any], peer: Peer) -> Any:
        """Run one request from the socket; its JSON result (errors raise)."""
        if op == "status":
            return self.status()
        if op == "lock":
            await self.lock_now()
            return None
        if op == "stop":
            self.stopping.set()
            return None
        handler = _KEY_OPS.get(op)
        if handler is None:
            raise AgentProtocolError(f"unknown request {op!r}: this agent serves {_op_list()}")
        async with self.link.lock:
            key = await self._key(secure=peer.secure)
            key.on_keepalive = peer.keepalive
            try:
                result = jsonable(await handler(self, key, args, peer))
                if op in _CHANGES_INFO and self.link.connected:
                    key.key_info = await key.info()  # pin_set, paired hosts: as a reconnect would
                return result
            except TransportError:
                log.warning("the link to %s failed during %s: reconnecting", self.link.url, op)
                await self.link.drop()
                raise
            finally:
                key.on_keepalive = None
                self.link.touch()

    def status(self) -> dict[str, Any]:
        """What ``agent status`` shows (the key is not asked)."""
        session = self.link.current
        info = session.key_info if session is not None else None
        self._expire_now()
        return {
            "version": 1,
            "pid": os.getpid(),
            "device": self.link.url,
            "connected": session is not None,
            "serial": info.serial if info is not None else None,
            "encrypted": session is not None and session.encrypted,
            "unlocked": self.unlock.active,
            "unlock_expires_in": self.unlock.expires_in(),
            "pin_timeout": self.unlock.timeout,
        }

    async def lock_now(self) -> None:
        """:meth:`lock` once the request in flight is done (``agent lock``, the screen lock)."""
        async with self.link.lock:
            await self.lock()

    async def lock(self) -> None:
        """Forget the PIN and lock the key's session now (call with the link's lock held)."""
        self.unlock.wipe()
        key, self._unlocked = self._unlocked, None
        if key is None or key is not self.link.current:
            return
        try:  # a new session is a locked one
            await key.open_session()
            await self._sync_time(key, force=True)
        except KeybridgeError as exc:
            log.info("could not reopen the session to lock the key (%s): dropping the link", exc)
            await self.link.drop()
        log.info("PIN unlock wiped; the key is locked")

    async def watch_unlock(self) -> None:
        """Run until cancelled: lock when the unlock's time is up."""
        while True:
            left = self.unlock.expires_in()
            await asyncio.sleep(1.0 if left is None else min(left, 60.0) + 0.01)
            if self.unlock.expired:
                async with self.link.lock:
                    if self.unlock.expired:
                        await self.lock()

    def _expire_now(self) -> None:
        if self.unlock.expired:
            self.unlock.wipe()  # the session is relocked by the next key request

    async def _key(self, *, secure: bool) -> KeySession:
        """The connected session, encrypted if asked and possible, unlocked if the PIN is kept."""
        if self.unlock.expired or (self._unlocked is not None and not self.unlock.active):
            await self.lock()
        key = await self.link.session()
        if secure and not key.encrypted and self.link.session_error is not None:
            try:  # paired again meanwhile? else the error a direct connection gets
                await key.open_session()
                self.link.session_error = None
            except TransportError:
                await self.link.drop()
                raise
        if key.encrypted:
            await self._sync_time(key)
            pin = self.unlock.pin()
            if pin is not None and self._unlocked is not key:
                await self._verify(key, pin)
        return key

    async def _sync_time(self, key: KeySession, *, force: bool = False) -> None:
        synced, at = self._time_synced
        if force or synced is not key or time.monotonic() - at > CLOCK_RESYNC:
            if self.link.options.set_time:
                await key.set_time()
            self._time_synced = (key, time.monotonic())

    async def _verify(self, key: KeySession, pin: str) -> None:
        try:
            await key.pin.verify(pin)
        except PinError:
            self.unlock.wipe()
            self._unlocked = None
            raise
        self.unlock.remember(pin)
        self._unlocked = key


Handler = Callable[[Agent, "KeySession", Mapping[str, Any], Peer], Awaitable[Any]]


def _text(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise AgentProtocolError(f"request argument {name!r} must be text")
    return value


def _optional_text(args: Mapping[str, Any], name: str) -> str | None:
    return None if args.get(name) is None else _text(args, name)


async def _session(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    if peer.secure and agent.link.session_error is not None and not key.encrypted:
        raise agent.link.session_error
    return {
        "device": agent.link.url,
        "description": key.description,
        "key_info": key.key_info,
        "encrypted": key.encrypted,
        "unlocked": agent.unlock.active and agent._unlocked is key,
        "clock_offset": key.clock_offset,
    }


async def _info(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    return await key.info()


async def _reset(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    agent.unlock.wipe()
    agent._unlocked = None
    await key.reset()


async def _otp_put(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    from keybridge.agent.values import credential_from_json

    return await key.otp_put(
        credential_from_json(args.get("credential")),
        _optional_text(args, "name"),
        require_button=bool(args.get("require_button")),
        layout=_optional_text(args, "layout"),
        overwrite=bool(args.get("overwrite")),
    )


async def _otp_list(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    return await key.otp_list()


async def _otp_delete(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    await key.otp_delete(_text(args, "name"))


async def _otp_rename(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    await key.otp_rename(_text(args, "name"), _text(args, "new_name"))


async def _otp_calculate(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    return await key.otp_calculate(_text(args, "name"))


async def _otp_type(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    name, layout = _text(args, "name"), _optional_text(args, "layout")
    return await key.otp_type(name, enter=bool(args.get("enter")), layout=layout)


async def _pin_set(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    retries = args.get("max_retries")
    if not isinstance(retries, int):
        raise AgentProtocolError("request argument 'max_retries' must be a number")
    await key.pin.set(_text(args, "pin"), max_retries=retries)
    agent._unlocked = key  # relocked below, with the new PIN not kept
    await agent.lock()


async def _pin_verify(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    await agent._verify(key, _text(args, "pin"))


async def _pin_change(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    await key.pin.change(_text(args, "old_pin"), _text(args, "new_pin"))
    agent._unlocked = key
    await agent.lock()


async def _pair(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    agent.unlock.wipe()
    agent._unlocked = None
    pairing = await key.pairing.pair(peer.confirm)
    agent.link.session_error = None
    agent._time_synced = (key, time.monotonic())
    return {"host_id": pairing.host_id, "key_id": pairing.key_id}


async def _unpair(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    host = _optional_text(args, "host_id")
    try:
        target = None if host is None else bytes.fromhex(host)
    except ValueError:
        raise AgentProtocolError("request argument 'host_id' must be hex") from None
    await key.pairing.unpair(target)
    if not key.encrypted:
        agent.unlock.wipe()
        agent._unlocked = None


async def _hosts(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    return [[host, current] for host, current in await key.pairing.hosts()]


async def _ping(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    try:
        payload = bytes.fromhex(str(args.get("payload", "")))
    except ValueError:
        raise AgentProtocolError("request argument 'payload' must be hex") from None
    return await key.ping(payload)


async def _set_time(agent: Agent, key: KeySession, args: Mapping[str, Any], peer: Peer) -> Any:
    when = args.get("t")
    if when is not None and not isinstance(when, int | float):
        raise AgentProtocolError("request argument 't' must be a number or null")
    result = await key.set_time(when, force=bool(args.get("force")))
    agent._time_synced = (key, time.monotonic())
    return result


_KEY_OPS: dict[str, Handler] = {
    "session": _session,
    "info": _info,
    "ping": _ping,
    "set_time": _set_time,
    "reset": _reset,
    "otp.put": _otp_put,
    "otp.list": _otp_list,
    "otp.delete": _otp_delete,
    "otp.rename": _otp_rename,
    "otp.calculate": _otp_calculate,
    "otp.type": _otp_type,
    "pin.set": _pin_set,
    "pin.verify": _pin_verify,
    "pin.change": _pin_change,
    "pairing.pair": _pair,
    "pairing.unpair": _unpair,
    "pairing.hosts": _hosts,
}


_CHANGES_INFO = frozenset({"reset", "pin.set", "pin.change", "pairing.pair", "pairing.unpair"})
"""Requests after which the key's info (``key_info``) is read again."""


def _op_list() -> str:
    return ", ".join(["status", "lock", "stop", *_KEY_OPS])
