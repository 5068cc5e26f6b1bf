"""docs/protocol.md's transcripts are replayed against the firmware core, byte for byte.

Run ``python tests/unit/test_protocol_doc.py`` to print freshly generated transcript blocks
(paste them into the document when the protocol changes on purpose).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.testing.transcript import RecordingKeyboard, run_transcript
from keybridge.errors import MessageError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol import commands as c
from keybridge.protocol.constants import Command, MessageType, TypeTarget
from keybridge.protocol.framing import FrameDecoder, cobs_decode, cobs_encode, encode_frame
from keybridge.protocol.messages import (
    Fields,
    Request,
    Response,
    decode_message,
    encode_message,
)
from keybridge.protocol.secure._primitives import transcript_hash

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
SERIAL = "KB0123456789"
RFC_SHA1 = b"12345678901234567890"


@dataclass
class Block:
    name: str
    clock: str
    requests: list[bytes]
    responses: list[list[bytes]]


def _req(seq: int, command: Command | int, body: c.Body | None = None) -> bytes:
    fields = body.to_fields() if body else Fields()
    return encode_message(Request(seq, command, fields))


# PAIR_BEGIN with the all-zero X25519 key (a low-order point), host id and nonce all zero.
_LOW_ORDER_BEGIN = bytes(48) + transcript_hash(
    b"keybridge pairing v1 commit", bytes(32), bytes(16), bytes(16)
)

# The host's session ephemeral public key of docs/security.md section 7.
_EPH = bytes.fromhex("493e82fc74464a59268817623d2053c5eb8e2cc4a988b4fee179ec6b010d531d")

# name -> (clock spec, requests); the generator below turns these into the document's blocks.
SCENARIOS: dict[str, tuple[str, list[bytes]]] = {
    "cancel": (
        "fixed:1111111109",
        [
            _req(0x0A01, Command.OTP_PUT, c.OtpPutRequest("bank", RFC_SHA1)),
            _req(0x0A02, Command.RESET),
            _req(0x0A03, Command.CANCEL),
            _req(0x0A02, Command.RESET),
            _req(0x0A04, Command.OTP_LIST),
            _req(0x0A05, Command.CANCEL),
        ],
    ),
    "waiting": (
        "fixed:59",
        [
            _req(0x0B01, Command.OTP_PUT, c.OtpPutRequest("gated", RFC_SHA1, require_button=True)),
            _req(0x0B02, Command.OTP_CALCULATE, c.OtpNameRequest("gated")),
            _req(0x0B03, Command.GET_INFO),
            _req(0x0B04, Command.PING, c.PingBody(b"hi")),
            _req(0x0B02, Command.OTP_CALCULATE, c.OtpNameRequest("gated")),
        ],
    ),
    "names": (
        "fixed:59",
        [
            _req(0x0C01, Command.OTP_PUT, c.OtpPutRequest("bank", RFC_SHA1)),
            _req(0x0C02, Command.OTP_PUT, c.OtpPutRequest("Bank", RFC_SHA1)),
            _req(0x0C03, Command.OTP_PUT, c.OtpPutRequest("\u00e9t\u00e9", RFC_SHA1)),
            _req(0x0C04, Command.OTP_PUT, c.OtpPutRequest("a b", RFC_SHA1)),
            _req(0x0C05, Command.OTP_PUT, c.OtpPutRequest("tab\there", RFC_SHA1)),
            _req(0x0C06, Command.OTP_PUT, c.OtpPutRequest("x\u0085", RFC_SHA1)),
            _req(0x0C07, Command.OTP_LIST),
        ],
    ),
    "outside-a-session": (
        "real:0",
        [
            _req(0x0D01, Command.GET_INFO),
            _req(0x0D02, Command.OTP_LIST),
            _req(0x0D03, 0x7E),
            _req(0x0D04, Command.PAIR_CONFIRM, c.HandshakeBody(bytes(48))),
            # A host id the key does not hold, with a valid ephemeral key (docs/security.md 7).
            _req(0x0D05, Command.SESSION_OPEN, c.HandshakeBody(b"\x09" * 16 + bytes(16) + _EPH)),
            b"\x10" + bytes(28),  # a SEALED frame, and no session to open it
        ],
    ),
    "info-and-ping": (
        "real:0",
        [_req(0x0101, Command.GET_INFO), _req(0x0102, Command.PING, c.PingBody(b"hi"))],
    ),
    "set-time": (
        "real:0",
        [
            _req(0x0201, Command.SET_TIME, c.SetTimeRequest(1700000000)),
            _req(0x0202, Command.SET_TIME, c.SetTimeRequest(1699990000)),
            _req(0x0203, Command.SET_TIME, c.SetTimeRequest(1699990000, force=True)),
        ],
    ),
    "totp-put-calculate-list": (
        "fixed:1111111109",
        [
            _req(
                0x0301,
                Command.OTP_PUT,
                c.OtpPutRequest("HES.Web:admin@example.com", RFC_SHA1, digits=8),
            ),
            _req(0x0302, Command.OTP_CALCULATE, c.OtpNameRequest("HES.Web:admin@example.com")),
            _req(0x0303, Command.OTP_LIST, c.OtpListRequest()),
        ],
    ),
    "hotp": (
        "fixed:1111111109",
        [
            _req(0x0401, Command.OTP_PUT, c.OtpPutRequest("ctr", RFC_SHA1, kind=OtpKind.HOTP)),
            _req(0x0402, Command.OTP_CALCULATE, c.OtpNameRequest("ctr")),
            _req(0x0403, Command.OTP_CALCULATE, c.OtpNameRequest("ctr")),
            _req(0x0403, Command.OTP_CALCULATE, c.OtpNameRequest("ctr")),
        ],
    ),
    "type-us-and-fr": (
        "fixed:59",
        [
            _req(
                0x0501,
                Command.OTP_PUT,
                c.OtpPutRequest(
                    "sha256",
                    b"12345678901234567890123456789012",
                    digits=8,
                    algorithm=Algorithm.SHA256,
                ),
            ),
            _req(0x0502, Command.OTP_TYPE, c.OtpTypeRequest("sha256", enter=True)),
            _req(0x0503, Command.OTP_TYPE, c.OtpTypeRequest("sha256", layout="fr")),
        ],
    ),
    "type-on-the-key": (
        "fixed:59",
        [
            _req(0x0E01, Command.OTP_PUT, c.OtpPutRequest("hes", RFC_SHA1)),
            _req(
                0x0E02,
                Command.OTP_TYPE,
                c.OtpTypeRequest("hes", enter=True, target=TypeTarget.KEYBOARD),
            ),
            _req(
                0x0E03,
                Command.OTP_TYPE,
                c.OtpTypeRequest("hes", layout="xx", target=TypeTarget.KEYBOARD),
            ),
        ],
    ),
    "type-on-the-key-no-host": (
        "fixed:59",
        [
            _req(0x0F01, Command.OTP_PUT, c.OtpPutRequest("hes", RFC_SHA1)),
            _req(0x0F02, Command.OTP_TYPE, c.OtpTypeRequest("hes", target=TypeTarget.KEYBOARD)),
        ],
    ),
    "rename-delete-reset": (
        "fixed:1111111109",
        [
            _req(0x0601, Command.OTP_PUT, c.OtpPutRequest("old", RFC_SHA1)),
            _req(0x0602, Command.OTP_RENAME, c.OtpRenameRequest("old", "new")),
            _req(0x0603, Command.OTP_DELETE, c.OtpNameRequest("new")),
            _req(0x0604, Command.OTP_PUT, c.OtpPutRequest("x", RFC_SHA1)),
            _req(0x0605, Command.RESET),
            _req(0x0606, Command.OTP_LIST),
        ],
    ),
    "errors": (
        "real:0",
        [
            _req(0x0701, Command.OTP_PUT, c.OtpPutRequest("a", RFC_SHA1)),
            _req(0x0702, Command.OTP_PUT, c.OtpPutRequest("a", RFC_SHA1)),
            _req(0x0703, Command.OTP_CALCULATE, c.OtpNameRequest("a")),
            _req(0x0704, Command.OTP_DELETE, c.OtpNameRequest("nope")),
            _req(0x0705, Command.OTP_PUT, c.OtpPutRequest("b", b"short")),
            _req(0x0706, Command.OTP_PUT, c.OtpPutRequest("x" * 65, RFC_SHA1)),
            _req(0x0707, 0x7E),
            bytes.fromhex("01 07 08 10 01 00 09 61"),
            bytes.fromhex("42"),
        ],
    ),
    "malformed": (
        "real:0",
        [
            b"",
            bytes.fromhex("01"),
            bytes.fromhex("01 08 02"),
            bytes.fromhex("02 08 03 01 00"),
            bytes.fromhex("03 08 04 01"),
            bytes.fromhex("02 08"),
        ],
    ),
    "rule-checks": (
        "fixed:59",
        [
            # A single-valued field twice; an unknown tag twice is ignored (NOT_FOUND: no "a").
            encode_message(
                Request(0x0901, Command.OTP_CALCULATE, Fields.of([(1, b"a"), (1, b"b")]))
            ),
            encode_message(
                Request(
                    0x0902, Command.OTP_CALCULATE, Fields.of([(1, b"a"), (0x7E, b""), (0x7E, b"")])
                )
            ),
            encode_message(Request(0x0903, Command.UNPAIR, Fields.of([(0x41, bytes(15))]))),
            _req(0x0904, Command.PIN_VERIFY, c.PinRequest("1234")),
            _req(0x0905, Command.PIN_SET, c.PinSetRequest("1234")),
            _req(0x0906, Command.PIN_SET, c.PinSetRequest("5678")),
            _req(0x0907, Command.PAIR_CONFIRM, c.HandshakeBody(bytes(48))),
            # A low-order host key (all zero) passes PAIR_BEGIN; PAIR_CONFIRM, once the
            # commitment checks out, refuses it.
            _req(0x0908, Command.PAIR_BEGIN, c.HandshakeBody(_LOW_ORDER_BEGIN)),
            _req(0x0909, Command.PAIR_CONFIRM, c.HandshakeBody(bytes(48))),
        ],
    ),
}


def _hex_lines(prefix: str, data: bytes) -> list[str]:
    chunks = [data[i : i + 24] for i in range(0, len(data), 24)] or [b""]
    lines = [f"{prefix} {chunks[0].hex(' ')}".rstrip()]
    lines += [f"  {chunk.hex(' ')}" for chunk in chunks[1:]]
    return lines


BUTTONS = {"cancel": "manual", "waiting": "manual"}
"""Scenarios whose key waits for a button nobody presses (the others approve at once)."""
UNPAIRED = {"outside-a-session"}
"""Scenarios sent in plaintext to a key no host paired with (the others run in a session)."""
KEYBOARD = {"type-on-the-key"}
"""Scenarios whose key has a bonded BLE host connected to its own keyboard."""


def _keyboard(name: str) -> RecordingKeyboard | None:
    return RecordingKeyboard() if name in KEYBOARD else None


def _button(name: str) -> Button:
    return Button.parse(BUTTONS.get(name, "auto"))


def _clock_kwargs(spec: str) -> dict[str, object]:
    mode, value = spec.split(":")
    return {"clock_mode": mode, "clock_value": float(value)}


def render(name: str) -> str:
    clock, requests = SCENARIOS[name]
    lines = [f"```transcript {name} clock={clock} serial={SERIAL}"]
    previous: bytes | None = None
    exchanges = run_transcript(
        requests,
        serial=SERIAL,
        button=_button(name),
        sealed=name not in UNPAIRED,
        keyboard=_keyboard(name),
        **_clock_kwargs(clock),  # type: ignore[arg-type]
    )
    for request, out in exchanges:
        retry = (
            " (a retry: same seq and bytes, answered from the cache)" if request == previous else ""
        )
        previous = request
        lines.append(f"# {_describe(request, out)}{retry}")
        lines += _hex_lines(">", request)
        for message in out:
            lines += _hex_lines("<", message)
    lines.append("```")
    return "\n".join(lines)


def _describe(request: bytes, out: list[bytes]) -> str:
    try:
        sent = decode_message(request)
    except MessageError:
        what = "malformed message"
    else:
        if isinstance(sent, Request):
            what = getattr(sent.command, "name", f"unknown command 0x{int(sent.command):02x}")
        elif request[0] == MessageType.SEALED:
            what = "SEALED"
        else:
            what = f"a message of type 0x{request[0]:02x} from the host"
    answers = []
    for raw in out:
        reply = decode_message(raw)
        if isinstance(reply, Response):
            answers.append(getattr(reply.status, "name", hex(int(reply.status))))
        else:
            answers.append(type(reply).__name__.upper())
    return f"{what} -> {', '.join(answers)}"


_BLOCK = re.compile(r"^```transcript (\S+) clock=(\S+) serial=(\S+)\n(.*?)^```", re.M | re.S)


def parse_blocks(text: str) -> list[Block]:
    blocks = []
    for m in _BLOCK.finditer(text):
        messages: list[tuple[str, bytearray]] = []
        for line in m.group(4).splitlines():
            if line.startswith((">", "<")):
                messages.append((line[0], bytearray.fromhex(line[1:])))
            elif line.startswith("  ") and messages:
                messages[-1][1].extend(bytes.fromhex(line))
            elif line.strip() and not line.startswith("#"):
                raise ValueError(f"transcript {m.group(1)}: cannot read line {line!r}")
        requests: list[bytes] = []
        responses: list[list[bytes]] = []
        for direction, data in messages:
            if direction == ">":
                requests.append(bytes(data))
                responses.append([])
            else:
                responses[-1].append(bytes(data))
        assert m.group(3) == SERIAL
        blocks.append(Block(m.group(1), m.group(2), requests, responses))
    return blocks


DOC_BLOCKS = parse_blocks(DOC.read_text(encoding="utf-8"))


def test_every_scenario_is_in_the_document() -> None:
    assert sorted(b.name for b in DOC_BLOCKS) == sorted(SCENARIOS)


def test_every_command_appears_in_a_transcript() -> None:
    seen = {req[3] for b in DOC_BLOCKS for req in b.requests if len(req) > 3 and req[0] == 1}
    assert {int(cmd) for cmd in c.BODIES if cmd < 0x30} <= seen


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=lambda b: b.name)
def test_transcript_replays_byte_for_byte(block: Block) -> None:
    exchanges = run_transcript(
        block.requests,
        serial=SERIAL,
        button=_button(block.name),
        sealed=block.name not in UNPAIRED,
        keyboard=_keyboard(block.name),
        **_clock_kwargs(block.clock),  # type: ignore[arg-type]
    )
    assert [out for _, out in exchanges] == block.responses


def test_framed_example_in_the_document() -> None:
    m = re.search(r"```frame\n> (.*?)\n```", DOC.read_text(encoding="utf-8"))
    assert m, "docs/protocol.md lost its framed example"
    frame = bytes.fromhex(m.group(1))
    get_info = _req(0x0101, Command.GET_INFO)
    assert frame == encode_frame(get_info)
    assert FrameDecoder().feed(frame) == [get_info]


def test_cobs_of_a_body_ending_in_a_full_block() -> None:
    # Section 2: the sender adds a 01 block after a final FF block; a receiver takes both.
    for body, tail in ((b"\x01" * 254, b"\x01"), (b"\x01" * 255, b"\x02\x01")):
        encoded = cobs_encode(body)
        assert encoded == b"\xff" + body[:254] + tail
        assert cobs_decode(encoded) == body
    assert cobs_decode(b"\xff" + b"\x01" * 254) == b"\x01" * 254


if __name__ == "__main__":
    print("```frame\n> " + encode_frame(_req(0x0101, Command.GET_INFO)).hex(" ") + "\n```\n")
    for scenario in SCENARIOS if len(sys.argv) < 2 else sys.argv[1:]:
        print(render(scenario) + "\n")
