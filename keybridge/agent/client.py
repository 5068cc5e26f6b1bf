"""The agent's client: :class:`AgentClient` on the socket, and :class:`AgentSession`, the key
session's surface with each operation a request to the agent.

The CLI imports only this module (and what it imports: json, the wire format, the session's
result values) before it knows whether an agent runs, so a command through the agent never
loads the transport, protocol and crypto stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keybridge.agent.paths import agent_disabled, peer_credentials, socket_path
from keybridge.agent.values import (
    code_from_json,
    credential_to_json,
    entries_from_json,
    key_info_from_json,
    typed_from_json,
)
from keybridge.agent.wire import (
    MAX_LINE,
    VERSION,
    AgentProtocolError,
    AgentUnavailableError,
    ForeignAgentError,
    decode_error,
    pack,
    unpack,
)

if TYPE_CHECKING:
    from keybridge.hostconfig import HostConfig
    from keybridge.otp.credential import Credential
    from keybridge.session.results import Code, CredentialInfo, KeyInfo, Typed

__all__ = ["AgentClient", "AgentSession", "PairedHost", "agent_session"]

KeepaliveCallback = Callable[[int, int], None]
ConfirmCallback = Callable[[str], bool | Awaitable[bool]]


class AgentClient:
    """One connection to the agent; :meth:`call` sends a request and returns its result."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.on_keepalive: KeepaliveCallback | None = None
        self._next_id = 0

    @classmethod
    async def connect(cls, path: Path | None = None) -> AgentClient:
        """Connect to the agent at ``path`` (default: :func:`socket_path`); raises
        :class:`AgentUnavailableError` when none serves it, or another user's process does."""
        path = path or socket_path()
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
        except OSError as exc:
            raise AgentUnavailableError(
                f"no agent answers at {path} ({exc.strerror or exc}): start one with"
                " `keybridge agent start`"
            ) from None
        sock: socket.socket = writer.get_extra_info("socket")
        _pid, uid = peer_credentials(sock)
        if uid != os.getuid():  # fail closed: never hand a PIN or secret to another user
            writer.close()
            raise ForeignAgentError(
                f"the agent socket {path} belongs to a process of uid {uid}, not this user:"
                " remove it and start your own agent"
            )
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    async def call(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        confirm: ConfirmCallback | None = None,
    ) -> Any:
        """Run ``op`` in the agent; its result, or the error it raised (of the same class)."""
        self._next_id += 1
        request_id = self._next_id
        self.writer.write(pack({"v": VERSION, "id": request_id, "op": op, "args": args or {}}))
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                raise AgentUnavailableError(
                    f"the agent went away during {op} (see `keybridge agent status`); the key"
                    " may or may not have done it: check, then run the command again"
                ) from None
            except asyncio.LimitOverrunError:
                raise AgentProtocolError(
                    f"the agent's answer is longer than {MAX_LINE} bytes"
                ) from None
            message = unpack(line)
            if message.get("id") not in (request_id, None):
                continue  # an answer to an abandoned request
            event = message.get("event")
            if event == "keepalive":
                if self.on_keepalive is not None:
                    self.on_keepalive(int(message.get("reason", 0)), int(message["ms_left"]))
                continue
            if event == "confirm":
                answer = False
                if confirm is not None:
                    given = confirm(str(message.get("code", "")))
                    answer = bool(await given) if inspect.isawaitable(given) else bool(given)
                self.writer.write(pack({"v": VERSION, "id": request_id, "answer": answer}))
                continue
            if message.get("ok") is True:
                return message.get("result")
            raise decode_error(message.get("error"))


@dataclass(frozen=True)
class PairedHost:
    """What pairing through the agent returns (the pairing key stays in the agent)."""

    host_id: bytes
    key_id: bytes


