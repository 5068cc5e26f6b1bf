"""The HES model's SQLite store, passwords, concurrency and the interim demo."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from keybridge.cli import demo
from keybridge.errors import InvalidInputError, StoreError
from keybridge.hes import Hes, LoginStatus, default_store_path
from keybridge.hes.passwords import hash_password, scrypt_cost, verify_password
from keybridge.hes.store import Store
from keybridge.otp.codes import totp

EMAIL = "admin@example.com"
PASSWORD = "s3cret pass"
NOW = 1_700_000_000.0


def clock() -> float:
    return NOW


def enabled(path: Path, profile: str = "hes") -> list[str]:
    with Hes(path, profile=profile, clock=clock, password_cost=16) as hes:
        hes.create_user(EMAIL, PASSWORD)
        key = base64.b32decode(hes.begin_otp_setup(EMAIL).key)
        return hes.confirm_otp_setup(EMAIL, totp(key, NOW))


def test_state_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    codes = enabled(path)
    with Hes(path, clock=clock, password_cost=16) as hes:
        assert hes.is_2fa_enabled(EMAIL)
        step = hes.login(EMAIL, PASSWORD)
        assert step.token
        assert hes.login_recovery(step.token, codes[0]).status == LoginStatus.OK


def test_step_tokens_work_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    codes = enabled(path)
    with Hes(path, clock=clock, password_cost=16) as first:
        step = first.login(EMAIL, PASSWORD)
    assert step.token
    with Hes(path, clock=clock, password_cost=16) as second:
        assert second.login_recovery(step.token, codes[0]).status == LoginStatus.OK


def test_schema_version_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    Hes(path, clock=clock, password_cost=16).close()
    with sqlite3.connect(path) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta["app"] == "keybridge.hes"
    assert meta["schema_version"] == "3"


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _dump(path: Path, tables: set[str]) -> dict[str, list[Any]]:
    with sqlite3.connect(path) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}


def _as_schema_2(path: Path) -> None:
    """Take a store back to what schema 2 wrote (its own login_steps and sign_ins tables)."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE sign_ins")
        conn.execute(
            "CREATE TABLE sign_ins (id INTEGER PRIMARY KEY, handle_hash TEXT NOT NULL UNIQUE,"
            " email TEXT NOT NULL, created REAL NOT NULL)"
        )
        conn.execute("ALTER TABLE login_steps RENAME TO old_steps")
        conn.execute(
            "CREATE TABLE login_steps (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL"
            " REFERENCES users(id) ON DELETE CASCADE, expires REAL NOT NULL)"
        )
        conn.execute("INSERT INTO login_steps SELECT * FROM old_steps")
        conn.execute("DROP TABLE old_steps")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def test_a_schema_1_store_gains_the_sign_ins_table_and_keeps_its_rows(tmp_path: Path) -> None:
    from keybridge.hes.web.auth import SignIns

    path = tmp_path / "hes.sqlite3"
    codes = enabled(path)
    with Hes(path, clock=clock, password_cost=16) as hes:
        waiting = hes.login(EMAIL, PASSWORD).token or ""  # a login between its two steps
    _as_schema_2(path)
    with sqlite3.connect(path) as conn:  # and on to schema 1, which had no sign-ins
        conn.execute("DROP TABLE sign_ins")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    old = _tables(path)
    assert "sign_ins" not in old
    before = _dump(path, old)
    Hes(path, clock=clock, password_cost=16).close()
    assert _tables(path) == old | {"sign_ins"}
    after = _dump(path, old)
    assert dict(after["meta"]) == {**dict(before["meta"]), "schema_version": "3"}
    assert {t: rows for t, rows in after.items() if t != "meta"} == {
        t: rows for t, rows in before.items() if t != "meta"
    }
    with Hes(path, clock=clock, password_cost=16) as hes:  # opened again: already schema 3
        assert hes.login_recovery(waiting, codes[0]).status == LoginStatus.OK
        sign_ins = SignIns(hes.store)
        assert sign_ins.get(sign_ins.add(EMAIL)) == EMAIL


def test_a_schema_2_store_keeps_its_rows_and_waiting_logins(tmp_path: Path) -> None:
    from keybridge.hes.web.auth import SignIns

    path = tmp_path / "hes.sqlite3"
    codes = enabled(path)
    with Hes(path, clock=clock, password_cost=16) as hes:
        waiting = hes.login(EMAIL, PASSWORD).token or ""
    _as_schema_2(path)
    with sqlite3.connect(path) as conn:  # a schema-2 sign-in
        conn.execute("INSERT INTO sign_ins VALUES (1, 'ab', 'admin@example.com', 1.0)")
    kept = {"users", "recovery_codes", "login_steps"}
    before = _dump(path, kept)
    with Hes(path, clock=clock, password_cost=16) as hes:
        assert _dump(path, kept) == before
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM sign_ins").fetchone() == (0,)
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'login_steps'")
            assert "WITHOUT ROWID" in ddl.fetchone()[0]
        assert hes.login_recovery(waiting, codes[0]).status == LoginStatus.OK
        sign_ins = SignIns(hes.store)
        assert sign_ins.get(sign_ins.add(EMAIL)) == EMAIL


