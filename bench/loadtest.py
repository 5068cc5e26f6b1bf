"""Logins per second on this machine: Locust (a master and 2 workers) with 100, 1,000 and
10,000 simulated keys against the HES web emulator, and against a bare Starlette app answering
the same requests, in the same run.

Both servers run as 2 uvicorn worker processes on loopback; each user logs in as a browser does
(GET /login, POST the password, GET and POST the second step with the code its key computed),
plain TOTP logins only (a bare app cannot tell a wrong code from a right one). The figures:

- logins/s of each (Locust's rate over the whole run, ramp-up included) and the emulator's
  rate as a share of the bare app's;
- server CPU per login (user + system time of the server's processes over the run / logins)
  and per request (a run cut short leaves logins half done: per request stays comparable),
  emulator and bare: the difference is what the HES model and its pages cost;
- load-generator CPU per login (Locust's master and workers, from their resource usage);
- memory per user in a Locust worker (its resident size with 5,000 users against 500).

The machine's cores are shared by the servers and the load generator, so the rates are this
machine's, not the emulator's ceiling: the CPU per login is the figure that carries over.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RUNS = ((100, "10s", 100), (1_000, "15s", 500), (10_000, "45s", 1_000))
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_ENV = "KEYBRIDGE_BENCH_PAGE"
UVICORN = (sys.executable, "-m", "uvicorn", "--app-dir")
BARE = ("--factory", "loadtest:bare_app", "--workers", "2", "--log-level", "warning")


def bare_app() -> object:
    """The baseline (uvicorn factory, in its worker processes): the same pages and redirects,
    nothing behind them."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    page = Path(os.environ[_PAGE_ENV]).read_text("utf-8")

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(page)
        await request.form()
        return RedirectResponse("/login-with-2fa?returnUrl=%2F&rememberMe=False", 302)

    async def second(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(page)
        await request.form()
        return RedirectResponse("/", 302)

    return Starlette(
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/login-with-2fa", second, methods=["GET", "POST"]),
        ]
    )


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _tree(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants."""
    total = 0
    for each in _tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class WorkerMemory:
    """The largest resident size of a Locust worker (a child of this process) while a run
    lasts."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            for pid in _children().get(os.getpid(), []):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"--worker" in cmdline:
                    self.peak_kib = max(self.peak_kib, _rss_kib(pid))

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def serve(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("READY "), line
    return process, line.split()[1]


def serve_bare(page: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [*UVICORN, str(Path(__file__).parent), *BARE, "--port", str(port)],
        env={**os.environ, _PAGE_ENV: str(page)},
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx2

    for _ in range(200):
        try:
            httpx2.get(url + "/login")
            break
        except httpx2.HTTPError:
            time.sleep(0.05)
    return process, url


def measure(
    url: str, server_pid: int, keys: Path, users: int, run_time: str, rate: int
) -> dict[str, Any]:
    from keybridge.loadtest.runner import LoadRun, run_load

    before_server = cpu_seconds(server_pid)
    before_load = resource.getrusage(resource.RUSAGE_CHILDREN)
    with WorkerMemory() as memory:
        summary = run_load(
            LoadRun(url, users, rate, run_time, 2, keys, recovery_share=0, wrong_share=0)
        )
    after_load = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = cpu_seconds(server_pid) - before_server
    load = (after_load.ru_utime + after_load.ru_stime) - (
        before_load.ru_utime + before_load.ru_stime
    )
    logins = max(summary.logins, 1)
    return {
        "logins": summary.logins,
        "per_s": summary.logins_per_s,
        "p50": summary.p50_ms,
        "p95": summary.p95_ms,
        "server_ms": 1000 * server / logins,
        "server_request_ms": 1000 * server / max(summary.requests, 1),
        "load_ms": 1000 * load / logins,
        "worker_kib": memory.peak_kib,
        "failures": summary.failures,
    }


def main() -> int:
    from keybridge.loadtest.provision import provision

    with tempfile.TemporaryDirectory(prefix="bench-load-") as directory:
        root = Path(directory)
        store, keys = root / "hes.sqlite3", root / "keys"
        start = time.perf_counter()
        provision(store, keys, RUNS[-1][0])
        print(f"provisioned {RUNS[-1][0]} accounts and keys in {time.perf_counter() - start:.1f} s")
        cmd = [sys.executable, "-m", "keybridge", "hes", "serve", "--store", str(store)]
        emulator, url = serve([*cmd, "--listen", "127.0.0.1:0", "--workers", "2"])
        page = root / "login.html"
        import httpx2

        page.write_text(httpx2.get(url + "/login").text, "utf-8")
        bare, bare_url = serve_bare(page)
        rows = []
        try:
            for users, run_time, rate in RUNS:
                emu = measure(url, emulator.pid, keys, users, run_time, rate)
                base = measure(bare_url, bare.pid, keys, users, run_time, rate)
                rows.append((users, emu, base))
                print(
                    f"{users:>6} users: emulator {emu['per_s']:7.1f} logins/s "
                    f"(p50 {emu['p50']:g} ms, p95 {emu['p95']:g} ms), bare {base['per_s']:7.1f}"
                    f" logins/s: emulator at {emu['per_s'] / max(base['per_s'], 0.01):.2f}x; "
                    f"server CPU/login {emu['server_ms']:.2f} ms vs bare {base['server_ms']:.2f}"
                    f" ms ({emu['server_ms'] / max(base['server_ms'], 0.001):.2f}x), per request "
                    f"{emu['server_request_ms']:.2f} vs {base['server_request_ms']:.2f} ms; load "
                    f"generator CPU/login {emu['load_ms']:.2f} ms; worker RSS "
                    f"{emu['worker_kib'] / 1024:.0f} MiB"
                    + (f"; emulator failures {emu['failures']}" if emu["failures"] else "")
                    + (f"; bare failures {base['failures']}" if base["failures"] else "")
                )
        finally:
            for process in (emulator, bare):
                process.terminate()
                process.wait(timeout=30)
        (small, emu_small, _), (large, emu_large, _) = rows[1], rows[2]
        per_user = (emu_large["worker_kib"] - emu_small["worker_kib"]) / ((large - small) / 2)
        print(f"memory per user in a Locust worker: {per_user:.1f} KiB ({small} -> {large} users)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
