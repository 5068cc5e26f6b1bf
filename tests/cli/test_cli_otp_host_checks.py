"""``otp add`` and ``otp rename`` refuse bad names, issuers, labels and secrets on the host,
before connecting: exit 2, one ``Error:`` line, and no connection attempted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from click.testing import CliRunner, Result

from keybridge.cli import common
from keybridge.cli.main import cli

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection the CLI attempts (each one fails the command with exit 3)."""
    attempts: list[str] = []

    @asynccontextmanager
    async def refuse(**options: object) -> AsyncIterator[None]:
        attempts.append(repr(options))
        raise AssertionError("the command connected to a key")
        yield

    monkeypatch.setattr(common, "open_key", refuse)
    return attempts


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--device", "/nonexistent/key", *args])


def _assert_refused_before_connecting(result: Result, attempts: list[str], *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert attempts == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["bad\x07name", "--secret", SECRET], ["U+0007"], id="bell-in-name"),
        pytest.param(["tab\there", "--secret", SECRET], ["U+0009"], id="tab-in-name"),
        pytest.param(["x\x85", "--secret", SECRET], ["U+0085"], id="c1-in-name"),
        pytest.param(["acct", "--issuer", "HES\x1b", "--secret", SECRET], ["U+001B"], id="issuer"),
        pytest.param(["a" * 65, "--secret", SECRET], ["65 bytes"], id="65-bytes"),
    ],
)
def test_a_bad_name_or_issuer_is_refused_before_connecting(
    connections: list[str], args: list[str], words: list[str]
) -> None:
    _assert_refused_before_connecting(_run("otp", "add", *args), connections, *words)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        pytest.param(f"otpauth://totp/HES%07:me?secret={SECRET}", ["U+0007"], id="label-issuer"),
        pytest.param(f"otpauth://totp/HES:m%0Ae?secret={SECRET}", ["U+000A"], id="label-account"),
        pytest.param(f"otpauth://totp/me?secret={SECRET}&issuer=a%00b", ["U+0000"], id="issuer"),
        pytest.param(f"otpauth://totp/a:b:c?secret={SECRET}", ["more than one ':'"], id="colons"),
        pytest.param(
            f"otpauth://totp/A:me?secret={SECRET}&issuer=B", ["disagrees"], id="issuer-mismatch"
        ),
    ],
)
def test_a_malformed_uri_label_is_refused_even_with_a_name(
    connections: list[str], uri: str, words: list[str]
) -> None:
    result = _run("otp", "add", "my-name", "--uri", uri)
    _assert_refused_before_connecting(result, connections, *words)


def test_excess_padding_is_refused_saying_so(connections: list[str]) -> None:
    result = _run("otp", "add", "n", "--secret", SECRET + "=" * 7)
    _assert_refused_before_connecting(result, connections, "7 '='", "leave the '=' out")


def test_rename_to_a_bad_name_is_refused_before_connecting(connections: list[str]) -> None:
    result = _run("otp", "rename", "old", "new\x7f")
    _assert_refused_before_connecting(result, connections, "U+007F")


def test_good_input_does_reach_the_connection(connections: list[str]) -> None:
    # The refusals above are the host's checks, not a connection that never happens.
    result = _run("otp", "add", "HES.Web:me", "--secret", SECRET + "=" * 6)
    assert result.exit_code != 2 and len(connections) == 1
