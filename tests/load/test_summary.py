"""Reading Locust's CSV statistics into the load test's summary (no Locust run needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from keybridge.errors import InvalidInputError
from keybridge.loadtest.runner import LoadRun, _seconds, run_load, summarise

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)


def _row(kind: str, name: str, count: int, fails: int, rate: float, p50: int, p99: int) -> str:
    return (
        f"{kind},{name},{count},{fails},{p50},1,1,1,0,{rate},0,{p50},1,1,1,1,{p99 - 1},1,{p99},"
        "1,1,1\n"
    )


def test_summary_counts_logins_kinds_and_failures(tmp_path: Path) -> None:
    stats = tmp_path / "s.csv"
    stats.write_text(
        HEADER
        + _row("GET", "/login", 500, 0, 50.0, 2, 9)
        + _row("LOGIN", "totp", 400, 2, 40.0, 11, 40)
        + _row("LOGIN", "wrong code", 60, 1, 6.0, 15, 50)
        + _row("LOGIN", "recovery", 40, 0, 4.0, 16, 60)
        + _row("", "Aggregated", 1000, 3, 100.0, 3, 50)
    )
    failures = tmp_path / "f.csv"
    failures.write_text(
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"
        "LOGIN,totp,\"LoginFailure('right code refused: the account is locked')\",2,1,2\n"
        "LOGIN,wrong code,LoginFailure('wrong code accepted'),1,1,2\n"
    )
    summary = summarise(stats, failures)
    assert summary.logins == 500 and summary.logins_per_s == 50.0 and summary.requests == 500
    assert (summary.p50_ms, summary.p99_ms) == (11, 40)  # the plain login's
    assert summary.failures == {"right code refused": 2, "wrong code accepted": 1}
    assert summary.wrong_codes_refused == 59 and not summary.ok
    assert summary.by_kind["recovery"].p95 == 59


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("2m", 120), ("1h30m", 5400), ("7", 7)])
def test_run_times_read_as_locust_reads_them(text: str, seconds: float) -> None:
    assert _seconds(text) == seconds


def test_more_users_than_accounts_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from keybridge.loadtest.provision import provision

    provision(tmp_path / "s.sqlite3", tmp_path / "keys", 2)
    with pytest.raises(InvalidInputError, match="more than the 2 accounts"):
        run_load(LoadRun("http://127.0.0.1:9", 3, 1, "1s", 1, tmp_path / "keys"))
    with pytest.raises(InvalidInputError, match="not a provisioned keys dir"):
        run_load(LoadRun("http://127.0.0.1:9", 1, 1, "1s", 1, tmp_path))


def test_cli_prints_the_summary_as_json_and_exits_1_on_any_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from click.testing import CliRunner

    from keybridge.cli.main import cli
    from keybridge.loadtest import runner
    from keybridge.loadtest.runner import KindFigures, Summary

    def fake(failures: dict[str, int]) -> Callable[..., Summary]:
        def run(run: LoadRun, out: Path | None) -> Summary:
            assert (run.users, run.workers, run.run_time) == (3, 2, "5s")
            figures = KindFigures(10, 0, 2.0, 5, 9, 12)
            return Summary(10, 2.0, 5, 9, 12, 0, failures, {"totp": figures}, 30)

        return run

    args = ["loadtest", "--host", "http://127.0.0.1:9", "--users", "3", "--run-time", "5s"]
    args += ["--keys-dir", str(tmp_path)]
    monkeypatch.setattr(runner, "run_load", fake({}))
    done = CliRunner().invoke(cli, ["--json", *args])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["logins_per_s"] == 2.0 and doc["by_kind"]["totp"]["p99"] == 12
    assert doc["failures"] == {}
    monkeypatch.setattr(runner, "run_load", fake({"wrong code accepted": 1}))
    failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 1 and "wrong code accepted: 1" in failed.stdout
