"""Files replaced atomically: a power cut at any instant leaves the old or the new content.

Both ends use it: the host's pairing file (:mod:`keybridge.hostconfig`) and the simulated key's
flash image. Standard library only, so importing it costs nothing at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["temporary_path", "write_atomically"]


def temporary_path(path: Path, *, per_process_temp: bool = False) -> Path:
    """Where :func:`write_atomically` writes ``path``'s new content before its rename."""
    suffix = f".{os.getpid()}.tmp" if per_process_temp else ".tmp"
    return path.with_name(f".{path.name}{suffix}")


def write_atomically(path: Path, data: bytes, *, per_process_temp: bool = False) -> None:
    """Replace ``path`` with ``data``, mode 0600: temporary file, fsync, rename, fsync the
    directory.

    The temporary file sits beside ``path`` (a rename is atomic only within one file system).
    By default its name is fixed, so a write cut short leaves at most one stale file, which the
    next write truncates and reuses; ``per_process_temp`` adds the process id, for a file that
    several processes may write at once (the last rename wins, whole).
    """
    tmp = temporary_path(path, per_process_temp=per_process_temp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):  # also when a stale temporary file had other bits
            os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
