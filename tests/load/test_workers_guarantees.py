"""The model's guarantees with the emulator served by worker processes on one store, under
concurrent clients: a recovery code redeemed once, the lockout at exactly 10 failures, and
(strict profile) a code accepted once; and a sign-in holds at every worker until signed out."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli
from keybridge.hes import Hes
from keybridge.loadtest.keys import Account, LoadKey, load_accounts, read_manifest

pytestmark = pytest.mark.slow

_TOKEN = re.compile(r'name="__RequestVerificationToken" type="hidden" value="([^"]+)"')
CLIENTS = 12
_COOKIE = ".AspNetCore.Identity.Application"


def _token(text: str) -> str:
    found = _TOKEN.search(text)
    assert found, "no anti-forgery field"
    return found.group(1)


def _password_step(client: httpx2.Client, account: Account) -> tuple[str, str]:
    """A browser's password step: the second step's URL and the form token."""
    token = _token(client.get("/login").text)
    done = client.post(
        "/login",
        data={
            "Input.Email": account.email,
            "Input.Password": account.password,
            "__RequestVerificationToken": token,
        },
    )
    assert done.status_code == 302 and done.headers["location"].startswith("/login-with-2fa")
    return done.headers["location"], token


def _all_at_once(
    url: str,
    account: Account,
    send: Callable[[httpx2.Client, str, str], httpx2.Response],
    count: int = CLIENTS,
) -> list[httpx2.Response]:
    """``count`` browsers (each its own connection, so the workers share them) pass the password
    step, then all send their second factor at the same moment."""
    clients = [httpx2.Client(base_url=url) for _ in range(count)]
    try:
        steps = [_password_step(client, account) for client in clients]
        start = threading.Barrier(count)

        def go(i: int) -> httpx2.Response:
            start.wait()
            return send(clients[i], *steps[i])

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(go, range(count)))
    finally:
        for client in clients:
            client.close()


def _signed_in(response: httpx2.Response) -> bool:
    return response.status_code == 302 and response.headers["location"] == "/"


def test_a_recovery_code_is_redeemed_once_across_workers(
    provisioned: Callable[..., tuple[Path, Path]], served: Callable[..., str]
) -> None:
    store, keys = provisioned(1)
    account = load_accounts.__wrapped__(keys)[0]
    url = served(store, "--workers", "2")
    code = account.recovery_codes[3]

    def send(client: httpx2.Client, location: str, token: str) -> httpx2.Response:
        path = location.replace("/login-with-2fa", "/login-with-recovery-code")
        return client.post(
            path, data={"Input.RecoveryCode": code, "__RequestVerificationToken": token}
        )

    answers = _all_at_once(url, account, send)
    assert sum(_signed_in(a) for a in answers) == 1
    refused = [a for a in answers if not _signed_in(a)]
    assert all("Invalid recovery code entered." in a.text for a in refused)
    with Hes(store) as hes:
        assert hes.recovery_codes_left(account.email) == 9


def test_the_lockout_comes_at_exactly_ten_failures_across_workers(
    provisioned: Callable[..., tuple[Path, Path]], served: Callable[..., str]
) -> None:
    store, keys = provisioned(1)
    manifest = read_manifest(keys)
    account = load_accounts.__wrapped__(keys)[0]
    url = served(store, "--workers", "2")
    right = LoadKey(keys, manifest, account).code()[0]
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"

    def send(client: httpx2.Client, location: str, token: str) -> httpx2.Response:
        return client.post(
            location, data={"Input.TwoFactorCode": wrong, "__RequestVerificationToken": token}
        )

    answers = _all_at_once(url, account, send)
    refused = [a for a in answers if a.status_code == 200]
    locked = [a for a in answers if a.status_code == 302]
    assert all("Invalid authenticator code." in a.text for a in refused)
    assert all(a.headers["location"] == "/lockout" for a in locked)
    # Failures 1..9 are refused, the 10th locks, later ones find the account locked.
    assert (len(refused), len(locked)) == (9, CLIENTS - 9)
    with httpx2.Client(base_url=url) as client:
        token = _token(client.get("/login").text)
        again = client.post(
            "/login",
            data={
                "Input.Email": account.email,
                "Input.Password": account.password,
                "__RequestVerificationToken": token,
            },
        )
        assert again.status_code == 302 and again.headers["location"] == "/lockout"
    with Hes(store) as hes:
        assert hes.user(account.email).locked_until is not None


def test_the_strict_profile_accepts_a_code_once_across_workers(
    provisioned: Callable[..., tuple[Path, Path]], served: Callable[..., str]
) -> None:
    store, keys = provisioned(1, "strict")
    manifest = read_manifest(keys)
    account = load_accounts.__wrapped__(keys)[0]
    url = served(store, "--workers", "2", "--profile", "strict")
    code = LoadKey(keys, manifest, account).code()[0]

    def send(client: httpx2.Client, location: str, token: str) -> httpx2.Response:
        return client.post(
            location, data={"Input.TwoFactorCode": code, "__RequestVerificationToken": token}
        )

    # 8: the strict profile counts each refused replay, and 10 failures would lock.
    answers = _all_at_once(url, account, send, 8)
    assert sum(_signed_in(a) for a in answers) == 1
    assert all("Invalid authenticator code." in a.text for a in answers if not _signed_in(a))


def _profile_page(url: str, cookie: str) -> httpx2.Response:
    """``GET /profile`` with ``cookie`` on a new connection (the kernel picks the worker)."""
    with httpx2.Client(base_url=url, cookies={_COOKIE: cookie}) as client:
        return client.get("/profile")


def test_a_sign_in_holds_at_every_worker_until_signed_out(
    provisioned: Callable[..., tuple[Path, Path]], served: Callable[..., str]
) -> None:
    store, keys = provisioned(1)
    manifest = read_manifest(keys)
    account = load_accounts.__wrapped__(keys)[0]
    url = served(store, "--workers", "2")
    with httpx2.Client(base_url=url) as browser:
        location, token = _password_step(browser, account)
        code = LoadKey(keys, manifest, account).code()[0]
        done = browser.post(
            location, data={"Input.TwoFactorCode": code, "__RequestVerificationToken": token}
        )
        assert _signed_in(done)
        signed_in = browser.cookies[_COOKIE]
        pages = [_profile_page(url, signed_in) for _ in range(40)]
        assert [p.status_code for p in pages] == [200] * len(pages)
        assert all(account.email in p.text for p in pages)

        out = browser.post(
            "/logout", data={"__RequestVerificationToken": _token(browser.get("/logout").text)}
        )
        assert out.status_code == 302 and out.headers["location"] == "/logout"
        # The cookie from before the sign-out, replayed, and the one after it: refused everywhere.
        for cookie in (signed_in, browser.cookies[_COOKIE]):
            refused = [_profile_page(url, cookie) for _ in range(20)]
            assert [p.status_code for p in refused] == [302] * len(refused)
            assert {p.headers["location"] for p in refused} == {"/login?ReturnUrl=%2Fprofile"}


@pytest.mark.parametrize(
    ("store", "workers", "message"),
    [
        (":memory:", "2", "worker processes cannot share it"),
        ("FILE", "0", "--workers 0: give 1 to 64"),
    ],
)
def test_workers_that_cannot_share_the_store_are_refused_in_one_line(
    tmp_path: Path, store: str, workers: str, message: str
) -> None:
    where = str(tmp_path / "s.sqlite3") if store == "FILE" else store
    result = CliRunner().invoke(cli, ["hes", "serve", "--store", where, "--workers", workers])
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output and result.stderr.strip().count("\n") == 0
