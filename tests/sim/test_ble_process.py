"""A second process joins a simulator's virtual radio through the HCI relay on loopback."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from keybridge.transport.ble import BACKEND_ENV, BleBackend, BleTransport, scan, transport_for_url
from keybridge.transport.bumble_backend import BumbleCentral


@pytest.fixture
async def simulator() -> AsyncIterator[list[str]]:
    """``python -m firmware_sim.links.virtual_radio`` with two echo keys; yields the READY
    URLs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "firmware_sim.links.virtual_radio",
        "--keys",
        "2",
        "--name",
        "kbp",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        urls = []
        async with asyncio.timeout(15):
            for _ in range(2):
                line = (await process.stdout.readline()).decode().strip()
                assert line.startswith("READY ble://"), line
                urls.append(line.removeprefix("READY "))
        yield urls
    finally:
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(10):
            await process.wait()
    assert process.returncode == 0


async def test_url_alone_reaches_the_key(simulator: list[str]) -> None:
    for url in simulator:
        for _ in range(2):  # the second session finds the key advertising again
            async with transport_for_url(url) as link:
                await link.send(b"hello " + url.encode())
                assert await link.receive(3.0) == b"hello " + url.encode()


async def test_env_var_selects_bumble_and_name_works(
    simulator: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hci = simulator[0].split("?hci=")[1]
    monkeypatch.setenv(BACKEND_ENV, f"bumble:{hci}")
    found = await scan(0.3)
    assert sorted(k.name or "" for k in found) == ["kbp-1", "kbp-2"]
    assert {k.url for k in found} == set(simulator)
    async with BleTransport("ble:kbp-2", timeout=3, scan_timeout=3) as link:
        await link.send(b"by name")
        assert await link.receive(3.0) == b"by name"


async def test_host_vanishing_frees_the_key(simulator: list[str]) -> None:
    url = simulator[0]
    hci = url.split("?hci=")[1]
    central = await BumbleCentral.open(hci)
    link = BleTransport(url, backend=BleBackend.on_central(central), timeout=3, scan_timeout=3)
    await link.open()
    await link.send(b"x")
    assert await link.receive(3.0) == b"x"
    # The host's HCI connection goes away without a BLE disconnect (a killed process).
    transport = central._transport
    assert transport is not None
    await transport.close()
    central._transport = None
    async with transport_for_url(url) as again:
        await again.send(b"y")
        assert await again.receive(3.0) == b"y"
