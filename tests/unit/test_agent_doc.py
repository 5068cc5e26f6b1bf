"""docs/agent.md against the code: its op table is the agent's, its example session parses as
protocol version 1 and uses only those ops, and its errors name real keybridge classes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from keybridge.agent.core import _KEY_OPS
from keybridge.agent.wire import VERSION, decode_error

DOC = (Path(__file__).parents[2] / "docs" / "agent.md").read_text(encoding="utf-8")
OPS = {"status", "lock", "stop", *_KEY_OPS}


def _section(title: str) -> str:
    return DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_op_table_lists_every_op_the_agent_serves() -> None:
    rows = re.findall(r"^\| `([a-z_.]+)` \|", _section("The protocol (version 1)"), re.M)
    assert set(rows) == OPS
    assert len(rows) == len(OPS)


def test_the_example_session_is_version_1_and_uses_real_ops() -> None:
    lines = re.findall(r"^([<>]) (\{.*\})$", _section("The protocol (version 1)"), re.M)
    assert len(lines) >= 6
    for direction, text in lines:
        message = json.loads(text)
        assert message["v"] == VERSION
        if direction == ">":
            assert message["op"] in OPS and isinstance(message["args"], dict)
        elif not message["ok"]:
            error = decode_error(message["error"])
            assert type(error).__name__ == message["error"]["type"].rsplit(".", 1)[1]
