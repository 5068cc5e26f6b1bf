"""A pairing commits on both sides or on neither: the key keeps a host's old pairing until the
host opens a session under the new one, so a pairing the host failed to store, or cancelled,
leaves the old one working on both ends."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest

from firmware_sim.firmware.button import Button
from firmware_sim.firmware.clock import KeyClock
from firmware_sim.firmware.core import Firmware
from firmware_sim.firmware.flash import Flash
from firmware_sim.links.memory import MemoryTransport
from firmware_sim.testing.paired import SecureLink, pair_firmware
from keybridge.hostconfig import ConfigError, HostConfig
from keybridge.protocol.commands import OtpPutRequest, SessionOpenRequest
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure import SessionHost
from keybridge.session import ConnectOptions, KeySession

SECRET = b"12345678901234567890"
HOST = b"\x05" * 16


def works(firmware: Firmware, link: SecureLink) -> bool:
    """A session opens with ``link``'s pairing and a sealed request runs in it."""
    try:
        link.open()
    except Exception:
        return False
    [raw] = link.handle(encode_message(Request(7, Command.OTP_LIST)))
    response = decode_message(raw)
    return isinstance(response, Response) and response.status == Status.OK


def test_a_new_pairing_waits_beside_the_old_until_a_session_uses_it() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    old = SecureLink(firmware, pair_firmware(firmware, host_id=HOST))
    new_pairing = pair_firmware(firmware, host_id=HOST)
    [host] = firmware.state.hosts
    assert host.pairing_key == old.pairing.pairing_key
    assert host.pending_key == new_pairing.pairing_key
    assert works(firmware, old)  # the host never stored the new one: the old still works
    assert works(firmware, old)
    # The pending pairing survives a restart of the key.
    restarted = Firmware(firmware.flash, KeyClock(), Button("auto"))
    assert restarted.state.hosts == firmware.state.hosts

    new = SecureLink(firmware, new_pairing)
    assert works(firmware, new)  # opened under the new one: committed
    [host] = firmware.state.hosts
    assert (host.pairing_key, host.pending_key) == (new_pairing.pairing_key, None)
    assert firmware.flash.load() == firmware.state
    assert not works(firmware, old)
    assert works(firmware, new)


def test_a_session_open_alone_commits_nothing() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    old = SecureLink(firmware, pair_firmware(firmware, host_id=HOST))
    new_pairing = pair_firmware(firmware, host_id=HOST)
    # Someone replays the new pairing's SESSION_OPEN without its key: no frame ever opens.
    opening = SessionHost(new_pairing)
    body = SessionOpenRequest(opening.request(), new_pairing.pairing_id)
    firmware.handle(encode_message(Request(3, Command.SESSION_OPEN, body.to_fields())))
    forged = b"\x10" + bytes(8) + encode_message(Request(4, Command.OTP_LIST)) + bytes(16)
    firmware.handle(forged)
    assert firmware.state.hosts[0].pending_key == new_pairing.pairing_key
    assert works(firmware, old)


def test_a_pairing_id_of_the_wrong_length_is_a_bad_parameter() -> None:
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    pairing = pair_firmware(firmware, host_id=HOST)
    body = SessionOpenRequest(SessionHost(pairing).request(), bytes(7))
    [raw] = firmware.handle(encode_message(Request(3, Command.SESSION_OPEN, body.to_fields())))
    assert decode_message(raw).status == Status.BAD_PARAMETER  # type: ignore[union-attr]


@pytest.fixture
def paired(tmp_path: Path) -> tuple[Firmware, Path]:
    """A key with a credential, paired with the host config in ``tmp_path``."""
    firmware = Firmware(Flash.memory(), KeyClock(), Button("auto"))
    config = HostConfig.load(tmp_path)
    link = SecureLink(firmware, pair_firmware(firmware, config))
    link.handle(
        encode_message(Request(1, Command.OTP_PUT, OtpPutRequest("bank", SECRET).to_fields()))
    )
    return firmware, tmp_path


async def names_seen_by(firmware: Firmware, directory: Path) -> list[str]:
    """A fresh host process: loads its config, connects, lists the credentials."""
    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=HostConfig.load(directory)))
        assert key.encrypted
        await key.info()
        return [c.name for c in await key.otp_list()]


async def test_a_pairing_the_host_fails_to_save_leaves_the_old_one_working(
    paired: tuple[Firmware, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    firmware, directory = paired
    before = (directory / "pairings.json").read_bytes()

    def read_only(*args: object, **kwargs: object) -> None:
        # Stands in for a read-only config directory (the tests may run as root).
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("keybridge.hostconfig.write_atomically", read_only)
    config = HostConfig.load(directory)
    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(transport, ConnectOptions(config=config, secure=False))
        with pytest.raises(ConfigError, match="cannot write the pairing file"):
            await key.pairing.pair(lambda code: True)
        # This process goes on with the pairing its file holds, and so does the key.
        assert config.pairing_for(firmware.serial) == HostConfig.load(directory).pairing_for(
            firmware.serial
        )
    monkeypatch.undo()
    assert (directory / "pairings.json").read_bytes() == before
    assert firmware.state.hosts[0].pending_key is not None  # the key kept both
    assert await names_seen_by(firmware, directory) == ["bank"]
    assert firmware.state.hosts[0].pending_key is not None


async def test_pairing_again_commits_when_the_host_stored_it(
    paired: tuple[Firmware, Path],
) -> None:
    firmware, directory = paired
    old_key = firmware.state.hosts[0].pairing_key
    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(
            transport, ConnectOptions(config=HostConfig.load(directory), secure=False)
        )
        await key.pairing.pair(lambda code: True)  # saves, opens a session: commits
    [host] = firmware.state.hosts
    assert host.pending_key is None and host.pairing_key != old_key
    assert await names_seen_by(firmware, directory) == ["bank"]


async def test_a_cancelled_pairing_stores_nothing_and_the_old_one_works(
    paired: tuple[Firmware, Path],
) -> None:
    firmware, directory = paired
    before = firmware.state
    firmware.button = Button("manual")
    shown = asyncio.Event()

    async def user_waits(code: str) -> bool:
        shown.set()
        await asyncio.sleep(3600)  # never answers: the user presses Ctrl-C instead
        return True

    async with MemoryTransport(firmware) as transport:
        key = await KeySession.attach(
            transport, ConnectOptions(config=HostConfig.load(directory), secure=False)
        )
        pairing = asyncio.ensure_future(key.pairing.pair(user_waits))
        await shown.wait()
        assert firmware.waiting
        pairing.cancel()  # what Ctrl-C does to the command's task
        with pytest.raises(asyncio.CancelledError):
            await pairing
        assert not firmware.waiting and firmware.display is None
    assert not firmware.button.press()
    assert firmware.state == before
    firmware.button = Button("auto")
    assert await names_seen_by(firmware, directory) == ["bank"]


def test_a_pending_pairing_of_the_wrong_size_is_a_damaged_state() -> None:
    from firmware_sim.firmware.state import KeyState, PairedHost, check_state

    host = PairedHost(HOST, bytes(32), bytes(31))
    with pytest.raises(ValueError, match=r"hosts\[0\]\.pending"):
        check_state(KeyState(serial="KB0123456789", key_id=bytes(16), hosts=(host,)))
