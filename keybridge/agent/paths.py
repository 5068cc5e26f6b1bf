"""Where the agent's socket lives, and the private directory around it.

``$KEYBRIDGE_AGENT_SOCKET`` names the socket (``off`` disables the agent for the CLI); else it is
``agent.sock`` in ``$XDG_RUNTIME_DIR/keybridge/``; without a runtime directory it is in
``/tmp/keybridge-<uid>/``. The directory is 0700 and must belong to this user (as ssh-agent's
and gpg-agent's): one owned by another user, or open to others when it is not ours to fix, is
refused, so no other user can reach the socket or put one in its place. Cheap to import: the
CLI reads it before deciding whether to load the session stack.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from pathlib import Path

from keybridge.errors import KeybridgeError

__all__ = [
    "SOCKET_ENV",
    "AgentPathError",
    "agent_disabled",
    "peer_credentials",
    "prepare_directory",
    "socket_path",
]

SOCKET_ENV = "KEYBRIDGE_AGENT_SOCKET"
SOCKET_NAME = "agent.sock"
LOG_NAME = "agent.log"
_OFF = "off"


class AgentPathError(KeybridgeError):
    """The agent's runtime directory cannot be used safely."""


def agent_disabled() -> bool:
    """``KEYBRIDGE_AGENT_SOCKET=off``: the CLI connects directly even when an agent runs."""
    return os.environ.get(SOCKET_ENV, "").strip().lower() == _OFF


def socket_path() -> Path:
    """The agent's socket path (whether or not an agent serves it)."""
    override = os.environ.get(SOCKET_ENV, "").strip()
    if override and override.lower() != _OFF:
        return Path(override)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    base = Path(runtime) / "keybridge" if runtime else Path(f"/tmp/keybridge-{os.getuid()}")
    return base / SOCKET_NAME


def prepare_directory(directory: Path) -> Path:
    """Create ``directory`` 0700, or check an existing one is ours (and take it to 0700)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError as exc:
        raise AgentPathError(
            f"cannot create the agent's directory {directory}: {exc.strerror}; set"
            f" {SOCKET_ENV} to a socket path in a directory of yours"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise AgentPathError(
            f"{directory} is not a directory of this user (uid {os.getuid()}): remove it, or"
            f" set {SOCKET_ENV} to a socket path in a directory of yours"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)
    return directory


def peer_credentials(sock: socket.socket) -> tuple[int, int]:
    """The (pid, uid) of the process at the other end of a Unix socket (``SO_PEERCRED``)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", raw)
    return pid, uid
