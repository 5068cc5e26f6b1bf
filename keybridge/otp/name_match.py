"""Credential names as the user types them: the exact name, else the one equal to it ignoring
case, else a unique case-insensitive part of one. The one matcher of the CLI (``otp code
PART``) and the agent's hotkey (``hotkey.credential``)."""

from __future__ import annotations

from collections.abc import Sequence

from keybridge.errors import InvalidInputError

__all__ = ["AmbiguousNameError", "match_name", "matching_names"]


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
    import difflib

    from keybridge.protocol.constants import Status
    from keybridge.protocol.status import NotFoundError

    by_fold = {n.casefold(): n for n in names}
    near = difflib.get_close_matches(query.casefold(), list(by_fold), n=1, cutoff=0.5)
    if near:
        hint = f"did you mean {by_fold[near[0]]!r}? (see `keybridge otp list`)"
    elif names:
        hint = "see `keybridge otp list` for the names on the key"
    else:
        hint = "the key holds none (`keybridge otp list`): add one with `keybridge otp add`"
    raise NotFoundError(Status.NOT_FOUND, f"no credential matches {query!r}: {hint}")
