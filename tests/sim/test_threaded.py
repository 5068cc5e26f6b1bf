"""Keys served on a thread of the test process, over real ptys."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from firmware_sim.serve import ServeOptions
from firmware_sim.threaded import serve_in_thread
from keybridge.errors import KeybridgeError
from keybridge.hostconfig import HostConfig
from keybridge.session import ConnectOptions, KeySession


async def test_two_keys_on_ptys_answer_and_stop(tmp_path: Path) -> None:
    options = ServeOptions(state=tmp_path / "key.state", keys=2, announce=False)
    with serve_in_thread(options) as urls:
        assert len(urls) == 2 and all(os.path.exists(u) for u in urls)
        serials = []
        for url in urls:
            async with KeySession.connect(url, ConnectOptions(config=HostConfig.memory())) as key:
                serials.append((await key.info()).serial)
        assert len(set(serials)) == 2
    assert not any(t.name == "firmware_sim" and t.is_alive() for t in threading.enumerate())
    assert (tmp_path / "key.state").exists() and (tmp_path / "key.state.2").exists()


def test_temporary_state_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with serve_in_thread(ServeOptions(announce=False)) as urls:
        assert len(urls) == 1
        assert len(list(tmp_path.iterdir())) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_bad_state_file_fails_before_any_thread(tmp_path: Path) -> None:
    state = tmp_path / "key.state"
    state.write_bytes(b"not a key state file")
    before = threading.active_count()
    with pytest.raises(KeybridgeError), serve_in_thread(ServeOptions(state=state, announce=False)):
        pass
    assert threading.active_count() == before
    assert state.read_bytes() == b"not a key state file"
