"""KeySession against a fake key answering with canned, encoded responses."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from keybridge.errors import (
    InvalidInputError,
    InvalidSecretError,
    LinkTimeoutError,
    MessageError,
    VersionMismatchError,
)
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.otp.credential import Credential
from keybridge.protocol.commands import (
    BODIES,
    Body,
    Empty,
    GetInfoResponse,
    ListEntry,
    OtpCalculateResponse,
    OtpListRequest,
    OtpListResponse,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    OtpTypeResponse,
    SetTimeRequest,
    SetTimeResponse,
)
from keybridge.protocol.constants import PROTOCOL_VERSION, Command, Status, Tag
from keybridge.protocol.framing import FrameDecoder, encode_frame
from keybridge.protocol.messages import Fields, Request, Response, decode_message, encode_message
from keybridge.protocol.status import AlreadyExistsError, ClockError
from keybridge.session import (
    Code,
    ConnectOptions,
    CredentialInfo,
    KeyInfo,
    KeySession,
    Typed,
)
from keybridge.transport.base import Transport

SECRET = bytes(range(1, 21))
SECRET_B32 = base64.b32encode(SECRET).decode().lower()

INFO = GetInfoResponse(
    serial="KB0123456789",
    firmware_version="0.1.0",
    protocol_version=PROTOCOL_VERSION,
    capacity=128,
    used=0,
    clock_set=False,
    max_message=2048,
    layouts="us,uk,de,fr",
)

Answer = Body | Status | tuple[Status, str]


class FakeKey(Transport):
    """Answers each request at once from ``answers[command]`` (a body, a status, or a callable
    taking the decoded request body); records the typed requests it got."""

    description = "fake://key"

    def __init__(self, **overrides: Answer | Callable[[Body], Answer]) -> None:
        self.answers: dict[Command, Answer | Callable[[Body], Answer]] = {
            Command.GET_INFO: INFO,
            Command.SET_TIME: lambda body: SetTimeResponse(time=_time_of(body)),
            Command.PING: lambda body: body,
            Command.OTP_PUT: Empty(),
            Command.OTP_DELETE: Empty(),
            Command.OTP_RENAME: Empty(),
            Command.RESET: Empty(),
        }
        self.answers.update({Command[name]: value for name, value in overrides.items()})
        self.requests: list[tuple[Command, Body]] = []
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, message: bytes) -> None:
        self.inbox.put_nowait(self.answer(message))

    def answer(self, message: bytes) -> bytes:
        request = decode_message(message)
        assert isinstance(request, Request) and isinstance(request.command, Command)
        body = BODIES[request.command][0].from_fields(request.fields)
        self.requests.append((request.command, body))
        answer = self.answers[request.command]
        if callable(answer):
            answer = answer(body)
        status, fields = Status.OK, Fields()
        if isinstance(answer, Body):
            fields = answer.to_fields()
        elif isinstance(answer, tuple):
            status, fields = answer[0], Fields.of([(Tag.DETAIL, answer[1].encode())])
        else:
            status = answer
        return encode_message(Response(request.seq, request.command, status, fields))

    async def receive(self, timeout: float) -> bytes:
        if self.inbox.empty():
            raise LinkTimeoutError("nothing queued")
        return self.inbox.get_nowait()

    def commands(self) -> list[Command]:
        return [command for command, _ in self.requests]

    def last(self, command: Command) -> Body:
        return [body for c, body in self.requests if c == command][-1]


def _time_of(body: Body) -> int:
    assert isinstance(body, SetTimeRequest)
    return body.time


async def attach(key: FakeKey, *, set_time: bool = True) -> KeySession:
    session = await KeySession.attach(key, ConnectOptions(set_time=set_time))
    # The fake key has no session: these tests check what each operation sends, so every
    # command may leave unsealed here (a real host refuses to: tests/sim/test_fail_closed.py).
    session.channel.plaintext = frozenset(Command)
    return session


async def test_attach_reads_info_then_sets_the_clock_to_host_time() -> None:
    key = FakeKey()
    before = int(time.time())
    session = await attach(key)
    # The fake key is not paired with this host: no session, so attach sends nothing more
    # (a real key would refuse SET_TIME outside a session).
    assert key.commands() == [Command.GET_INFO]
    await session.set_time()
    sent = key.last(Command.SET_TIME)
    assert isinstance(sent, SetTimeRequest)
    assert before <= sent.time <= int(time.time()) and not sent.force


async def test_attach_without_set_time_only_reads_info() -> None:
    key = FakeKey()
    await attach(key, set_time=False)
    assert key.commands() == [Command.GET_INFO]


async def test_info_is_typed() -> None:
    session = await attach(FakeKey(GET_INFO=INFO), set_time=False)
    info = await session.info()
    assert info == KeyInfo(
        serial="KB0123456789",
        firmware_version="0.1.0",
        protocol_version=PROTOCOL_VERSION,
        capacity=128,
        used=0,
        clock_set=False,
        time=None,
        max_message=2048,
        layouts=("us", "uk", "de", "fr"),
        paired_hosts=0,
        pin_set=False,
        pin_retries=None,
    )


@pytest.mark.parametrize(
    ("version", "advice"),
    [(PROTOCOL_VERSION + 1, "update keybridge"), (0, "update the key's firmware")],
)
async def test_other_protocol_version_is_refused_naming_both(version: int, advice: str) -> None:
    fields = Fields.of(
        [(t, v) for t, v in INFO.to_fields() if t != Tag.PROTOCOL_VERSION]
        + [(Tag.PROTOCOL_VERSION, bytes([version]))]
    )

    class OtherKey(FakeKey):
        def answer(self, message: bytes) -> bytes:
            request = decode_message(message)
            assert isinstance(request, Request)
            self.requests.append((Command.GET_INFO, Empty()))
            return encode_message(Response(request.seq, request.command, Status.OK, fields))

    key = OtherKey()
    with pytest.raises(VersionMismatchError) as info:
        await attach(key)
    message = str(info.value)
    assert f"version {version}" in message and f"version {PROTOCOL_VERSION}" in message
    assert advice in message
    assert key.commands() == [Command.GET_INFO]  # no SET_TIME to a key we do not understand


async def test_a_device_without_a_version_is_refused() -> None:
    with pytest.raises(VersionMismatchError, match="no protocol version"):
        await attach(FakeKey(GET_INFO=Empty()))


async def test_clock_refusal_surfaces_as_clock_error() -> None:
    session = await attach(FakeKey(SET_TIME=Status.CLOCK_BACKWARDS))
    with pytest.raises(ClockError, match="force"):
        await session.set_time()


async def test_set_time_returns_the_keys_clock_and_passes_force() -> None:
    key = FakeKey(SET_TIME=SetTimeResponse(time=1_000_000))
    session = await attach(key, set_time=False)
    assert await session.set_time(59, force=True) == 1_000_000
    assert key.last(Command.SET_TIME) == SetTimeRequest(time=59, force=True)


async def test_ping_echoes() -> None:
    session = await attach(FakeKey(), set_time=False)
    assert await session.ping(b"\x00abc") == b"\x00abc"


async def test_otp_put_decodes_base32_and_maps_enums() -> None:
    key = FakeKey()
    session = await attach(key, set_time=False)
    spaced = " ".join(SECRET_B32[i : i + 4] for i in range(0, 32, 4))
    await session.otp_put(
        Credential.from_secret(spaced, kind="hotp", algorithm="sha-256", digits=8, counter=5),
        "HES.Web:me@example.com",
        require_button=True,
        layout="DE",
        overwrite=True,
    )
    assert key.last(Command.OTP_PUT) == OtpPutRequest(
        name="HES.Web:me@example.com",
        secret=SECRET,
        kind=OtpKind.HOTP,
        algorithm=Algorithm.SHA256,
        digits=8,
        period=30,
        counter=5,
        require_button=True,
        layout="de",
        overwrite=True,
    )


async def test_otp_put_takes_raw_bytes() -> None:
    key = FakeKey()
    session = await attach(key, set_time=False)
    await session.otp_put(
        Credential.from_secret(SECRET, algorithm=Algorithm.SHA512, period=60), "a"
    )
    sent = key.last(Command.OTP_PUT)
    assert isinstance(sent, OtpPutRequest)
    assert (sent.secret, sent.algorithm, sent.period) == (SECRET, Algorithm.SHA512, 60)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": ""}, InvalidInputError, "empty"),
        ({"name": "é" * 33}, InvalidInputError, "66 bytes"),
        ({"secret": bytes(9)}, InvalidSecretError, "9 bytes"),
        ({"secret": bytes(65)}, InvalidSecretError, "65 bytes"),
        ({"secret": "not base32 at all!"}, InvalidSecretError, "character"),
        ({"digits": 5}, InvalidInputError, "6, 7 or 8"),
        ({"digits": 9}, InvalidInputError, "6, 7 or 8"),
        ({"period": 14}, InvalidInputError, "15..120"),
        ({"period": 121}, InvalidInputError, "15..120"),
        ({"counter": 3}, InvalidInputError, "HOTP only"),
        ({"kind": "hotp", "counter": -1}, InvalidInputError, "out of range"),
        ({"kind": "motp"}, InvalidInputError, "totp or hotp"),
        ({"algorithm": "md5"}, InvalidInputError, "SHA1, SHA256 or SHA512"),
        ({"layout": "  "}, InvalidInputError, "layout"),
    ],
)
async def test_otp_put_checks_limits_before_sending(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    key = FakeKey()
    session = await attach(key, set_time=False)
    args: dict[str, Any] = {"name": "ok", "secret": SECRET, **kwargs}
    name, secret = args.pop("name"), args.pop("secret")
    stored = {k: args.pop(k) for k in ("require_button", "layout", "overwrite") if k in args}
    with pytest.raises(error, match=match):
        # Either the credential (what it is) or the session (what the key stores) refuses it.
        await session.otp_put(Credential.from_secret(secret, **args), name, **stored)
    assert Command.OTP_PUT not in key.commands()


async def test_otp_put_status_becomes_typed_error_with_detail() -> None:
    key = FakeKey(OTP_PUT=(Status.ALREADY_EXISTS, "name 'a' is taken"))
    session = await attach(key, set_time=False)
    with pytest.raises(AlreadyExistsError, match="name 'a' is taken"):
        await session.otp_put(Credential.from_secret(SECRET), "a")


async def test_otp_put_names_the_credential_issuer_colon_account() -> None:
    key = FakeKey()
    session = await attach(key, set_time=False)
    uri = f"otpauth://hotp/HES.Web:me@example.com?secret={SECRET_B32}&counter=7"
    assert await session.otp_put(Credential.from_uri(uri)) == "HES.Web:me@example.com"
    sent = key.last(Command.OTP_PUT)
    assert isinstance(sent, OtpPutRequest)
    assert (sent.name, sent.kind, sent.counter) == ("HES.Web:me@example.com", OtpKind.HOTP, 7)
    with pytest.raises(InvalidInputError, match="give a name"):
        await session.otp_put(Credential.from_secret(SECRET))


def _entry(i: int) -> ListEntry:
    return ListEntry(f"cred{i}", OtpKind.TOTP, Algorithm.SHA256, 6, 30, i % 2 == 0)


async def test_otp_list_follows_pages() -> None:
    entries = [_entry(i) for i in range(7)]

    def page(body: Body) -> Body:
        assert isinstance(body, OtpListRequest)
        return OtpListResponse(total=7, entries=tuple(entries[body.start : body.start + 3]))

    key = FakeKey(OTP_LIST=page)
    session = await attach(key, set_time=False)
    listed = await session.otp_list()
    assert [c.name for c in listed] == [f"cred{i}" for i in range(7)]
    assert listed[0] == CredentialInfo("cred0", OtpKind.TOTP, Algorithm.SHA256, 6, 30, True, None)
    starts = [b.start for c, b in key.requests if isinstance(b, OtpListRequest)]
    assert starts == [0, 3, 6]


async def test_otp_list_stops_on_an_empty_page() -> None:
    key = FakeKey(OTP_LIST=OtpListResponse(total=5, entries=()))  # inconsistent key: no loop
    session = await attach(key, set_time=False)
    assert await session.otp_list() == []


async def test_otp_calculate_returns_a_code() -> None:
    key = FakeKey(OTP_CALCULATE=OtpCalculateResponse("123456", valid_until=1_700_000_010))
    session = await attach(key, set_time=False)
    code = await session.otp_calculate("a")
    assert code == Code("123456", 1_700_000_010, None, valid_for=0)  # long past by this clock
    assert str(code) == "123456"


async def test_valid_for_counts_by_the_keys_clock() -> None:
    # A key whose clock is pinned at 1_700_000_000 (it answers SET_TIME with its own time).
    key = FakeKey(
        SET_TIME=SetTimeResponse(time=1_700_000_000),
        OTP_CALCULATE=OtpCalculateResponse("123456", valid_until=1_700_000_010),
    )
    session = await attach(key, set_time=False)
    before = int(time.time())
    assert await session.set_time() == 1_700_000_000
    assert 1_700_000_000 - int(time.time()) <= session.clock_offset <= 1_700_000_000 - before
    code = await session.otp_calculate("a")
    assert code.valid_for in (9, 10)


async def test_otp_type_splits_reports() -> None:
    press, release = bytes([0, 0, 0x1E, 0, 0, 0, 0, 0]), bytes(8)
    key = FakeKey(OTP_TYPE=OtpTypeResponse(reports=press + release, layout="uk"))
    session = await attach(key, set_time=False)
    typed = await session.otp_type("a", enter=True, layout="UK")
    assert typed == Typed([press, release], "uk")
    assert key.last(Command.OTP_TYPE) == OtpTypeRequest(name="a", enter=True, layout="uk")


async def test_otp_type_refuses_ragged_reports() -> None:
    key = FakeKey(OTP_TYPE=OtpTypeResponse(reports=bytes(12), layout="us"))
    session = await attach(key, set_time=False)
    with pytest.raises(MessageError, match="multiple of 8"):
        await session.otp_type("a")


async def test_delete_rename_reset_send_their_requests() -> None:
    key = FakeKey()
    session = await attach(key, set_time=False)
    await session.otp_delete("a")
    await session.otp_rename("a", "b")
    await session.reset()
    assert key.commands()[-3:] == [Command.OTP_DELETE, Command.OTP_RENAME, Command.RESET]
    assert key.last(Command.OTP_RENAME) == OtpRenameRequest("a", "b")
    with pytest.raises(InvalidInputError, match="empty"):
        await session.otp_rename("a", "")


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_one_algorithm_enum_whose_values_are_the_wire_codes(algorithm: Algorithm) -> None:
    wire = {Algorithm.SHA1: 1, Algorithm.SHA256: 2, Algorithm.SHA512: 3}[algorithm]
    assert OtpPutRequest("a", SECRET, algorithm=algorithm).to_fields().get(Tag.ALGORITHM) == bytes(
        [wire]
    )
    assert Algorithm.parse(algorithm.name.lower()) is algorithm


async def test_connect_by_url_speaks_frames_over_a_socket() -> None:
    """connect(url) end to end at unit level: TCP, framing, the reader thread, the session."""
    key = FakeKey()
    served: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            while data := await reader.read(4096):
                for message in decoder.feed(data):
                    writer.write(encode_frame(key.answer(message)))
        finally:
            writer.close()
            await writer.wait_closed()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        served.append(task)
        await handle(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with KeySession.connect(f"socket://127.0.0.1:{port}") as session:
            session.channel.plaintext = frozenset(Command)  # a fake key: no session (above)
            assert session.description == f"socket://127.0.0.1:{port}"
            assert await session.ping(b"over tcp") == b"over tcp"
        await asyncio.gather(*served)  # the key side saw the host hang up
    finally:
        server.close()
        await server.wait_closed()
    assert key.commands() == [Command.GET_INFO, Command.PING]  # unpaired: no session, no clock


async def test_on_keepalive_is_settable_on_the_session() -> None:
    session = await attach(FakeKey(), set_time=False)

    def callback(reason: int, ms: int) -> None:
        pass

    session.on_keepalive = callback
    assert session.channel.on_keepalive is callback
