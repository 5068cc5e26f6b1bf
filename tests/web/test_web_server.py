"""The emulator over real HTTP: ``keybridge hes serve`` as a process, the ``hes_server`` fixture,
and one recovery code redeemed by 8 clients at once."""

from __future__ import annotations

import base64
import datetime
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from click.testing import CliRunner

from keybridge.cli.main import cli
from keybridge.hes import Hes
from keybridge.hes.web.server import is_loopback, parse_listen
from keybridge.otp import totp

if TYPE_CHECKING:  # the plugin's module may move; the fixture's name stays
    from firmware_sim.testing.pytest_plugin import HesServer

TOKEN = re.compile(r'name="__RequestVerificationToken" type="hidden" value="([^"]+)"')
SECRET = "pa55-Very-Secret"


def _token(page: httpx2.Response) -> str:
    found = TOKEN.search(page.text)
    assert found
    return found.group(1)


def _password_step(client: httpx2.Client, email: str, password: str) -> httpx2.Response:
    token = _token(client.get("/login"))
    return client.post(
        "/login",
        data={
            "Input.Email": email,
            "Input.Password": password,
            "__RequestVerificationToken": token,
        },
    )


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # also closes the pipes


def _start(started: list[subprocess.Popen[str]], *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "keybridge", "hes", "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    started.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("READY "), line
    return process, line.split()[1]


@pytest.mark.slow
def test_serve_prints_ready_serves_a_login_and_stops_on_sigterm(
    serve: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    store = tmp_path / "hes.sqlite3"
    process, url = _start(serve, "--store", str(store), "--default-admin")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
    with httpx2.Client(base_url=url) as client:
        refused = _password_step(client, "admin@hideez.com", SECRET)
        assert refused.status_code == 200 and "Invalid login attempt." in refused.text
        done = _password_step(client, "admin@hideez.com", "admin")
        assert done.status_code == 302
        assert client.get("/profile").status_code == 200
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert out == ""  # the READY line was the only output
    assert "Created HES's default account admin@hideez.com" in err
    assert '"POST /login HTTP/1.1" 302' in err  # the request log
    assert (
        SECRET not in err and "admin@hideez.com" not in err.split("Created", 1)[1].split("\n", 1)[1]
    )
    # The CLI sees the same account database.
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "keybridge",
            "hes",
            "--store",
            str(store),
            "status",
            "admin@hideez.com",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0 and "admin@hideez.com" in status.stdout


@pytest.mark.slow
def test_serve_over_tls_marks_the_cookie_secure_and_stops_on_sigint(
    serve: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    store = tmp_path / "hes.sqlite3"
    with Hes(store) as hes:
        hes.create_user("someone@example.com", "pw")
    cert, key = _self_signed(tmp_path)
    process, url = _start(
        serve,
        "--store",
        str(store),
        "--default-admin",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    assert url.startswith("https://127.0.0.1:")
    with httpx2.Client(base_url=url, verify=False) as client:
        cookie = client.get("/login").headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "The store has accounts: admin@hideez.com not created." in err


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return cert_path, key_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nonsense"], "is not HOST:PORT"),
        (["--tls-cert", __file__], "give --tls-cert and --tls-key together"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    store = tmp_path / "s"
    result = CliRunner().invoke(cli, ["hes", "serve", "--store", str(store), *args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not store.exists()


def test_listen_addresses() -> None:
    assert parse_listen("0.0.0.0:8080").host == "0.0.0.0"
    assert parse_listen("[::1]:0").host == "::1" and parse_listen(":5001").port == 5001
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    with pytest.raises(ValueError, match="not HOST:PORT"):
        parse_listen("127.0.0.1:99999")


def test_hes_server_fixture_serves_its_model(hes_server: HesServer) -> None:
    hes_server.hes.create_user("qa@example.com", "pw")
    with httpx2.Client(base_url=hes_server.url) as client:
        assert _password_step(client, "qa@example.com", "pw").status_code == 302
        assert client.get("/api/Identity/GetTwoFactorInfo").json()["is2faEnabled"] is False


def test_eight_clients_redeeming_one_recovery_code_exactly_one_wins(
    hes_server: HesServer,
) -> None:
    hes = hes_server.hes
    hes.create_user("qa@example.com", "pw")
    setup = hes.begin_otp_setup("qa@example.com")
    codes = hes.confirm_otp_setup(
        "qa@example.com", totp(base64.b32decode(setup.key), hes_server.clock())
    )
    clients = [httpx2.Client(base_url=hes_server.url) for _ in range(8)]
    tokens = []
    for client in clients:
        assert _password_step(client, "qa@example.com", "pw").status_code == 302
        tokens.append(_token(client.get("/login-with-recovery-code")))
    barrier = threading.Barrier(len(clients))
    results: list[int] = []

    def redeem(client: httpx2.Client, token: str) -> None:
        barrier.wait()
        answer = client.post(
            "/login-with-recovery-code",
            data={"Input.RecoveryCode": codes[0], "__RequestVerificationToken": token},
        )
        results.append(answer.status_code)

    threads = [
        threading.Thread(target=redeem, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for client in clients:
        client.close()
    assert sorted(results) == [200] * 7 + [302]
    assert hes.recovery_codes_left("qa@example.com") == 9


def test_serve_warns_off_loopback_and_says_why_it_cannot_listen(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is never this machine's: the warning, then a bind error, no READY.
    store = str(tmp_path / "s.db")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keybridge",
            "hes",
            "serve",
            "--store",
            store,
            "--listen",
            "192.0.2.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "warning: serving on 192.0.2.1, reachable from other machines" in result.stderr
    assert "192.0.2.1" in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr


def test_the_hes_commands_do_not_load_the_web_stack() -> None:
    code = (
        "import sys\n"
        "from keybridge.cli.main import main\n"
        "for argv in (['hes', '--help'], ['hes', 'serve', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    loaded = set(result.stderr.split())
    assert "keybridge.cli.cmd_hes" in loaded and "--listen HOST:PORT" in result.stdout
    assert {"starlette", "uvicorn", "jinja2", "keybridge.hes.web"} & loaded == set()


def test_serve_refuses_a_store_of_the_other_profile_in_one_line(tmp_path: Path) -> None:
    store = tmp_path / "hes.sqlite3"
    Hes(store).close()  # made with the 'hes' profile
    result = CliRunner().invoke(cli, ["hes", "serve", "--store", str(store), "--profile", "strict"])
    assert result.exit_code == 1
    assert "was created with profile 'hes'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("hes_server", ["strict"], indirect=True)
def test_hes_server_fixture_takes_the_strict_profile(hes_server: HesServer) -> None:
    assert hes_server.hes.profile == "strict"
    hes_server.hes.create_user("qa@example.com", "pw")
    with httpx2.Client(base_url=hes_server.url) as client:
        assert _password_step(client, "qa@example.com", "pw").status_code == 302
    before = hes_server.clock()
    hes_server.clock.advance(60)
    assert hes_server.clock() - before >= 60
