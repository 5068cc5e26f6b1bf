"""SQLite storage of the HES model: versioned schema, one transaction per operation.

Every operation of :class:`~keybridge.hes.model.Hes` runs inside one ``BEGIN IMMEDIATE``
transaction: it either changes everything it meant to or nothing, and two connections to the same
file (threads or processes) cannot both redeem the same recovery code. A ``meta`` table marks
the file as ours and records the schema version, the profile and (strict profile) the random
key of the recovery-code hashes. A store of an older schema version is brought up to this one
when opened, by steps that leave every account, key and recovery code as it was.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keybridge.errors import StoreError
from keybridge.hes.types import Profile

__all__ = ["APP_ID", "MEMORY", "SCHEMA_VERSION", "Store", "default_store_path"]

APP_ID = "keybridge.hes"
SCHEMA_VERSION = 3
MEMORY = ":memory:"
_BUSY_TIMEOUT_S = 30.0
_SIBLINGS = ("-journal", "-wal", "-shm")

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,   -- normalized for look-up, as Identity does
    password_hash TEXT NOT NULL,
    otp_key       TEXT,                   -- Base32 authenticator key, NULL when none
    two_factor    INTEGER NOT NULL DEFAULT 0,
    failed_count  INTEGER NOT NULL DEFAULT 0,
    locked_until  REAL,
    last_step     INTEGER                 -- last accepted TOTP step (strict replay check)
);
CREATE TABLE recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code    TEXT NOT NULL,                -- the code (hes) or its keyed hash (strict)
    PRIMARY KEY (user_id, code)
);
CREATE TABLE login_steps (
    token_hash TEXT PRIMARY KEY,          -- SHA-256 of the step token, never the token
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires    REAL NOT NULL
);
"""

# Schema steps, one per version after 1: each takes a store of the version before to its own,
# leaving every account, key, recovery code and waiting login as it was.
_SIGN_INS = """
CREATE TABLE sign_ins (
    id          INTEGER PRIMARY KEY,      -- in order of signing in, so the oldest go first
    handle_hash TEXT NOT NULL UNIQUE,     -- SHA-256 of the session's handle, never the handle
    email       TEXT NOT NULL,
    created     REAL NOT NULL
);
"""
# 3: one B-tree per row written at each login, not two (a table and its index): the waiting
# logins keyed by their token's hash alone, the sign-ins by their number alone (the session
# holds the number and a secret, checked against the secret's hash: a selector and a
# verifier). Sign-ins of schema 2 cannot be found by number: their browsers sign in again.
_KEYED_ROWS = """
CREATE TABLE login_steps_new (
    token_hash TEXT PRIMARY KEY,          -- SHA-256 of the step token, never the token
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires    REAL NOT NULL
) WITHOUT ROWID;
INSERT INTO login_steps_new (token_hash, user_id, expires)
    SELECT token_hash, user_id, expires FROM login_steps;
DROP TABLE login_steps;
ALTER TABLE login_steps_new RENAME TO login_steps;
DROP TABLE sign_ins;
CREATE TABLE sign_ins (
    id          INTEGER PRIMARY KEY,      -- in order of signing in: the selector, oldest first
    secret_hash TEXT NOT NULL,            -- SHA-256 of the session's secret, never the secret
    email       TEXT NOT NULL,
    created     REAL NOT NULL
);
"""
_STEPS = {2: _SIGN_INS, 3: _KEYED_ROWS}


def _execute(conn: sqlite3.Connection, script: str) -> None:
    """Run ``script``'s statements one by one (``executescript`` would commit the transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def default_store_path() -> Path:
    """``hes.sqlite3`` in the platform's user data directory for keybridge."""
    import platformdirs

    return Path(platformdirs.user_data_dir("keybridge")) / "hes.sqlite3"


