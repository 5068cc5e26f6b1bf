"""The request channel against a scripted fake link: drops, junk, stale answers, keepalives."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from keybridge.errors import LinkTimeoutError, MessageError, TransportError
from keybridge.protocol.channel import NOT_PAIRED
from keybridge.protocol.channel import Channel as SecureOnlyChannel
from keybridge.protocol.commands import (
    Body,
    Empty,
    OtpCalculateResponse,
    OtpNameRequest,
    PingBody,
)
from keybridge.protocol.constants import Command, KeepaliveReason, MessageType, Status, Tag
from keybridge.protocol.messages import (
    Fields,
    Keepalive,
    Request,
    Response,
    Sealed,
    decode_message,
    encode_message,
)
from keybridge.protocol.status import AccessDeniedError, ButtonError, DeviceError, NotFoundError
from keybridge.transport.base import Transport

# These tests exercise the channel's mechanics with a fake key and no session, so every command
# may leave unsealed here; the fail-closed default is tested on its own below.
Channel = functools.partial(SecureOnlyChannel, plaintext=frozenset(Command))

# What the fake key does with the n-th request it receives (n counts from 1): the messages it
# sends back, each either at once (bytes) or after a delay in seconds ((delay, bytes)).
Script = Callable[[Request, int], list[bytes | tuple[float, bytes]]]


class FakeLink(Transport):
    """A link whose far end is a script. With nothing queued or scheduled, ``receive`` times out
    at once, so lost answers cost no wall-clock time."""

    description = "fake://key"

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sent: list[bytes] = []
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.scheduled = 0
        self.broken: TransportError | None = None

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, message: bytes) -> None:
        self.sent.append(message)
        request = decode_message(message)
        assert isinstance(request, Request)
        loop = asyncio.get_running_loop()
        for item in self.script(request, len(self.sent)):
            if isinstance(item, bytes):
                self.inbox.put_nowait(item)
            else:
                delay, data = item
                self.scheduled += 1
                loop.call_later(delay, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        self.scheduled -= 1
        self.inbox.put_nowait(data)

    async def receive(self, timeout: float) -> bytes:
        if self.broken is not None:
            raise self.broken
        if self.inbox.empty() and not self.scheduled:
            raise LinkTimeoutError("nothing queued")
        try:
            return await asyncio.wait_for(self.inbox.get(), timeout)
        except TimeoutError:
            raise LinkTimeoutError("timed out") from None


def ok(request: Request, body: Body | None = None, seq: int | None = None) -> bytes:
    """An OK response to ``request`` (optionally with another seq)."""
    seq = request.seq if seq is None else seq
    fields = (body or Empty()).to_fields()
    return encode_message(Response(seq, request.command, Status.OK, fields))


def status(request: Request, code: int, detail: str | None = None) -> bytes:
    fields = Fields.of([(Tag.DETAIL, detail.encode())] if detail else [])
    return encode_message(Response(request.seq, request.command, code, fields))


def keepalive(request: Request, ms: int | None, seq: int | None = None) -> bytes:
    fields = Fields.of([(Tag.TIMEOUT_MS, ms.to_bytes(4, "big"))] if ms is not None else [])
    seq = request.seq if seq is None else seq
    return encode_message(Keepalive(seq, KeepaliveReason.WAITING_FOR_BUTTON, fields))


def echo(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
    return [ok(request, PingBody.from_fields(request.fields))]


def seq_of(message: bytes) -> int:
    decoded = decode_message(message)
    assert isinstance(decoded, Request)
    return decoded.seq


async def test_call_returns_the_typed_body_and_numbers_requests() -> None:
    link = FakeLink(echo)
    channel = Channel(link, first_seq=0x1234)
    first = await channel.call(Command.PING, PingBody(b"hi"))
    second = await channel.call(Command.PING, PingBody(b"there"))
    assert first == PingBody(b"hi")
    assert second == PingBody(b"there")
    assert [seq_of(m) for m in link.sent] == [0x1234, 0x1235]


async def test_sequence_numbers_wrap_at_16_bits_skipping_zero() -> None:
    link = FakeLink(echo)
    channel = Channel(link, first_seq=0xFFFE)
    for _ in range(3):
        await channel.call(Command.PING, PingBody())
    assert [seq_of(m) for m in link.sent] == [0xFFFE, 0xFFFF, 1]


def test_sequence_numbers_start_at_random() -> None:
    starts = {Channel(FakeLink(echo))._next_seq() for _ in range(20)}
    assert len(starts) > 1
    assert all(1 <= s <= 0xFFFF for s in starts)


async def test_lost_answer_is_retried_with_the_same_sequence_number() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [] if n < 3 else [ok(request, PingBody(b"x"))]

    link = FakeLink(script)
    result = await Channel(link, retries=3).call(Command.PING, PingBody(b"x"))
    assert result == PingBody(b"x")
    assert len(link.sent) == 3
    assert len(set(link.sent)) == 1  # byte-identical retries: the key can spot them


async def test_every_try_lost_raises_link_timeout_naming_the_link() -> None:
    link = FakeLink(lambda request, n: [])
    with pytest.raises(LinkTimeoutError, match=r"after 3 tries over fake://key"):
        await Channel(link).call(Command.GET_INFO)
    assert len(link.sent) == 3


async def test_malformed_messages_are_skipped() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [b"", b"\x02\x00", b"\x99junk", ok(request, PingBody(b"ok"))]

    assert await Channel(FakeLink(script)).call(Command.PING, PingBody(b"ok")) == PingBody(b"ok")


async def test_stale_and_duplicate_answers_are_ignored() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        stale = ok(request, PingBody(b"stale"), seq=(request.seq - 1) & 0xFFFF)
        late = ok(request, PingBody(b"late"), seq=(request.seq - 7) & 0xFFFF)
        right = ok(request, PingBody.from_fields(request.fields))
        return [stale, late, right, right]  # the duplicate stays queued for the next call

    link = FakeLink(script)
    channel = Channel(link)
    assert await channel.call(Command.PING, PingBody(b"one")) == PingBody(b"one")
    assert await channel.call(Command.PING, PingBody(b"two")) == PingBody(b"two")
    assert len(link.sent) == 2


async def test_answer_to_an_earlier_try_arriving_late_is_accepted_once() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        # The first answer is slow: it arrives during the second try, and so does the second.
        return [(0.1, ok(request, PingBody(b"p")))] if n == 1 else [ok(request, PingBody(b"p"))]

    link = FakeLink(script)
    channel = Channel(link, timeout=0.02, retries=3)
    assert await channel.call(Command.PING, PingBody(b"p")) == PingBody(b"p")
    assert len(link.sent) == 2
    assert await channel.call(Command.PING, PingBody(b"p")) == PingBody(b"p")  # skips the late one


async def test_keepalives_report_a_countdown_and_do_not_count_as_tries() -> None:
    calls: list[tuple[KeepaliveReason | int, int]] = []

    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [
            keepalive(request, 15000),
            keepalive(request, 14000, seq=(request.seq + 1) & 0xFFFF),  # not ours: ignored
            keepalive(request, 13000),
            keepalive(request, None),
            ok(request, OtpCalculateResponse("123456", valid_until=90)),
        ]

    link = FakeLink(script)
    channel = Channel(link, on_keepalive=lambda reason, ms: calls.append((reason, ms)))
    result = await channel.call(Command.OTP_CALCULATE, OtpNameRequest("a"))
    assert result == OtpCalculateResponse("123456", valid_until=90)
    assert calls == [
        (KeepaliveReason.WAITING_FOR_BUTTON, 15000),
        (KeepaliveReason.WAITING_FOR_BUTTON, 13000),
        (KeepaliveReason.WAITING_FOR_BUTTON, 0),
    ]
    assert len(link.sent) == 1


async def test_keepalive_extends_the_wait_past_the_try_timeout() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        # The answer comes long after one try's timeout, but the key said it may take 5 s.
        return [keepalive(request, 5000), (0.2, ok(request))]

    link = FakeLink(script)
    await Channel(link, timeout=0.02).call(Command.RESET)
    assert len(link.sent) == 1


async def test_without_keepalives_a_slow_answer_costs_a_retry() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [(0.2, ok(request))] if n == 1 else []

    link = FakeLink(script)
    await Channel(link, timeout=0.05, retries=10).call(Command.RESET)
    assert len(link.sent) > 1


async def test_non_ok_status_raises_the_typed_error_with_detail() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [status(request, Status.NOT_FOUND, "no credential named 'x'")]

    with pytest.raises(NotFoundError, match="no credential named 'x'") as info:
        await Channel(FakeLink(script)).call(Command.OTP_DELETE, OtpNameRequest("x"))
    assert info.value.status is Status.NOT_FOUND
    assert info.value.detail == "no credential named 'x'"


async def test_button_timeout_after_keepalives_is_a_button_error() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [keepalive(request, 1000), status(request, Status.BUTTON_TIMEOUT)]

    with pytest.raises(ButtonError, match="press the button"):
        await Channel(FakeLink(script)).call(Command.RESET)


async def test_unknown_status_code_keeps_its_number() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [status(request, 0x55, "from the future")]

    with pytest.raises(DeviceError, match="unknown status 0x55") as info:
        await Channel(FakeLink(script)).call(Command.GET_INFO)
    assert info.value.status == 0x55
    assert not isinstance(info.value.status, Status)


async def test_sealed_messages_are_not_taken_for_answers() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [encode_message(Sealed(bytes([MessageType.SEALED, 1, 2, 3]))), ok(request)]

    assert await Channel(FakeLink(script)).call(Command.RESET) == Empty()


async def test_malformed_body_of_the_answer_is_a_message_error() -> None:
    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [ok(request)]  # OTP_CALCULATE needs a CODE field

    with pytest.raises(MessageError, match="CODE"):
        await Channel(FakeLink(script)).call(Command.OTP_CALCULATE, OtpNameRequest("a"))


async def test_wrong_request_body_type_is_refused_before_sending() -> None:
    link = FakeLink(echo)
    with pytest.raises(TypeError, match="OtpNameRequest"):
        await Channel(link).call(Command.OTP_DELETE, PingBody())
    assert link.sent == []


async def test_a_broken_link_is_not_retried() -> None:
    link = FakeLink(lambda request, n: [])
    link.broken = TransportError("cable pulled")
    with pytest.raises(TransportError, match="cable pulled"):
        await Channel(link).call(Command.GET_INFO)
    assert len(link.sent) == 1


async def test_concurrent_calls_are_serialised() -> None:
    link = FakeLink(lambda request, n: [(0.01, ok(request, PingBody.from_fields(request.fields)))])
    channel = Channel(link)
    results = await asyncio.gather(
        *(channel.call(Command.PING, PingBody(bytes([i]))) for i in range(5))
    )
    assert results == [PingBody(bytes([i])) for i in range(5)]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        Channel(FakeLink(echo), retries=0)


def _takes_our_seq(junk: bytes, seq: int) -> bool:
    try:
        message = decode_message(junk)
    except MessageError:
        return False
    return isinstance(message, Response | Keepalive) and message.seq == seq


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=24), max_size=6))
async def test_any_junk_before_the_answer_is_survived(junk: list[bytes]) -> None:
    seq = 0x4242
    assume(not any(_takes_our_seq(j, seq) for j in junk))

    def script(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        return [*junk, ok(request, PingBody(b"fine"))]

    result = await Channel(FakeLink(script), first_seq=seq).call(Command.PING, PingBody(b"fine"))
    assert result == PingBody(b"fine")


@pytest.mark.parametrize("command", sorted(set(Command) - {Command.GET_INFO, Command.CANCEL}))
async def test_without_a_session_only_handshakes_leave_the_host(command: Command) -> None:
    link = FakeLink(echo)
    channel = SecureOnlyChannel(link)
    if command in (Command.PAIR_BEGIN, Command.PAIR_CONFIRM, Command.SESSION_OPEN):
        await channel.request(command, Fields())
        assert len(link.sent) == 1
        return
    with pytest.raises(AccessDeniedError, match=NOT_PAIRED.replace("`", ".")):
        await channel.request(command, Fields())
    assert link.sent == []  # failed before a byte was written


def waits_for_button(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
    """The key waits for its button on RESET (keep-alives, no answer), answers CANCEL with the
    reset's CANCELLED and the cancel's OK."""
    if request.command == Command.CANCEL:
        reset_seq = request.seq - 1
        cancelled = encode_message(Response(reset_seq, Command.RESET, Status.CANCELLED, Fields()))
        return [cancelled, ok(request)]
    return [keepalive(request, 15000), (30.0, keepalive(request, 1000))]


async def test_a_cancelled_wait_sends_cancel_to_the_key() -> None:
    link = FakeLink(waits_for_button)
    channel = Channel(link, timeout=5)
    task = asyncio.ensure_future(channel.call(Command.RESET))
    while not link.sent:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the keep-alive arrives
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    commands = [decode_message(m).command for m in link.sent]  # type: ignore[union-attr]
    assert commands == [Command.RESET, Command.CANCEL]
    assert seq_of(link.sent[1]) == seq_of(link.sent[0]) + 1


async def test_the_hosts_own_timeout_during_a_wait_sends_cancel() -> None:
    def stalls(request: Request, n: int) -> list[bytes | tuple[float, bytes]]:
        if request.command == Command.CANCEL:
            return waits_for_button(request, n)
        return [keepalive(request, 1)]  # one keep-alive, then silence

    link = FakeLink(stalls)
    with pytest.raises(LinkTimeoutError):
        await Channel(link, timeout=0.05, retries=1).call(Command.RESET)
    commands = [decode_message(m).command for m in link.sent]  # type: ignore[union-attr]
    assert commands == [Command.RESET, Command.CANCEL]


async def test_a_request_answered_at_once_sends_no_cancel() -> None:
    link = FakeLink(echo)
    await Channel(link).call(Command.PING, PingBody(b"x"))
    assert len(link.sent) == 1
