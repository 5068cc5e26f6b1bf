"""docs/protocol.md section 7 (BLE): its transcripts are what the fragment codec produces, and its
sizes are those of the codecs."""

from __future__ import annotations

import re
from pathlib import Path

from keybridge.protocol.commands import OtpCalculateResponse, OtpNameRequest
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.fragments import (
    DEFAULT_MAX_MESSAGE_SIZE,
    LinkInfo,
    Reassembler,
    StateFlags,
    fragment,
    fragment_count,
    fragment_payload_size,
)
from keybridge.protocol.messages import Request, Response, encode_message
from keybridge.protocol.secure.channel import ENVELOPE_OVERHEAD

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
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
_BLOCK = re.compile(r"^```ble-transcript mtu=(\d+)\n(.*?)^```", re.M | re.S)
_HEX = re.compile(r"([0-9a-f]{2} )*[0-9a-f]{2}")


def section7() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert "## 7. BLE" in text and "## 8." in text
    return text.split("## 7. BLE", 1)[1].split("## 8.", 1)[0]


Packets = list[tuple[str, bytes]]


def blocks() -> list[tuple[int, Packets]]:
    found = []
    for m in _BLOCK.finditer(section7()):
        packets: Packets = []
        for line in m.group(2).splitlines():
            if line.startswith("#") or not line.strip():
                continue
            direction, _, hex_text = line.partition(" ")
            assert direction in "<>" and _HEX.fullmatch(hex_text), line
            packets.append((direction, bytes.fromhex(hex_text)))
        found.append((int(m.group(1)), packets))
    assert len(found) == 2, "section 7 lost a BLE transcript"
    return found


def reassemble(packets: Packets) -> Packets:
    """Messages per direction, each direction with its own reassembler (as on a connection)."""
    reassemblers = {">": Reassembler(), "<": Reassembler()}
    messages = []
    for direction, value in packets:
        message = reassemblers[direction].feed(value)
        if message is not None:
            messages.append((direction, message))
    assert not any(r.in_progress for r in reassemblers.values())
    return messages


def test_plaintext_transcript_matches_the_codec() -> None:
    mtu, packets = blocks()[0]
    size = fragment_payload_size(mtu)
    assert [v for _, v in packets] == fragment(REQUEST, size) + fragment(RESPONSE, size)
    assert reassemble(packets) == [(">", REQUEST), ("<", RESPONSE)]


def session_transcript_messages() -> list[bytes]:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"^```session-transcript .*?\n(.*?)^```", text, re.M | re.S)
    assert m, "docs/protocol.md lost its session transcript"
    messages: list[str] = []
    for line in m.group(1).splitlines():
        if line.startswith((">", "<")):
            messages.append(line[2:])
        elif line.startswith("  "):
            messages[-1] += " " + line.strip()
    return [bytes.fromhex(message) for message in messages]


def test_sealed_transcript_fragments_the_section_6_messages() -> None:
    mtu, packets = blocks()[1]
    messages = reassemble(packets)
    assert [d for d, _ in messages] == [">", "<"]
    sealed = session_transcript_messages()
    for direction, message in messages:
        assert message[0] == 0x10 and message in sealed  # a SEALED envelope of section 6.4
        assert [v for d, v in packets if d == direction] == fragment(
            message, fragment_payload_size(mtu)
        )


def test_doc_sizes_in_a_session() -> None:
    text = " ".join(section7().split())
    sealed = (len(REQUEST) + ENVELOPE_OVERHEAD, len(RESPONSE) + ENVELOPE_OVERHEAD)
    assert (len(REQUEST), len(RESPONSE)) == (32, 25)
    assert (
        f"sealed envelope's {ENVELOPE_OVERHEAD} bytes ({sealed[0]} and {sealed[1]} bytes)" in text
    )
    counts = [fragment_count(n, fragment_payload_size(23)) for n in sealed]
    assert f"{counts[0]} and {counts[1]} fragments at ATT_MTU 23" in text
    assert f"| sealed message | **{sealed[0]}** | **{sealed[1]}** |" in text
    packets_row = "| ATT packets at ATT_MTU 23 (19 bytes each after the fragment header) |"
    assert f"{packets_row} {counts[0]} | {counts[1]} |" in text
    # The goal: at most three packets each way at ATT_MTU 23, one at 247.
    assert counts == [3, 3]
    assert [fragment_count(n, fragment_payload_size(247)) for n in sealed] == [1, 1]
    assert fragment_count(sealed[0] + 1, fragment_payload_size(23)) == 4  # "fills them exactly"


def test_ble_is_specified_in_the_protocol_document_only() -> None:
    assert not (ROOT / "docs" / "ble.md").exists()
    for file in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "ble.md" not in file.read_text(encoding="utf-8"), file.name


def test_doc_info_value() -> None:
    assert "`01 01 00 08`" in section7()
    assert LinkInfo(1, StateFlags.CLOCK_SET, DEFAULT_MAX_MESSAGE_SIZE).to_bytes() == bytes.fromhex(
        "01010008"
    )
