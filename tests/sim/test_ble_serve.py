"""``python -m firmware_sim serve --link ble-virtual`` in a subprocess, driven from this process
through the Bumble backend its READY URL selects (``?hci=``): pair, store an HES secret,
calculate, type; the state file keeps the credential across a restart. And the ``--link ble:``
forms: a bad transport spec is a one-line usage error (exit 2)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim.links.ble_keys import ble_key_name, parse_ble_link
from firmware_sim.serve import main as serve_main
from firmware_sim.serve import parse_args
from firmware_sim.simulator import Simulator
from keybridge.errors import InvalidInputError
from keybridge.hes.model import Hes
from keybridge.hostconfig import HostConfig
from keybridge.keyboard.reports import decode_reports
from keybridge.otp.codes import totp
from keybridge.otp.credential import Credential
from keybridge.session import ConnectOptions, KeySession
from keybridge.transport.ble import parse_ble_url

T = 1111111109
EMAIL = "qa-ble@corp.com"
NAME = "HES.Web:qa-bench@corp.com"


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    sim = Simulator(link="ble-virtual", state=tmp_path / "key.state", clock=f"fixed:{T}", keys=2)
    sim.start()
    try:
        yield sim
    finally:
        assert sim.stop() == 0  # SIGTERM stops it cleanly


async def test_second_process_pairs_stores_calculates_types(simulator: Simulator) -> None:
    assert len(simulator.urls) == 2 and len(set(simulator.urls)) == 2
    targets = [parse_ble_url(url) for url in simulator.urls]
    assert all(t.by_address and (t.hci or "").startswith("tcp-client:127.0.0.1:") for t in targets)
    url = simulator.urls[1]  # the second key: each is reachable on the one radio
    hes = Hes(":memory:", password_cost=2, clock=lambda: T)
    hes.create_user(EMAIL, "pw")
    setup = hes.begin_otp_setup(EMAIL)
    config = HostConfig(None)
    async with KeySession.connect(url, ConnectOptions(config=config, timeout=3)) as session:
        await session.pairing.pair(lambda code: True)  # --button auto presses for us
        assert session.encrypted
        await session.otp_put(Credential.from_secret(setup.display_key), NAME)
        code = await session.otp_calculate(NAME)
        assert code.code == totp(base64.b32decode(setup.key), T)
        assert len(hes.confirm_otp_setup(EMAIL, code.code)) == 10
        typed = await session.otp_type(NAME, enter=True)
        assert decode_reports(typed.reports, typed.layout) == code.code + "\n"
    # A new connection opens a session from the stored pairing; the restarted key kept its
    # credential (state file and device key, as on the other links) and its address.
    urls = simulator.restart()
    assert [parse_ble_url(u).identifier for u in urls] == [t.identifier for t in targets]
    async with KeySession.connect(urls[1], ConnectOptions(config=config, timeout=3)) as session:
        assert session.encrypted
        assert (await session.otp_calculate(NAME)).code == code.code


def test_bad_transport_spec_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for spec in ("ble:nope:0", "ble:usb", "ble:", "ble:[driver=x", "ble-virtual:9"):
        with pytest.raises(SystemExit) as exit_info:
            serve_main(["serve", "--link", spec])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and spec in err and "error" in err, err


def test_real_controller_forms_parse_and_serve_one_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_args(["--link", "ble:usb:0"]).link == "ble:usb:0"
    assert parse_args(["--link", "ble:[driver=rtk]usb:0"]).link == "ble:[driver=rtk]usb:0"
    assert parse_args(["--link", "ble:hci-socket"]).link == "ble:hci-socket"
    assert serve_main(["--link", "ble:usb:0", "--keys", "2"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@given(st.text(max_size=40))
def test_any_link_text_parses_or_is_rejected_cleanly(text: str) -> None:
    spec = "ble:" + text
    try:
        assert parse_ble_link(spec) == spec
    except InvalidInputError as exc:
        assert "\n" not in str(exc)


def test_key_names_are_short_and_unique() -> None:
    taken: set[str] = set()
    names = [ble_key_name("KB00000ABCDEF", taken) for _ in range(3)]
    assert names[0] == "kbabcdef" and len(set(names)) == 3
    assert all(len(n.encode()) <= 8 for n in names)
