"""``keybridge demo``: the end-to-end story on a simulated key and the embedded HES model."""

from __future__ import annotations

import click

from keybridge.cli.common import report, settings


@click.command()
@click.option(
    "--web",
    is_flag=True,
    help="Tell the story on the HES web emulator in a browser (Chromium, headless).",
)
@click.option("--show", is_flag=True, help="With --web: show the browser window (needs a display).")
def demo(web: bool, show: bool) -> None:
    """Enrol on HES, store the key on a simulated key, log in with the codes it types.

    Runs on its own simulated key and HES model in a temporary directory (--device is not
    used); nothing is kept. Exits 0 only if every step behaved as HES does. With --web the
    story runs on HES's web pages in Chromium, the key typing each code into the page.
    """
    from functools import partial

    if show and not web:
        raise click.UsageError("--show applies to --web only")
    if web:
        from keybridge.cli.demo_web import main as web_main
        from keybridge.cli.demo_web import run_web_demo

        main, run_demo = partial(web_main, show=show), partial(run_web_demo, show=show)
    else:
        from keybridge.cli.demo import main, run_demo  # type: ignore[assignment]

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
