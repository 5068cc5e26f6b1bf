"""The agent's small parts: the PIN unlock on an injected clock, the reconnection backoff, the
socket directory's checks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keybridge.agent.link import Backoff
from keybridge.agent.paths import AgentPathError, prepare_directory, socket_path
from keybridge.agent.unlock import PinUnlock


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_the_pin_is_kept_for_the_timeout_then_wiped() -> None:
    clock = Clock()
    unlock = PinUnlock(10, clock)
    assert unlock.pin() is None and unlock.expires_in() is None
    unlock.remember("1234")
    buffer = unlock._pin
    clock.now += 9.5
    assert unlock.pin() == "1234" and unlock.expires_in() == pytest.approx(0.5)
    clock.now += 0.5
    assert unlock.expired and unlock.pin() is None
    unlock.wipe()
    assert bytes(buffer) == b"\0\0\0\0"  # the old buffer is zeroed, not just dropped
    assert not unlock.expired and not unlock.active


def test_a_timeout_of_zero_keeps_nothing() -> None:
    unlock = PinUnlock(0, Clock())
    unlock.remember("1234")
    assert unlock.pin() is None and not unlock.active


def test_backoff_doubles_up_to_its_limit() -> None:
    backoff, delay, seen = Backoff(0.2, 1.0), 0.0, []
    for _ in range(5):
        delay = backoff.after(delay)
        seen.append(delay)
    assert seen == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_the_socket_directory_is_made_private_and_must_be_ours(tmp_path: Path) -> None:
    made = prepare_directory(tmp_path / "run" / "keybridge")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    os.chmod(made, 0o755)
    prepare_directory(made)  # ours: taken back to 0700
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(AgentPathError, match="cannot create"):
        prepare_directory(a_file)
    link = tmp_path / "link"
    link.symlink_to(made)  # even to a directory of ours: no redirection of the socket
    with pytest.raises(AgentPathError, match="not a directory of this user"):
        prepare_directory(link)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory of another uid")
def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(AgentPathError, match="not a directory of this user"):
        prepare_directory(theirs)


def test_the_socket_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYBRIDGE_AGENT_SOCKET")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert socket_path() == Path("/run/user/1000/keybridge/agent.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert socket_path() == Path(f"/tmp/keybridge-{os.getuid()}/agent.sock")
    monkeypatch.setenv("KEYBRIDGE_AGENT_SOCKET", "/somewhere/a.sock")
    assert socket_path() == Path("/somewhere/a.sock")
