"""Which credential the hotkey types: the focused X window, and rules matching it.

The focused window is the window manager's ``_NET_ACTIVE_WINDOW`` (with no window manager: the
X input focus and its parents, or the window under the pointer), described by its title
(``_NET_WM_NAME``, else ``WM_NAME``) and class (``WM_CLASS``: instance and class). Rules live
in the agent's config file (``agent.toml`` in the config directory, or ``--config FILE``)::

    [[rule]]
    credential = "HES.Web:admin@example.com"
    title = "Hideez Enterprise Server"   # a regular expression, searched, case-insensitive
    class = "chromium"                  # the same, on either WM_CLASS part

A rule matches when all the patterns it gives match; the first rule that matches wins.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keybridge.agent.core import Chooser, WindowInfo
from keybridge.errors import InvalidInputError
from keybridge.hostconfig import config_dir

if TYPE_CHECKING:
    from Xlib.display import Display

    from keybridge.session import CredentialInfo

__all__ = ["CONFIG_FILE", "Rule", "focused_window", "load_rules", "rule_chooser"]

CONFIG_FILE = "agent.toml"
"""The agent's config file in the config directory."""

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


def _pattern(path: Path, index: int, table: dict[str, Any], key: str) -> re.Pattern[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{path}: rule {index}: {key} must be a string")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise InvalidInputError(
            f"{path}: rule {index}: {key} {value!r} is not a regular expression ({exc})"
        ) from exc


def load_rules(path: Path | None = None) -> list[Rule]:
    """The rules of ``path`` (default: ``agent.toml`` in the config directory; none if absent).

    A file that does not parse, or a rule without a credential or with a bad pattern, is one
    line naming the file and the rule.
    """
    explicit = path is not None
    path = path if path is not None else config_dir() / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise InvalidInputError(f"no agent config file {path}") from None
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the agent config file {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid TOML ({exc})") from exc
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        raise InvalidInputError(f"{path}: write each rule as a [[rule]] table")
    rules: list[Rule] = []
    for index, table in enumerate(tables, start=1):
        credential = table.get("credential") if isinstance(table, dict) else None
        if not isinstance(credential, str) or not credential:
            raise InvalidInputError(f'{path}: rule {index} needs credential = "NAME"')
        title = _pattern(path, index, table, "title")
        wm_class = _pattern(path, index, table, "class")
        if title is None and wm_class is None:
            raise InvalidInputError(f"{path}: rule {index} needs a title or a class pattern")
        rules.append(Rule(credential, title, wm_class))
    return rules


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
                        "the key: fix the agent config file or add it with `keybridge otp add`"
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
