"""KeyClock modes and parsing; Button modes, the manual wait and parsing."""

from __future__ import annotations

import pytest

from firmware_sim.firmware.button import Button, Decision
from firmware_sim.firmware.clock import ClockBackwardsError, KeyClock
from keybridge.errors import InvalidInputError
from keybridge.protocol.constants import CLOCK_BACKWARDS_TOLERANCE_S


class Source:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_real_clock_is_unset_until_the_host_sets_it() -> None:
    src = Source()
    clock = KeyClock(src)
    assert clock.now() is None and not clock.is_set
    assert clock.set(1_700_000_000) == 1_700_000_000
    src.t += 42.5
    assert clock.now() == 1_700_000_042.5
    clock.clear()
    assert clock.now() is None


def test_backwards_tolerance_and_force() -> None:
    clock = KeyClock(Source())
    clock.set(10_000)
    assert clock.set(10_000 - CLOCK_BACKWARDS_TOLERANCE_S) == 10_000 - CLOCK_BACKWARDS_TOLERANCE_S
    with pytest.raises(ClockBackwardsError, match="force") as info:
        clock.set(10_000 - 2 * CLOCK_BACKWARDS_TOLERANCE_S - 1)
    assert info.value.current == 10_000 - CLOCK_BACKWARDS_TOLERANCE_S
    assert clock.now() == 10_000 - CLOCK_BACKWARDS_TOLERANCE_S
    assert clock.set(5, force=True) == 5
    assert clock.set(10**12) == 10**12  # forward is always fine


def test_fixed_clock_is_always_set_and_ignores_the_host() -> None:
    src = Source()
    clock = KeyClock(src, "fixed", 59)
    assert clock.now() == 59
    assert clock.set(1_700_000_000) == 59
    src.t += 100
    clock.clear()
    assert clock.now() == 59 and clock.is_set


def test_offset_clock_skews_the_host_time() -> None:
    src = Source()
    clock = KeyClock(src, "offset", -90)
    assert clock.now() is None
    assert clock.set(1_700_000_000) == 1_700_000_000 - 90
    src.t += 10
    assert clock.now() == 1_700_000_000 - 80
    # The tolerance compares like with like: the same host time again is not "backwards".
    assert clock.set(1_700_000_000) == 1_700_000_000 - 90


def test_monotonic_follows_the_source_and_never_goes_back() -> None:
    src = Source(50)
    clock = KeyClock(src)
    assert clock.monotonic() == 50
    src.t = 40
    assert clock.monotonic() == 50
    src.t = 60
    assert clock.monotonic() == 60


@pytest.mark.parametrize(
    ("spec", "mode", "value"),
    [("real", "real", 0), ("fixed:59", "fixed", 59), ("FIXED:1.5", "fixed", 1.5),
     ("offset:-90", "offset", -90), (" offset:3600 ", "offset", 3600)],
)  # fmt: skip
def test_clock_parse(spec: str, mode: str, value: float) -> None:
    clock = KeyClock.parse(spec)
    assert (clock.mode, clock.value) == (mode, value)


@pytest.mark.parametrize(
    "spec", ["", "wall", "fixed", "fixed:", "fixed:soon", "fixed:-1", "offset:nan", "real:5"]
)
def test_clock_parse_errors_say_what_to_use(spec: str) -> None:
    with pytest.raises(InvalidInputError, match=r"real|example"):
        KeyClock.parse(spec)


def test_unknown_clock_mode() -> None:
    with pytest.raises(InvalidInputError):
        KeyClock(mode="drift")  # type: ignore[arg-type]


# -- Button ----------------------------------------------------------------------------------


def test_auto_and_deny() -> None:
    assert Button("auto").request(0) is Decision.APPROVED
    button = Button("deny")
    assert button.request(0) is Decision.DENIED
    assert not button.pending


def test_manual_press() -> None:
    button = Button("manual")
    assert button.press() is False  # nothing waits yet
    assert button.request(100) is Decision.PENDING
    assert button.pending and button.deadline == 115
    assert button.check(114.9) is Decision.PENDING
    assert button.press() is True
    assert button.press() is False  # already settled
    assert button.check(114.9) is Decision.APPROVED
    assert not button.pending


def test_manual_decline_and_timeout() -> None:
    button = Button("manual", timeout=2)
    button.request(0)
    button.decline()
    assert button.check(1) is Decision.DENIED
    button.request(10)
    assert button.check(11.99) is Decision.PENDING
    assert button.check(12) is Decision.TIMEOUT
    assert button.check(13) is Decision.DENIED  # nothing pending any more


def test_a_new_request_cancels_the_old_one() -> None:
    button = Button("manual")
    button.request(0)
    button.press()
    assert button.request(1) is Decision.PENDING
    assert button.check(1) is Decision.PENDING  # the earlier press does not carry over


def test_scripted_steps_then_deny() -> None:
    button = Button("scripted", ["timeout", "press", "deny"])
    decisions = [button.request(0) for _ in range(5)]
    assert decisions == [
        Decision.TIMEOUT,
        Decision.APPROVED,
        Decision.DENIED,
        Decision.DENIED,
        Decision.DENIED,
    ]


@pytest.mark.parametrize(
    ("spec", "mode", "script"),
    [
        ("auto", "auto", []),
        ("Deny", "deny", []),
        ("manual", "manual", []),
        ("scripted:press, deny,timeout", "scripted", ["press", "deny", "timeout"]),
        ("scripted:", "scripted", []),
    ],
)
def test_button_parse(spec: str, mode: str, script: list[str]) -> None:
    button = Button.parse(spec)
    assert (button.mode, list(button.script)) == (mode, script)


@pytest.mark.parametrize("spec", ["", "always", "auto:1", "scripted:press,hold"])
def test_button_parse_errors(spec: str) -> None:
    with pytest.raises(InvalidInputError, match="use"):
        Button.parse(spec)
