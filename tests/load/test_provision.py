"""``keybridge hes provision``: seeded accounts with 2FA on and a paired simulated key each."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli
from keybridge.hes import Hes, LoginStatus
from keybridge.loadtest.keys import LoadKey, load_accounts, read_manifest, state_path
from keybridge.loadtest.provision import provision


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _accounts(store: Path) -> list[tuple[str, str, str, int]]:
    with sqlite3.connect(store) as conn:
        return conn.execute(
            "SELECT email, password_hash, otp_key, two_factor FROM users ORDER BY id"
        ).fetchall()


def test_the_same_seed_writes_the_same_files_and_accounts(tmp_path: Path) -> None:
    provision(tmp_path / "a.sqlite3", tmp_path / "a", 4, seed=3)
    provision(tmp_path / "b.sqlite3", tmp_path / "b", 4, seed=3)
    provision(tmp_path / "c.sqlite3", tmp_path / "c", 4, seed=4)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert a == b and len(a) == 2 + 2 * 4  # manifest, accounts, a state and a device key each
    assert a.keys() == c.keys() and all(a[name] != c[name] for name in a)
    assert _accounts(tmp_path / "a.sqlite3") == _accounts(tmp_path / "b.sqlite3")
    assert _accounts(tmp_path / "a.sqlite3") != _accounts(tmp_path / "c.sqlite3")


def test_each_key_logs_its_account_in_and_the_recovery_codes_are_its_own(
    provisioned: Callable[..., tuple[Path, Path]],
) -> None:
    store, keys = provisioned(3)
    manifest, accounts = read_manifest(keys), load_accounts(keys)
    assert manifest.users == 3 and manifest.profile == "hes" and len(accounts) == 3
    with Hes(store) as hes:
        for account in accounts:
            info = hes.user(account.email)
            assert info.two_factor_enabled and info.recovery_codes_left == 10
            key = LoadKey(keys, manifest, account)
            step = hes.login(account.email, account.password)
            assert step.status is LoginStatus.NEEDS_OTP and step.token
            assert hes.login_otp(step.token, key.code()[0]).ok
            step = hes.login(account.email, account.password)
            assert step.token and hes.login_recovery(step.token, account.recovery_codes[9]).ok
        # A key's code is not another account's.
        other = LoadKey(keys, manifest, accounts[1]).code()[0]
        step = hes.login(accounts[0].email, accounts[0].password)
        assert step.token and hes.login_otp(step.token, other).status is LoginStatus.DENIED


def test_the_keys_dir_is_private_and_a_key_holds_no_secret_in_clear(
    provisioned: Callable[..., tuple[Path, Path]],
) -> None:
    store, keys = provisioned(2)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with sqlite3.connect(store) as conn:
        otp_key = conn.execute("SELECT otp_key FROM users LIMIT 1").fetchone()[0]
    state = state_path(keys, 0).read_bytes()
    assert otp_key.encode() not in state and otp_key.lower().encode() not in state


def test_strict_profile_stores_recovery_codes_hashed(
    provisioned: Callable[..., tuple[Path, Path]],
) -> None:
    store, keys = provisioned(2, "strict")
    account = load_accounts(keys)[0]
    with sqlite3.connect(store) as conn:
        stored = {row[0] for row in conn.execute("SELECT code FROM recovery_codes")}
    assert len(stored) == 20 and not stored & set(account.recovery_codes)
    with Hes(store, "strict") as hes:
        step = hes.login(account.email, account.password)
        assert step.token and hes.login_recovery(step.token, account.recovery_codes[0]).ok


def test_cli_provisions_without_printing_a_secret_and_refuses_to_overwrite(
    tmp_path: Path,
) -> None:
    store, keys = tmp_path / "hes.sqlite3", tmp_path / "keys"
    args = ["hes", "provision", "--store", str(store), "--users", "5", "--keys-dir", str(keys)]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "Provisioned 5 accounts" in done.stdout
    for account in load_accounts(keys):
        assert account.password not in done.output
        assert not any(code in done.output for code in account.recovery_codes)
    before = _files(keys)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert again.stderr.strip().count("\n") == 0 and "--force" in again.stderr
    assert _files(keys) == before and len(_accounts(store)) == 5  # nothing lost
    forced = CliRunner().invoke(cli, [*args[:5], "2", *args[6:], "--force"])
    assert forced.exit_code == 0, forced.output
    assert len(_accounts(store)) == 2 and len(load_accounts.__wrapped__(keys)) == 2


def test_force_never_empties_a_directory_it_did_not_make(tmp_path: Path) -> None:
    keys = tmp_path / "mine"
    keys.mkdir()
    (keys / "notes.txt").write_text("keep me")
    args = ["provision", "--store", str(tmp_path / "s"), "--users", "1", "--keys-dir", str(keys)]
    result = CliRunner().invoke(cli, ["hes", *args, "--force"])
    assert result.exit_code == 1 and "not a keys dir made by provisioning" in result.stderr
    assert (keys / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_provisioning_loads_no_locust(tmp_path: Path) -> None:
    """Locust's gevent monkey-patching must stay in Locust's own processes."""
    code = (
        "import sys, keybridge.loadtest.provision, keybridge.loadtest.runner, "
        "keybridge.cli.cmd_loadtest, keybridge.cli.cmd_hes; "
        "assert not {'locust', 'gevent'} & set(sys.modules), 'locust was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
