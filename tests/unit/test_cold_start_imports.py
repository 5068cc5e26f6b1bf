"""The simulator's cold start imports only what answering the first frame needs.

``python -m firmware_sim serve`` has a start-up budget (READY within 150 ms): cryptography, the
keyboard layouts and the OTP secret/URI parsers load on the first request that needs them. A
fresh interpreter (a subprocess) starts a key the way ``serve`` does and reports what it
imported, so a later top-level import cannot silently undo the lazy loading.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
import textwrap

import pytest

import keybridge.otp
import keybridge.protocol.secure
from firmware_sim.firmware.state import Credential, KeyState
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.protocol.commands import (
    BODIES,
    Empty,
    ListEntry,
    OtpListRequest,
    OtpListResponse,
    OtpPutRequest,
    PingBody,
)
from keybridge.protocol.constants import Command
from keybridge.protocol.messages import Fields, Request
from keybridge.protocol.record import Record

LAZY = (
    "cryptography",
    "keybridge.keyboard",
    "keybridge.otp.secret",
    "keybridge.otp.credential",
    "keybridge.protocol.secure.channel",
    "keybridge.protocol.secure.pairing",
    "keybridge.protocol.secure.session",
    "argparse",
    "asyncio",
    "tempfile",
)
"""Modules a starting simulator must not import."""

SCRIPT = """
import json, signal, sys
from firmware_sim.serve import KeyServer, ServeOptions, configure_logging

def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("cryptography", "keybridge")
                  or m.startswith("firmware_sim.links.")
                  or m in ("argparse", "asyncio", "tempfile"))

configure_logging(-1)
server = KeyServer(ServeOptions(announce=False, verbosity=-1, link=sys.argv[1]))
try:
    server.start()
    at_ready = loaded()
    from keybridge.protocol import Command, Request, encode_message
    port = server.ports[0]
    answer = port.device.handle(encode_message(Request(1, Command.GET_INFO)))
    after_info = loaded()
finally:
    server.close()
print(json.dumps({"ready": at_ready, "info": after_info, "status": answer[0][4]}))
"""


def start_a_key(link: str) -> dict[str, list[str] | int]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), link],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, list[str] | int] = json.loads(out.stdout)
    return result


def lazy_in(modules: object) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in LAZY)]


@pytest.mark.parametrize("link", ["pty", "tcp"])
def test_a_starting_key_imports_no_cryptography_layouts_or_uri_parser(link: str) -> None:
    result = start_a_key(link)
    assert lazy_in(result["ready"]) == []
    assert "keybridge.protocol.commands" in result["ready"]  # type: ignore[operator]
    # Only the link in use is imported (socket for TCP, tty for a pty).
    other = {"pty": "firmware_sim.links.tcp", "tcp": "firmware_sim.links.pty"}[link]
    assert other not in result["ready"]  # type: ignore[operator]
    assert f"firmware_sim.links.{link}" in result["ready"]  # type: ignore[operator]
    # The first frame (GET_INFO, status OK) is answered without cryptography; only its list
    # of layouts loads the keyboard tables.
    assert result["status"] == 0
    assert [m for m in lazy_in(result["info"]) if not m.startswith("keybridge.keyboard")] == []
    assert "keybridge.keyboard.layouts" in result["info"]  # type: ignore[operator]


@pytest.mark.parametrize("package", [keybridge.protocol.secure, keybridge.otp])
def test_lazy_packages_still_export_every_name(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    for name in names:
        assert getattr(package, name) is not None, name
    assert set(names) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        package.nope  # type: ignore[attr-defined]  # noqa: B018


# Bodies, messages and the key's state are Records: ==, hash, repr and the frozen setattr are
# written once in Record and __init__ compiles on first use (nothing generated at import); they
# must behave exactly as the methods of @dataclass(frozen=True) would.


def _reference(cls: type) -> type:
    """The same fields as a plain frozen dataclass, as a yardstick."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    copies = [
        (name, kind, dataclasses.field(default=f.default, repr=f.repr, compare=f.compare))
        for name, kind, f in fields
    ]
    return dataclasses.make_dataclass(cls.__name__, copies, frozen=True)


@pytest.mark.parametrize(
    "body",
    [
        Empty(),
        PingBody(b"\x00\xff"),
        OtpListRequest(7),
        OtpListResponse(1, (ListEntry("a", OtpKind.TOTP, Algorithm.SHA1, 6, 30, False),)),
        Request(7, Command.PING, Fields(((1, b"x"),))),
        Credential("name", b"0123456789abcdef0123"),  # secret has repr=False
        KeyState("KB01", (Credential("n", b"s" * 20),)),
    ],
)
def test_bodies_compare_hash_and_print_as_dataclasses(body: object) -> None:
    cls = type(body)
    values = {f.name: getattr(body, f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    reference = _reference(cls)(**values)
    assert repr(body) == repr(reference)
    assert hash(body) == hash(reference)
    assert body == cls(**values)
    assert body != reference  # another class never compares equal, as with dataclasses
    assert {body: 1}[cls(**values)] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        body.x = 1  # type: ignore[attr-defined]
    name = next((f.name for f in dataclasses.fields(cls)), "x")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(body, name, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(body, name)
    assert dataclasses.replace(body) == body  # type: ignore[type-var]


def test_bodies_with_different_values_differ() -> None:
    assert OtpListRequest(1) != OtpListRequest(2)
    assert Empty() != PingBody()
    assert OtpListRequest(1) != (1,)
    put = OtpPutRequest("n", b"secret-bytes-0123456")
    assert "secret-bytes" not in repr(put)  # a body's own __repr__ still wins
    assert all(dataclasses.is_dataclass(c) for pair in BODIES.values() for c in pair)


def test_a_record_compiles_its_init_on_first_use_with_dataclass_semantics() -> None:
    class Point(Record):
        """A record made here, so no test built one before."""

        x: int
        y: int = 2
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

    assert getattr(Point.__dict__["__init__"], "lazy", False)  # nothing compiled yet
    # Before the first instance: inspect (and hypothesis' builds) see the fields.
    assert str(inspect.signature(Point)).startswith("(x: 'int', y: 'int' = 2, tags: ")
    assert Point(1) == Point(x=1, y=2, tags=())
    assert not getattr(Point.__dict__["__init__"], "lazy", False)
    assert Point(1).tags is not Point(1, 2, ("a",)).tags
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=3)  # type: ignore[call-arg]
    assert dataclasses.astuple(Point(1)) == (1, 2, ())
    assert dataclasses.is_dataclass(Point)


def test_a_record_refuses_a_required_field_after_a_default_as_dataclasses_do() -> None:
    with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):

        class Bad(Record):
            x: int = 1
            y: int  # type: ignore[misc]


def test_a_record_with_slots_is_built_without_an_instance_dict() -> None:
    class Slotted(Record):
        """Fields in slots: __init__ stores through object.__setattr__."""

        __slots__ = ("x", "y")
        x: int
        y: str

    point = Slotted(1, "a")
    assert (point.x, point.y) == (1, "a") and not hasattr(point, "__dict__")
    assert point == Slotted(1, "a") and point != Slotted(2, "a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
