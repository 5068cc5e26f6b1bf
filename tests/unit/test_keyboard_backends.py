"""Keyboard backends: stdout, the in-memory sink, and the OS backend with a stand-in evdev."""

from __future__ import annotations

import contextlib
import gc
import io
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from keybridge.errors import InvalidInputError, KeyboardBackendError
from keybridge.keyboard import (
    LAYOUTS,
    RELEASE,
    KeyboardBackend,
    OsBackend,
    SinkBackend,
    StdoutBackend,
    encode_text,
    get_backend,
)
from keybridge.keyboard import backends as backends_module

US, FR = LAYOUTS["us"], LAYOUTS["fr"]
BAD = [bytes.fromhex("0100040000000000"), RELEASE]  # Ctrl+A types nothing

EV_KEY = 1
KEY_A, KEY_1, KEY_LEFTSHIFT, KEY_ENTER = 30, 2, 42, 28


@pytest.mark.parametrize(
    ("name", "kind"), [("stdout", StdoutBackend), ("sink", SinkBackend), ("OS", OsBackend)]
)
def test_get_backend(name: str, kind: type) -> None:
    backend = get_backend(name)
    assert isinstance(backend, kind)
    assert isinstance(backend, KeyboardBackend)


def test_unknown_backend() -> None:
    with pytest.raises(InvalidInputError, match=r"'printer'.*stdout, sink, os"):
        get_backend("printer")


async def test_stdout_prints_text_as_typed() -> None:
    stream = io.StringIO()
    await StdoutBackend(stream).deliver(encode_text("123 456\n", FR), FR)
    assert stream.getvalue() == "123 456\n"


async def test_stdout_defaults_to_sys_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    await StdoutBackend().deliver(encode_text("Zürich@", "de"), LAYOUTS["de"])
    assert capsys.readouterr().out == "Zürich@"


async def test_stdout_prints_nothing_for_bad_reports() -> None:
    stream = io.StringIO()
    with pytest.raises(InvalidInputError):
        await StdoutBackend(stream).deliver([*encode_text("ab", US), *BAD], US)
    assert stream.getvalue() == ""


async def test_sink_collects_text_and_reports() -> None:
    sink = SinkBackend()
    first, second = encode_text("123", US), encode_text("456\n", US)
    await sink.deliver(first, US)
    await sink.deliver(second, US)
    assert sink.text == "123456\n"
    assert sink.deliveries == ["123", "456\n"]
    assert sink.reports == first + second
    sink.clear()
    assert (sink.text, sink.reports) == ("", [])


async def test_sink_calls_sync_and_async_callbacks() -> None:
    seen: list[str] = []

    async def form(text: str) -> None:
        seen.append("async " + text)

    await SinkBackend(seen.append).deliver(encode_text("42", FR), FR)
    await SinkBackend(form).deliver(encode_text("7", FR), FR)
    assert seen == ["42", "async 7"]


async def test_sink_records_nothing_for_bad_reports() -> None:
    seen: list[str] = []
    sink = SinkBackend(seen.append)
    with pytest.raises(InvalidInputError):
        await sink.deliver(BAD, US)
    assert (sink.text, sink.reports, seen) == ("", [], [])


# The OS backend's uinput driver, with a stand-in for python-evdev (not a core dependency).


class FakeUInput:
    instances: ClassVar[list[FakeUInput]] = []

    def __init__(self, events: dict[int, list[int]], name: str) -> None:
        self.capabilities = events
        self.name = name
        self.log: list[tuple[int, int] | str] = []
        self.closed = False
        FakeUInput.instances.append(self)

    def write(self, etype: int, code: int, value: int) -> None:
        assert etype == EV_KEY
        self.log.append((code, value))

    def syn(self) -> None:
        self.log.append("syn")

    def close(self) -> None:
        self.closed = True

    def key_events(self) -> list[tuple[int, int]]:
        return [entry for entry in self.log if entry != "syn"]  # type: ignore[misc]


class FakeUInputError(Exception):
    pass


def fake_evdev(uinput: Any = FakeUInput) -> types.ModuleType:
    module = types.ModuleType("evdev")
    module.ecodes = types.SimpleNamespace(EV_KEY=EV_KEY)  # type: ignore[attr-defined]
    module.UInput = uinput  # type: ignore[attr-defined]
    module.UInputError = FakeUInputError  # type: ignore[attr-defined]
    return module


@pytest.fixture(autouse=True)
def no_real_os_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, whatever is installed; no desktop session.
    monkeypatch.setitem(sys.modules, "evdev", None)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    FakeUInput.instances.clear()


