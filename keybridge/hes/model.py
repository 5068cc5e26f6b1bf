"""The HES two-factor model: accounts, OTP enrolment, recovery codes, login and lockout.

Faithful to HES (an ASP.NET Core Identity 5.0 application) with ``profile="hes"``; with
``profile="strict"`` it fixes HES's weaknesses: replayed TOTP steps are refused, failed recovery
codes count towards the lockout, recovery codes are stored only as keyed hashes (HMAC-SHA256 with
a random key kept in the store's ``meta`` table) and codes are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from keybridge.errors import (
    InvalidCodeError,
    InvalidInputError,
    InvalidStateError,
    UnknownUserError,
)
from keybridge.hes.enrolment import new_authenticator_key, otp_setup
from keybridge.hes.passwords import DEFAULT_SCRYPT_N, PasswordCheck, hash_password
from keybridge.hes.store import Store, default_store_path
from keybridge.hes.types import (
    LOCKOUT_ATTEMPTS,
    LOCKOUT_SECONDS,
    STEP_TOKEN_SECONDS,
    EnrolledUser,
    LoginStatus,
    LoginStep,
    OtpSetup,
    Profile,
    UserInfo,
)
from keybridge.hes.verify import (
    HES_WINDOW,
    STRICT_WINDOW,
    hes_time_step,
    new_recovery_codes,
    normalize_recovery_code,
    parse_totp_code,
    recovery_code_hash,
    verify_totp,
)
from keybridge.otp.codes import time_step

__all__ = ["Hes"]

_MAX_WINDOW = 10
_USER_BY_EMAIL = "SELECT * FROM users WHERE email_key = ?"
_PURGE_EVERY_S = 1.0


def _email_key(email: str) -> str:
    # Identity looks users up by the upper-invariant normalized e-mail address.
    return email.upper()


def _check_email(email: str) -> None:
    name, at, domain = email.partition("@")
    if not (name and at and domain) or "@" in domain or any(c.isspace() for c in email):
        raise InvalidInputError(
            f"{email!r} is not an e-mail address: give one like admin@example.com"
        )


def _check_password(password: str) -> None:
    if not password:
        raise InvalidInputError("the password is empty: give a password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Hes:
    """The HES server's two-factor logic over a SQLite store.

    ``store`` is a file path or ``":memory:"``; ``None`` means ``hes.sqlite3`` in the platform's
    user data directory. ``clock`` returns unix seconds (inject a fake one in tests). ``window``
    is the strict profile's TOTP window in steps (HES's is fixed at 2). ``password_cost`` is the
    scrypt N for new passwords (lower it only in tests).
    """

    def __init__(
        self,
        store: str | Path | None = None,
        profile: Profile | str = Profile.HES,
        clock: Callable[[], float] = time.time,
        *,
        window: int | None = None,
        password_cost: int = DEFAULT_SCRYPT_N,
    ) -> None:
        try:
            self.profile = Profile(profile)
        except ValueError:
            raise InvalidInputError(
                f"profile {profile!r} is not known: use 'hes' or 'strict'"
            ) from None
        if self.profile is Profile.HES:
            if window not in (None, HES_WINDOW):
                raise InvalidInputError(
                    f"the 'hes' profile's window is HES's, {HES_WINDOW} steps: "
                    "use profile='strict' to choose another"
                )
            self.window = HES_WINDOW
        else:
            self.window = STRICT_WINDOW if window is None else window
            if not 0 <= self.window <= _MAX_WINDOW:
                raise InvalidInputError(f"window {window} is out of range: use 0 .. {_MAX_WINDOW}")
        self._strict = self.profile is Profile.STRICT
        self._clock = clock
        self._password_cost = password_cost
        self._dummy_hash = hash_password(secrets.token_hex(8), password_cost)
        self._purged_at = -math.inf  # no purge yet
        self._store = Store(default_store_path() if store is None else store, self.profile)

    @property
    def path(self) -> str:
        """The store's file path (or ``":memory:"``)."""
        return self._store.path

    @property
    def store(self) -> Store:
        """The SQLite store (the web emulator keeps its sign-ins there too)."""
        return self._store

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Hes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def current_step(self) -> int:
        """The TOTP step this server counts as "now" (HES rounds its clock to whole seconds)."""
        now = self._clock()
        return time_step(now) if self._strict else hes_time_step(now)

    # -- accounts -----------------------------------------------------------------------------

    def create_user(self, email: str, password: str) -> None:
        """Add an account (e-mail addresses are unique, compared case-insensitively)."""
        _check_email(email)
        _check_password(password)
        password_hash = hash_password(password, self._password_cost)
        with self._store.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO users (email, email_key, password_hash) VALUES (?, ?, ?)",
                    (email, _email_key(email), password_hash),
                )
            except sqlite3.IntegrityError:
                raise InvalidStateError(
                    f"an account for {email!r} already exists: log in or use another address"
                ) from None

    def add_enrolled_users(self, users: Iterable[EnrolledUser]) -> int:
        """Add accounts with 2FA on and their recovery codes, all in one transaction (load-test
        provisioning: thousands per second); returns how many. A taken address adds none."""
        count = 0
        with self._store.transaction() as conn:
            for user in users:
                _check_email(user.email)
                try:
                    cursor = conn.execute(
                        "INSERT INTO users (email, email_key, password_hash, otp_key, two_factor)"
                        " VALUES (?, ?, ?, ?, 1)",
                        (user.email, _email_key(user.email), user.password_hash, user.otp_key),
                    )
                except sqlite3.IntegrityError:
                    raise InvalidStateError(
                        f"an account for {user.email!r} already exists: use a new store"
                    ) from None
                conn.executemany(
                    "INSERT INTO recovery_codes (user_id, code) VALUES (?, ?)",
                    [(cursor.lastrowid, self._stored_form(c)) for c in user.recovery_codes],
                )
                count += 1
        return count

    def user(self, email: str) -> UserInfo:
        with self._store.transaction() as conn:
            row = self._user(conn, email)
            return UserInfo(
                email=row["email"],
                two_factor_enabled=bool(row["two_factor"]),
                has_authenticator=row["otp_key"] is not None,
                recovery_codes_left=self._codes_left(conn, row),
                failed_attempts=row["failed_count"],
                locked_until=row["locked_until"],
            )

    def has_users(self) -> bool:
        """Whether any account exists (HES seeds its default account into an empty store)."""
        with self._store.transaction() as conn:
            return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def is_2fa_enabled(self, email: str) -> bool:
        return self.user(email).two_factor_enabled

    def recovery_codes_left(self, email: str) -> int:
        with self._store.transaction() as conn:
            return self._codes_left(conn, self._user(conn, email))

    # -- enrolment ----------------------------------------------------------------------------

    def begin_otp_setup(self, email: str) -> OtpSetup:
        """ "Add OTP App": the key to enter (an unconfirmed key is shown again, as HES does)."""
        with self._store.transaction() as conn:
            row = self._user(conn, email)
            if row["two_factor"]:
                raise InvalidStateError(
                    f"two-factor authentication is already on for {email!r}: "
                    "reset the OTP app to change the key, or disable 2FA first"
                )
            key = row["otp_key"]
            if key is None:
                key = new_authenticator_key()
                conn.execute("UPDATE users SET otp_key = ? WHERE id = ?", (key, row["id"]))
            return otp_setup(row["email"], key)

    def confirm_otp_setup(self, email: str, code: str) -> list[str]:
        """Turn 2FA on with a current code; the recovery codes issued now (``[]`` if kept).

        Raises :class:`InvalidCodeError` for a wrong code (then nothing changes).
        """
        value = parse_totp_code(code)
        with self._store.transaction() as conn:
            row = self._user(conn, email)
            if row["otp_key"] is None:
                raise InvalidStateError(
                    f"no OTP app is being set up for {email!r}: start with Add OTP App "
                    "(begin_otp_setup)"
                )
            if row["two_factor"]:
                raise InvalidStateError(
                    f"two-factor authentication is already on for {email!r}: nothing to confirm"
                )
            step = self._verify(row, value)
            if step is None:
                raise InvalidCodeError(
                    "the verification code is invalid: enter the code your app or key shows now "
                    "(check that its clock is right)"
                )
            conn.execute(
                "UPDATE users SET two_factor = 1, last_step = ? WHERE id = ?",
                (step if self._strict else None, row["id"]),
            )
            if self._codes_left(conn, row):
                return []
            return self._issue_codes(conn, row)

    def disable_2fa(self, email: str) -> None:
        """Turn 2FA off; the key and the recovery codes are dropped (new ones on re-enabling)."""
        with self._store.transaction() as conn:
            row = self._user(conn, email)
            if not row["two_factor"]:
                raise InvalidStateError(
                    f"two-factor authentication is not on for {email!r}: nothing to disable"
                )
            conn.execute(
                "UPDATE users SET two_factor = 0, otp_key = NULL, last_step = NULL WHERE id = ?",
                (row["id"],),
            )
            conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (row["id"],))

    def reset_otp_app(self, email: str) -> OtpSetup:
        """New key; 2FA is off until it is confirmed again; recovery codes are kept."""
        with self._store.transaction() as conn:
            row = self._user(conn, email)
            key = new_authenticator_key()
            conn.execute(
                "UPDATE users SET otp_key = ?, two_factor = 0, last_step = NULL WHERE id = ?",
                (key, row["id"]),
            )
            return otp_setup(row["email"], key)

    def new_recovery_codes(self, email: str) -> list[str]:
        """Replace all recovery codes with 10 new ones (2FA must be on)."""
        with self._store.transaction() as conn:
            row = self._user(conn, email)
            if not row["two_factor"]:
                raise InvalidStateError(
                    f"cannot generate recovery codes for {email!r}: two-factor authentication "
                    "is not on (enable it first)"
                )
            conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (row["id"],))
            return self._issue_codes(conn, row)

    # -- login --------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> LoginStep:
        """First step: ``ok``, ``needs_otp`` (with a step token), ``locked`` or ``denied``.

        An unknown address and a wrong password both give ``denied``. The same as
        :meth:`start_login`, :meth:`PasswordCheck.verify` and :meth:`finish_login` in turn (a
        server runs the middle one, the KDF, off its event loop).
        """
        if not email or not password:
            raise InvalidInputError("the e-mail address or the password is empty: give both")
        check = self.start_login(email)
        check.verify(password)
        return self.finish_login(check)

    def start_login(self, email: str) -> PasswordCheck:
        """Look the account up for a password login (one read; nothing is written)."""
        if not email:
            raise InvalidInputError("the e-mail address is empty: give the account's address")
        row = self._store.read(_USER_BY_EMAIL, (_email_key(email),))
        if row is None:
            return PasswordCheck(email, self._dummy_hash, known=False, locked_until=None)
        locked = row["locked_until"] if self._locked(row, self._clock()) else None
        return PasswordCheck(email, row["password_hash"], known=True, locked_until=locked)

    def finish_login(self, check: PasswordCheck) -> LoginStep:
        """Count a verified :class:`PasswordCheck`: the outcome of :meth:`login`."""
        if check.ok is None:
            raise InvalidStateError("the password was not verified: call check.verify() first")
        if not check.known:
            return LoginStep(LoginStatus.DENIED)
        if check.locked_until is not None:
            return LoginStep(LoginStatus.LOCKED, locked_until=check.locked_until)
        now = self._clock()
        with self._store.transaction() as conn:
            self._purge_expired_steps(conn, now)
            row = self._user(conn, check.email)
            if self._locked(row, now):
                return LoginStep(LoginStatus.LOCKED, locked_until=row["locked_until"])
            if not check.ok:
                return self._failed(conn, row, now)
            if not row["two_factor"]:
                self._succeeded(conn, row)
                return LoginStep(LoginStatus.OK)
            # As Identity: a right password alone does not reset the failure count when 2FA is on.
            token = secrets.token_urlsafe(32)
            conn.execute(
                "INSERT INTO login_steps (token_hash, user_id, expires) VALUES (?, ?, ?)",
                (_token_hash(token), row["id"], now + STEP_TOKEN_SECONDS),
            )
            return LoginStep(LoginStatus.NEEDS_OTP, token=token)

    def login_otp(self, step_token: str, code: str) -> LoginStep:
        """Second step with the authenticator code: ``ok``, ``denied`` or ``locked``."""
        value = parse_totp_code(code)
        now = self._clock()
        with self._store.transaction() as conn:
            row = self._step_user(conn, step_token, now)
            if self._locked(row, now):
                return LoginStep(LoginStatus.LOCKED, locked_until=row["locked_until"])
            step = self._verify(row, value)
            if step is None:
                return self._failed(conn, row, now, step_token)
            if self._strict:
                conn.execute("UPDATE users SET last_step = ? WHERE id = ?", (step, row["id"]))
            self._finish(conn, row, step_token)
            return LoginStep(LoginStatus.OK, accepted_step=step)

    def login_recovery(self, step_token: str, code: str) -> LoginStep:
        """Second step with a recovery code (single use): ``ok``, ``denied`` or ``locked``."""
        given = normalize_recovery_code(code)
        now = self._clock()
        with self._store.transaction() as conn:
            row = self._step_user(conn, step_token, now)
            if self._locked(row, now):
                return LoginStep(LoginStatus.LOCKED, locked_until=row["locked_until"])
            if not self._redeem(conn, row, given):
                if self._strict:
                    return self._failed(conn, row, now, step_token)
                # HES: "We don't protect against brute force attacks since codes are random".
                return LoginStep(LoginStatus.DENIED, token=step_token)
            self._finish(conn, row, step_token)
            return LoginStep(LoginStatus.OK)

    # -- internals ----------------------------------------------------------------------------

    def _find(self, conn: sqlite3.Connection, email: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(_USER_BY_EMAIL, (_email_key(email),)).fetchone()
        return row

    def _user(self, conn: sqlite3.Connection, email: str) -> sqlite3.Row:
        row = self._find(conn, email)
        if row is None:
            raise UnknownUserError(f"no account for {email!r}: check the address or create it")
        return row

    def _purge_expired_steps(self, conn: sqlite3.Connection, now: float) -> None:
        # A scan of the table: at most once a second, not at every login (a load test keeps
        # thousands of steps waiting). An expired step is refused whether purged yet or not.
        if 0 <= now - self._purged_at < _PURGE_EVERY_S:
            return
        conn.execute("DELETE FROM login_steps WHERE expires < ?", (now,))
        self._purged_at = now

    def _step_user(self, conn: sqlite3.Connection, token: str, now: float) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT users.*, login_steps.expires AS step_expires FROM login_steps"
            " JOIN users ON users.id = login_steps.user_id WHERE login_steps.token_hash = ?",
            (_token_hash(token),),
        ).fetchone()
        if row is None or row["step_expires"] < now:
            raise InvalidStateError(
                "no login is waiting for a second factor with this token (it was used, or it "
                f"expired after {STEP_TOKEN_SECONDS // 60} minutes): log in with the password again"
            )
        if not row["two_factor"]:
            raise InvalidStateError(
                f"two-factor authentication is not on for {row['email']!r}: "
                "log in with the password alone"
            )
        return row

    @staticmethod
    def _locked(row: sqlite3.Row, now: float) -> bool:
        # Identity: locked while LockoutEnd >= now.
        return row["locked_until"] is not None and now <= row["locked_until"]

    def _failed(
        self, conn: sqlite3.Connection, row: sqlite3.Row, now: float, token: str | None = None
    ) -> LoginStep:
        count = row["failed_count"] + 1
        if count >= LOCKOUT_ATTEMPTS:
            # Identity locks and restarts the count at zero.
            until = now + LOCKOUT_SECONDS
            conn.execute(
                "UPDATE users SET failed_count = 0, locked_until = ? WHERE id = ?",
                (until, row["id"]),
            )
            return LoginStep(LoginStatus.LOCKED, locked_until=until)
        conn.execute("UPDATE users SET failed_count = ? WHERE id = ?", (count, row["id"]))
        return LoginStep(LoginStatus.DENIED, token=token)

    @staticmethod
    def _succeeded(conn: sqlite3.Connection, row: sqlite3.Row) -> None:
        if row["failed_count"]:  # ``row`` was read in this transaction: no write when already 0
            conn.execute("UPDATE users SET failed_count = 0 WHERE id = ?", (row["id"],))

    def _finish(self, conn: sqlite3.Connection, row: sqlite3.Row, token: str) -> None:
        self._succeeded(conn, row)
        conn.execute("DELETE FROM login_steps WHERE token_hash = ?", (_token_hash(token),))

    def _verify(self, row: sqlite3.Row, code: int) -> int | None:
        key = base64.b32decode(row["otp_key"])
        return verify_totp(
            key,
            code,
            self._clock(),
            self.window,
            hes_clock=not self._strict,
            after_step=row["last_step"] if self._strict else None,
            constant_time=self._strict,
        )

    @staticmethod
    def _codes_left(conn: sqlite3.Connection, row: sqlite3.Row) -> int:
        count: int = conn.execute(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?", (row["id"],)
        ).fetchone()[0]
        return count

    def _stored_form(self, code: str) -> str:
        key = self._store.recovery_key
        return code if key is None else recovery_code_hash(key, code)

    def _issue_codes(self, conn: sqlite3.Connection, row: sqlite3.Row) -> list[str]:
        codes = new_recovery_codes()
        conn.executemany(
            "INSERT INTO recovery_codes (user_id, code) VALUES (?, ?)",
            [(row["id"], self._stored_form(code)) for code in codes],
        )
        return codes

    def _redeem(self, conn: sqlite3.Connection, row: sqlite3.Row, given: str) -> bool:
        if not self._strict:
            # HES: exact, case-sensitive match against the stored codes; the code is removed.
            deleted = conn.execute(
                "DELETE FROM recovery_codes WHERE user_id = ? AND code = ?", (row["id"], given)
            ).rowcount
            return deleted == 1
        wanted = self._stored_form(given) if given.isascii() else ""
        stored = [
            r["code"]
            for r in conn.execute("SELECT code FROM recovery_codes WHERE user_id = ?", (row["id"],))
        ]
        match = None
        for candidate in stored:  # no early exit: the time does not depend on which one matched
            if hmac.compare_digest(candidate, wanted):
                match = candidate
        if match is None:
            return False
        conn.execute(
            "DELETE FROM recovery_codes WHERE user_id = ? AND code = ?", (row["id"], match)
        )
        return True
