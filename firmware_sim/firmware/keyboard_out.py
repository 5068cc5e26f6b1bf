"""The key types by itself: OTP_TYPE to the key's own keyboard, and the button gesture.

A key served as a BLE keyboard (HID over GATT, :mod:`firmware_sim.links.ble_hid`) gives the core
a :class:`KeyboardOut`: the reports OTP_TYPE would return go out as HID input reports to the
bonded host instead, and a gesture on the button (a long press, say: :class:`Gesture`) types the
configured credential's code and Enter with no host software at all.

Refusals come before any report goes out: no bonded host connected (``NO_KEYBOARD_HOST``), a
layout the key cannot type (``UNSUPPORTED_LAYOUT`` / ``CANNOT_TYPE``); a gesture while another
request waits for the button, or while an earlier code is still being typed, is ignored and
logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from firmware_sim.firmware import otp_store
from firmware_sim.firmware.dispatch import Refused, Wait
from keybridge.errors import InvalidInputError
from keybridge.otp.names import name_problem
from keybridge.protocol.commands import Body, OtpTypeRequest, OtpTypeResponse
from keybridge.protocol.constants import Status, TypeTarget
from keybridge.protocol.record import Record

if TYPE_CHECKING:
    from firmware_sim.firmware.state import KeyState

__all__ = ["GESTURES", "Gesture", "KeyboardOut", "otp_type", "perform_gesture"]

log = logging.getLogger(__name__)

GESTURES = ("long-press", "double-press")
"""The gestures a key can be told to type on (what the user does with the button)."""

_NO_HOST = (
    "no bonded host is connected to the key's keyboard: pair the key as a Bluetooth keyboard "
    "with the computer (its Bluetooth settings) and keep it connected, or type on the host"
)


class KeyboardOut(Protocol):
    """The key's own keyboard: where HID input reports go (the BLE link provides it)."""

    @property
    def host_connected(self) -> bool:
        """A bonded host is connected over an encrypted link."""
        ...

    @property
    def busy(self) -> bool:
        """Reports of an earlier code are still going out."""
        ...

    def send(self, reports: bytes) -> None:
        """Queue boot-keyboard reports (8 bytes each) for the bonded host, in order."""
        ...


class Gesture(Record):
    """A button gesture that types ``name``'s code and Enter on the key's keyboard."""

    kind: str
    name: str

    @classmethod
    def parse(cls, spec: str) -> Gesture:
        """``KIND:NAME``, e.g. ``long-press:HES.Web:admin@hideez.com``."""
        kind, sep, name = spec.partition(":")
        if kind not in GESTURES or not sep or not name:
            raise InvalidInputError(
                f"unknown gesture {spec!r}: use KIND:NAME with KIND one of "
                f"{', '.join(GESTURES)} and NAME a credential, e.g. long-press:HES.Web:admin"
            )
        problem = name_problem(name, "the gesture's credential name")
        if problem is not None:
            raise InvalidInputError(f"gesture {spec!r}: {problem}")
        return cls(kind, name)


Code = Callable[[str], otp_store.Computed]
"""The core's code computation (an HOTP counter is saved before the code is used)."""


def otp_type(
    state: KeyState,
    body: OtpTypeRequest,
    now: float | None,
    code: Code,
    keyboard: KeyboardOut | None,
) -> Body | Wait:
    """OTP_TYPE's handler: every check before the button wait, and again before sending."""
    _, credential = otp_store.lookup(state, body.name)
    requested = body.layout if body.layout is not None else credential.layout
    layout = otp_store.resolve_layout(requested if requested is not None else "us")
    otp_store.check_typeable(layout, body.enter)
    otp_store.check_computable(credential, now)
    to_keyboard = body.target is not None and body.target != TypeTarget.HOST
    if to_keyboard:
        if body.target != TypeTarget.KEYBOARD:
            raise Refused(
                Status.BAD_PARAMETER,
                f"TARGET {body.target} is unknown: use 0 (the host) or 1 (the key's keyboard)",
            )
        _check_host(keyboard)

    def type_code() -> Body:
        if to_keyboard:
            _check_host(keyboard)  # the host may have gone while the button was waited for
        computed = code(body.name)
        reports = otp_store.type_reports(computed.code, layout, body.enter)
        if not to_keyboard:
            return OtpTypeResponse(reports=reports, layout=layout.id)
        assert keyboard is not None
        keyboard.send(reports)
        return OtpTypeResponse(reports=b"", layout=layout.id)

    return Wait(type_code) if credential.require_button else type_code()


def _check_host(keyboard: KeyboardOut | None) -> None:
    if keyboard is None or not keyboard.host_connected:
        raise Refused(Status.NO_KEYBOARD_HOST, _NO_HOST)


class GestureCore(Protocol):
    """What a gesture needs of the core."""

    @property
    def state(self) -> KeyState: ...

    @property
    def waiting(self) -> bool: ...

    @property
    def keyboard(self) -> KeyboardOut | None: ...

    def code(self, name: str) -> otp_store.Computed: ...

    def clock_now(self) -> float | None: ...


def perform_gesture(core: GestureCore, gesture: Gesture) -> bool:
    """The user made ``gesture`` on the button: type its credential's code and Enter.

    The gesture is the user's presence (no further press is asked). Returns whether reports
    went out; every reason they did not is logged.
    """
    what = f"{gesture.kind} gesture"
    if core.waiting:
        log.warning("%s ignored: another request is waiting for the button", what)
        return False
    keyboard = core.keyboard
    if keyboard is not None and keyboard.busy:
        log.warning("%s ignored: the key is still typing the previous code", what)
        return False
    try:
        _check_host(keyboard)
        _, credential = otp_store.lookup(core.state, gesture.name)
        layout = otp_store.resolve_layout(credential.layout or "us")
        otp_store.check_typeable(layout, True)
        otp_store.check_computable(credential, core.clock_now())
        computed = core.code(gesture.name)
    except Refused as refused:
        log.warning("%s ignored: %s", what, refused.detail)
        return False
    assert keyboard is not None
    keyboard.send(otp_store.type_reports(computed.code, layout, True))
    log.info("%s: typed the code of %r on the key's keyboard", what, gesture.name)
    return True
