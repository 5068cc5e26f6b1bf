"""The Locust user of the load test: one simulated key, signing in as a browser does.

Run by Locust (``locust -f`` this file; ``keybridge loadtest`` does it for you): importing it
imports locust, which monkey-patches the standard library with gevent, so nothing else imports
it. Settings come from the environment: ``KEYBRIDGE_LOAD_KEYS`` (the keys dir of ``keybridge
hes provision``), ``KEYBRIDGE_LOAD_RECOVERY`` and ``KEYBRIDGE_LOAD_WRONG`` (the shares, 0..1,
of recovery-code logins and of logins that first send a deliberately wrong code; 0.1 each) and
``KEYBRIDGE_LOAD_LOCKOUT`` (the share, default 0, of users that send 10 wrong codes and expect
the lockout: their account then stays locked for 15 minutes, so use it on a fresh store).
With workers, ``KEYBRIDGE_LOAD_WORKERS`` is their number (on every machine): it spreads the
accounts so that no two users share one.

Each login is one Locust request of type ``LOGIN`` (named ``totp``, ``recovery`` or ``wrong
code``) timed from GET /login to the signed-in redirect; the page requests are in the
statistics too. A login that went wrong is a Locust failure whose message names the kind:
``wrong code accepted``, ``right code refused``, ``recovery code used twice``, ``lockout
missing`` (the account should be locked and is not), ``unexpected answer`` (a page or redirect
HES does not send) or ``no answer`` (the connection failed or timed out: an overloaded server).
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task
from locust.runners import WorkerRunner

from keybridge.hes.types import LOCKOUT_ATTEMPTS
from keybridge.loadtest.keys import LoadKey, SpentCodes, load_accounts, read_manifest

_TOKEN = re.compile(r'name="__RequestVerificationToken" type="hidden" value="([^"]+)"')
_SECOND_STEP = "/login-with-2fa"
_RECOVERY_PAGE = "/login-with-recovery-code"
_LOCKOUT = "/lockout"


class LoginFailure(Exception):
    """A login that did not go as the HES model says it must (its message names the kind)."""


def _share(name: str, default: float) -> float:
    value = float(os.environ.get(name, default))
    return min(max(value, 0.0), 1.0)


class _Counter:
    """Which account the next user of this process takes: users of worker w (of W) take
    accounts w, w + W, w + 2W, ..., so no two users, on any worker, share a key."""

    next = 0


class KeyUser(FastHttpUser):
    """A user with a key: logs in over and over, each time as a browser would."""

    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        keys_dir = Path(os.environ.get("KEYBRIDGE_LOAD_KEYS", "keys"))
        manifest = read_manifest(keys_dir)
        accounts = load_accounts(keys_dir)
        runner = self.environment.runner
        worker, workers = 0, 1
        if isinstance(runner, WorkerRunner):
            worker = runner.worker_index
            workers = max(int(os.environ.get("KEYBRIDGE_LOAD_WORKERS", "1")), worker + 1)
        index = _Counter.next * workers + worker
        _Counter.next += 1
        if index >= len(accounts):
            raise RuntimeError(
                f"more users than the {len(accounts)} accounts of {keys_dir}: provision more"
            )
        self.key = LoadKey(keys_dir, manifest, accounts[index])
        self.account = accounts[index]
        self.spent = SpentCodes(keys_dir, index)
        self.strict = manifest.profile == "strict"
        self.last_step: int | None = None
        self.recovery_share = _share("KEYBRIDGE_LOAD_RECOVERY", 0.1)
        self.wrong_share = _share("KEYBRIDGE_LOAD_WRONG", 0.1)
        self.lockout_share = _share("KEYBRIDGE_LOAD_LOCKOUT", 0.0)
        self.locked = False
        self.replay_tested: int | None = None

    # -- what a browser does --------------------------------------------------------------

    def _token(self, page: str) -> str:
        found = _TOKEN.search(page)
        if not found:
            raise LoginFailure("unexpected answer: the page has no anti-forgery field")
        return found.group(1)

    def _get(self, path: str, name: str) -> str:
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200:
                problem = f"unexpected answer: GET {name} gave {response.status_code}"
                if not response.status_code:
                    problem = f"no answer: GET {name} ({response.error})"
                response.failure(problem)
                raise LoginFailure(problem)
            return response.text or ""

    def _post(self, path: str, name: str, fields: dict[str, str]) -> tuple[int, str, str]:
        with self.client.post(
            path, data=fields, name=name, allow_redirects=False, catch_response=True
        ) as response:
            response.success()  # judged by the login, which knows what it expects
            location = response.headers.get("location", "") if response.headers else ""
            return response.status_code, location, response.text or ""

    def _password(self) -> tuple[str, str]:
        """GET /login, POST the password: the second step's page and the form token."""
        self.client.cookiejar.clear()  # every login is a new browser session
        token = self._token(self._get("/login", "/login"))
        status, location, _ = self._post(
            "/login",
            "/login",
            {
                "Input.Email": self.account.email,
                "Input.Password": self.account.password,
                "__RequestVerificationToken": token,
            },
        )
        if not status:
            raise LoginFailure("no answer: POST /login")
        if status != 302 or not location.startswith(_SECOND_STEP):
            if location.startswith(_LOCKOUT):
                raise LoginFailure("right code refused: the account is locked")
            if status == 200:
                raise LoginFailure("right code refused: the password was refused")
            raise LoginFailure(f"unexpected answer: the password step gave {status} {location}")
        return location, self._token(self._get(location, _SECOND_STEP))

    def _second(self, path: str, field: str, code: str, token: str) -> tuple[bool, str]:
        status, location, page = self._post(
            path, path.split("?")[0], {field: code, "__RequestVerificationToken": token}
        )
        if status == 302 and not location.startswith(("/login", _LOCKOUT)):
            return True, location
        if status == 200 and "Invalid" in page:
            return False, ""
        if location.startswith(_LOCKOUT):
            return False, _LOCKOUT
        if not status:
            raise LoginFailure(f"no answer: POST {path.split('?')[0]}")
        raise LoginFailure(f"unexpected answer: POST {path} gave {status} {location}")

    # -- the logins ---------------------------------------------------------------------

    def _login(self, name: str, body: Any) -> None:
        start = time.perf_counter()
        exception: Exception | None = None
        try:
            body()
        except LoginFailure as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="LOGIN",
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )

    def _with_code(self, wrong_first: bool) -> None:
        location, token = self._password()
        code, step = self.key.code()
        if wrong_first:
            wrong = f"{(int(code) + 500_000) % 1_000_000:06d}"
            accepted, _ = self._second(location, "Input.TwoFactorCode", wrong, token)
            if accepted:
                raise LoginFailure("wrong code accepted")
        replay = self.strict and step == self.last_step
        accepted, where = self._second(location, "Input.TwoFactorCode", code, token)
        if replay:
            # The strict profile refuses a step already used; the key gives the same code
            # until its step ends, so this login proves the refusal and stops.
            if accepted:
                raise LoginFailure("wrong code accepted: a replayed code")
            return
        if not accepted:
            raise LoginFailure(f"right code refused{': locked' if where else ''}")
        self.last_step = step

    def _with_recovery(self) -> None:
        codes = self.account.recovery_codes
        if self.spent.count >= len(codes):
            self._with_code(False)  # all spent by earlier runs: provision again for more
            return
        location, token = self._password()
        recovery = location.replace(_SECOND_STEP, _RECOVERY_PAGE, 1)
        token = self._token(self._get(recovery, _RECOVERY_PAGE))
        if self.spent.count:  # a spent code first: it must be refused
            used = codes[self.spent.count - 1]
            accepted, _ = self._second(recovery, "Input.RecoveryCode", used, token)
            if accepted:
                raise LoginFailure("recovery code used twice")
        code = codes[self.spent.count]
        accepted, _ = self._second(recovery, "Input.RecoveryCode", code, token)
        self.spent.take()
        if not accepted:
            raise LoginFailure("right code refused: a recovery code")

    def _lockout(self) -> None:
        location, token = self._password()
        code, _ = self.key.code()
        wrong = f"{(int(code) + 500_000) % 1_000_000:06d}"
        for attempt in range(1, LOCKOUT_ATTEMPTS + 1):
            accepted, where = self._second(location, "Input.TwoFactorCode", wrong, token)
            if accepted:
                raise LoginFailure("wrong code accepted")
            if where == _LOCKOUT and attempt < LOCKOUT_ATTEMPTS:
                raise LoginFailure(f"right code refused: locked after {attempt} failures")
        if where != _LOCKOUT:
            raise LoginFailure(f"lockout missing: after {LOCKOUT_ATTEMPTS} failures")

    def _wait_for_new_step(self) -> None:
        """Strict profile: a key's code serves one login per step; test the replay once,
        then wait (untimed) for the key's next step."""
        _, step = self.key.code()
        if step == self.last_step and self.replay_tested == step:
            time.sleep(max(0.0, (step + 1) * 30 - time.time()) + 0.05)
        elif step == self.last_step:
            self.replay_tested = step

    @task
    def login(self) -> None:
        if self.locked:
            return  # the account stays locked for HES's 15 minutes
        if random.random() < self.lockout_share:
            self.locked = True
            self._login("lockout", self._lockout)
            return
        if self.strict:
            self._wait_for_new_step()
        draw = random.random()
        if draw < self.recovery_share:
            self._login("recovery", self._with_recovery)
        elif draw < self.recovery_share + self.wrong_share:
            self._login("wrong code", lambda: self._with_code(True))
        else:
            self._login("totp", lambda: self._with_code(False))
