"""The PIN: required per session before OTP commands, retry counter spent and saved before the
comparison (so it survives SIGKILL), and the last wrong PIN erases every credential and pairing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from firmware_sim.firmware import security
from firmware_sim.simulator import Simulator
from firmware_sim.testing.pytest_plugin import SimKey
from keybridge.errors import InvalidInputError
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.constants import Status
from keybridge.protocol.status import AccessDeniedError, PinError
from keybridge.session import KeySession

MakeSimulator = Callable[..., Simulator]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def reconnect(sim_key: SimKey) -> KeySession:
    """A new session on the same link (the PIN is verified per session)."""
    await sim_key.session.open_session()
    return sim_key.session


async def test_pin_is_needed_once_per_session(sim_key: SimKey) -> None:
    key = sim_key.session
    await key.otp_put(Credential.from_secret(SECRET), "bank")
    await key.pin.set("2468")
    info = await key.info()
    assert (info.pin_set, info.pin_retries) == (True, 8)
    assert (await key.otp_calculate("bank")).code.isdigit()  # the setter's session is unlocked
    key = await reconnect(sim_key)
    with pytest.raises(PinError, match="verify it first") as error:
        await key.otp_calculate("bank")
    assert error.value.status == Status.PIN_REQUIRED
    assert error.value.attempts_remaining == 8
    assert (await key.info()).serial  # info and the clock need no PIN
    await key.pin.verify("2468")
    assert (await key.otp_calculate("bank")).code.isdigit()


async def test_wrong_pin_reports_attempts_and_a_right_one_restores_them(sim_key: SimKey) -> None:
    key = sim_key.session
    await key.pin.set("13579", max_retries=5)
    key = await reconnect(sim_key)
    for left in (4, 3):
        with pytest.raises(PinError, match=f"{left} attempts left") as error:
            await key.pin.verify("00000")
        assert (error.value.status, error.value.attempts_remaining) == (Status.PIN_INVALID, left)
    assert (await key.info()).pin_retries == 3
    await key.pin.verify("13579")
    assert (await key.info()).pin_retries == 5


async def test_counter_is_saved_before_the_comparison(
    sim_key: SimKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = sim_key.session
    await key.pin.set("1234")
    seen: list[int] = []
    compare = security.verify_pin  # type: ignore[attr-defined]

    def spying(*args: object, **kwargs: object) -> bool:
        stored = sim_key.firmware.flash.load()
        assert stored is not None and stored.pin is not None
        seen.append(stored.pin.retries_left)  # what a power cut now would leave
        return compare(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(security, "verify_pin", spying)
    await key.pin.verify("1234")
    with pytest.raises(PinError):
        await key.pin.verify("9999")
    assert seen == [7, 7]  # 8 - 1 was on flash before each comparison ran


async def test_eight_wrong_pins_wipe_the_key(sim_key: SimKey) -> None:
    key = sim_key.session
    await key.otp_put(Credential.from_secret(SECRET), "bank")
    await key.pin.set("1234")
    key = await reconnect(sim_key)
    for left in range(7, 0, -1):
        with pytest.raises(PinError) as error:
            await key.pin.verify("4321")
        assert error.value.attempts_remaining == left
    with pytest.raises(PinError, match="erased every credential and pairing") as error:
        await key.pin.verify("4321")
    assert (error.value.status, error.value.attempts_remaining) == (Status.PIN_LOCKED, 0)
    state = sim_key.firmware.state
    assert (state.credentials, state.hosts, state.pin) == ((), (), None)
    assert sim_key.firmware.flash.load() == state
    assert not key.encrypted and HostConfig.load().keys == []  # the host forgot it too
    with pytest.raises(AccessDeniedError, match="keybridge pair"):
        await key.otp_list()
    info = await key.info()
    assert (info.used, info.paired_hosts, info.pin_set) == (0, 0, False)


async def test_pin_change_and_bad_pins(sim_key: SimKey) -> None:
    key = sim_key.session
    await key.pin.set("1111")
    with pytest.raises(InvalidInputError):
        await key.pin.set("12a4")  # checked on the host, never sent
    with pytest.raises(PinError, match="7 attempts left"):
        await key.pin.change("2222", "3333")
    await key.pin.change("1111", "3333")
    key = await reconnect(sim_key)
    with pytest.raises(PinError, match="7 attempts left"):
        await key.pin.verify("1111")
    await key.pin.verify("3333")
    assert (await key.info()).pin_retries == 8


async def test_the_counter_survives_sigkill_between_attempts(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()
    async with KeySession.connect(sim.url) as key:
        await key.otp_put(Credential.from_secret(SECRET), "bank")
        await key.pin.set("5555", max_retries=4)
    for left in (3, 2, 1):
        async with KeySession.connect(sim.url) as key:
            with pytest.raises(PinError) as error:
                await key.pin.verify("0000")
            assert error.value.attempts_remaining == left
        sim.kill()  # a power cut right after the answer
        sim.start()
        async with KeySession.connect(sim.url) as key:
            assert (await key.info()).pin_retries == left
    async with KeySession.connect(sim.url) as key:
        with pytest.raises(PinError) as error:
            await key.pin.verify("0000")
        assert error.value.status == Status.PIN_LOCKED
    sim.kill()
    sim.start()
    async with KeySession.connect(sim.url) as key:
        assert not key.encrypted
        info = await key.info()
        assert (info.used, info.paired_hosts, info.pin_set) == (0, 0, False)
