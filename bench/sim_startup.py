"""Simulator cold start to the READY line (median of many runs) and the memory of 100 keys.

Printed: the interpreter's own start (``python -c pass``) as the baseline of this machine, the
simulator's start to READY on a pty and on TCP (goal: median <= 150 ms), and the resident
memory (RSS) of one process serving 1 and 100 keys.

An installed package has its bytecode cached (``__pycache__``); with ``PYTHONDONTWRITEBYTECODE``
set, every start compiles keybridge's and firmware_sim's sources again. The bench measures with
a warm cache kept in a scratch directory (``PYTHONPYCACHEPREFIX``; the source tree is not
touched) and, for comparison, without one. The runs of each kind are interleaved.

    python bench/sim_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SERVE = [sys.executable, "-m", "firmware_sim", "serve", "-q", "--no-announce"]
GOAL_MS = 150.0
ENV: dict[str, str] = {}
"""The environment of every measured process (set in main)."""


def time_to_ready(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env or ENV)
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - start
    process.send_signal(signal.SIGTERM)
    process.wait()
    process.stdout.close()
    if not line.startswith("READY "):
        raise SystemExit(f"the simulator did not get ready: {line!r}")
    return elapsed


def time_to_exit(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, env=ENV)
    return time.perf_counter() - start


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def serving_rss(keys: int) -> tuple[int, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [*SERVE, "--keys", str(keys)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert process.stdout is not None
    try:
        for _ in range(keys):
            if not process.stdout.readline().startswith("READY "):
                raise SystemExit("the simulator did not get ready")
        elapsed = time.perf_counter() - start
        time.sleep(0.2)
        return rss_kib(process.pid), elapsed
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()
        process.stdout.close()


def summary(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:6.1f} ms   "
        f"min {min(samples) * 1000:6.1f} ms   max {max(samples) * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="keybridge-bench-") as cache:
        ENV.update(os.environ, PYTHONPYCACHEPREFIX=cache)
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        time_to_ready(SERVE)  # fills the bytecode cache
        uncached_env = {**ENV, "PYTHONDONTWRITEBYTECODE": "1"}
        uncached_env.pop("PYTHONPYCACHEPREFIX")
        baseline: list[float] = []
        pty: list[float] = []
        tcp: list[float] = []
        uncached: list[float] = []
        # Interleaved, so a change in the machine's load during the run weighs on every
        # figure alike instead of on whichever block ran at the time.
        for _ in range(runs):
            baseline.append(time_to_exit([sys.executable, "-c", "pass"]))
            pty.append(time_to_ready(SERVE))
            tcp.append(time_to_ready([*SERVE, "--link", "tcp:127.0.0.1:0"]))
            uncached.append(time_to_ready(SERVE, uncached_env))
        one, _ = serving_rss(1)
        hundred, elapsed = serving_rss(100)
    print(f"cold start, {runs} runs each ({os.cpu_count()} CPUs)")
    print(f"  python -c pass                  {summary(baseline)}")
    print(f"  serve, pty, to READY            {summary(pty)}")
    print(f"  serve, tcp, to READY            {summary(tcp)}")
    print(f"  serve, pty, no bytecode cache   {summary(uncached)}")
    ratio = statistics.median(pty) / statistics.median(baseline)
    print(f"  ratio serve(pty)/python median {ratio:.1f} x")
    worst = max(statistics.median(pty), statistics.median(tcp)) * 1000
    verdict = "met" if worst <= GOAL_MS else "MISSED"
    print(f"  goal: median <= {GOAL_MS:.0f} ms on pty and tcp: {verdict} ({worst:.1f} ms)")
    print("memory (RSS) of one process")
    print(f"  1 key     {one / 1024:6.1f} MiB")
    print(
        f"  100 keys  {hundred / 1024:6.1f} MiB   ({(hundred - one) / 99:.0f} KiB per extra key;"
        f" all 100 READY in {elapsed * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