def test_sign_ins_are_shared_by_connections_and_keep_no_handle(tmp_path: Path) -> None:
    from keybridge.hes.web.auth import SignIns

    path = tmp_path / "hes.sqlite3"
    with Hes(path, clock=clock, password_cost=16) as one, Hes(path, password_cost=16) as two:
        sid = SignIns(one.store).add(EMAIL)
        number, secret = sid.split(".")
        assert number == "1" and len(secret) == 64 and int(secret, 16) >= 0  # 32 bytes, hex
        assert SignIns(two.store).get(sid) == EMAIL  # another connection (another worker)
        SignIns(two.store).discard(sid)
        assert SignIns(one.store).get(sid) is None
        kept = SignIns(one.store).add(EMAIL)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT secret_hash, email FROM sign_ins").fetchall()
    assert rows == [(hashlib.sha256(kept.split(".")[1].encode()).hexdigest(), EMAIL)]


@pytest.mark.parametrize(
    "forged",
    ["2.", "2." + "0" * 64, "2", ".abc", "-2.x", "２.x", "9" * 40 + ".x", None, 2, ["2", "x"]],
)
def test_a_sign_in_is_found_only_with_its_number_and_secret(tmp_path: Path, forged: object) -> None:
    from keybridge.hes.web.auth import SignIns

    sign_ins = SignIns()
    sign_ins.add("one@example.com")
    sid = sign_ins.add(EMAIL)
    assert sid.startswith("2.")
    assert sign_ins.get(forged) is None
    sign_ins.discard(forged)  # a wrong secret signs nobody out
    assert sign_ins.get(sid) == EMAIL
    assert sign_ins.get(sid[:-1] + ("0" if sid[-1] != "0" else "1")) is None


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    Hes(path, clock=clock, password_cost=16).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        Hes(path, clock=clock, password_cost=16)


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a keybridge HES store"):
        Hes(path, clock=clock, password_cost=16)
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    assert names == ["notes"]


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text, certainly not a database" * 10)
    with pytest.raises(StoreError, match="not a usable SQLite file"):
        Hes(path, clock=clock, password_cost=16)


def test_opening_with_the_other_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    Hes(path, profile="strict", clock=clock, password_cost=16).close()
    with pytest.raises(StoreError, match="profile='strict'"):
        Hes(path, profile="hes", clock=clock, password_cost=16)


def test_default_store_is_in_the_user_data_directory() -> None:
    path = default_store_path()
    assert path.name == "hes.sqlite3"
    assert "keybridge" in path.parts


def test_passwords_are_stored_with_scrypt_and_a_salt() -> None:
    first = hash_password("pw", n=16)
    second = hash_password("pw", n=16)
    assert first.startswith("scrypt$16$8$1$")
    assert first != second and "pw" not in first.split("$")
    assert verify_password("pw", first) and verify_password("pw", second)
    assert not verify_password("pW", first)


def test_default_password_cost_is_strong() -> None:
    assert hash_password("pw").startswith("scrypt$16384$8$1$")


def test_scrypt_cost_must_be_a_power_of_two() -> None:
    with pytest.raises(InvalidInputError, match="power of 2"):
        hash_password("pw", n=1000)


@pytest.mark.parametrize(
    ("stored", "cost"),
    [
        ("scrypt$16$8$1$00$00", 16),
        ("scrypt$16384$8$1$00$00", 16384),
        ("scrypt$16$16$2$00$00", 64),  # r and p weigh as N does
        ("scrypt$16$8$1$00", 0),
        ("bcrypt$16$8$1$00$00", 0),
        ("scrypt$x$8$1$00$00", 0),
        ("", 0),
    ],
)
def test_the_cost_of_a_stored_hash(stored: str, cost: int) -> None:
    assert scrypt_cost(stored) == cost
    assert scrypt_cost(hash_password("pw", n=32)) == 32


