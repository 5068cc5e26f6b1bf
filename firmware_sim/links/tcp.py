"""Serve a key on TCP (``socket://HOST:PORT``, which pyserial's ``serial_for_url`` opens).

One client at a time per key, as with a cable: a second client is accepted by the kernel but
waits, unread, until the first disconnects; then it is served. (Refusing it instead would race
with a host that closes and at once reconnects before the key has seen the close.)
"""

from __future__ import annotations

import logging
import socket
from collections import deque

from firmware_sim.links.device import Port
from firmware_sim.links.reactor import Reactor
from firmware_sim.links.stream import BufferedWriter

__all__ = ["TcpLink", "format_url"]

log = logging.getLogger("firmware_sim.link")

_READ_SIZE = 4096


def format_url(host: str, port: int) -> str:
    """``socket://host:port``, with brackets around an IPv6 address."""
    return f"socket://[{host}]:{port}" if ":" in host else f"socket://{host}:{port}"


class TcpLink:
    """One key on one listening TCP port; :attr:`url` shows the bound port (``0`` picks one)."""

    def __init__(self, port: Port, reactor: Reactor, host: str, tcp_port: int) -> None:
        self.port = port
        self._reactor = reactor
        self._host = host
        self._tcp_port = tcp_port
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self._writer: BufferedWriter | None = None
        self._waiting: deque[socket.socket] = deque()
        self.url = ""

    def open(self) -> str:
        """Bind and listen; returns the device URL."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((self._host, self._tcp_port))
            server.listen(8)
        except OSError:
            server.close()
            raise
        server.setblocking(False)
        self._server = server
        self.url = format_url(self._host, server.getsockname()[1])
        self._reactor.add_reader(server.fileno(), self._accept)
        return self.url

    def close(self) -> None:
        self._drop_client()
        while self._waiting:
            self._waiting.popleft().close()
        if self._server is not None:
            self._reactor.remove_reader(self._server.fileno())
            self._server.close()
            self._server = None
        self.port.close()

    def hang_up(self) -> None:
        """Close the current client's connection (the next waiting client is served)."""
        self._disconnected()

    def _accept(self) -> None:
        assert self._server is not None
        try:
            client, address = self._server.accept()
        except (BlockingIOError, InterruptedError):
            return
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._client is None:
            self._serve(client)
        else:
            log.debug(
                "%s: a client is connected; %s waits for it to leave", self.port.name, address
            )
            self._waiting.append(client)

    def _serve(self, client: socket.socket) -> None:
        self._client = client
        self._writer = BufferedWriter(
            self._reactor,
            client.fileno(),
            client.send,
            name=self.port.name,
            on_error=lambda exc: self._reactor.call_soon(self._disconnected),
        )
        self.port.connect(self._writer.write)
        self._reactor.add_reader(client.fileno(), self._readable)
        log.debug("%s: client connected", self.port.name)

    def _readable(self) -> None:
        if self._client is None:
            return
        try:
            data = self._client.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("%s: client connection failed: %s", self.port.name, exc)
            data = b""
        if data:
            self.port.feed(data)
        else:
            self._disconnected()

    def _disconnected(self) -> None:
        if self._client is None:
            return
        log.debug("%s: client disconnected", self.port.name)
        self._drop_client()
        if self._waiting:
            self._serve(self._waiting.popleft())

    def _drop_client(self) -> None:
        self.port.disconnect()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._client is not None:
            self._reactor.remove_reader(self._client.fileno())
            self._client.close()
            self._client = None
