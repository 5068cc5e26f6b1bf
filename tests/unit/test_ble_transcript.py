"""The BLE transcript in docs/ble.md is what the codecs produce."""

from __future__ import annotations

import re
from pathlib import Path

from keybridge.protocol.commands import OtpCalculateResponse, OtpNameRequest
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.fragments import (
    LinkInfo,
    Reassembler,
    StateFlags,
    fragment,
    fragment_count,
    fragment_payload_size,
)
from keybridge.protocol.messages import Request, Response, encode_message
from keybridge.protocol.secure.channel import ENVELOPE_OVERHEAD

DOC = Path(__file__).resolve().parents[2] / "docs" / "ble.md"
NAME = "HES.Web:qa-bench@corp.com"
REQUEST = encode_message(Request(2, Command.OTP_CALCULATE, OtpNameRequest(NAME).to_fields()))
RESPONSE = encode_message(
    Response(
        2,
        Command.OTP_CALCULATE,
        Status.OK,
        OtpCalculateResponse(code="081804", valid_until=1111111110).to_fields(),
    )
)


def documented_fragments() -> list[bytes]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("At ATT_MTU 23", 1)[1].split("```", 2)[1]
    lines = [line.strip() for line in block.splitlines() if line.startswith("  ")]
    assert all(re.fullmatch(r"([0-9a-f]{2} )*[0-9a-f]{2}", line) for line in lines)
    return [bytes.fromhex(line) for line in lines]


def test_doc_transcript_matches_the_codec() -> None:
    size = fragment_payload_size(23)
    documented = documented_fragments()
    assert documented == fragment(REQUEST, size) + fragment(RESPONSE, size)
    reassembler = Reassembler()
    assert [m for f in documented if (m := reassembler.feed(f)) is not None] == [REQUEST, RESPONSE]


def test_doc_sizes_in_a_session() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    sealed = (len(REQUEST) + ENVELOPE_OVERHEAD, len(RESPONSE) + ENVELOPE_OVERHEAD)
    assert (
        f"sealed envelope's {ENVELOPE_OVERHEAD} bytes ({sealed[0]} and {sealed[1]} bytes)" in text
    )
    counts = [fragment_count(n, fragment_payload_size(23)) for n in sealed]
    assert f"{counts[0]} and {counts[1]} fragments at ATT_MTU 23" in text


def test_doc_info_value() -> None:
    assert "`01 01 00 10`" in DOC.read_text(encoding="utf-8")
    assert LinkInfo(1, StateFlags.CLOCK_SET, 4096).to_bytes() == bytes.fromhex("01010010")
