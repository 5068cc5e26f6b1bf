"""docs/protocol.md's tables and stated numbers, checked against the code's constants and the
firmware, so the document cannot drift: the tag table (one table, every tag), the statuses,
the HID reports per layout, the largest PING answered and the BLE info value's limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_sim.firmware import otp_store
from firmware_sim.testing.transcript import run_transcript
from keybridge.protocol.commands import PingBody
from keybridge.protocol.constants import Command, Status, Tag
from keybridge.protocol.fragments import DEFAULT_MAX_MESSAGE_SIZE
from keybridge.protocol.framing import MAX_MESSAGE
from keybridge.protocol.messages import Request, Response, decode_message, encode_message

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
