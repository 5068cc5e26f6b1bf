"""The hotkey's spec, and the settings file's rules that pick a credential for the focused
window."""

from __future__ import annotations

from pathlib import Path

import pytest

from keybridge.agent.core import WindowInfo
from keybridge.agent.hotkey import DEFAULT_HOTKEY, Hotkey
from keybridge.agent.windows import load_rules, rule_chooser
from keybridge.errors import InvalidInputError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.session import CredentialInfo
from keybridge.userconfig import SettingsFileError

CONTROL, MOD1, SHIFT, MOD4 = 4, 8, 1, 64


@pytest.mark.parametrize(
    ("spec", "keysym", "modifiers"),
    [
        (DEFAULT_HOTKEY, 0x6F, CONTROL | MOD1),  # XK_o
        ("Ctrl + Alt + O", 0x6F, CONTROL | MOD1),
        ("super+shift+F9", 0xFFC6, MOD4 | SHIFT),
        ("control+1", 0x31, CONTROL),
    ],
)
def test_hotkey_spec(spec: str, keysym: int, modifiers: int) -> None:
    hotkey = Hotkey.parse(spec)
    assert (hotkey.keysym, hotkey.modifiers) == (keysym, modifiers)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("o", "modifiers and a key joined by '+'"),
        ("ctrl+", "modifiers and a key"),
        ("hyper+o", "unknown modifier 'hyper'"),
        ("ctrl+alt+nosuchkey", "unknown key 'nosuchkey'"),
    ],
)
def test_bad_hotkey_spec_is_one_line(spec: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Hotkey.parse(spec)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def entry(name: str) -> CredentialInfo:
    return CredentialInfo(name, OtpKind.TOTP, Algorithm.SHA1, 6, 30, False, None)


KEY = [entry("HES.Web:admin@example.com"), entry("GitLab:me")]

RULES = """
[[hotkey.rules]]
credential = "GitLab:me"
class = "^firefox"

[[hotkey.rules]]
credential = "HES.Web:admin@example.com"
title = "hideez enterprise"
class = "chromium"
"""


def test_the_first_matching_rule_picks(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(RULES)
    choose = rule_chooser(load_rules(path))
    hes = WindowInfo("Hideez Enterprise Server - Chromium", "chromium Chromium")
    assert choose(KEY, hes) == "HES.Web:admin@example.com"
    assert choose(KEY, WindowInfo("GitLab", "firefox-esr Firefox-esr")) == "GitLab:me"
    # Both patterns of a rule must match; no rule, no window: the agent's own choice.
    assert choose(KEY, WindowInfo("Other page - Chromium", "chromium Chromium")) is None
    assert choose(KEY, WindowInfo(None, None)) is None
    assert choose(KEY, None) is None


def test_a_rule_naming_a_credential_not_on_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[hotkey.rules]]\ncredential = "gone"\nclass = "."\n')
    with pytest.raises(InvalidInputError, match="'gone', which is not on the key"):
        rule_chooser(load_rules(path))(KEY, WindowInfo("t", "c"))


def test_no_settings_file_means_no_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEYBRIDGE_CONFIG_DIR", str(tmp_path))
    assert load_rules() == []
    (tmp_path / "agent.toml").write_text(RULES)  # the old rules file is not read
    assert load_rules() == []
    (tmp_path / "config.toml").write_text(RULES)
    assert [rule.credential for rule in load_rules()] == ["GitLab:me", KEY[0].name]


def test_setting_a_key_keeps_the_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`keybridge config set` rewrites the file: the rules it does not edit stay as they are."""
    from keybridge.userconfig import UserConfig

    path = tmp_path / "config.toml"
    path.write_text("[hotkey]\nenter = false\n" + RULES)
    before = load_rules(path)
    UserConfig.load(path).set("hotkey.keys", "super+F9")
    after = UserConfig.load(path)
    assert after.values == {"hotkey.enter": False, "hotkey.keys": "super+F9"}
    assert load_rules(path) == before


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[hotkey.rules]\n", "is not valid TOML"),
        ("[hotkey]\nrules = 1\n", "as a [[hotkey.rules]] table"),
        ('[[hotkey.rules]]\ntitle = "x"\n', 'rule 1 needs credential = "NAME"'),
        ('[[hotkey.rules]]\ncredential = "a"\n', "rule 1 needs a title or a class"),
        (
            '[[hotkey.rules]]\ncredential = "a"\ntitle = "("\n',
            "title '(' is not a regular expression",
        ),
        ('[[hotkey.rules]]\ncredential = "a"\nclass = 3\n', "class must be a string"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(SettingsFileError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert words in message and str(path) in message and "\n" not in message
