"""docs/protocol.md's tables and stated numbers, checked against the code's constants and the
firmware, so the document cannot drift: the tag table (one table, every tag), the statuses,
the HID reports per layout, the name rule, OTP_LIST's page budget, low-order keys, the largest
PING answered and the BLE info value's limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_sim.firmware import otp_store
from firmware_sim.firmware.state import KeyState
from firmware_sim.testing.paired import pair_firmware
from firmware_sim.testing.transcript import run_transcript, transcript_firmware
from keybridge.otp.names import name_problem
from keybridge.protocol.commands import HandshakeBody, OtpPutRequest, PingBody
from keybridge.protocol.constants import LIST_PAGE_BYTES, Command, Status, Tag
from keybridge.protocol.fragments import DEFAULT_MAX_MESSAGE_SIZE
from keybridge.protocol.framing import MAX_MESSAGE
from keybridge.protocol.messages import (
    Request,
    Response,
    decode_message,
    encode_fields,
    encode_message,
)
from keybridge.protocol.secure import SessionHost

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def _table_after(heading: str) -> list[list[str]]:
    """Rows of the first table after ``heading``: one run of ``|`` lines, no blank line."""
    start = DOC.index(heading)
    lines = DOC[start:].splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("|"))
    rows = []
    for line in lines[first + 2 :]:
        if not line.lstrip().startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_tag_table_is_one_table_of_every_tag() -> None:
    rows = _table_after("### 3.2 Fields")
    assert {int(code, 16): name for code, name, *_ in rows} == {int(t): t.name for t in Tag}


def test_the_status_table_matches_the_enum() -> None:
    rows = _table_after("### 3.4 Statuses")
    assert {int(code, 16): name for code, name, *_ in rows} == {int(s): s.name for s in Status}


@pytest.mark.parametrize("row", _table_after("per layout (`02` is Left Shift)"), ids=lambda r: r[0])
def test_the_reports_of_digits_and_enter_per_layout(row: list[str]) -> None:
    layout_id, digits, enter = row
    digit_modifier = int(digits.split(",")[0].strip("` "), 16)
    enter_modifier, enter_usage = (int(part.strip("` "), 16) for part in enter.split(","))
    layout = otp_store.resolve_layout(layout_id)
    reports = otp_store.type_reports("1234567890", layout, enter=True)
    presses = [reports[i : i + 8] for i in range(0, len(reports), 16)]
    usages = [*range(0x1E, 0x27), 0x27]
    assert presses[:10] == [bytes([digit_modifier, 0, u, 0, 0, 0, 0, 0]) for u in usages]
    assert presses[10] == bytes([enter_modifier, 0, enter_usage, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("spelled", ["US", " us", "Fr", "gb"])
def test_layout_ids_match_case_and_spaces_aside(spelled: str) -> None:
    assert otp_store.resolve_layout(spelled).id == {"gb": "uk"}.get(
        spelled, spelled.strip().lower()
    )


def _ping(size: int) -> Status | int:
    request = encode_message(Request(1, Command.PING, PingBody(bytes(size)).to_fields()))
    [(_, [answer])] = run_transcript([request], clock_value=0, serial="KB0123456789")
    response = decode_message(answer)
    assert isinstance(response, Response)
    return response.status


def test_the_largest_ping_answered() -> None:
    m = re.search(r"largest PAYLOAD\s+answered is (\d+) bytes", DOC)
    assert m, "docs/protocol.md lost the PING limit"
    largest = int(m.group(1))
    assert (_ping(largest), _ping(largest + 1)) == (Status.OK, Status.BAD_PARAMETER)


def test_one_message_limit_on_every_link() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == MAX_MESSAGE == 2048
    assert "(2048, the limit of every link)" in DOC


def test_the_control_characters_refused_in_names() -> None:
    # Section 4: category Cc (U+0000-U+001F, U+007F-U+009F) is refused; all else is allowed.
    assert "(`U+0000`-`U+001F`, `U+007F`-`U+009F`)" in DOC
    refused = {*range(0x00, 0x20), *range(0x7F, 0xA0)}
    for code in range(0x00, 0x250):
        problem = name_problem(f"a{chr(code)}b")
        assert (problem is not None) == (code in refused), hex(code)
    assert name_problem("zero\u200bwidth") is None  # a format character (Cf) is no control


def test_otp_list_pages_count_whole_entry_fields() -> None:
    # Section 4: ENTRY fields (header included) fill at most LIST_PAGE_BYTES; a page holds at
    # least one; TOTAL and the header do not count.
    assert f"as many ENTRY fields as fit in\n  {LIST_PAGE_BYTES} bytes" in DOC
    state = KeyState(serial="KB0123456789", key_id=bytes(16))
    for i in range(40):
        put = OtpPutRequest(f"{i:02d}-" + "n" * 40, b"1" * 20, layout="fr")
        state = otp_store.put(state, put)
    start, pages = 0, []
    while start < len(state.credentials):
        page = otp_store.list_page(state, start)
        sizes = [3 + len(encode_fields(entry.to_fields())) for entry in page.entries]
        assert len(sizes) >= 1 and sum(sizes) <= LIST_PAGE_BYTES
        if start + len(sizes) < len(state.credentials):  # the next entry would not have fit
            assert sum(sizes) + sizes[0] > LIST_PAGE_BYTES
        pages.append(len(sizes))
        start += len(sizes)
    assert sum(pages) == 40 and len(pages) > 1


def test_a_low_order_ephemeral_key_is_refused_at_session_open() -> None:
    firmware = transcript_firmware(clock_value=59, serial="KB0123456789")
    pairing = pair_firmware(firmware, host_id=bytes(16))
    good = SessionHost(pairing).request()
    payload = good[:32] + bytes(32)  # host_id, host_nonce, then an all-zero X25519 key
    request = Request(1, Command.SESSION_OPEN, HandshakeBody(payload).to_fields())
    [raw] = firmware.handle(encode_message(request))
    response = decode_message(raw)
    assert isinstance(response, Response) and response.status == Status.BAD_PARAMETER
    assert b"low-order point" in (response.fields.get(Tag.DETAIL) or b"")
    assert not firmware.in_session
