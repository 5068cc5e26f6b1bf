"""``keybridge completion SHELL`` and ``keybridge man``: finding things from the shell."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (commands, options, credential names, layouts).

    \b
    bash: eval "$(keybridge completion bash)"    (in ~/.bashrc)
    zsh:  eval "$(keybridge completion zsh)"     (in ~/.zshrc)
    fish: keybridge completion fish > ~/.config/fish/completions/keybridge.fish
    """
    from click.shell_completion import get_completion_class

    from keybridge.cli.main import cli

    completer = get_completion_class(shell)
    assert completer is not None  # the choice holds shells click knows
    click.echo(completer(cli, {}, "keybridge", "_KEYBRIDGE_COMPLETE").source())


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page to this file (e.g. docs/keybridge.1) instead of stdout.",
)
def man(output: Path | None) -> None:
    """Print the manual page, made from the commands' --help (man -l keybridge.1 reads it)."""
    from importlib.metadata import version

    from keybridge.cli.main import cli
    from keybridge.cli.manpage import render

    page = render(cli, version=version("keybridge"))
    if output is None:
        click.echo(page, nl=False)
    else:
        output.write_text(page, encoding="utf-8")
        click.echo(f"Wrote {output}.", err=True)
