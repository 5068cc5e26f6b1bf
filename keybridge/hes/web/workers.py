"""Serving the emulator from several uvicorn worker processes over one store.

Each worker opens its own :class:`~keybridge.hes.Hes` on the same SQLite file: WAL mode lets
readers run beside the writer, every operation is one ``BEGIN IMMEDIATE`` transaction and
waits for the write lock (the store's busy timeout), so a recovery code is redeemed once and a
failure counted once whichever worker serves the request. The parent binds the socket (workers
share it) and hands the settings to the workers in the environment, with one session-signing
key for all, so a browser's cookie is good at every worker.

Sign-ins (the server-side handle of a signed-in session) are kept in the store too, so a browser
signed in at one worker is signed in at every worker, and signed out at every one. What cannot
be shared is refused: a ``:memory:`` store (each process would have its own).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from keybridge.errors import InvalidInputError
from keybridge.hes.store import MEMORY
from keybridge.hes.web.server import Listen, make_config

__all__ = ["MAX_WORKERS", "serve_workers", "worker_app"]

MAX_WORKERS = 64
_STORE = "KEYBRIDGE_HES_WEB_STORE"
_PROFILE = "KEYBRIDGE_HES_WEB_PROFILE"
_SECRET = "KEYBRIDGE_HES_WEB_SECRET"
_HTTPS = "KEYBRIDGE_HES_WEB_HTTPS"


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory), over the store the parent named."""
    from keybridge.hes import Hes
    from keybridge.hes.web.app import create_app

    hes = Hes(os.environ[_STORE], os.environ[_PROFILE])
    return create_app(hes, secret_key=os.environ[_SECRET], https=os.environ.get(_HTTPS) == "1")


def check_workers(store: str, workers: int) -> None:
    """One clear line when ``workers`` processes cannot share ``store``."""
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInputError(f"--workers {workers}: give 1 to {MAX_WORKERS}")
    if workers > 1 and store in (MEMORY, ""):
        raise InvalidInputError(
            "a :memory: store lives in one process, so worker processes cannot share it: "
            "give --store a file"
        )


def serve_workers(
    store: Path | str,
    profile: str,
    listen: Listen,
    workers: int,
    on_ready: Callable[[str], None],
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve with ``workers`` processes until SIGINT/SIGTERM; ``on_ready(url)`` once bound."""
    check_workers(str(store), workers)
    os.environ[_STORE] = str(store)
    os.environ[_PROFILE] = profile
    os.environ[_SECRET] = secrets.token_urlsafe(32)
    os.environ[_HTTPS] = "1" if tls_cert is not None else "0"
    config: uvicorn.Config = make_config(
        f"{__name__}:worker_app", listen, tls_cert=tls_cert, tls_key=tls_key
    )
    config.factory = True
    config.workers = workers
    sock = config.bind_socket()
    sock.listen(config.backlog)  # READY means connections queue until a worker takes them
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"{'https' if tls_cert else 'http'}://{shown}:{port}")
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
