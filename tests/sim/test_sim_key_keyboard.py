"""The ``sim_key`` fixture's keyboard controls: a host session has the key type on its own
keyboard, and the fixture makes the button gesture."""

from __future__ import annotations

import pytest

from firmware_sim.testing.pytest_plugin import SimKey
from keybridge.keyboard.reports import bytes_to_reports, decode_reports
from keybridge.otp.credential import Credential
from keybridge.protocol.constants import Status
from keybridge.protocol.status import DeviceError

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 6238's 12345678901234567890


async def test_the_session_types_on_the_keys_keyboard(sim_key: SimKey) -> None:
    sim_key.clock.set_fixed(59)
    await sim_key.session.otp_put(Credential.from_secret(SECRET), "hes")
    with pytest.raises(DeviceError) as refused:
        await sim_key.session.otp_type_on_key("hes", enter=True)
    assert refused.value.status == Status.NO_KEYBOARD_HOST
    keyboard = sim_key.connect_keyboard()
    assert await sim_key.session.otp_type_on_key("hes", enter=True) == "us"
    assert sim_key.gesture("long-press:hes")
    typed = [decode_reports(bytes_to_reports(reports), "us") for reports in keyboard.sent]
    assert typed == ["287082\n", "287082\n"]
