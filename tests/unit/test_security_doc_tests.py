"""docs/security.md names the tests that prove each mitigation: they must all exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def referenced() -> list[tuple[str, str | None]]:
    """(file, test name or None) for every test the threat model table mentions."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in text.splitlines() if re.match(r"^\| T\d", line))
    found: list[tuple[str, str | None]] = []
    current = ""
    for m in re.finditer(r"(tests/[\w/]+\.py)|::(test_\w+)", table):
        if m.group(1):
            current = m.group(1)
            found.append((current, None))
        else:
            found.append((current, m.group(2)))
    return found


def test_every_named_test_exists() -> None:
    refs = referenced()
    assert len({f for f, _ in refs}) >= 12 and sum(1 for _, t in refs if t) >= 20
    for path, name in refs:
        source = (ROOT / path).read_text(encoding="utf-8")
        if name is not None:
            assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{path}::{name}"
