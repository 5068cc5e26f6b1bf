"""The hotkey's spec, and the config rules that pick a credential for the focused window."""

from __future__ import annotations

from pathlib import Path

import pytest

from keybridge.agent.core import WindowInfo
from keybridge.agent.hotkey import DEFAULT_HOTKEY, Hotkey
from keybridge.agent.windows import load_rules, rule_chooser
from keybridge.errors import InvalidInputError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.session import CredentialInfo

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
[[rule]]
credential = "GitLab:me"
class = "^firefox"

[[rule]]
credential = "HES.Web:admin@example.com"
title = "hideez enterprise"
class = "chromium"
"""


def test_the_first_matching_rule_picks(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
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
    path = tmp_path / "agent.toml"
    path.write_text('[[rule]]\ncredential = "gone"\nclass = "."\n')
    with pytest.raises(InvalidInputError, match="'gone', which is not on the key"):
        rule_chooser(load_rules(path))(KEY, WindowInfo("t", "c"))


def test_no_config_file_means_no_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEYBRIDGE_CONFIG_DIR", str(tmp_path))
    assert load_rules() == []
    with pytest.raises(InvalidInputError, match="no agent config file"):
        load_rules(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[rule]\n", "is not valid TOML"),
        ("rule = 1\n", "as a [[rule]] table"),
        ('[[rule]]\ntitle = "x"\n', 'rule 1 needs credential = "NAME"'),
        ('[[rule]]\ncredential = "a"\n', "rule 1 needs a title or a class"),
        ('[[rule]]\ncredential = "a"\ntitle = "("\n', "title '(' is not a regular expression"),
        ('[[rule]]\ncredential = "a"\nclass = 3\n', "class must be a string"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert words in message and str(path) in message and "\n" not in message
