"""Announcements of running simulators: a damaged one is skipped, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keybridge.discovery import running_simulators


def test_damaged_announcements_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYBRIDGE_RUNTIME_DIR", str(tmp_path))
    good = {"url": "socket://127.0.0.1:7000", "serial": "KB1", "pid": os.getpid()}
    (tmp_path / "good.json").write_text(json.dumps(good))
    damaged = {
        "nested": b"[" * 100_000 + b"]" * 100_000,
        "not utf-8": b"\xff\xfe",
        "a list": b"[]",
        "pid text": json.dumps({**good, "pid": "x"}).encode(),
        "pid huge": json.dumps({**good, "pid": 10**30}).encode(),
        "pid -1": json.dumps({**good, "pid": -1}).encode(),
        "pid 0": json.dumps({**good, "pid": 0}).encode(),
    }
    for name, data in damaged.items():
        (tmp_path / f"{name}.json").write_bytes(data)
    assert [found.url for found in running_simulators()] == [good["url"]]
