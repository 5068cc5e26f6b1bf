"""Where served keys keep their state: one file per key, in a private directory by default.

Shared by the runners of every link (``serve`` on ptys and TCP, ``links.ble_keys`` on BLE), so
``--state FILE --keys N`` names the same files whichever link serves them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["make_private_dir", "state_paths"]


def state_paths(base: Path, keys: int) -> list[Path]:
    """State files of ``keys`` keys: ``base``, ``base.2``, ..., ``base.N``."""
    return [base] + [base.with_name(f"{base.name}.{i}") for i in range(2, keys + 1)]


def make_private_dir() -> Path:
    """A new directory only we can use, as ``tempfile.mkdtemp`` makes (whose import pulls in
    shutil, random and the compression modules: ~7 ms of the cold start)."""
    base = Path(os.environ.get("TMPDIR") or "/tmp")
    while True:
        path = base / f"keybridge-sim-{os.urandom(6).hex()}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path
