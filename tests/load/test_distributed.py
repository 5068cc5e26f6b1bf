"""A short distributed Locust run in CI: a master and 2 worker processes, 300 users with a
simulated key each, against the emulator served by 2 worker processes (loopback only)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from keybridge.hes import Hes
from keybridge.loadtest.keys import load_accounts
from keybridge.loadtest.runner import LoadRun, run_load

USERS = 300

# Looked up, never imported here: locust monkey-patches the process that imports it.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="the load tests need keybridge[load]"
)


@pytest.mark.slow
def test_a_distributed_run_logs_everyone_in_and_refuses_every_wrong_code(
    provisioned: Callable[..., tuple[Path, Path]], served: Callable[..., str], tmp_path: Path
) -> None:
    store, keys = provisioned(USERS)
    url = served(store, "--workers", "2")
    summary = run_load(
        LoadRun(url, USERS, spawn_rate=300, run_time="8s", workers=2, keys_dir=keys),
        tmp_path / "run",
    )
    assert summary.failures == {}, summary.failures
    assert summary.by_kind["totp"].logins > USERS  # every user logged in, most more than once
    assert summary.by_kind["recovery"].logins > 0 and summary.by_kind["recovery"].failures == 0
    wrong = summary.by_kind["wrong code"]
    assert wrong.logins > 0 and summary.wrong_codes_refused == wrong.logins
    # Both workers ran users: accounts from each worker's share were used.
    spent = {int(p.name) for p in (keys / "spent").iterdir()}
    assert {i % 2 for i in spent} == {0, 1}
    # What the users redeemed is what the store lost (Locust's figures may miss the last
    # second's reports of the workers, never add to them).
    accounts = load_accounts.__wrapped__(keys)
    taken = sum(int(p.read_text()) for p in (keys / "spent").iterdir())
    with Hes(store) as hes:
        used = sum(10 - hes.recovery_codes_left(a.email) for a in accounts)
        assert used == taken >= summary.by_kind["recovery"].logins
        assert all(hes.user(a.email).locked_until is None for a in accounts)


@pytest.mark.slow
def test_the_strict_profile_refuses_each_users_replayed_code(
    provisioned: Callable[..., tuple[Path, Path]], served: Callable[..., str], tmp_path: Path
) -> None:
    """One process, no master: each user logs in, then (same step of its key) replays its
    code, which must be refused, then waits for the key's next step."""
    users = 20
    store, keys = provisioned(users, "strict")
    url = served(store, "--workers", "2", "--profile", "strict")
    summary = run_load(
        LoadRun(url, users, spawn_rate=20, run_time="5s", workers=0, keys_dir=keys),
        tmp_path / "run",
    )
    assert summary.failures == {}, summary.failures
    # Every user logged in, and replays were tried (each one refused, or it would be a
    # failure); on a loaded machine not every user reaches its replay within the 5 s.
    assert summary.logins > users
    with Hes(store, "strict") as hes:
        assert all(hes.user(a.email).locked_until is None for a in load_accounts.__wrapped__(keys))
