"""Every firmware command through Firmware.handle: happy paths and every error status."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from firmware_sim.firmware import otp_store
from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import FIRMWARE_VERSION, Firmware
from firmware_sim.firmware.flash import Flash, FlashError
from firmware_sim.testing.paired import SecureLink, info_of, pair_firmware
from keybridge.errors import UnsupportedCharacterError
from keybridge.keyboard import LAYOUT_IDS, decode_reports
from keybridge.otp.codes import Algorithm, OtpKind, hotp, totp
from keybridge.protocol.commands import (
    BODIES,
    Body,
    Empty,
    GetInfoResponse,
    ListEntry,
    OtpCalculateResponse,
    OtpListRequest,
    OtpListResponse,
    OtpNameRequest,
    OtpPutRequest,
    OtpRenameRequest,
    OtpTypeRequest,
    OtpTypeResponse,
    PingBody,
    SetTimeRequest,
    SetTimeResponse,
)
from keybridge.protocol.constants import (
    CAPACITY,
    LIST_PAGE_BYTES,
    PROTOCOL_VERSION,
    Command,
    Status,
    Tag,
)
from keybridge.protocol.framing import MAX_MESSAGE
from keybridge.protocol.messages import (
    Fields,
    Request,
    Response,
    decode_message,
    encode_fields,
    encode_message,
)
from keybridge.protocol.secure import ENVELOPE_OVERHEAD

SECRET = b"12345678901234567890"
T0 = 1_700_000_000


class Key:
    """A firmware with a controllable time source; records every byte it sends."""

    def __init__(
        self,
        *,
        mode: Any = "real",
        value: float = 0,
        button: Button | None = None,
        flash: Flash | None = None,
    ) -> None:
        self.time = float(T0)
        self.clock = KeyClock(lambda: self.time, mode, value)
        self.button = button or Button("auto")
        self.flash = flash or Flash.memory()
        self.fw = Firmware(self.flash, self.clock, self.button, random=lambda n: bytes(range(n)))
        self.seq = 0
        self.sent: list[bytes] = []
        # Requests travel sealed in a session, as from any paired host.
        self.link = SecureLink(self.fw, pair_firmware(self.fw, host_id=bytes(16)))

    def raw(self, data: bytes) -> list[bytes]:
        out = self.link.handle(data)
        self.sent += out
        return out

    def call(self, command: int, body: Body | None = None, *, seq: int | None = None) -> Response:
        if seq is None:
            self.seq += 1
            seq = self.seq
        fields = body.to_fields() if body is not None else Fields()
        out = self.raw(encode_message(Request(seq, command, fields)))
        assert len(out) == 1
        message = decode_message(out[0])
        assert isinstance(message, Response)
        assert message.seq == seq
        assert message.command == command
        return message

    def ok(self, command: Command, body: Body | None = None) -> Any:
        response = self.call(command, body)
        assert response.status == Status.OK, detail(response)
        return BODIES[command][1].from_fields(response.fields)

    def refused(self, status: Status, command: int, body: Body | None = None) -> str:
        """Assert the request is refused with ``status`` and changes nothing; the DETAIL."""
        before, stored = self.fw.state, self.flash.load()
        response = self.call(command, body)
        assert response.status == status, detail(response)
        assert self.fw.state == before
        assert self.flash.load() == stored
        text = detail(response)
        assert text
        return text

    def put(self, name: str = "a", secret: bytes = SECRET, **kw: Any) -> None:
        self.ok(Command.OTP_PUT, OtpPutRequest(name=name, secret=secret, **kw))

    def set_time(self, t: int = T0) -> None:
        self.ok(Command.SET_TIME, SetTimeRequest(time=t))


def detail(response: Response) -> str:
    raw = response.fields.get(Tag.DETAIL)
    return "" if raw is None else raw.decode()


@pytest.fixture
def key() -> Key:
    return Key()


# -- GET_INFO, PING, SET_TIME ---------------------------------------------------------------


def test_get_info_of_a_fresh_key(key: Key) -> None:
    info = key.ok(Command.GET_INFO)
    assert info == GetInfoResponse(
        serial="KB0001020304",
        firmware_version=FIRMWARE_VERSION,
        protocol_version=PROTOCOL_VERSION,
        capacity=CAPACITY,
        used=0,
        clock_set=False,
        max_message=MAX_MESSAGE,
        layouts=",".join(LAYOUT_IDS),
        time=None,
        paired_hosts=1,  # the test's host
        pin_set=False,
    )
    assert "us" in info.layouts.split(",")


def test_get_info_reports_clock_and_usage(key: Key) -> None:
    key.set_time(T0 + 5)
    key.put("a")
    key.time += 10
    info = key.ok(Command.GET_INFO)
    assert (info.clock_set, info.time, info.used) == (True, T0 + 15, 1)


def test_serial_is_made_once_and_persisted() -> None:
    flash = Flash.memory()
    first = Firmware(flash, KeyClock(), Button("auto"))
    second = Firmware(flash, KeyClock(), Button("auto"))
    assert first.serial == second.serial
    assert first.serial.startswith("KB") and len(first.serial) == 12
    int(first.serial[2:], 16)
    assert Firmware(Flash.memory(), KeyClock(), Button("auto")).serial != first.serial


@pytest.mark.parametrize("payload", [b"", b"\x00hello\xff", bytes(1500)])
def test_ping_echoes(key: Key, payload: bytes) -> None:
    assert key.ok(Command.PING, PingBody(payload)) == PingBody(payload)


def test_ping_too_large_to_echo_is_refused(key: Key) -> None:
    # The request fits in its envelope; the echo would be a byte too long.
    payload = bytes(MAX_MESSAGE - ENVELOPE_OVERHEAD - 7)
    assert "limit" in key.refused(Status.BAD_PARAMETER, Command.PING, PingBody(payload))


def test_set_time_moves_forward_and_a_little_back(key: Key) -> None:
    assert key.ok(Command.SET_TIME, SetTimeRequest(time=T0)) == SetTimeResponse(T0)
    assert key.ok(Command.SET_TIME, SetTimeRequest(time=T0 + 10**6)).time == T0 + 10**6
    assert key.ok(Command.SET_TIME, SetTimeRequest(time=T0 + 10**6 - 300)).time == T0 + 10**6 - 300


def test_set_time_refuses_backwards_beyond_tolerance_unless_forced(key: Key) -> None:
    key.set_time(T0)
    text = key.refused(Status.CLOCK_BACKWARDS, Command.SET_TIME, SetTimeRequest(time=T0 - 301))
    assert "force" in text
    assert key.ok(Command.GET_INFO).time == T0
    forced = key.ok(Command.SET_TIME, SetTimeRequest(time=T0 - 3600, force=True))
    assert forced.time == T0 - 3600


def test_fixed_clock_ignores_the_host() -> None:
    key = Key(mode="fixed", value=1234)
    assert key.ok(Command.GET_INFO).clock_set
    assert key.ok(Command.SET_TIME, SetTimeRequest(time=T0)).time == 1234
    assert key.ok(Command.GET_INFO).time == 1234


def test_offset_clock_skews_what_the_host_sets() -> None:
    key = Key(mode="offset", value=-90)
    assert not key.ok(Command.GET_INFO).clock_set
    assert key.ok(Command.SET_TIME, SetTimeRequest(time=T0)).time == T0 - 90
    key.put("a")
    code = key.ok(Command.OTP_CALCULATE, OtpNameRequest("a")).code
    assert code == totp(SECRET, T0 - 90)


# -- OTP_PUT ---------------------------------------------------------------------------------


def test_put_then_list(key: Key) -> None:
    key.put("mail", kind=OtpKind.HOTP, algorithm=Algorithm.SHA256, digits=8, layout="DE")
    key.put("bank", period=60, require_button=True)
    listed = key.ok(Command.OTP_LIST, OtpListRequest())
    assert listed == OtpListResponse(
        total=2,
        entries=(
            ListEntry("bank", OtpKind.TOTP, Algorithm.SHA1, 6, 60, True, None),
            ListEntry("mail", OtpKind.HOTP, Algorithm.SHA256, 8, 30, False, "de"),
        ),
    )
    assert key.flash.load() == key.fw.state


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "n" * 64},
        {"name": "é" * 32},
        {"name": "名前🔑"},
        {"secret": bytes(10)},
        {"secret": bytes(range(64))},
        {"digits": 6},
        {"digits": 8},
        {"period": 15},
        {"period": 120},
        {"kind": OtpKind.HOTP, "counter": 2**64 - 2},
        {"layout": "fr"},
    ],
)
def test_put_accepts_the_limits(key: Key, fields: dict[str, Any]) -> None:
    request = dataclasses.replace(OtpPutRequest(name="x", secret=SECRET), **fields)
    key.ok(Command.OTP_PUT, request)
    assert len(key.fw.state.credentials) == 1


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"name": ""}, Status.BAD_PARAMETER, "NAME is 0 bytes"),
        ({"name": "n" * 65}, Status.BAD_PARAMETER, "NAME is 65 bytes"),
        ({"name": "é" * 33}, Status.BAD_PARAMETER, "NAME is 66 bytes"),
        ({"name": "a\nb"}, Status.BAD_PARAMETER, "control character U+000A"),
        ({"name": "a\x00"}, Status.BAD_PARAMETER, "control character U+0000"),
        ({"name": "\x7f"}, Status.BAD_PARAMETER, "control character U+007F"),
        ({"secret": bytes(9)}, Status.BAD_PARAMETER, "SECRET is 9 bytes"),
        ({"secret": bytes(65)}, Status.BAD_PARAMETER, "SECRET is 65 bytes"),
        ({"secret": b""}, Status.BAD_PARAMETER, "SECRET is 0 bytes"),
        ({"digits": 5}, Status.BAD_PARAMETER, "DIGITS is 5"),
        ({"digits": 9}, Status.BAD_PARAMETER, "DIGITS is 9"),
        ({"period": 14}, Status.BAD_PARAMETER, "PERIOD is 14"),
        ({"period": 121}, Status.BAD_PARAMETER, "PERIOD is 121"),
        ({"period": 0}, Status.BAD_PARAMETER, "PERIOD is 0"),
        ({"kind": OtpKind.HOTP, "counter": 2**64 - 1}, Status.BAD_PARAMETER, "COUNTER"),
        ({"layout": "xx"}, Status.UNSUPPORTED_LAYOUT, "'xx' is not known"),
    ],
)
def test_put_refuses_out_of_range_fields(
    key: Key, fields: dict[str, Any], status: Status, words: str
) -> None:
    key.put("keep")
    request = dataclasses.replace(OtpPutRequest(name="x", secret=SECRET), **fields)
    assert words in key.refused(status, Command.OTP_PUT, request)


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        ([(Tag.SECRET, SECRET)], "missing field NAME"),
        ([(Tag.NAME, b"x")], "missing field SECRET"),
        ([(Tag.NAME, b"\xff"), (Tag.SECRET, SECRET)], "UTF-8"),
        ([(Tag.NAME, b"x"), (Tag.SECRET, SECRET), (Tag.DIGITS, b"\x00\x06")], "DIGITS"),
        ([(Tag.NAME, b"x"), (Tag.SECRET, SECRET), (Tag.KIND, b"\x09")], "OtpKind"),
        ([(Tag.NAME, b"x"), (Tag.SECRET, SECRET), (Tag.ALGORITHM, b"\x00")], "Algorithm"),
        ([(Tag.NAME, b"x"), (Tag.SECRET, SECRET), (Tag.REQUIRE_BUTTON, b"\x02")], "boolean"),
    ],
)
def test_malformed_fields_are_bad_parameter(
    key: Key, pairs: list[tuple[int, bytes]], words: str
) -> None:
    key.put("keep")
    before = key.fw.state
    out = key.raw(encode_message(Request(9, Command.OTP_PUT, Fields.of(pairs))))
    response = decode_message(out[0])
    assert isinstance(response, Response)
    assert (response.seq, response.status) == (9, Status.BAD_PARAMETER)
    assert words in detail(response)
    assert key.fw.state == before


def test_unknown_fields_are_ignored(key: Key) -> None:
    fields = OtpPutRequest(name="x", secret=SECRET).to_fields()
    fields = Fields((*fields.items, (0x7E, b"future")))
    out = key.raw(encode_message(Request(3, Command.OTP_PUT, fields)))
    assert decode_message(out[0]) == Response(3, Command.OTP_PUT, Status.OK)


def test_duplicate_name_needs_overwrite(key: Key) -> None:
    key.put("a", secret=SECRET)
    request = OtpPutRequest(name="a", secret=bytes(20))
    assert "OVERWRITE" in key.refused(Status.ALREADY_EXISTS, Command.OTP_PUT, request)
    key.ok(Command.OTP_PUT, dataclasses.replace(request, overwrite=True))
    assert [c.secret for c in key.fw.state.credentials] == [bytes(20)]


def test_storage_full(key: Key) -> None:
    for i in range(CAPACITY):
        key.put(f"c{i:03}")
    assert key.ok(Command.GET_INFO).used == CAPACITY
    text = key.refused(Status.STORAGE_FULL, Command.OTP_PUT, OtpPutRequest("one more", SECRET))
    assert str(CAPACITY) in text
    # Replacing one still works on a full key.
    key.ok(Command.OTP_PUT, OtpPutRequest("c000", bytes(16), overwrite=True))
    key.ok(Command.OTP_DELETE, OtpNameRequest("c001"))
    key.put("one more")


# -- OTP_LIST --------------------------------------------------------------------------------


def test_list_of_an_empty_key(key: Key) -> None:
    assert key.ok(Command.OTP_LIST) == OtpListResponse(total=0, entries=())


def test_list_pages_cover_every_credential_in_name_order(key: Key) -> None:
    names = [f"{i:03}-" + "x" * 60 for i in reversed(range(CAPACITY))]
    for name in names:
        key.put(name, layout="uk")
    seen: list[str] = []
    pages = 0
    while True:
        page = key.ok(Command.OTP_LIST, OtpListRequest(start=len(seen)))
        assert page.total == CAPACITY
        if not page.entries:
            break
        size = sum(3 + len(encode_fields(e.to_fields())) for e in page.entries)
        assert size <= LIST_PAGE_BYTES
        seen += [e.name for e in page.entries]
        pages += 1
    assert seen == sorted(names)
    assert pages > 10


def test_list_start_past_the_end_is_empty(key: Key) -> None:
    key.put("a")
    assert key.ok(Command.OTP_LIST, OtpListRequest(start=5)) == OtpListResponse(1, ())


# -- OTP_DELETE, OTP_RENAME ------------------------------------------------------------------


def test_delete(key: Key) -> None:
    key.put("a")
    key.put("b")
    key.ok(Command.OTP_DELETE, OtpNameRequest("a"))
    assert [c.name for c in key.fw.state.credentials] == ["b"]
    assert key.flash.load() == key.fw.state
    assert "'a'" in key.refused(Status.NOT_FOUND, Command.OTP_DELETE, OtpNameRequest("a"))
    key.refused(Status.BAD_PARAMETER, Command.OTP_DELETE, OtpNameRequest("x" * 65))


def test_rename(key: Key) -> None:
    key.put("a", digits=8)
    key.put("b")
    key.ok(Command.OTP_RENAME, OtpRenameRequest("a", "c"))
    assert [(c.name, c.digits) for c in key.fw.state.credentials] == [("c", 8), ("b", 6)]
    key.ok(Command.OTP_RENAME, OtpRenameRequest("c", "c"))
    key.refused(Status.NOT_FOUND, Command.OTP_RENAME, OtpRenameRequest("a", "d"))
    key.refused(Status.ALREADY_EXISTS, Command.OTP_RENAME, OtpRenameRequest("c", "b"))
    text = key.refused(Status.BAD_PARAMETER, Command.OTP_RENAME, OtpRenameRequest("c", "x" * 65))
    assert "NEW_NAME" in text
    key.refused(Status.BAD_PARAMETER, Command.OTP_RENAME, OtpRenameRequest("c", "tab\there"))


# -- OTP_CALCULATE ---------------------------------------------------------------------------


def test_totp_needs_the_clock(key: Key) -> None:
    key.put("a")
    text = key.refused(Status.CLOCK_NOT_SET, Command.OTP_CALCULATE, OtpNameRequest("a"))
    assert "SET_TIME" in text
    key.set_time(T0 + 7)
    result = key.ok(Command.OTP_CALCULATE, OtpNameRequest("a"))
    assert result == OtpCalculateResponse(totp(SECRET, T0 + 7), valid_until=T0 + 10)


def test_calculate_unknown_name(key: Key) -> None:
    key.refused(Status.NOT_FOUND, Command.OTP_CALCULATE, OtpNameRequest("nope"))


_SEEDS = {
    Algorithm.SHA1: b"12345678901234567890",
    Algorithm.SHA256: b"12345678901234567890123456789012",
    Algorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
_RFC6238 = [  # (time, SHA1, SHA256, SHA512), RFC 6238 appendix B
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(
    ("at", "algorithm", "expected"),
    [(row[0], algorithm, row[1 + i]) for row in _RFC6238 for i, algorithm in enumerate(Algorithm)],
)
def test_rfc6238_vectors_through_the_core(at: int, algorithm: Algorithm, expected: str) -> None:
    key = Key(mode="fixed", value=at)
    key.put("rfc", secret=_SEEDS[algorithm], algorithm=algorithm, digits=8)
    result = key.ok(Command.OTP_CALCULATE, OtpNameRequest("rfc"))
    assert result.code == expected
    assert result.valid_until == (at // 30 + 1) * 30
    assert result.counter is None


_RFC4226 = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583"]


def test_hotp_counter_advances_and_persists_before_the_answer(key: Key) -> None:
    key.put("h", kind=OtpKind.HOTP)
    for counter, expected in enumerate(_RFC4226):
        result = key.ok(Command.OTP_CALCULATE, OtpNameRequest("h"))
        assert result == OtpCalculateResponse(expected, counter=counter)
        stored = key.flash.load()
        assert stored is not None
        assert stored.credentials[0].counter == counter + 1
    restarted = Key(flash=key.flash)
    result = restarted.ok(Command.OTP_CALCULATE, OtpNameRequest("h"))
    assert result.counter == len(_RFC4226)


def test_hotp_with_a_start_counter_and_sha512(key: Key) -> None:
    key.put("h", kind=OtpKind.HOTP, counter=10**9, algorithm=Algorithm.SHA512, digits=7)
    result = key.ok(Command.OTP_CALCULATE, OtpNameRequest("h"))
    assert result.code == hotp(SECRET, 10**9, 7, Algorithm.SHA512)


def test_hotp_is_not_advanced_when_flash_fails(key: Key, monkeypatch: pytest.MonkeyPatch) -> None:
    key.put("h", kind=OtpKind.HOTP)

    def broken(state: object) -> None:
        raise FlashError("the key state file X cannot be written")

    monkeypatch.setattr(key.flash, "save", broken)
    text = key.refused(Status.STORAGE_ERROR, Command.OTP_CALCULATE, OtpNameRequest("h"))
    assert "cannot be written" in text
    key.refused(Status.STORAGE_ERROR, Command.OTP_PUT, OtpPutRequest("new", SECRET))
    monkeypatch.undo()
    assert key.ok(Command.OTP_CALCULATE, OtpNameRequest("h")).counter == 0


# -- OTP_TYPE --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUT_IDS)
@pytest.mark.parametrize("enter", [False, True])
def test_type_reports_decode_to_the_code(key: Key, layout: str, enter: bool) -> None:
    key.set_time(T0)
    key.put("a", digits=8)
    result = key.ok(Command.OTP_TYPE, OtpTypeRequest("a", enter=enter, layout=layout))
    assert result.layout == layout
    reports = [result.reports[i : i + 8] for i in range(0, len(result.reports), 8)]
    expected = totp(SECRET, T0, digits=8) + ("\n" if enter else "")
    assert decode_reports(reports, layout) == expected
    assert len(reports) == 2 * len(expected)


def test_type_uses_the_credential_layout_then_us(key: Key) -> None:
    key.set_time(T0)
    key.put("fr", layout="fr")
    key.put("plain")
    assert key.ok(Command.OTP_TYPE, OtpTypeRequest("fr")).layout == "fr"
    assert key.ok(Command.OTP_TYPE, OtpTypeRequest("fr", layout="de")).layout == "de"
    assert key.ok(Command.OTP_TYPE, OtpTypeRequest("plain")) == OtpTypeResponse(
        reports=key.ok(Command.OTP_TYPE, OtpTypeRequest("plain", layout="us")).reports,
        layout="us",
    )


def test_type_hotp_advances_the_counter(key: Key) -> None:
    key.put("h", kind=OtpKind.HOTP)
    result = key.ok(Command.OTP_TYPE, OtpTypeRequest("h", enter=True))
    reports = [result.reports[i : i + 8] for i in range(0, len(result.reports), 8)]
    assert decode_reports(reports, "us") == _RFC4226[0] + "\n"
    assert key.fw.state.credentials[0].counter == 1


def test_type_errors(key: Key, monkeypatch: pytest.MonkeyPatch) -> None:
    key.put("h", kind=OtpKind.HOTP)
    key.put("t")
    key.refused(Status.UNSUPPORTED_LAYOUT, Command.OTP_TYPE, OtpTypeRequest("h", layout="dvorak"))
    key.refused(Status.UNSUPPORTED_LAYOUT, Command.OTP_TYPE, OtpTypeRequest("h", layout=""))
    key.refused(Status.NOT_FOUND, Command.OTP_TYPE, OtpTypeRequest("nope"))
    key.refused(Status.CLOCK_NOT_SET, Command.OTP_TYPE, OtpTypeRequest("t"))

    def untypeable(text: str, layout: object) -> list[bytes]:
        raise UnsupportedCharacterError("cannot type '7'", char="7", position=0, layout_id="us")

    monkeypatch.setattr(otp_store, "encode_text", untypeable)
    assert "'7'" in key.refused(Status.CANNOT_TYPE, Command.OTP_TYPE, OtpTypeRequest("h"))


# -- RESET, unknown commands, malformed messages ---------------------------------------------


def test_reset_wipes_credentials_and_clock_but_keeps_the_serial(key: Key) -> None:
    key.set_time()
    key.put("a")
    serial = key.fw.serial
    assert key.ok(Command.RESET) == Empty()
    assert not key.fw.in_session  # the reset forgot every paired host
    info = info_of(key.fw)
    assert (info.serial, info.used, info.clock_set) == (serial, 0, False)
    assert (info.paired_hosts, info.pin_set) == (0, False)
    assert key.flash.load() == key.fw.state


def test_reset_declined_keeps_everything() -> None:
    key = Key(button=Button("deny"))
    key.put("a")
    key.refused(Status.BUTTON_DENIED, Command.RESET)


@pytest.mark.parametrize("code", [0x00, 0x2F, 0x4F, 0xFF])
def test_unknown_command(key: Key, code: int) -> None:
    response = key.call(code)
    assert response.status == Status.UNKNOWN_COMMAND
    assert f"0x{code:02x}" in detail(response)


@pytest.mark.parametrize(
    ("data", "seq", "command"),
    [
        (b"", 0, 0),
        (b"\x01", 0, 0),
        (b"\x01\x00\x05", 0, 0),
        (b"\x01\x00\x05\x10\x01\x00", 5, 0x10),  # truncated field header
        (b"\x01\x12\x34\x12\x01\x00\x09abc", 0x1234, 0x12),  # field runs past the end
        (b"\x02\x00\x01\x01\x00", 0, 0),  # a RESPONSE sent to the key
        (b"\x03\x00\x01\x01", 0, 0),  # a KEEPALIVE sent to the key
        (b"\x10" + bytes(40), 0, 0),  # SEALED inside a SEALED frame
        (b"\x7fjunk", 0, 0),
        # Sealed, its envelope exceeds 2048 bytes: refused unopened (seq and command unread).
        (b"\x01\x00\x08\x02" + encode_fields(Fields.of([(Tag.PAYLOAD, bytes(2100))])), 0, 0),
    ],
)
def test_malformed_messages_are_bad_message(key: Key, data: bytes, seq: int, command: int) -> None:
    key.put("keep")
    before = key.fw.state
    out = key.raw(data)
    assert len(out) == 1
    response = decode_message(out[0])
    assert isinstance(response, Response)
    assert (response.seq, response.command, response.status) == (seq, command, Status.BAD_MESSAGE)
    assert detail(response)
    assert key.fw.state == before


def test_an_internal_error_is_a_status_not_a_crash(
    key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(state: object, start: int) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(otp_store, "list_page", boom)
    response = key.call(Command.OTP_LIST)
    assert response.status == Status.INTERNAL_ERROR


# -- secrets are write-only ------------------------------------------------------------------


def test_no_response_ever_carries_a_secret() -> None:
    secrets = [bytes([0xA5, i]) * 8 + b"\x5a\x3c" for i in range(4)] + [b"S" * 64]
    key = Key(button=Button("scripted", ["press", "deny", "press"]))
    for i, secret in enumerate(secrets):
        kind = OtpKind.HOTP if i % 2 else OtpKind.TOTP
        key.put(f"c{i}", secret=secret, kind=kind, require_button=i == 1, layout="de")
    key.put("c0", secret=secrets[0], overwrite=True)
    key.set_time()
    for command, body in [
        (Command.GET_INFO, None),
        (Command.OTP_LIST, None),
        (Command.OTP_LIST, OtpListRequest(start=2)),
        (Command.PING, PingBody(b"hello")),
        (Command.OTP_RENAME, OtpRenameRequest("c2", "renamed")),
    ]:
        key.call(command, body)
    for name in ["c0", "c1", "c3", "renamed", "c4", "c1"]:
        key.call(Command.OTP_CALCULATE, OtpNameRequest(name))
        key.call(Command.OTP_TYPE, OtpTypeRequest(name, enter=True))
    key.call(Command.OTP_PUT, OtpPutRequest("c0", secrets[1]))  # refused: exists
    key.call(Command.OTP_PUT, OtpPutRequest("bad", secrets[0][:9]))  # refused: too short
    key.call(Command.OTP_DELETE, OtpNameRequest("c3"))
    key.call(Command.RESET)
    assert len(key.sent) > 20
    stream = b"".join(key.sent)
    for secret in secrets:
        forms = [secret, secret.hex().encode(), base64.b64encode(secret), base64.b32encode(secret)]
        for form in forms:
            assert form[:10] not in stream
