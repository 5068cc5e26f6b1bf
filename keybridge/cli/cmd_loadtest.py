"""``keybridge loadtest``: Locust's master and workers on this machine against an HES."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from keybridge.cli.common import report
from keybridge.cli.errors import ExitCode
from keybridge.cli.output import table


@click.command("loadtest")
@click.option("--host", required=True, metavar="URL", help="The HES (or emulator) to log in to.")
@click.option("--users", type=click.IntRange(min=1), required=True, help="Simulated users/keys.")
@click.option(
    "--spawn-rate", type=click.FloatRange(min=0, min_open=True), default=50.0, show_default=True
)
@click.option("--run-time", default="30s", show_default=True, help="e.g. 10s, 2m, 1h30m.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Locust worker processes (0: one process, no master).",
)
@click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("keys"),
    show_default=True,
    help="The keys dir written by `keybridge hes provision`.",
)
@click.option("--recovery-share", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option("--wrong-share", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep Locust's CSV statistics and logs in this directory.",
)
def loadtest(
    host: str,
    users: int,
    spawn_rate: float,
    run_time: str,
    workers: int,
    keys_dir: Path,
    recovery_share: float,
    wrong_share: float,
    out: Path | None,
) -> None:
    """Log in to an HES with thousands of simulated keys (Locust master + workers, headless).

    Prints logins per second, latency percentiles and failures by kind; exits 1 when any login
    went wrong (a wrong code accepted, a right code refused, a recovery code used twice...).
    """
    # Looked up, not imported: importing locust monkey-patches this process with gevent.
    if importlib.util.find_spec("locust") is None:
        raise click.ClickException(
            "the load test needs the load extra: pip install 'keybridge[load]'"
        )
    from keybridge.loadtest.runner import LoadRun, Summary, run_load

    summary = run_load(
        LoadRun(host, users, spawn_rate, run_time, workers, keys_dir, recovery_share, wrong_share),
        out,
    )

    def text(s: Summary) -> str:
        rows: list[tuple[str, object]] = [
            ("logins", s.logins),
            ("logins/s", s.logins_per_s),
            (
                "latency p50/p95/p99",
                f"{summary.p50_ms:g} / {summary.p95_ms:g} / {summary.p99_ms:g} ms",
            ),
            ("wrong codes refused", s.wrong_codes_refused),
        ]
        for kind, figures in s.by_kind.items():
            rows.append((f"  {kind}", f"{figures.logins} logins, p95 {figures.p95:g} ms"))
        failures = ", ".join(f"{k}: {n}" for k, n in s.failures.items()) or "none"
        rows.append(("failures", failures))
        return table(rows)

    report(summary, text)
    if not summary.ok:
        click.get_current_context().exit(ExitCode.REFUSED)
