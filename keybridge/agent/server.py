"""The agent's Unix socket: a private directory, the peer's uid checked, JSON lines.

The socket is created 0600 (under a 0177 umask, so it is never open to others even briefly)
in a 0700 directory of this user (:mod:`keybridge.agent.paths`). Each connection's peer is
checked with ``SO_PEERCRED``: a process of another uid is refused (one line in the log, an
error line to it) and the agent goes on serving. A socket path where another agent answers is
not taken over; a stale one (no one answers) is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from keybridge.agent.core import Agent
from keybridge.agent.paths import AgentPathError, peer_credentials, prepare_directory
from keybridge.agent.wire import (
    MAX_LINE,
    VERSION,
    AgentProtocolError,
    encode_error,
    pack,
    unpack,
)
from keybridge.errors import KeybridgeError

__all__ = ["AgentServer"]

log = logging.getLogger(__name__)


class AgentServer:
    """Serves ``agent`` on the Unix socket at ``path`` until :meth:`close` or a ``stop``."""

    def __init__(self, agent: Agent, path: Path) -> None:
        self.agent = agent
        self.path = path
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Create the directory and the socket; raises :class:`AgentPathError` if taken."""
        prepare_directory(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            if await _answers(self.path):
                raise AgentPathError(
                    f"an agent already serves {self.path}: stop it with `keybridge agent stop`"
                )
            self.path.unlink()  # stale: its agent is gone
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def serve_until_stopped(self) -> None:
        """Serve until the agent is asked to stop (the ``stop`` request)."""
        await self.agent.stopping.wait()

    async def close(self) -> None:
        """Stop serving, end the clients' connections and remove the socket."""
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.wait(self._clients, timeout=2.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
        task = asyncio.ensure_future(self._client(reader, writer))
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)
        return task

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        try:
            pid, uid = peer_credentials(sock)
            if uid != os.getuid():
                log.warning(
                    "refused a connection from uid %d (pid %d): only uid %d may use this agent",
                    uid,
                    pid,
                    os.getuid(),
                )
                error = AgentProtocolError(
                    f"this agent serves uid {os.getuid()} only; start your own agent"
                )
                writer.write(pack({"v": VERSION, "id": None, "ok": False, **_error(error)}))
                await writer.drain()
                return
            await _Connection(self.agent, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _error(exc: BaseException) -> dict[str, Any]:
    return {"error": encode_error(exc)}


class _Connection:
    """One client: requests one after another; ``answer`` lines go to a pending question."""

    def __init__(
        self, agent: Agent, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.agent = agent
        self.reader = reader
        self.writer = writer
        self.secure = True
        self._request_id: Any = None
        self._answer: asyncio.Future[bool] | None = None

    async def run(self) -> None:
        running: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    line = await self.reader.readuntil(b"\n")
                except asyncio.LimitOverrunError:
                    self._send({"id": None, "ok": False, **_error(_TOO_LONG)})
                    return
                except asyncio.IncompleteReadError:
                    return
                try:
                    message = unpack(line)
                except AgentProtocolError as exc:
                    self._send({"id": None, "ok": False, **_error(exc)})
                    continue
                if "answer" in message:
                    if self._answer is not None and not self._answer.done():
                        self._answer.set_result(message.get("answer") is True)
                    continue
                if running is not None and not running.done():
                    await running  # one request at a time per connection
                running = asyncio.ensure_future(self._handle(message))
        finally:
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(False)  # the client left: not confirmed
            if running is not None:
                await running

    async def _handle(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        op, args = message.get("op"), message.get("args", {})
        if message.get("v") != VERSION:
            error = AgentProtocolError(
                f"the client speaks agent protocol version {message.get('v')!r}, this agent"
                f" version {VERSION}: run the same keybridge for both (restart the agent)"
            )
            self._send({"id": request_id, "ok": False, **_error(error)})
            return
        if not isinstance(op, str) or not isinstance(args, dict):
            error = AgentProtocolError("a request needs an 'op' (text) and 'args' (an object)")
            self._send({"id": request_id, "ok": False, **_error(error)})
            return
        if op == "session":
            self.secure = args.get("secure", True) is not False
        self._request_id = request_id
        log.debug("request %s %s", request_id, op)  # never the arguments: PINs, secrets
        try:
            result = await self.agent.request(op, args, self)
        except KeybridgeError as exc:
            self._send({"id": request_id, "ok": False, **_error(exc)})
        except Exception as exc:  # a bug: the client gets one line, the agent keeps serving
            log.exception("request %s failed", op)
            self._send({"id": request_id, "ok": False, **_error(_internal(exc))})
        else:
            self._send({"id": request_id, "ok": True, "result": result})

    def _send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(pack({"v": VERSION, **message}))

    # Peer ----------------------------------------------------------------------------------

    def keepalive(self, reason: int, ms_left: int) -> None:
        self._send(
            {"id": self._request_id, "event": "keepalive", "reason": reason, "ms_left": ms_left}
        )

    async def confirm(self, code: str) -> bool:
        self._answer = asyncio.get_running_loop().create_future()
        self._send({"id": self._request_id, "event": "confirm", "code": code})
        try:
            return await self._answer
        finally:
            self._answer = None


_TOO_LONG = AgentProtocolError(f"a request line is longer than {MAX_LINE} bytes")


def _internal(exc: Exception) -> KeybridgeError:
    return KeybridgeError(f"the agent failed on this request ({type(exc).__name__}: {exc})")


async def _answers(path: Path) -> bool:
    """Someone accepts connections on the socket at ``path``."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True
