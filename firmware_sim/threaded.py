"""Simulated keys served on a background thread of the calling process.

::

    with serve_in_thread(ServeOptions(state=tmp / "key.state")) as urls:
        async with KeySession.connect(urls[0]) as key: ...

The keys sit on real ptys (or TCP ports), so the host side is exactly what it is against a
``python -m firmware_sim serve`` process, without a second interpreter's start-up: ``keybridge
demo`` uses this. Signals stay with the caller's main thread (no SIGUSR1/SIGUSR2 buttons: use
``--button auto``, ``deny`` or ``scripted:...``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from firmware_sim.serve import KeyServer, ServeOptions

__all__ = ["serve_in_thread"]

_STOP_TIMEOUT_S = 5.0


@contextmanager
def serve_in_thread(options: ServeOptions) -> Iterator[list[str]]:
    """Serve ``options.keys`` keys until the block ends; yields their device URLs.

    Without ``options.state`` the state lives in a temporary directory removed at the end.
    """
    server = KeyServer(options)
    urls = server.start()  # errors (a bad state file...) reach the caller before any thread
    if options.announce:
        server.announce()
    thread = threading.Thread(target=server.run, name="firmware_sim", daemon=True)
    thread.start()
    try:
        yield urls
    finally:
        # Queued, so it works even if the thread has not entered run() yet.
        server.reactor.call_soon_threadsafe(server.stop)
        thread.join(_STOP_TIMEOUT_S)
        if not thread.is_alive():
            server.close()
