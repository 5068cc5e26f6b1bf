"""The ``keybridge`` console script: ``otp code NAME`` answered by a running agent without
loading click, asyncio or the session stack; everything else goes to :mod:`keybridge.cli.main`.

The fast path takes only ``keybridge [--device URL] otp code NAME`` when an agent of this user
answers, serves that device and needs no PIN from the user. NAME is matched as the full command
matches it (the exact name, else one equal ignoring case, else a unique part of one); several
matches or none run the full command, which lists them or suggests the nearest. Its output and
the button countdown on stderr are the full command's, held equal by
``tests/cli/test_cli_agent.py``. Anything else
(``--json``, no agent, a PIN to ask for, an error before the key waited for its button) runs the
full command, which answers as it always does: an error response changed nothing on the key,
so asking again is safe. An error after a button wait (denied, timed out) is not asked again:
it is shown as the full command shows it, one ``Error:`` line with its exit code.
"""

from __future__ import annotations

import json
import os
import socket
import sys

TYPE_CHECKING = False  # the typing module costs a few ms of this path's start
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main"]


def main() -> None:
    """Run ``keybridge``: the fast path when it applies, else the full CLI."""
    code = _fast(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from keybridge.cli.main import main as full

    full()


def _parse(argv: list[str]) -> tuple[str | None, str] | None:
    """(device, name) for ``[--device URL] otp code NAME``; else None."""
    device, rest = None, list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("--device", "-d") and rest:
            device = rest.pop(0)
        elif option.startswith("--device="):
            device = option.removeprefix("--device=")
        else:
            return None
    if len(rest) != 3 or rest[:2] != ["otp", "code"] or rest[2].startswith("-"):
        return None
    return device, rest[2]


def _fast(argv: list[str]) -> int | None:
    """The fast path's exit status, or None when the full command must run."""
    parsed = _parse(argv)
    if parsed is None:
        return None
    device, name = parsed
    device = device if device is not None else os.environ.get("KEYBRIDGE_DEVICE")
    from keybridge.agent.paths import agent_disabled, peer_credentials, socket_path

    if agent_disabled():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(socket_path()))
            if peer_credentials(sock)[1] != os.getuid():
                return None  # the full command refuses it with its message
            stream = sock.makefile("rwb")
            if device and _call(stream, 1, "status", {})["device"] != device.strip():
                return None
            state = _call(stream, 2, "session", {"secure": True})
            info = state.get("key_info") or {}
            if state.get("encrypted") and info.get("pin_set") and not state.get("unlocked"):
                return None  # the full command asks for the PIN
            code = _code(stream, name)
    except _Failed as failed:
        return failed.show()
    except (OSError, ValueError, KeyError, TypeError, _Fallback):
        return None
    # As keybridge.cli.cmd_otp.render_code renders it.
    if code.get("valid_for") is not None:
        print(f"{code['code']}  (valid for {code['valid_for']} s)")
    else:
        print(code["code"])
    return 0


def _code(stream: Any, query: str) -> Any:
    """The code of the credential ``query`` names, matched as the full command matches names
    (:func:`keybridge.otp.name_match.match_name`): the exact name costs one request; another
    one picking a single name, a listing and a second request; several names or none, the
    full command (it lists them, or suggests the nearest)."""
    try:
        return _call(stream, 3, "otp.calculate", {"name": query})
    except _Fallback as refused:
        if refused.error_type != _NOT_FOUND:
            raise
    from keybridge.otp.name_match import matching_names

    names = [entry["name"] for entry in _call(stream, 4, "otp.list", {})]
    found = matching_names(query, names)
    if len(found) != 1 or found[0] == query:
        raise _Fallback(None)
    return _call(stream, 5, "otp.calculate", {"name": found[0]})


_NOT_FOUND = "keybridge.protocol.status.NotFoundError"


class _Fallback(Exception):
    """The agent answered with an error: the full command runs and reports it."""

    def __init__(self, error: Any) -> None:
        self.error_type = error.get("type") if isinstance(error, dict) else None


class _Failed(Exception):
    """The agent answered with an error after the key waited for its button."""

    def __init__(self, error: Any) -> None:
        self.error = error

    def show(self) -> int:
        """Print the error as the full command does; its exit code."""
        from keybridge.agent.wire import decode_error
        from keybridge.cli.errors import exit_code_for

        exc = decode_error(self.error)
        print(f"Error: {exc}", file=sys.stderr)
        return int(exit_code_for(exc))


def _call(stream: Any, request_id: int, op: str, args: dict[str, Any]) -> Any:
    line = {"v": 1, "id": request_id, "op": op, "args": args}
    stream.write(json.dumps(line).encode() + b"\n")
    stream.flush()
    waited = False
    while True:
        message = json.loads(stream.readline())
        if message.get("event") == "keepalive":
            _countdown(int(message["ms_left"]))
            waited = True
            continue
        if message.get("id") != request_id or "event" in message:
            raise _Fallback(None)
        if message.get("ok") is not True:
            error = message.get("error")
            raise _Failed(error) if waited else _Fallback(error)
        return message.get("result")


def _countdown(ms_left: int) -> None:
    # As keybridge.cli.common._countdown prints it (text mode).
    if not sys.stderr.isatty():
        print(f"Press the button on your key ({ms_left // 1000} s left)...", file=sys.stderr)
        return
    print(
        f"\rPress the button on your key ({ms_left // 1000:2d} s left)... ", end="", file=sys.stderr
    )
    sys.stderr.flush()
