"""Serving the emulator with uvicorn: in the foreground (``keybridge hes serve``) or in a thread
(the ``hes_server`` pytest fixture, the benchmark).

:class:`EmulatorServer` reports the address it really listens on once it accepts connections
(port 0 picks a free one) and stops on SIGINT/SIGTERM with exit status 0: uvicorn's own handling
re-raises the signal after shutting down, which would end the process with the signal's status.
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["EmulatorServer", "Listen", "is_loopback", "parse_listen", "serve_in_thread"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Listen:
    """Where to listen: host and port (0 for a free port)."""

    host: str = "127.0.0.1"
    port: int = 5000


def parse_listen(text: str) -> Listen:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (loopback) into a :class:`Listen`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT: give e.g. 127.0.0.1:5000 (port 0 = any free)")
    host = host.strip("[]") or "127.0.0.1"
    return Listen(host, int(port))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmulatorServer(uvicorn.Server):
    """uvicorn's server that calls ``on_ready(url)`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self.url: str | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.should_exit:  # could not bind: uvicorn has logged why
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        scheme = "https" if self.config.is_ssl else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{port}"
        self._on_ready(self.url)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # As uvicorn's, without re-raising the signal afterwards: a stop is a clean exit.
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def make_config(
    app: Any,
    listen: Listen,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    access_log: bool = True,
) -> uvicorn.Config:
    """uvicorn's settings for the emulator; logging is left to the caller (``log_config=None``)
    so nothing but the READY line reaches stdout."""
    return uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_config=None,
        access_log=access_log,
        server_header=False,
        lifespan="off",
    )


@contextlib.contextmanager
def serve_in_thread(app: Any, listen: Listen | None = None, **options: Any) -> Iterator[str]:
    """Serve ``app`` in a daemon thread; yields the URL once it accepts connections."""
    ready = threading.Event()
    config = make_config(app, listen or Listen(port=0), access_log=False, **options)
    server = EmulatorServer(config, lambda url: ready.set())
    thread = threading.Thread(target=server.run, name="hes-web", daemon=True)
    thread.start()
    try:
        deadline = _START_TIMEOUT_S
        while not ready.wait(0.01) and thread.is_alive() and deadline > 0:
            deadline -= 0.01
        if server.url is None:
            raise RuntimeError("the HES web emulator did not start (see the log for why)")
        yield server.url
    finally:
        server.should_exit = True
        thread.join(_START_TIMEOUT_S)
