"""logind's Lock signal, as gdbus monitor prints it, wipes the agent's unlock: this session's
only, or every session's when the session is unknown."""

from __future__ import annotations

import sys

from keybridge.agent.screenlock import LogindLockWatcher, logind_session_path

MONITOR_OUTPUT = """\
Monitoring signals from all objects owned by org.freedesktop.login1
The name org.freedesktop.login1 is owned by :1.3
/org/freedesktop/login1/session/_33: org.freedesktop.login1.Session.Lock ()
/org/freedesktop/login1/session/_32: org.freedesktop.DBus.Properties.PropertiesChanged ('x', {}, [])
/org/freedesktop/login1/session/_32: org.freedesktop.login1.Session.Unlock ()
/org/freedesktop/login1/session/_32: org.freedesktop.login1.Session.Lock ()
"""


def monitor() -> tuple[str, ...]:
    """A stand-in for gdbus monitor: prints MONITOR_OUTPUT and ends."""
    return (sys.executable, "-c", f"import sys; sys.stdout.write({MONITOR_OUTPUT!r})")


def test_session_paths_are_escaped_as_systemd_does() -> None:
    assert logind_session_path("2") == "/org/freedesktop/login1/session/_32"
    assert logind_session_path("c1") == "/org/freedesktop/login1/session/c1"
    assert logind_session_path("12") == "/org/freedesktop/login1/session/_312"


async def watched(session_id: str) -> list[str]:
    calls: list[str] = []

    async def on_lock() -> None:
        calls.append("lock")

    watcher = LogindLockWatcher(on_lock, session_id=session_id, command=monitor())
    await watcher.run()
    assert watcher.locks == len(calls)
    return calls


async def test_only_this_sessions_lock_signal_locks() -> None:
    assert await watched("2") == ["lock"]
    assert await watched("7") == []


async def test_an_unknown_session_locks_on_any_sessions_lock() -> None:
    assert await watched("") == ["lock", "lock"]


async def test_no_monitor_program_is_nothing_watched() -> None:
    async def on_lock() -> None:
        raise AssertionError("nothing to watch")

    await LogindLockWatcher(on_lock, command=("/nonexistent/gdbus",)).run()
