"""``keybridge sim``: run a simulated key (the same as ``python -m firmware_sim``)."""

from __future__ import annotations

import click


@click.group()
def sim() -> None:
    """Run a simulated key."""


@sim.command(
    "serve",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> None:
    """Serve a simulated key: same options as `python -m firmware_sim serve` (see --help)."""
    from firmware_sim.serve import main as serve_main

    raise SystemExit(serve_main(["serve", *args]))
