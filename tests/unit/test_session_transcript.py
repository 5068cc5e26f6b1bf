"""docs/protocol.md section 6's transcript (pairing, session, sealed frames, with fixed test
keys) is replayed against a fresh key's firmware core, byte for byte.

Run ``python tests/unit/test_session_transcript.py`` to print the block afresh (paste it into
the document when the protocol changes on purpose).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from firmware_sim.testing.transcript import transcript_firmware
from keybridge.protocol import commands as c
from keybridge.protocol.constants import Command
from keybridge.protocol.messages import Fields, Request, Response, decode_message, encode_message
from keybridge.protocol.secure import PairingHost, SessionHost

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
SERIAL = "KB0123456789"
CLOCK = 1111111109
# The host's fixed values of docs/security.md section 7.
HOST_ID = bytes(range(0x00, 0x10))
HOST_PRIVATE = bytes(range(0x20, 0x40))
PAIRING_NONCE = bytes(range(0x60, 0x70))
HOST_EPHEMERAL = bytes(range(0x80, 0xA0))
SESSION_NONCE = bytes(range(0xC0, 0xD0))


def _req(seq: int, command: Command, body: c.Body | None = None) -> bytes:
    return encode_message(Request(seq, command, body.to_fields() if body else Fields()))


def conversation() -> list[tuple[str, bytes, list[bytes]]]:
    """(comment, host message, key messages) of the whole exchange, run on a fresh key."""
    firmware = transcript_firmware(clock_value=CLOCK, serial=SERIAL)
    out: list[tuple[str, bytes, list[bytes]]] = []

    def send(comment: str, message: bytes) -> list[bytes]:
        answers = firmware.handle(message) + firmware.poll()
        out.append((comment, message, answers))
        return answers

    def payload(answers: list[bytes]) -> bytes:
        response = decode_message(answers[0])
        assert isinstance(response, Response)
        return c.HandshakeBody.from_fields(response.fields).payload

    send("GET_INFO in plaintext -> OK (the serial names the pairing)", _req(1, Command.GET_INFO))
    pairing = PairingHost(HOST_ID, private_key=HOST_PRIVATE, nonce=PAIRING_NONCE)
    begin = send(
        "PAIR_BEGIN host_pub | host_id | commitment -> key_pub | key_nonce | key_id",
        _req(2, Command.PAIR_BEGIN, c.HandshakeBody(pairing.begin())),
    )
    confirm = pairing.confirm(payload(begin))
    reply = send(
        f"PAIR_CONFIRM host_nonce | host_mac -> key_mac (code {pairing.code} on both sides; "
        "button pressed)",
        _req(3, Command.PAIR_CONFIRM, c.HandshakeBody(confirm)),
    )
    paired = pairing.finish(payload(reply), user_confirmed=True)
    opening = SessionHost(paired, ephemeral_key=HOST_EPHEMERAL, nonce=SESSION_NONCE)
    opened = send(
        "SESSION_OPEN host_id | host_nonce | host_eph_pub -> key_id | key_nonce | key_eph_pub "
        "| key_proof",
        _req(4, Command.SESSION_OPEN, c.HandshakeBody(opening.request())),
    )
    channel = opening.finish(payload(opened))
    for seq, command, body in [
        (5, Command.SET_TIME, c.SetTimeRequest(CLOCK)),
        (6, Command.OTP_PUT, c.OtpPutRequest("rfc", b"12345678901234567890", digits=8)),
        (7, Command.OTP_CALCULATE, c.OtpNameRequest("rfc")),
    ]:
        plain = _req(seq, command, body)
        answers = send(f"SEALED {command.name}: {plain.hex(' ')}", channel.seal(plain))
        opened_answer = channel.open(answers[0])
        out[-1] = (f"{out[-1][0]}\n# -> SEALED: {opened_answer.hex(' ')}", *out[-1][1:])
    send(
        "OTP_LIST in plaintext, inside the session -> ACCESS_DENIED, and the session ends",
        _req(8, Command.OTP_LIST),
    )
    return out


def render() -> str:
    lines = [f"```session-transcript clock=fixed:{CLOCK} serial={SERIAL}"]
    for comment, message, answers in conversation():
        lines += [
            f"# {part}" if not part.startswith("# ") else part for part in comment.split("\n")
        ]
        lines += _hex(">", message)
        for answer in answers:
            lines += _hex("<", answer)
    lines.append("```")
    return "\n".join(lines)


def _hex(prefix: str, data: bytes) -> list[str]:
    chunks = [data[i : i + 24] for i in range(0, len(data), 24)]
    return [f"{prefix} {chunks[0].hex(' ')}"] + [f"  {chunk.hex(' ')}" for chunk in chunks[1:]]


def parse(text: str) -> list[tuple[bytes, list[bytes]]]:
    m = re.search(r"^```session-transcript .*?\n(.*?)^```", text, re.M | re.S)
    assert m, "docs/protocol.md lost its session transcript"
    messages: list[tuple[str, bytearray]] = []
    for line in m.group(1).splitlines():
        if line.startswith((">", "<")):
            messages.append((line[0], bytearray.fromhex(line[1:])))
        elif line.startswith("  "):
            messages[-1][1].extend(bytes.fromhex(line))
    exchanges: list[tuple[bytes, list[bytes]]] = []
    for direction, data in messages:
        if direction == ">":
            exchanges.append((bytes(data), []))
        else:
            exchanges[-1][1].append(bytes(data))
    return exchanges


def test_the_session_transcript_replays_byte_for_byte() -> None:
    documented = parse(DOC.read_text(encoding="utf-8"))
    firmware = transcript_firmware(clock_value=CLOCK, serial=SERIAL)
    for request, answers in documented:
        assert firmware.handle(request) + firmware.poll() == answers, request.hex()
    assert len(documented) == 8


def test_the_document_matches_a_fresh_run() -> None:
    documented = parse(DOC.read_text(encoding="utf-8"))
    assert [(m, a) for _, m, a in conversation()] == documented


if __name__ == "__main__":
    sys.stdout.write(render() + "\n")
