"""The BLE transcript in docs/ble.md is what the codec and the firmware core produce."""

from __future__ import annotations

import re
from pathlib import Path

from firmware_sim.transcript import run_transcript
from keybridge.protocol.commands import OtpNameRequest, OtpPutRequest
from keybridge.protocol.constants import Command
from keybridge.protocol.fragments import (
    LinkInfo,
    Reassembler,
    StateFlags,
    fragment,
    fragment_payload_size,
)
from keybridge.protocol.messages import Request, encode_message

DOC = Path(__file__).resolve().parents[2] / "docs" / "ble.md"
NAME = "HES.Web:qa-bench@corp.com"


def documented_fragments() -> list[bytes]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("At ATT_MTU 23", 1)[1].split("```", 2)[1]
    lines = [line.strip() for line in block.splitlines() if line.startswith("  ")]
    assert all(re.fullmatch(r"([0-9a-f]{2} )*[0-9a-f]{2}", line) for line in lines)
    return [bytes.fromhex(line) for line in lines]


def test_doc_transcript_matches_the_code() -> None:
    put = OtpPutRequest(NAME, b"12345678901234567890")
    requests = [
        encode_message(Request(1, Command.OTP_PUT, put.to_fields())),
        encode_message(Request(2, Command.OTP_CALCULATE, OtpNameRequest(NAME).to_fields())),
    ]
    exchanges = run_transcript(requests, clock_value=1111111109, serial="KB0000000001")
    size = fragment_payload_size(23)
    produced: list[bytes] = []
    for request, replies in exchanges:
        produced += fragment(request, size)
        for reply in replies:
            produced += fragment(reply, size)
    documented = documented_fragments()
    assert documented == produced
    reassembler = Reassembler()
    messages = [m for f in documented if (m := reassembler.feed(f)) is not None]
    assert messages[0] == requests[0] and messages[2] == requests[1]
    assert b"081804" in messages[3]


def test_doc_info_value() -> None:
    assert "`01 01 00 10`" in DOC.read_text(encoding="utf-8")
    assert LinkInfo(1, StateFlags.CLOCK_SET, 4096).to_bytes() == bytes.fromhex("01010010")
