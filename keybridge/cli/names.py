"""Credential names as the user types them (the matcher is the library's,
:mod:`keybridge.otp.name_match`), and their shell completion."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from keybridge.otp.name_match import AmbiguousNameError, match_name, matching_names

__all__ = [
    "AmbiguousNameError",
    "complete_layouts",
    "complete_names",
    "match_name",
    "matching_names",
]


def complete_layouts(incomplete: str) -> list[CompletionItem]:
    """The keyboard layouts starting with ``incomplete``."""
    from keybridge.keyboard.layouts import LAYOUT_IDS, LAYOUTS

    return [
        CompletionItem(lid, help=LAYOUTS[lid].name)
        for lid in LAYOUT_IDS
        if lid.startswith(incomplete.lower())
    ]


def complete_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Credential names on the key that contain ``incomplete`` (ignoring case).

    Completion never asks for a PIN nor tries one (a wrong one would count against the key's
    retries): a key with a PIN completes through an agent's unlock only, else not at all.
    Any failure completes nothing, quietly.
    """
    from keybridge.cli.common import completion_names, run

    try:
        names = run(completion_names(ctx.find_root().params.get("device")))
    except Exception:  # a shell's Tab must never print a traceback
        return []
    return [CompletionItem(name) for name in matching_names(incomplete, names) or []]
