"""Fixtures of the load tests: provisioned stores and keys, the emulator served by worker
processes. Locust itself only ever runs in subprocesses (its gevent monkey-patching would
change this process's sockets and threads under the rest of the suite)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the HES web emulator needs keybridge[web]")

from keybridge.loadtest.provision import provision

SERVE = (sys.executable, "-m", "keybridge", "hes", "serve")


def start_server(store: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``keybridge hes serve --store STORE ARGS`` on a free loopback port, and its URL."""
    process = subprocess.Popen(
        [*SERVE, "--store", str(store), "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"the server did not start: {line!r} {err}")
    return process, line.split()[1]


@pytest.fixture
def served() -> Iterator[Callable[..., str]]:
    """Start servers (``served(store, "--workers", "2")`` -> URL); stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def serve(store: Path, *args: str) -> str:
        process, url = start_server(store, *args)
        started.append(process)
        return url

    yield serve
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=10)


@pytest.fixture
def provisioned(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """``provisioned(users, profile="hes")`` -> (store, keys dir) in the test's tmp_path."""

    def make(users: int, profile: str = "hes") -> tuple[Path, Path]:
        store, keys = tmp_path / f"{profile}.sqlite3", tmp_path / f"keys-{profile}"
        provision(store, keys, users, seed=7, profile=profile)
        return store, keys

    return make