def _private_file(path: Path) -> None:
    """Create the store file 0600 before SQLite opens it, or take an existing one to 0600.

    The store holds every user's TOTP key, so a copy readable by other users hands them the
    second factor. A looser existing file (and its ``-journal`` / ``-wal`` / ``-shm`` siblings) is
    tightened rather than merely warned about: the change loses nothing, and a warning would
    leave the secrets readable. SQLite gives the siblings it creates the mode of the database.
    A file this user cannot tighten is refused.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return  # an empty file: SQLite makes it a new database
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the HES store {path}: {exc.strerror or exc}") from None
    for name in (path, *(path.with_name(path.name + suffix) for suffix in _SIBLINGS)):
        try:
            info = name.stat()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISREG(info.st_mode) and mode & 0o077:  # not a directory given by mistake
                os.chmod(name, mode & 0o700)
                log.warning("%s was readable by other users (mode %04o): made it 0600", name, mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(
                f"{name} is open to other users and cannot be made private "
                f"({exc.strerror or exc}): `chmod 600` it, or use a new file"
            ) from None


class Store:
    """One SQLite connection, serialised by a lock; transactions via :meth:`transaction`."""

    def __init__(self, path: str | Path, profile: Profile) -> None:
        self.path = str(path)
        if self.path not in (MEMORY, ""):  # "": SQLite's private temporary database
            _private_file(Path(self.path))
        self._lock = threading.RLock()  # re-entered by a transaction inside a transaction
        self._depth = 0  # transactions open in the thread holding the lock
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA foreign_keys = ON")
            self.recovery_key = self._initialise(profile)
            if self.path != MEMORY:  # only once the file is known to be ours
                # WAL with synchronous=NORMAL: a commit costs no fsync (a login was ~20 ms of
                # fsyncs, now well under 1 ms); a power cut may lose the last commits but never
                # corrupts the file, and readers never block the writer.
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise StoreError(
                f"{self.path} is not a usable SQLite file ({exc}): "
                "give the path of a keybridge HES store or of a new file"
            ) from None
        except StoreError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def _initialise(self, profile: Profile) -> bytes | None:
        with self.transaction() as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if not tables:
                for script in (_SCHEMA, *_STEPS.values()):
                    _execute(conn, script)
                key = secrets.token_bytes(32) if profile is Profile.STRICT else None
                meta = {
                    "app": APP_ID,
                    "schema_version": str(SCHEMA_VERSION),
                    "profile": profile.value,
                }
                if key is not None:
                    meta["recovery_key"] = key.hex()
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
                return key
            return self._check(conn, tables, profile)

    def _check(self, conn: sqlite3.Connection, tables: set[str], profile: Profile) -> bytes | None:
        meta = (
            dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        )
        if meta.get("app") != APP_ID:
            raise StoreError(
                f"{self.path} is an SQLite file but not a keybridge HES store: "
                "give another path (a new file is created when it does not exist)"
            )
        version = meta.get("schema_version")
        if version is not None and version.isdigit() and 1 <= int(version) < SCHEMA_VERSION:
            for step in range(int(version) + 1, SCHEMA_VERSION + 1):
                _execute(conn, _STEPS[step])
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            log.info("%s: HES store schema %s -> %s", self.path, version, SCHEMA_VERSION)
            version = str(SCHEMA_VERSION)
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"{self.path} has HES store schema version {version}, this keybridge reads "
                f"version {SCHEMA_VERSION}: use the keybridge version that wrote it or a new file"
            )
        if meta.get("profile") != profile.value:
            raise StoreError(
                f"{self.path} was created with profile {meta.get('profile')!r}: open it with "
                f"profile={meta.get('profile')!r} or use a new file for profile {profile.value!r}"
            )
        key = meta.get("recovery_key")
        return bytes.fromhex(key) if key is not None else None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``; ``ROLLBACK`` if the block raises.

        Inside another transaction (in the same thread) it is a savepoint of that one: its
        changes are undone alone if its block raises, and committed with the outer one. So a
        caller can make several model operations one commit (and one set of file locks).
        """
        with self._lock:
            outer = self._depth == 0
            name = f"nested{self._depth}"
            self._conn.execute("BEGIN IMMEDIATE" if outer else f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK" if outer else f"ROLLBACK TO {name}")
                if not outer:
                    self._conn.execute(f"RELEASE {name}")
                raise
            finally:
                self._depth -= 1
            self._conn.execute("COMMIT" if outer else f"RELEASE {name}")

    def read(self, sql: str, params: tuple[object, ...]) -> sqlite3.Row | None:
        """The first row of one read-only query, opening no write transaction of its own.

        A lone ``SELECT`` sees one committed state (WAL readers never wait for the writer), so a
        look-up that changes nothing need not take the write lock ``transaction`` takes. Inside
        a :meth:`transaction` (same thread) it reads that transaction's state.
        """
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def close(self) -> None:
        with self._lock:
            self._conn.close()
