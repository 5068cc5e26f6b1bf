"""OTP_TYPE to the key's own keyboard and the button gesture, against the firmware core with a
recording keyboard (the BLE side is in tests/sim/test_ble_keyboard.py)."""

from __future__ import annotations

import logging

import pytest

from firmware_sim.firmware import otp_store
from firmware_sim.firmware.button import Button
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.keyboard_out import Gesture, perform_gesture
from firmware_sim.testing.paired import SecureLink, pair_firmware
from firmware_sim.testing.transcript import transcript_firmware
from keybridge.errors import InvalidInputError
from keybridge.keyboard.reports import bytes_to_reports, decode_reports
from keybridge.protocol import commands as c
from keybridge.protocol.constants import Command, Status, TypeTarget
from keybridge.protocol.messages import Fields, Request, Response, decode_message, encode_message

SECRET = b"12345678901234567890"
CODE_AT_59 = "287082"  # RFC 6238, SHA1, T=59, 6 digits
GESTURE = Gesture("long-press", "hes")


class RecordingKeyboard:
    """A key's keyboard whose bonded host is (or is not) connected; records what it sends."""

    def __init__(self, *, connected: bool = True, busy: bool = False) -> None:
        self.connected = connected
        self.is_busy = busy
        self.sent: list[bytes] = []

    @property
    def host_connected(self) -> bool:
        return self.connected

    @property
    def busy(self) -> bool:
        return self.is_busy

    def send(self, reports: bytes) -> None:
        self.sent.append(reports)


def _key(button: str = "auto", *, require_button: bool = False) -> tuple[Firmware, SecureLink]:
    firmware = transcript_firmware(clock_value=59, serial="KB1", button=Button.parse(button))
    put = c.OtpPutRequest("hes", SECRET, require_button=require_button)
    firmware.commit(otp_store.put(firmware.state, put))
    return firmware, SecureLink(firmware, pair_firmware(firmware, host_id=bytes(16)))


def _type(link: SecureLink, **options: object) -> Response:
    body = c.OtpTypeRequest("hes", enter=True, target=TypeTarget.KEYBOARD, **options)  # type: ignore[arg-type]
    [raw] = link.handle(encode_message(Request(0x31, Command.OTP_TYPE, body.to_fields())))
    answer = decode_message(raw)
    assert isinstance(answer, Response)
    return answer


def test_the_key_types_on_its_keyboard_and_returns_no_reports() -> None:
    firmware, link = _key()
    firmware.keyboard = keyboard = RecordingKeyboard()
    answer = _type(link)
    assert answer.status == Status.OK
    assert c.OtpTypeResponse.from_fields(answer.fields).reports == b""
    [reports] = keyboard.sent
    assert decode_reports(bytes_to_reports(reports), "us") == CODE_AT_59 + "\n"


@pytest.mark.parametrize("keyboard", [None, RecordingKeyboard(connected=False)])
def test_no_bonded_host_is_a_named_status(keyboard: RecordingKeyboard | None) -> None:
    firmware, link = _key()
    firmware.keyboard = keyboard
    answer = _type(link)
    assert answer.status == Status.NO_KEYBOARD_HOST
    assert keyboard is None or keyboard.sent == []


def test_a_host_gone_during_the_button_wait_gets_nothing_typed() -> None:
    firmware, link = _key("manual", require_button=True)
    firmware.keyboard = keyboard = RecordingKeyboard()
    body = c.OtpTypeRequest("hes", enter=True, target=TypeTarget.KEYBOARD)
    [waiting] = link.handle(encode_message(Request(0x32, Command.OTP_TYPE, body.to_fields())))
    assert waiting[0] == 0x03  # KEEPALIVE
    keyboard.connected = False
    assert firmware.button.press()
    [raw] = link.poll()
    answer = decode_message(raw)
    assert isinstance(answer, Response) and answer.status == Status.NO_KEYBOARD_HOST
    assert keyboard.sent == []


@pytest.mark.parametrize(
    ("layout", "status"), [("xx", Status.UNSUPPORTED_LAYOUT), ("us", Status.OK)]
)
def test_a_layout_the_key_cannot_type_is_refused_before_any_report(
    layout: str, status: Status
) -> None:
    firmware, link = _key()
    firmware.keyboard = keyboard = RecordingKeyboard()
    assert _type(link, layout=layout).status == status
    assert len(keyboard.sent) == (status == Status.OK)


def test_an_unknown_target_is_a_bad_parameter() -> None:
    firmware, link = _key()
    firmware.keyboard = keyboard = RecordingKeyboard()
    fields = Fields.of([*c.OtpTypeRequest("hes").to_fields(), (0x60, b"\x07")])
    [raw] = link.handle(encode_message(Request(0x33, Command.OTP_TYPE, fields)))
    answer = decode_message(raw)
    assert isinstance(answer, Response) and answer.status == Status.BAD_PARAMETER
    assert keyboard.sent == []


def test_the_gesture_types_the_code_and_enter() -> None:
    firmware, _ = _key(require_button=True)  # the gesture is the user's presence
    firmware.keyboard = keyboard = RecordingKeyboard()
    assert perform_gesture(firmware, GESTURE)
    [reports] = keyboard.sent
    assert decode_reports(bytes_to_reports(reports), "us") == CODE_AT_59 + "\n"


def test_a_gesture_during_another_request_is_ignored_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    firmware, link = _key("manual")
    firmware.keyboard = keyboard = RecordingKeyboard()
    link.handle(encode_message(Request(0x34, Command.RESET)))  # waits for the button
    assert firmware.waiting
    with caplog.at_level(logging.WARNING):
        assert not perform_gesture(firmware, GESTURE)
    assert "another request is waiting" in caplog.text
    assert keyboard.sent == []
    assert firmware.waiting  # the waiting request is left as it was


@pytest.mark.parametrize(
    ("keyboard", "gesture", "logged"),
    [
        (RecordingKeyboard(busy=True), GESTURE, "still typing"),
        (RecordingKeyboard(connected=False), GESTURE, "no bonded host"),
        (None, GESTURE, "no bonded host"),
        (RecordingKeyboard(), Gesture("long-press", "nope"), "no credential named 'nope'"),
    ],
)
def test_a_gesture_that_cannot_type_is_ignored_and_logged(
    keyboard: RecordingKeyboard | None,
    gesture: Gesture,
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    firmware, _ = _key()
    firmware.keyboard = keyboard
    with caplog.at_level(logging.WARNING):
        assert not perform_gesture(firmware, gesture)
    assert logged in caplog.text
    assert keyboard is None or keyboard.sent == []


@pytest.mark.parametrize("spec", ["", "long-press", "long-press:", "wiggle:hes", "tap:x"])
def test_a_bad_gesture_spec_says_what_to_write(spec: str) -> None:
    with pytest.raises(InvalidInputError, match="long-press"):
        Gesture.parse(spec)


def test_a_gesture_spec_keeps_colons_in_the_name() -> None:
    assert Gesture.parse("double-press:HES.Web:admin") == Gesture("double-press", "HES.Web:admin")
