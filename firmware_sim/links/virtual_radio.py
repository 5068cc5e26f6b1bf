"""A virtual BLE radio: simulated keys and hosts on one Bumble ``LocalLink``, no hardware.

In process (tests), keys and the host's Bumble central attach virtual controllers to the same
:class:`VirtualRadio`. Across processes, the radio's owner exposes it with
:meth:`VirtualRadio.expose`: a TCP server on loopback where every client connection gets its own
virtual controller on the link, spoken to over plain HCI (H4). Another process joins with the
Bumble HCI transport spec ``tcp-client:127.0.0.1:PORT``, which the ``hci=`` parameter of the
key's URL carries::

    ble://C3:5A:10:9E:42:7B?hci=tcp-client:127.0.0.1:40123

When a client goes away, its controller's connections are terminated (the key sees a normal
disconnection and advertises again) and the controller leaves the link.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from bumble import hci
from bumble.controller import Controller
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSource

from firmware_sim.links.ble_peripheral import (
    BleKeyPeripheral,
    MessageHandler,
    VirtualController,
    attach_virtual_controller,
    serve_ble,
)
from firmware_sim.links.device import Device

log = logging.getLogger(__name__)

_controller_ids = itertools.count(1)


def ble_url(address: str, hci_spec: str | None = None) -> str:
    """The device URL of a key at ``address``, reached through ``hci_spec`` if given."""
    url = f"ble://{address.upper()}"
    if hci_spec:
        url += "?hci=" + quote(hci_spec, safe=":/.-_")
    return url


class _TcpSink:
    """Controller -> host direction of one relay client."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def on_packet(self, packet: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(packet)


class _RelayClient(asyncio.Protocol):
    """One TCP client: a virtual controller of its own on the radio's link."""

    def __init__(self, link: LocalLink, clients: set[_RelayClient]) -> None:
        self.link = link
        self.clients = clients
        self.controller: Controller | None = None
        self.source = StreamPacketSource()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.controller = VirtualController(
            f"relay-{next(_controller_ids)}",
            host_source=self.source,
            host_sink=_TcpSink(transport),
            link=self.link,
        )
        self.clients.add(self)
        log.debug("HCI relay client attached: %s", self.controller.name)

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.detach()

    def detach(self) -> None:
        controller, self.controller = self.controller, None
        self.clients.discard(self)
        if controller is None:
            return
        # A host process that exits cannot disconnect cleanly: end its links for it, so the
        # key sees a disconnection and advertises again.
        for connection in list(controller.le_connections.values()):
            controller.on_hci_disconnect_command(
                hci.HCI_Disconnect_Command(
                    connection_handle=connection.handle,
                    reason=hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR,
                )
            )
        controller.host = None
        if controller in self.link.controllers:
            self.link.remove_controller(controller)
        log.debug("HCI relay client detached: %s", controller.name)


class HciRelayServer:
    """TCP server on loopback giving each client a virtual controller on a link."""

    def __init__(self, server: asyncio.Server, clients: set[_RelayClient]) -> None:
        self._server = server
        self._clients = clients
        host, port = server.sockets[0].getsockname()[:2]
        self.host: str = host
        self.port: int = port

    @property
    def hci_spec(self) -> str:
        """The Bumble HCI transport spec another process uses to join."""
        return f"tcp-client:{self.host}:{self.port}"

    async def close(self) -> None:
        """Stop accepting, drop every client."""
        self._server.close()
        for client in list(self._clients):
            client.detach()
        await self._server.wait_closed()


class VirtualRadio:
    """One virtual BLE link hosting simulated keys and hosts."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.keys: list[BleKeyPeripheral] = []
        self.relays: list[HciRelayServer] = []

    async def add_key(
        self, handler: MessageHandler | Device, *, name: str, **options: Any
    ) -> BleKeyPeripheral:
        """Start a key advertising on this radio (``options``: see ``BleKeyPeripheral``)."""
        key = await serve_ble(handler, self.link, name=name, **options)
        self.keys.append(key)
        return key

    def attach_host(self, name: str = "host") -> Host:
        """A Bumble host on a new virtual controller (for an in-process central)."""
        return attach_virtual_controller(self.link, name)

    async def expose(self, host: str = "127.0.0.1", port: int = 0) -> HciRelayServer:
        """Let other processes join this radio over ``tcp-client:HOST:PORT``."""
        clients: set[_RelayClient] = set()
        server = await asyncio.get_running_loop().create_server(
            lambda: _RelayClient(self.link, clients), host, port
        )
        relay = HciRelayServer(server, clients)
        self.relays.append(relay)
        return relay

    async def close(self) -> None:
        """Stop every key and relay."""
        for relay in self.relays:
            await relay.close()
        for key in self.keys:
            await key.stop()
        self.relays.clear()
        self.keys.clear()


async def run_virtual(
    keys: Sequence[tuple[str, MessageHandler | Device]],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[list[str]], None] = lambda urls: None,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Serve ``(name, handler)`` keys on one exposed virtual radio until SIGINT/SIGTERM
    (``python -m firmware_sim serve --link ble-virtual`` serves firmware cores the same way).

    ``on_ready`` gets the keys' device URLs once another process can connect (print the
    ``READY`` lines there).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    radio = VirtualRadio()
    try:
        served = [await radio.add_key(handler, name=name, **options) for name, handler in keys]
        relay = await radio.expose(host, port)
        on_ready([ble_url(key.address, relay.hci_spec) for key in served])
        await stop.wait()
    finally:
        await radio.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m firmware_sim.links.virtual_radio``: echo keys on a virtual radio (for link
    tests)."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim.links.virtual_radio",
        description="Serve echo keys (each message comes back unchanged) on a virtual BLE radio "
        "that other processes join over tcp-client:HOST:PORT. Prints one READY line per key.",
    )
    parser.add_argument(
        "--name", default="kb", help="advertised name, suffixed -N with --keys (keep to 8 bytes)"
    )
    parser.add_argument("--keys", type=int, default=1, help="number of keys (default 1)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--mtu", type=int, default=247, help="largest ATT_MTU granted")
    ns = parser.parse_args(argv)
    names = [ns.name] if ns.keys == 1 else [f"{ns.name}-{i}" for i in range(1, ns.keys + 1)]

    def ready(urls: list[str]) -> None:
        for url in urls:
            print(f"READY {url}", flush=True)

    keys: list[tuple[str, MessageHandler | Device]] = [(n, _echo) for n in names]
    asyncio.run(run_virtual(keys, host=ns.host, port=ns.port, on_ready=ready, max_mtu=ns.mtu))
    return 0


def _echo(message: bytes) -> list[bytes]:
    return [message]


if __name__ == "__main__":
    sys.exit(main())