async def test_os_backend_without_display_or_evdev_says_both() -> None:
    with pytest.raises(KeyboardBackendError) as caught:
        await OsBackend(settle=0).deliver(encode_text("1", US), US)
    message = str(caught.value)
    assert "no X display (DISPLAY is not set)" in message
    assert "python-evdev is not installed" in message
    assert "\n" not in message


async def test_os_backend_on_wayland_says_uinput(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("DISPLAY", ":0")  # XWayland: XTEST would not reach Wayland windows
    with pytest.raises(KeyboardBackendError, match=r"Wayland session .* through uinput"):
        await OsBackend(settle=0).deliver(encode_text("1", US), US)


@contextlib.contextmanager
def python_xlib_leaks_sockets() -> Iterator[None]:
    # python-xlib leaves the sockets of a failed connection to the garbage collector.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield
        gc.collect()


async def test_os_backend_names_a_display_it_cannot_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":4711")  # nothing listens there
    expected = r"cannot open the X display ':4711'"
    with python_xlib_leaks_sockets(), pytest.raises(KeyboardBackendError, match=expected):
        await OsBackend(driver="x11").deliver(encode_text("1", US), US)


async def test_os_backend_prefers_x11_then_uinput(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":4711")
    monkeypatch.setitem(sys.modules, "evdev", fake_evdev())
    with python_xlib_leaks_sockets(), OsBackend(settle=0, key_delay=0) as backend:
        await backend.deliver(encode_text("a", US), US)  # X11 cannot open: uinput types
    assert FakeUInput.instances[0].key_events() == [(KEY_A, 1), (KEY_A, 0)]


async def test_os_backend_types_key_events_through_uinput(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "evdev", fake_evdev())
    with OsBackend(settle=0, key_delay=0) as backend:
        await backend.deliver(encode_text("1a\n", FR), FR)
        device = FakeUInput.instances[0]
        assert KEY_LEFTSHIFT in device.capabilities[EV_KEY]
        assert device.key_events() == [
            (KEY_LEFTSHIFT, 1), (KEY_1, 1), (KEY_1, 0), (KEY_LEFTSHIFT, 0),
            # AZERTY 'a' is the key in the US 'q' position: KEY_Q (16).
            (16, 1), (16, 0),
            (KEY_ENTER, 1), (KEY_ENTER, 0),
        ]  # fmt: skip
        # The modifier goes down in its own sync frame before the key.
        assert device.log[:4] == [(KEY_LEFTSHIFT, 1), "syn", (KEY_1, 1), "syn"]
        await backend.deliver(encode_text("a", US), US)
        assert len(FakeUInput.instances) == 1  # the virtual keyboard is reused
    assert device.closed


async def test_os_backend_releases_keys_left_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "evdev", fake_evdev())
    backend = OsBackend(settle=0, key_delay=0)
    await backend.deliver([bytes.fromhex("0200040000000000")], US)  # Shift+A, never released
    assert FakeUInput.instances[0].key_events() == [
        (KEY_LEFTSHIFT, 1), (KEY_A, 1), (KEY_A, 0), (KEY_LEFTSHIFT, 0),
    ]  # fmt: skip


async def test_os_backend_checks_reports_before_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "evdev", fake_evdev())
    with pytest.raises(InvalidInputError):
        await OsBackend(settle=0).deliver(BAD, US)
    assert FakeUInput.instances == []


def failing_uinput(*args: object, **kwargs: object) -> None:
    raise FakeUInputError('"/dev/uinput" cannot be opened for writing')


async def test_os_backend_explains_uinput_permission(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    device = tmp_path / "uinput"
    device.touch()
    monkeypatch.setattr(backends_module, "UINPUT_PATH", str(device))
    monkeypatch.setitem(sys.modules, "evdev", fake_evdev(failing_uinput))
    with pytest.raises(KeyboardBackendError, match=r"permission denied.*'input' group") as caught:
        await OsBackend(driver="uinput", settle=0).deliver(encode_text("1", US), US)
    assert "X display" not in str(caught.value)  # only uinput was asked for


async def test_os_backend_explains_missing_uinput_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(backends_module, "UINPUT_PATH", str(tmp_path / "absent"))
    monkeypatch.setitem(sys.modules, "evdev", fake_evdev(failing_uinput))
    with pytest.raises(KeyboardBackendError, match="modprobe uinput"):
        await OsBackend(driver="uinput", settle=0).deliver(encode_text("1", US), US)
