"""The user's settings: ``config.toml`` in the config directory (beside ``pairings.json``).

A flat set of known keys, read with :mod:`tomllib` and written back by a small writer that
knows exactly those keys (strings, booleans and integers, top-level or in one table)::

    device = "socket://127.0.0.1:7000"   # the key used when no --device is given
    layout = "de"                        # this computer's keyboard layout (otp type)
    issuer = "HES.Web"                   # the issuer `otp add` gives a bare secret

    [agent]
    use = true                           # CLI commands go through a running agent
    pin_timeout = 900                    # seconds the agent keeps the key unlocked

    [hotkey]
    keys = "ctrl+alt+o"                  # the agent's hotkey
    credential = "HES.Web"               # what it types (a name or a unique part of one)
    enter = true                         # press Enter after the code

    [[hotkey.rules]]                     # which credential the hotkey types where
    credential = "HES.Web:admin@example.com"
    title = "Hideez Enterprise Server"   # a regular expression on the window's title
    class = "chromium|firefox"           # the same, on its WM_CLASS

Unknown keys are ignored (a newer keybridge may have written them); a known key of the wrong
type, a bad rule, or a file that is not TOML, is refused with one line naming the file and the
key (or the rule). Writing keeps the rules as they are.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keybridge.errors import InvalidInputError, KeybridgeError
from keybridge.files import write_atomically
from keybridge.hostconfig import config_dir

__all__ = [
    "FILE_NAME",
    "KEYS",
    "HotkeyRule",
    "Setting",
    "SettingsFileError",
    "UserConfig",
    "config_path",
]

FILE_NAME = "config.toml"
_MAX_FILE_BYTES = 1 << 16


class SettingsFileError(KeybridgeError):
    """The settings file cannot be read (not TOML, a value of the wrong type, a bad rule)."""


@dataclass(frozen=True)
class Setting:
    """One key of the settings file: its type and what it does."""

    type: type[str] | type[bool] | type[int]
    help: str


KEYS: dict[str, Setting] = {
    "device": Setting(str, "the key used when no --device or KEYBRIDGE_DEVICE is given"),
    "layout": Setting(str, "this computer's keyboard layout, for `otp type` (us, uk, de, fr)"),
    "issuer": Setting(str, "the issuer `otp add` gives a credential that has none"),
    "agent.use": Setting(bool, "commands go through a running agent (true) or never (false)"),
    "agent.pin_timeout": Setting(int, "seconds the agent keeps the key unlocked (0: never)"),
    "hotkey.keys": Setting(str, "the agent's hotkey, e.g. ctrl+alt+o"),
    "hotkey.credential": Setting(str, "the credential the hotkey types (a unique part of a name)"),
    "hotkey.enter": Setting(bool, "press Enter after the hotkey's code"),
}

RULES_KEY = "hotkey.rules"
"""The array of tables holding the hotkey's window rules."""


@dataclass(frozen=True)
class HotkeyRule:
    """A ``[[hotkey.rules]]`` table: type ``credential`` where the focused window's title and
    class match these regular expressions (searched, case-insensitive; at least one given)."""

    credential: str
    title: str | None = None
    wm_class: str | None = None


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def config_path(directory: Path | None = None) -> Path:
    """Where the settings file is (it may not exist)."""
    return (directory if directory is not None else config_dir()) / FILE_NAME


class UserConfig:
    """The settings in ``path``: :meth:`get`, :meth:`set` (saved at once), :attr:`values`,
    and the hotkey's window :attr:`rules` (kept as they are by :meth:`set`)."""

    def __init__(
        self,
        path: Path,
        values: dict[str, Any] | None = None,
        rules: tuple[HotkeyRule, ...] = (),
    ) -> None:
        self.path = path
        self.values: dict[str, Any] = dict(values or {})
        self.rules = rules

    @classmethod
    def load(cls, path: Path | None = None) -> UserConfig:
        """The settings file (default: :func:`config_path`); empty if there is none."""
        path = path if path is not None else config_path()
        try:
            with path.open("rb") as file:
                data = file.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise SettingsFileError(
                f"cannot read the settings file {path}: {exc.strerror or exc}; check its "
                "permissions"
            ) from exc
        if len(data) > _MAX_FILE_BYTES:
            raise SettingsFileError(f"the settings file {path} is over 64 KiB: it is not ours")
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsFileError(
                f"the settings file {path} is not valid TOML ({exc}): fix it, or move it aside"
            ) from None
        values: dict[str, Any] = {}
        for key, setting in KEYS.items():
            value = _lookup(document, key)
            if value is None:
                continue
            # bool is an int in Python: an int key must not take true/false, nor the reverse.
            if type(value) is not setting.type:
                raise SettingsFileError(
                    f"{key} in {path} is {json.dumps(value)}, not {_type_name(setting.type)}:"
                    " fix it in the file, or move the file aside"
                )
            if type(value) is str:
                try:
                    value = parse_value(key, setting, value)
                except InvalidInputError as exc:
                    raise SettingsFileError(f"{key} in {path}: {exc}") from None
            values[key] = value
        return cls(path, values, _rules(path, _lookup(document, RULES_KEY)))

    def get(self, key: str) -> Any:
        """The value of ``key`` (a known key), or ``None`` when it is not set."""
        _known(key)
        return self.values.get(key)

    def set(self, key: str, text: str | None) -> Any:
        """Set ``key`` from its text form (``None`` removes it) and save; returns the value."""
        setting = _known(key)
        if text is None:
            self.values.pop(key, None)
        else:
            self.values[key] = parse_value(key, setting, text)
        self.save()
        return self.values.get(key)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(self.path, dumps(self.values, self.rules).encode("utf-8"))


