"""Which credential the hotkey types: the focused X window, and rules matching it.

The focused window is the window manager's ``_NET_ACTIVE_WINDOW`` (with no window manager: the
X input focus and its parents, or the window under the pointer), described by its title
(``_NET_WM_NAME``, else ``WM_NAME``) and class (``WM_CLASS``: instance and class). Rules live
in the settings file the CLI uses too (``config.toml``, read by :mod:`keybridge.userconfig`;
``keybridge agent --config FILE`` reads another)::

    [[hotkey.rules]]
    credential = "HES.Web:admin@example.com"
    title = "Hideez Enterprise Server"   # a regular expression, searched, case-insensitive
    class = "chromium"                  # the same, on either WM_CLASS part

A rule matches when all the patterns it gives match; the first rule that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keybridge.agent.core import Chooser, WindowInfo
from keybridge.errors import InvalidInputError
from keybridge.userconfig import UserConfig

if TYPE_CHECKING:
    from Xlib.display import Display

    from keybridge.session import CredentialInfo

__all__ = ["Rule", "focused_window", "load_rules", "rule_chooser", "rules_of"]

_MAX_PARENTS = 32
"""Parents walked from the input focus to a window with a class (toolkits nest windows)."""


@dataclass(frozen=True)
class Rule:
    """Type ``credential`` where the focused window's title and class match the patterns."""

    credential: str
    title: re.Pattern[str] | None = None
    wm_class: re.Pattern[str] | None = None

    def matches(self, window: WindowInfo) -> bool:
        """Whether every pattern this rule gives matches ``window``."""
        for pattern, value in ((self.title, window.title), (self.wm_class, window.wm_class)):
            if pattern is not None and (value is None or pattern.search(value) is None):
                return False
        return True


def load_rules(path: Path | None = None) -> list[Rule]:
    """The hotkey rules of the settings file (default: ``config.toml`` in the config
    directory; none if there is none). A bad rule is one line naming the file and the rule."""
    return rules_of(UserConfig.load(path))


def rules_of(config: UserConfig) -> list[Rule]:
    """The rules of settings already read (their patterns were checked then)."""

    def pattern(text: str | None) -> re.Pattern[str] | None:
        return re.compile(text, re.IGNORECASE) if text is not None else None

    return [Rule(r.credential, pattern(r.title), pattern(r.wm_class)) for r in config.rules]


def rule_chooser(rules: Sequence[Rule]) -> Chooser:
    """An :class:`~keybridge.agent.core.Agent` ``choose`` callback: the first matching rule's
    credential, if the key holds it."""

    def choose(entries: Sequence[CredentialInfo], window: WindowInfo | None) -> str | None:
        if window is None:
            return None
        names = {entry.name for entry in entries}
        for rule in rules:
            if rule.matches(window):
                if rule.credential not in names:
                    raise InvalidInputError(
                        f"the rule for this window names {rule.credential!r}, which is not on "
                        "the key: fix the rule in the settings file, or add it with "
                        "`keybridge otp add`"
                    )
                return rule.credential
        return None

    return choose


def _text_property(display: Display, window: Any, name: str) -> str | None:
    prop = window.get_full_property(display.intern_atom(name), 0)
    if prop is None:
        return None
    value = prop.value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _describe(display: Display, window: Any) -> WindowInfo | None:
    wm_class = window.get_wm_class()
    title = _text_property(display, window, "_NET_WM_NAME") or _text_property(
        display, window, "WM_NAME"
    )
    if wm_class is None and title is None:
        return None
    return WindowInfo(title=title, wm_class=" ".join(wm_class) if wm_class else None)


def focused_window(display: Display) -> WindowInfo | None:
    """The focused window's title and class, or None if there is none to tell."""
    from Xlib import X, error

    root = display.screen().root
    try:
        active = root.get_full_property(
            display.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType
        )
        if active is not None and len(active.value) and active.value[0]:
            window = display.create_resource_object("window", int(active.value[0]))
            info = _describe(display, window)
            if info is not None:
                return info
        window = display.get_input_focus().focus
        if window == X.PointerRoot:  # focus follows the pointer: the window under it
            window = root.query_pointer().child
        for _ in range(_MAX_PARENTS):
            if not hasattr(window, "id") or window.id in (root.id, X.NONE):
                return None
            info = _describe(display, window)
            if info is not None:
                return info
            window = window.query_tree().parent
    except error.XError:  # the window closed meanwhile
        return None
    return None
