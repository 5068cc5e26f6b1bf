"""Every branch of the error tree maps to the exit code the README documents."""

from __future__ import annotations

import pytest

from keybridge.cli.errors import ExitCode, exit_code_for
from keybridge.errors import (
    BrowserUnreachableError,
    DeviceNotFoundError,
    InvalidCodeError,
    InvalidSecretError,
    KeyboardBackendError,
    KeybridgeError,
    LinkTimeoutError,
    MalformedCodeError,
    VersionMismatchError,
)
from keybridge.protocol.constants import Status
from keybridge.protocol.secure.errors import (
    ForgedFrameError,
    PairingError,
    PairingRejectedError,
    SessionOpenError,
    UnknownHostError,
)
from keybridge.protocol.status import AccessDeniedError, ButtonError, NotFoundError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidSecretError("bad"), ExitCode.BAD_INPUT),
        (MalformedCodeError("bad"), ExitCode.BAD_INPUT),
        (DeviceNotFoundError("none"), ExitCode.NO_DEVICE),
        (LinkTimeoutError("slow"), ExitCode.NO_DEVICE),
        (BrowserUnreachableError("no browser at --cdp"), ExitCode.NO_DEVICE),
        (KeyboardBackendError("playwright missing"), ExitCode.REFUSED),
        (VersionMismatchError("v2"), ExitCode.PROTOCOL),
        (ForgedFrameError("tampered"), ExitCode.PROTOCOL),
        (PairingError("bad MAC"), ExitCode.PROTOCOL),
        (PairingRejectedError("codes differ"), ExitCode.REFUSED),
        (SessionOpenError("stale pairing"), ExitCode.REFUSED),
        (UnknownHostError("unpaired"), ExitCode.REFUSED),
        (InvalidCodeError("wrong code"), ExitCode.REFUSED),
        (NotFoundError(Status.NOT_FOUND, "no such credential"), ExitCode.REFUSED),
        (AccessDeniedError(Status.ACCESS_DENIED, "not paired"), ExitCode.REFUSED),
        (ButtonError(Status.BUTTON_DENIED, "declined"), ExitCode.REFUSED),
        (KeybridgeError("other"), ExitCode.REFUSED),
    ],
)
def test_exit_code_for(error: KeybridgeError, code: ExitCode) -> None:
    assert exit_code_for(error) is code
