"""Credential names as the user types them: a unique, case-insensitive part of a name."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import click
from click.shell_completion import CompletionItem

from keybridge.errors import InvalidInputError
from keybridge.protocol.constants import Status
from keybridge.protocol.status import NotFoundError

__all__ = [
    "AmbiguousNameError",
    "complete_layouts",
    "complete_names",
    "match_name",
    "matching_names",
]


class AmbiguousNameError(InvalidInputError):
    """A query matches several credentials."""

    def __init__(self, query: str, matches: Sequence[str]) -> None:
        listing = ", ".join(matches)
        super().__init__(
            f"{query!r} matches {len(matches)} credentials ({listing}): give more of the name"
        )
        self.matches = list(matches)


def matching_names(query: str, names: Sequence[str]) -> list[str]:
    """The names ``query`` picks: the exact name, else the one equal to it ignoring case, else
    every name containing it (ignoring case), in the key's order."""
    if query in names:
        return [query]
    folded = query.casefold()
    same = [n for n in names if n.casefold() == folded]
    if len(same) == 1:
        return same
    return [n for n in names if folded in n.casefold()]


def match_name(query: str, names: Sequence[str]) -> str:
    """The one name ``query`` picks; several raise :class:`AmbiguousNameError` (exit 2), none a
    not-found error suggesting the nearest name."""
    found = matching_names(query, names)
    if len(found) == 1:
        return found[0]
    if found:
        raise AmbiguousNameError(query, found)
    by_fold = {n.casefold(): n for n in names}
    near = difflib.get_close_matches(query.casefold(), list(by_fold), n=1, cutoff=0.5)
    if near:
        hint = f"did you mean {by_fold[near[0]]!r}? (see `keybridge otp list`)"
    elif names:
        hint = "see `keybridge otp list` for the names on the key"
    else:
        hint = "the key holds none (`keybridge otp list`): add one with `keybridge otp add`"
    raise NotFoundError(Status.NOT_FOUND, f"no credential matches {query!r}: {hint}")


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
