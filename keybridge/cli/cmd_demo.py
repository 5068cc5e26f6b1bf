"""``keybridge demo``: the end-to-end story on a simulated key and the embedded HES model."""

from __future__ import annotations

import click

from keybridge.cli.common import report, settings


@click.command()
def demo() -> None:
    """Enrol on HES, store the key on a simulated key, log in with the codes it types.

    Runs on its own simulated key and HES model in a temporary directory (--device is not
    used); nothing is kept. Exits 0 only if every step behaved as HES does.
    """
    from keybridge.cli.demo import main, run_demo

    ctx = click.get_current_context()
    if not settings().as_json:
        ctx.exit(main(click.echo))
    result = run_demo(lambda _: None)
    report(
        {
            "ok": result.ok,
            "seconds": round(result.seconds, 3),
            "checks": result.checks,
            "failed": result.failed,
        }
    )
    ctx.exit(0 if result.ok else 1)
