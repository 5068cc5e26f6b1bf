"""GET_INFO is answered in every state and disturbs nothing (docs/protocol.md sections 4, 6.2).

On a shared port (a pty, a TCP proxy) any host's first request is a plaintext GET_INFO: it must
neither end another host's session nor replace that session's idempotent-retry answer, and a key
waiting for its button answers it instead of BUSY.
"""

from __future__ import annotations

from firmware_sim.firmware.button import Button, ButtonMode
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.otp.codes import OtpKind
from keybridge.protocol.commands import Body, OtpNameRequest, OtpPutRequest
from keybridge.protocol.constants import Command, MessageType, Status
from keybridge.protocol.messages import Fields, Request, Response, decode_message, encode_message

SECRET = b"12345678901234567890"


def _request(seq: int, command: Command, body: Body | None = None) -> bytes:
    return encode_message(Request(seq, command, body.to_fields() if body else Fields()))


def _status(raw: bytes) -> Status | int:
    response = decode_message(raw)
    assert isinstance(response, Response)
    return response.status


def _key(button: ButtonMode = "auto") -> tuple[Firmware, SecureLink]:
    firmware = Firmware(Flash.memory(), KeyClock(mode="fixed", value=59), Button(button))
    return firmware, SecureLink(firmware, pair_firmware(firmware, host_id=b"\x01" * 16))


def test_a_plaintext_get_info_keeps_the_session_and_its_retry_cache() -> None:
    firmware, link = _key()
    put = OtpPutRequest("ctr", SECRET, kind=OtpKind.HOTP)
    [stored] = link.handle(_request(1, Command.OTP_PUT, put))
    assert _status(stored) == Status.OK
    calculate = _request(2, Command.OTP_CALCULATE, OtpNameRequest("ctr"))
    [first] = link.handle(calculate)

    [info] = firmware.handle(_request(0x4242, Command.GET_INFO))  # another host, in plaintext

    assert _status(info) == Status.OK
    assert firmware.in_session
    # The host's retry of its last request is still answered from the cache: the HOTP counter
    # advanced once, not twice.
    assert link.handle(calculate) == [first]
    assert firmware.state.credentials[0].counter == 1


def test_another_plaintext_request_still_ends_the_session() -> None:
    firmware, _ = _key()
    [denied] = firmware.handle(_request(0x4242, Command.PING))
    assert _status(denied) == Status.ACCESS_DENIED
    assert not firmware.in_session


def test_get_info_is_answered_while_a_request_waits_for_the_button() -> None:
    firmware, link = _key("manual")
    [waiting] = link.handle(_request(1, Command.RESET))
    assert waiting[0] == MessageType.KEEPALIVE and firmware.waiting

    [info] = firmware.handle(_request(0x4242, Command.GET_INFO))
    [sealed_info] = link.handle(_request(2, Command.GET_INFO))
    [busy] = link.handle(_request(3, Command.PING))

    assert (_status(info), _status(sealed_info), _status(busy)) == (
        Status.OK,
        Status.OK,
        Status.BUSY,
    )
    assert firmware.waiting and firmware.in_session  # the wait goes on
    firmware.button.press()
    [done] = link.poll()
    assert decode_message(done) == Response(1, Command.RESET, Status.OK)