def parse_value(key: str, setting: Setting, text: str) -> str | bool | int:
    """The typed value of ``key`` from what the user typed."""
    word = text.strip()
    if setting.type is bool:
        if word.lower() in _TRUE | _FALSE:
            return word.lower() in _TRUE
        raise InvalidInputError(f"{key} is true or false, not {text!r}")
    if setting.type is int:
        if not word.isdigit():
            raise InvalidInputError(f"{key} is a whole number of seconds, not {text!r}")
        return int(word)
    if not word:
        raise InvalidInputError(
            f"{key} cannot be empty: give a value, or remove it with `keybridge config unset {key}`"
        )
    if key == "layout":
        from keybridge.keyboard.layouts import get_layout

        return get_layout(word).id
    return word


def dumps(values: dict[str, Any], rules: tuple[HotkeyRule, ...] = ()) -> str:
    """TOML for ``values`` (dotted keys become one table each) and ``rules`` (one
    ``[[hotkey.rules]]`` table each), read back by tomllib as is."""
    top = {k: v for k, v in values.items() if "." not in k}
    tables: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if "." in key:
            table, name = key.split(".", 1)
            tables.setdefault(table, {})[name] = value
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for table, items in tables.items():
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in items.items()]
    for rule in rules:
        lines += ["", f"[[{RULES_KEY}]]", f"credential = {_toml_value(rule.credential)}"]
        for name, pattern in (("title", rule.title), ("class", rule.wm_class)):
            if pattern is not None:
                lines.append(f"{name} = {_toml_value(pattern)}")
    return "\n".join(lines).lstrip("\n") + "\n" if lines else ""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # A JSON string is a TOML basic string: the same escapes (\" \\ \n \uXXXX).
    # DEL is the one control character JSON leaves raw and TOML refuses.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def _rules(path: Path, tables: Any) -> tuple[HotkeyRule, ...]:
    """The ``[[hotkey.rules]]`` tables, checked: a bad one is one line naming the file and it."""
    if tables is None:
        return ()
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SettingsFileError(f"{path}: write each hotkey rule as a [[{RULES_KEY}]] table")
    rules: list[HotkeyRule] = []
    for index, table in enumerate(tables, start=1):
        where = f"{path}: hotkey rule {index}"
        credential = table.get("credential")
        if not isinstance(credential, str) or not credential.strip():
            raise SettingsFileError(f'{where} needs credential = "NAME"')
        patterns: list[str | None] = []
        for name in ("title", "class"):
            pattern = table.get(name)
            if pattern is not None:
                if not isinstance(pattern, str):
                    raise SettingsFileError(f"{where}: {name} must be a string")
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise SettingsFileError(
                        f"{where}: {name} {pattern!r} is not a regular expression ({exc})"
                    ) from None
            patterns.append(pattern)
        if patterns == [None, None]:
            raise SettingsFileError(f"{where} needs a title or a class pattern")
        rules.append(HotkeyRule(credential.strip(), *patterns))
    return tuple(rules)


def _lookup(document: dict[str, Any], key: str) -> Any:
    node: Any = document
    for part in key.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _known(key: str) -> Setting:
    setting = KEYS.get(key)
    if setting is None:
        raise InvalidInputError(f"unknown setting {key!r}: use one of {', '.join(KEYS)}")
    return setting


def _type_name(kind: type) -> str:
    return {str: "a string", bool: "true or false", int: "a whole number"}[kind]
