"""The agent with a simulated key: requests over its socket, the PIN kept then expired on an
injected clock, another uid refused, a simulator restart survived, a missing credential and a
key unplugged mid-request answered with one error while the agent keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator
from keybridge.agent import Agent, AgentClient, AgentServer, AgentSession, KeyLink, WindowInfo
from keybridge.agent.link import Backoff
from keybridge.agent.paths import AgentPathError
from keybridge.agent.wire import (
    AgentProtocolError,
    decode_error,
    encode_error,
)
from keybridge.errors import InvalidInputError, TransportError
from keybridge.otp import Credential, hotp
from keybridge.otp.name_match import AmbiguousNameError
from keybridge.protocol.constants import Status
from keybridge.protocol.status import NotFoundError, PinError
from keybridge.session import ConnectOptions

MakeSimulator = Callable[..., Simulator]
SECRET = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"
PIN = "1234"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def short_socket_dir() -> Iterator[Path]:
    """A fresh directory with a path short enough for a Unix socket (108 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="kb-agent-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    agent: Agent
    server: AgentServer
    path: Path
    clock: FakeClock

    async def client(self) -> AgentClient:
        return await AgentClient.connect(self.path)

    async def session(self) -> AgentSession:
        client = await self.client()
        return AgentSession(client, await client.call("session"))


@contextlib.asynccontextmanager
async def served_agent(url: str, *, pin_timeout: float = 60.0) -> AsyncIterator[Served]:
    """An agent for ``url`` on a socket in a short temporary directory, in this event loop."""
    import asyncio

    clock = FakeClock()
    link = KeyLink(url, ConnectOptions(), backoff=Backoff(0.05, 0.2))
    agent = Agent(link, pin_timeout=pin_timeout, clock=clock)
    with short_socket_dir() as directory:
        path = directory / "run" / "agent.sock"
        server = AgentServer(agent, path)
        await server.start()
        keeper = asyncio.ensure_future(link.keep_connected())
        try:
            yield Served(agent, server, path, clock)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await server.close()
            await link.drop()


def hotp_credential(counter: int = 0) -> Credential:
    return Credential.from_secret(SECRET, kind="hotp", counter=counter)


async def test_requests_run_on_the_key_and_keep_the_link(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        key = await served.session()
        assert key.encrypted and key.key_info is not None
        assert await key.otp_put(hotp_credential(), "HES.Web:me") == "HES.Web:me"
        codes = [(await key.otp_calculate("HES.Web:me")).code for _ in range(2)]
        assert codes == [hotp(hotp_credential().key, 0), hotp(hotp_credential().key, 1)]
        assert [e.name for e in await key.otp_list()] == ["HES.Web:me"]
        first_link = served.agent.link._session
        again = await served.session()  # a second client: the same link, no new connection
        assert (await again.info()).used == 1
        assert served.agent.link._session is first_link
        await key.client.close()
        await again.client.close()


async def test_socket_and_directory_are_private(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        assert stat.S_IMODE(served.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(served.path.parent.stat().st_mode) == 0o700
        # A second agent on the same socket is refused, the first keeps serving.
        with pytest.raises(AgentPathError, match="already serves"):
            await AgentServer(served.agent, served.path).start()
        client = await served.client()
        assert (await client.call("status"))["connected"] in (True, False)
        await client.close()


async def test_a_missing_credential_is_one_error_and_the_agent_keeps_serving(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        key = await served.session()
        with pytest.raises(NotFoundError) as caught:
            await key.otp_calculate("nope")
        assert caught.value.status is Status.NOT_FOUND
        assert "\n" not in str(caught.value)
        assert (await key.info()).serial == key.key_info.serial  # type: ignore[union-attr]
        await key.client.close()


async def test_pin_is_kept_until_the_timeout_then_the_key_is_locked(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url, pin_timeout=60) as served:
        key = await served.session()
        await key.otp_put(hotp_credential(), "HES.Web:me")
        await key.pin.set(PIN)
        with pytest.raises(PinError):  # pin.set leaves the key locked, nothing kept
            await key.otp_list()
        await key.pin.verify(PIN)
        await key.client.close()

        later = await served.session()  # another command: unlocked, no PIN asked
        assert later.unlocked
        assert [e.name for e in await later.otp_list()] == ["HES.Web:me"]
        served.clock.advance(59)
        assert [e.name for e in await later.otp_list()] == ["HES.Web:me"]

        served.clock.advance(2)  # past the timeout: the PIN is wiped, the key locked again
        with pytest.raises(PinError) as caught:
            await later.otp_list()
        assert caught.value.status is Status.PIN_REQUIRED
        assert served.agent.unlock.pin() is None
        assert not (await later.client.call("status"))["unlocked"]
        await later.client.close()
        fresh = await served.session()
        assert not fresh.unlocked
        await fresh.client.close()


async def test_lock_wipes_the_pin_at_once(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        key = await served.session()
        await key.pin.set(PIN)
        await key.pin.verify(PIN)
        assert (await key.client.call("status"))["unlocked"]
        await key.client.call("lock")
        assert served.agent.unlock.pin() is None
        with pytest.raises(PinError):
            await key.otp_list()
        await key.client.close()


async def test_a_wrong_pin_keeps_its_type_and_attempts_across_the_socket(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        key = await served.session()
        await key.pin.set(PIN, max_retries=5)
        with pytest.raises(PinError) as caught:
            await key.pin.verify("9999")
        assert caught.value.attempts_remaining == 4
        with pytest.raises(InvalidInputError):  # checked by the agent's session, same type
            await key.pin.verify("12")
        assert served.agent.unlock.pin() is None
        await key.client.close()


async def test_the_agent_survives_a_simulator_restart(make_simulator: MakeSimulator) -> None:
    port = free_tcp_port()
    simulator = make_simulator(link=f"tcp:127.0.0.1:{port}")
    async with served_agent(simulator.url) as served:
        key = await served.session()
        await key.otp_put(hotp_credential(), "HES.Web:me")
        await key.pin.set(PIN)
        await key.pin.verify(PIN)
        simulator.restart()  # same state file and port: the key comes back, its session gone
        served.agent.link.touch()
        served.agent.link._last_used -= 10  # idle: the next request checks the link first
        # The request reconnects, opens a new session and unlocks it with the kept PIN.
        assert [e.name for e in await key.otp_list()] == ["HES.Web:me"]
        assert served.agent.link._session is not None
        await key.client.close()


async def test_a_key_unplugged_mid_request_fails_that_request_only(
    make_simulator: MakeSimulator,
) -> None:
    port = free_tcp_port()
    simulator = make_simulator(link=f"tcp:127.0.0.1:{port}", button="manual")
    async with served_agent(simulator.url) as served:
        key = await served.session()
        waiting = asyncio.Event()
        key.on_keepalive = lambda reason, ms_left: waiting.set()
        await key.otp_put(hotp_credential(), "HES.Web:touch", require_button=True)
        code = asyncio.ensure_future(key.otp_calculate("HES.Web:touch"))
        await asyncio.wait_for(waiting.wait(), 10)  # the key waits for its button
        simulator.kill()
        with pytest.raises(TransportError) as caught:
            await asyncio.wait_for(code, 15)
        assert "\n" not in str(caught.value)
        status = await key.client.call("status")  # the agent still serves
        assert status["pid"] == os.getpid()
        simulator.start()
        for _ in range(100):  # the background reconnection finds the key again
            if served.agent.link.connected:
                break
            await asyncio.sleep(0.05)
        assert [e.name for e in await key.otp_list()] == ["HES.Web:touch"]
        await key.client.close()


async def test_type_code_picks_the_only_credential(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        with pytest.raises(InvalidInputError, match="no credential"):
            await served.agent.type_code()
        key = await served.session()
        await key.otp_put(hotp_credential(), "HES.Web:me")
        result = await served.agent.type_code(window=WindowInfo("HES - Login", "chromium"))
        assert result.name == "HES.Web:me" and not result.delivered
        assert len(result.reports) >= 2 * 7  # six digits and Enter, each a press and a release
        await key.otp_put(hotp_credential(), "other")
        with pytest.raises(InvalidInputError, match="2 credentials"):
            await served.agent.type_code()
        assert (await served.agent.type_code("other", enter=False)).name == "other"
        # A credential given is matched as the CLI matches names: any case, a unique part.
        assert (await served.agent.type_code("OTHER", enter=False)).name == "other"
        assert (await served.agent.type_code("web:", enter=False)).name == "HES.Web:me"
        with pytest.raises(AmbiguousNameError, match="'e' matches 2 credentials"):
            await served.agent.type_code("e")
        with pytest.raises(NotFoundError, match="did you mean 'other'"):
            await served.agent.type_code("othr")
        await key.client.close()


async def test_malformed_requests_get_one_error_line(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        reader, writer = await asyncio.open_unix_connection(str(served.path))
        for line in (
            b"not json\n",
            b'{"v": 2, "id": 1, "op": "info"}\n',
            b'{"v":1,"id":2,"op":"x"}\n',
        ):
            writer.write(line)
            answer = decode_error(json.loads(await reader.readline())["error"])
            assert isinstance(answer, AgentProtocolError)
        writer.close()
        await writer.wait_closed()
        client = await served.client()  # still serving
        assert "pid" in await client.call("status")
        await client.close()


def test_errors_keep_their_class_and_fields() -> None:
    error = PinError(Status.PIN_INVALID, "wrong PIN", "detail", attempts_remaining=3)
    back = decode_error(encode_error(error))
    assert type(back) is PinError
    assert (str(back), back.status, back.attempts_remaining) == (str(error), Status.PIN_INVALID, 3)
    foreign = decode_error({"type": "os.system", "message": "x", "attrs": {}})
    assert type(foreign).__name__ == "KeybridgeError"  # only keybridge's own classes


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
async def test_another_uid_is_refused_and_the_agent_keeps_serving(
    make_simulator: MakeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = make_simulator()
    async with served_agent(simulator.url) as served:
        os.chmod(served.path.parent.parent, 0o755)  # the temporary directory around it
        # As set up, another user cannot even reach the socket.
        assert "PermissionError" in await asyncio.to_thread(_connect_as, 65534, served.path)
        # Loosen the directory and socket as a mistake might: the uid check still refuses.
        os.chmod(served.path.parent, 0o755)
        os.chmod(served.path, 0o666)
        outcome = await asyncio.to_thread(_connect_as, 65534, served.path)
        assert outcome.startswith("refused:"), outcome
        assert "serves uid 0 only" in outcome
        assert any("refused a connection from uid 65534" in r.message for r in caplog.records)
        client = await served.client()
        assert "pid" in await client.call("status")
        await client.close()


def _connect_as(uid: int, path: Path) -> str:
    """Connect to ``path`` from a forked child running as ``uid``; what it saw."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        result = "no answer"
        try:
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                # A refusal comes at once, unasked; a served client would wait for a request
                # and time out here.
                answer = sock.makefile("rb").readline()
                error = json.loads(answer).get("error", {})
                result = f"refused: {error.get('message')}" if error else f"served: {answer!r}"
        except BaseException as exc:
            result = f"failed: {exc!r}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        seen = pipe.read().decode()
    os.waitpid(pid, 0)
    return seen


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to serve a socket as another uid")
async def test_a_socket_served_by_another_uid_is_refused_by_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keybridge.agent.client import agent_session
    from keybridge.agent.wire import ForeignAgentError

    with short_socket_dir() as directory:
        os.chmod(directory, 0o777)
        path = directory / "agent.sock"
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: another user's "agent", never returns into pytest
            try:
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX) as server:
                    server.bind(str(path))
                    os.chmod(path, 0o666)
                    server.listen(2)
                    os.write(write_end, b"ready")
                    for _ in range(2):
                        server.settimeout(10)
                        server.accept()[0].close()
            finally:
                os._exit(0)
        os.close(write_end)
        assert os.read(read_end, 5) == b"ready"
        os.close(read_end)
        try:
            with pytest.raises(ForeignAgentError, match="uid 65534"):
                await AgentClient.connect(path)
            monkeypatch.setenv("KEYBRIDGE_AGENT_SOCKET", str(path))
            with pytest.raises(ForeignAgentError):  # not a silent direct fallback either
                async with agent_session(None):
                    pass
        finally:
            os.waitpid(pid, 0)
