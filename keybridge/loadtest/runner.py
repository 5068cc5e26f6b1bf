"""``keybridge loadtest``: a Locust master and W workers as local processes, and their summary.

The processes are Locust's own (``python -m locust``), headless, on loopback: the master
spawns the users across the workers, stops them after the run time and writes its statistics
as CSV, which :func:`summarise` reads into logins per second, latency percentiles and failures
by kind. Nothing here imports locust: its gevent monkey-patching stays in its processes.
"""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from keybridge.errors import InvalidInputError, KeybridgeError
from keybridge.loadtest.keys import load_accounts, read_manifest

__all__ = ["KindFigures", "LoadRun", "Summary", "run_load", "summarise"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_GRACE_S = 60.0
_FIELDS = {"p50": "50%", "p95": "95%", "p99": "99%"}


@dataclass(frozen=True)
class LoadRun:
    """What to run: ``workers`` 0 runs the users in one process, without a master."""

    host: str
    users: int
    spawn_rate: float
    run_time: str
    workers: int
    keys_dir: Path
    recovery_share: float = 0.1
    wrong_share: float = 0.1


@dataclass(frozen=True)
class KindFigures:
    logins: int
    failures: int
    per_s: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class Summary:
    logins: int
    logins_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    wrong_codes_refused: int
    failures: dict[str, int]
    by_kind: dict[str, KindFigures] = field(default_factory=dict)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check(run: LoadRun) -> None:
    read_manifest(run.keys_dir)
    accounts = len(load_accounts(run.keys_dir))
    if run.users > accounts:
        raise InvalidInputError(
            f"--users {run.users} is more than the {accounts} accounts of {run.keys_dir}: "
            "provision more, or run fewer users"
        )
    if run.users < 1 or run.spawn_rate <= 0 or run.workers < 0:
        raise InvalidInputError("give --users >= 1, --spawn-rate > 0 and --workers >= 0")


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def run_load(run: LoadRun, out_dir: Path | None = None) -> Summary:
    """Run the load and summarise it; the CSV and logs stay in ``out_dir`` when given."""
    _check(run)
    with contextlib.ExitStack() as stack:
        if out_dir is None:
            out_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-")))
        out_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KEYBRIDGE_LOAD_KEYS": str(run.keys_dir.resolve()),
            "KEYBRIDGE_LOAD_WORKERS": str(max(run.workers, 1)),
            "KEYBRIDGE_LOAD_RECOVERY": str(run.recovery_share),
            "KEYBRIDGE_LOAD_WRONG": str(run.wrong_share),
        }
        port = _free_port()
        head = [
            "--headless",
            "--host",
            run.host,
            "-u",
            str(run.users),
            "-r",
            str(run.spawn_rate),
            "-t",
            run.run_time,
            "--csv",
            str(out_dir / "load"),
            "--only-summary",
            "--stop-timeout",
            "5",
        ]
        if run.workers:
            head += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port"]
            head += [str(port), "--expect-workers", str(run.workers)]
        processes: list[subprocess.Popen[bytes]] = []
        try:
            with (out_dir / "master.log").open("wb") as log:
                master = subprocess.Popen(_locust(*head), env=env, stdout=log, stderr=log)
            processes.append(master)
            for i in range(run.workers):
                with (out_dir / f"worker{i}.log").open("wb") as log:
                    worker = _locust("--worker", "--master-host", "127.0.0.1", "--master-port")
                    processes.append(
                        subprocess.Popen([*worker, str(port)], env=env, stdout=log, stderr=log)
                    )
            master.wait(timeout=_seconds(run.run_time) + _GRACE_S)
            for process in processes[1:]:
                process.wait(timeout=_GRACE_S)
        except subprocess.TimeoutExpired:
            raise KeybridgeError(
                f"the load run did not end in time: see the logs in {out_dir}"
            ) from None
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        stats = out_dir / "load_stats.csv"
        if not stats.exists():
            log_tail = (out_dir / "master.log").read_text("utf-8", "replace")[-400:]
            raise KeybridgeError(f"Locust wrote no statistics; its log ends: {log_tail.strip()}")
        return summarise(stats, out_dir / "load_failures.csv")


def _seconds(run_time: str) -> float:
    """Locust's run time (``10s``, ``2m``, ``1h30m``, or seconds) in seconds."""
    total, number = 0.0, ""
    for char in run_time.strip():
        if char.isdigit() or char == ".":
            number += char
        elif char in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
        else:
            raise InvalidInputError(f"--run-time {run_time!r}: give e.g. 10s, 2m or 1h30m")
    return total + (float(number) if number else 0.0)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def summarise(stats_csv: Path, failures_csv: Path) -> Summary:
    """The figures of a run from Locust's ``*_stats.csv`` and ``*_failures.csv``."""
    by_kind: dict[str, KindFigures] = {}
    requests = 0
    with stats_csv.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["Type"] == "LOGIN":
                by_kind[row["Name"]] = KindFigures(
                    int(row["Request Count"]),
                    int(row["Failure Count"]),
                    _number(row["Requests/s"]),
                    *(_number(row[column]) for column in _FIELDS.values()),
                )
            elif row["Name"] != "Aggregated":
                requests += int(row["Request Count"])
    failures: dict[str, int] = {}
    if failures_csv.exists():
        with failures_csv.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                kind = row["Error"].split("(", 1)[-1].strip("'\")").split(":")[0]
                failures[kind] = failures.get(kind, 0) + int(row["Occurrences"])
    logins = sum(k.logins for k in by_kind.values())
    # The headline latency is the plain login's (most of them); every kind's is in by_kind.
    main = by_kind.get("totp") or next(iter(by_kind.values()), KindFigures(0, 0, 0, 0, 0, 0))
    wrong = by_kind.get("wrong code")
    return Summary(
        logins=logins,
        logins_per_s=round(sum(k.per_s for k in by_kind.values()), 2),
        p50_ms=main.p50,
        p95_ms=main.p95,
        p99_ms=main.p99,
        wrong_codes_refused=(wrong.logins - wrong.failures) if wrong else 0,
        failures=failures,
        by_kind=by_kind,
        requests=requests,
    )
