"""Several hosts paired with one key, each revocable: an unpaired host's next session fails
with a clear error, over a real pty to a simulator process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.simulator import Simulator
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.status import AccessDeniedError, NotFoundError
from keybridge.session import ConnectOptions, KeySession

MakeSimulator = Callable[..., Simulator]


async def test_a_host_unpairs_another_then_itself(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    sim = make_simulator()  # paired with this test's host ("laptop")
    laptop = HostConfig.load()
    desktop = HostConfig.load(tmp_path / "desktop")
    async with KeySession.connect(sim.url, ConnectOptions(config=desktop)) as key:
        assert not key.encrypted
        await key.pairing.pair(lambda code: True)
        await key.otp_put(Credential.from_secret(b"12345678901234567890"), "bank")
    async with KeySession.connect(sim.url) as key:
        hosts = await key.pairing.hosts()
        assert sorted(hosts) == sorted([(laptop.host_id, True), (desktop.host_id, False)])
        await key.pairing.unpair(desktop.host_id)
        assert await key.pairing.hosts() == [(laptop.host_id, True)]
        with pytest.raises(NotFoundError, match="no paired host"):
            await key.pairing.unpair(desktop.host_id)
        assert [c.name for c in await key.otp_list()] == ["bank"]  # credentials stay

    # The desktop still holds its pairing key, but the key no longer knows it.
    assert key.key_info is not None
    assert HostConfig.load(tmp_path / "desktop").pairing_for(key.key_info.serial) is not None
    with pytest.raises(AccessDeniedError, match=r"no longer knows this host.*keybridge pair"):
        async with KeySession.connect(sim.url, ConnectOptions(config=desktop)):
            pass

    async with KeySession.connect(sim.url) as key:
        await (
            key.pairing.unpair()
        )  # this host itself: the session ends, the pairing is forgotten here
        assert not key.encrypted
        assert HostConfig.load().keys == []
        with pytest.raises(AccessDeniedError, match="keybridge pair"):
            await key.otp_list()
        assert (await key.info()).paired_hosts == 0