class AgentSession:
    """The key session's operations, run by the agent: what the CLI's commands call on a
    :class:`~keybridge.session.KeySession`, with the same arguments, results and errors."""

    def __init__(self, client: AgentClient, state: dict[str, Any]) -> None:
        self.client = client
        info = state.get("key_info")
        self.key_info: KeyInfo | None = None if info is None else key_info_from_json(info)
        self.description = str(state.get("description", "the agent's key"))
        self.device = str(state.get("device", ""))
        self.unlocked = bool(state.get("unlocked"))
        """The agent holds the PIN unlock: no need to ask for the PIN."""
        self.clock_offset = int(state.get("clock_offset", 0))
        self._encrypted = bool(state.get("encrypted"))
        self._config: HostConfig | None = None
        self.pin = _AgentPin(self)
        self.pairing = _AgentPairings(self)

    @property
    def encrypted(self) -> bool:
        return self._encrypted

    @property
    def on_keepalive(self) -> KeepaliveCallback | None:
        return self.client.on_keepalive

    @on_keepalive.setter
    def on_keepalive(self, callback: KeepaliveCallback | None) -> None:
        self.client.on_keepalive = callback

    @property
    def config(self) -> HostConfig:
        """This host's config, as the agent (of the same user) reads it."""
        if self._config is None:
            from keybridge.hostconfig import HostConfig

            self._config = HostConfig.load()
        return self._config

    async def serial(self) -> str:
        if self.key_info is None:
            self.key_info = await self.info()
        return self.key_info.serial

    async def info(self) -> KeyInfo:
        return key_info_from_json(await self.client.call("info"))

    async def ping(self, payload: bytes = b"") -> bytes:
        return bytes.fromhex(await self.client.call("ping", {"payload": payload.hex()}))

    async def set_time(self, t: float | None = None, *, force: bool = False) -> int:
        return int(await self.client.call("set_time", {"t": t, "force": force}))

    async def reset(self) -> None:
        await self.client.call("reset")
        self._encrypted = False

    async def otp_put(
        self,
        credential: Credential,
        name: str | None = None,
        *,
        require_button: bool = False,
        layout: str | None = None,
        overwrite: bool = False,
    ) -> str:
        args = {
            "credential": credential_to_json(credential),
            "name": name,
            "require_button": require_button,
            "layout": layout,
            "overwrite": overwrite,
        }
        return str(await self.client.call("otp.put", args))

    async def otp_list(self) -> list[CredentialInfo]:
        return entries_from_json(await self.client.call("otp.list"))

    async def otp_delete(self, name: str) -> None:
        await self.client.call("otp.delete", {"name": name})

    async def otp_rename(self, name: str, new_name: str) -> None:
        await self.client.call("otp.rename", {"name": name, "new_name": new_name})

    async def otp_calculate(self, name: str) -> Code:
        return code_from_json(await self.client.call("otp.calculate", {"name": name}))

    async def otp_type(self, name: str, enter: bool = False, layout: str | None = None) -> Typed:
        args = {"name": name, "enter": enter, "layout": layout}
        return typed_from_json(await self.client.call("otp.type", args))


class _AgentPin:
    """``key.pin`` through the agent; a verified PIN is kept by the agent for its timeout."""

    def __init__(self, session: AgentSession) -> None:
        self.session = session

    async def set(self, pin: str, *, max_retries: int = 8) -> None:
        await self.session.client.call("pin.set", {"pin": pin, "max_retries": max_retries})

    async def verify(self, pin: str) -> None:
        await self.session.client.call("pin.verify", {"pin": pin})
        self.session.unlocked = True

    async def change(self, old_pin: str, new_pin: str) -> None:
        await self.session.client.call("pin.change", {"old_pin": old_pin, "new_pin": new_pin})


class _AgentPairings:
    """``key.pairing`` through the agent (the agent stores the pairing)."""

    def __init__(self, session: AgentSession) -> None:
        self.session = session

    async def pair(self, confirm: ConfirmCallback) -> PairedHost:
        result = await self.session.client.call("pairing.pair", confirm=confirm)
        self.session._encrypted = True
        self.session._config = None  # the agent wrote the new pairing
        return PairedHost(bytes.fromhex(result["host_id"]), bytes.fromhex(result["key_id"]))

    async def unpair(self, host_id: bytes | None = None) -> None:
        args = {"host_id": None if host_id is None else host_id.hex()}
        await self.session.client.call("pairing.unpair", args)
        if host_id is None or host_id == self.session.config.host_id:
            self.session._encrypted = False

    async def hosts(self) -> list[tuple[bytes, bool]]:
        hosts = await self.session.client.call("pairing.hosts")
        return [(bytes.fromhex(host), bool(current)) for host, current in hosts]


@contextlib.asynccontextmanager
async def agent_session(
    device: str | None, *, secure: bool = True, on_keepalive: KeepaliveCallback | None = None
) -> AsyncIterator[AgentSession | None]:
    """The agent's session when an agent serves this user (and ``device``, if one is named);
    None otherwise (``KEYBRIDGE_AGENT_SOCKET=off``, no socket, no one answering it)."""
    if agent_disabled():
        yield None
        return
    path = socket_path()
    if not path.exists():
        yield None
        return
    try:
        client = await AgentClient.connect(path)
    except ForeignAgentError:
        raise
    except AgentUnavailableError:
        yield None  # a stale socket: its agent is gone
        return
    try:
        if device is not None and device.strip():
            status = await client.call("status")
            if status.get("device") != device.strip():
                yield None  # the agent serves another key
                return
        client.on_keepalive = on_keepalive
        state = await client.call("session", {"secure": secure})
        yield AgentSession(client, state)
    finally:
        await client.close()