def _meta(store: Store, key: str) -> str | None:
    row = store.read("SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


def test_a_transaction_inside_another_is_a_savepoint(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    with Hes(path, password_cost=16) as hes, Hes(path, password_cost=16) as other:
        store = hes.store
        with store.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('outer', '1')")
            with pytest.raises(RuntimeError), store.transaction() as inner:
                inner.execute("INSERT INTO meta VALUES ('undone', '2')")
                raise RuntimeError("the inner block fails")
            with store.transaction() as inner:
                inner.execute("INSERT INTO meta VALUES ('inner', '3')")
            assert _meta(store, "inner") == "3"  # this connection sees its own changes
            assert _meta(other.store, "outer") is None  # nothing committed yet: one commit
        assert [_meta(other.store, k) for k in ("outer", "undone", "inner")] == ["1", None, "3"]
        with pytest.raises(RuntimeError), store.transaction() as conn:
            with store.transaction() as inner:
                inner.execute("INSERT INTO meta VALUES ('gone', '4')")
            raise RuntimeError("the outer block fails after the inner one")
        assert _meta(other.store, "gone") is None
        with store.transaction() as conn:  # and the store is usable after all of it
            conn.execute("INSERT INTO meta VALUES ('after', '5')")
        assert _meta(other.store, "after") == "5"


def _redeem(
    model: Hes, token: str, code: str, barrier: threading.Barrier, results: list[LoginStatus]
) -> None:
    barrier.wait()
    results.append(model.login_recovery(token, code).status)


@pytest.mark.parametrize("profile", ["hes", "strict"])
def test_two_connections_redeeming_one_code_at_once_exactly_one_wins(
    tmp_path: Path, profile: str, reliability_long: bool
) -> None:
    """Four connections race for each code (5 races; 150 with --reliability-long)."""
    path = tmp_path / "hes.sqlite3"
    codes = enabled(path, profile)
    models = [Hes(path, profile=profile, clock=clock, password_cost=16) for _ in range(4)]
    races = 150 if reliability_long else 5
    try:
        for race in range(races):
            if race and race % len(codes) == 0:
                codes = models[race % 4].new_recovery_codes(EMAIL)
            code = codes[race % len(codes)]
            tokens = [m.login(EMAIL, PASSWORD).token or "" for m in models]
            barrier = threading.Barrier(len(models))
            results: list[LoginStatus] = []

            threads = [
                threading.Thread(target=_redeem, args=(m, t, code, barrier, results))
                for m, t in zip(models, tokens, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(results) == sorted([LoginStatus.OK] + [LoginStatus.DENIED] * 3)
        assert models[0].recovery_codes_left(EMAIL) == len(codes) - (races - 1) % len(codes) - 1
        print(f"{profile}: {races} races of 4 connections for one code, each won exactly once")
    finally:
        for m in models:
            m.close()


def test_threads_sharing_one_model_redeem_a_code_once(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite3"
    codes = enabled(path)
    with Hes(path, clock=clock, password_cost=16) as hes:
        tokens = [hes.login(EMAIL, PASSWORD).token or "" for _ in range(6)]
        barrier = threading.Barrier(len(tokens))
        results: list[LoginStatus] = []

        def redeem(token: str) -> None:
            barrier.wait()
            results.append(hes.login_recovery(token, codes[0]).status)

        threads = [threading.Thread(target=redeem, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(LoginStatus.OK) == 1
        assert hes.recovery_codes_left(EMAIL) == 9


def test_demo_walk_through_exits_zero() -> None:
    lines: list[str] = []
    assert demo.main(lines.append) == 0
    assert not any("✗" in line for line in lines)
    assert sum("✓" in line for line in lines) >= 15


def test_a_new_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "data" / "hes.sqlite3"
    old = os.umask(0o022)
    try:
        enabled(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # SQLite gives the journal and WAL files it creates the database's mode.
        with Hes(path, clock=clock, password_cost=16) as hes, sqlite3.connect(path) as other:
            other.execute("PRAGMA journal_mode=WAL")
            other.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
            other.commit()
            siblings = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
            assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in siblings)
            assert hes.is_2fa_enabled(EMAIL)
    finally:
        os.umask(old)


def test_an_open_store_and_its_siblings_are_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hes.sqlite3"
    enabled(path)
    wal = path.with_name(path.name + "-wal")
    with sqlite3.connect(path) as other:  # keeps a WAL file beside the store while open
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        other.commit()
        path.chmod(0o644)
        wal.chmod(0o664)
        with Hes(path, clock=clock, password_cost=16) as hes:
            assert hes.is_2fa_enabled(EMAIL)  # nothing lost
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert "readable by other users (mode 0644): made it 0600" in caplog.text


def test_a_directory_given_as_the_store_is_refused_and_not_changed(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    with pytest.raises(StoreError):
        Hes(directory, clock=clock, password_cost=16)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
