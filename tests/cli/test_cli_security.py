"""``keybridge pair``, ``unpair`` and ``pin`` against a simulator process on a pty."""

from __future__ import annotations

import json
from collections.abc import Callable

import pyotp
from click.testing import CliRunner, Result

from firmware_sim.simulator import Simulator
from keybridge.cli.main import cli
from keybridge.hostconfig import HostConfig
from keybridge.protocol.secure import Pairing

MakeSimulator = Callable[..., Simulator]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def invoke(url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--device", url, *args], input=input)


def test_pair_then_use_then_unpair(make_simulator: MakeSimulator) -> None:
    # The user declines on the key at the first pairing, and presses at the second.
    sim = make_simulator(pair=False, clock="fixed:59", button="scripted:deny,press,press")
    url = sim.url
    refused = invoke(url, "otp", "list")
    assert refused.exit_code == 1
    assert "pair this host with `keybridge pair` first" in refused.output

    declined = invoke(url, "pair", input="n\n")
    assert declined.exit_code == 1 and "did not match" in declined.output
    assert HostConfig.load().keys == []

    paired = invoke(url, "pair", input="y\n")
    assert paired.exit_code == 0, paired.output
    assert "Pairing code: " in paired.output and "Press the button" in paired.output
    assert "Paired with key KB" in paired.output
    assert len(HostConfig.load().keys) == 1

    assert invoke(url, "otp", "add", "site", "--secret", SECRET).exit_code == 0
    code = invoke(url, "--json", "otp", "code", "site")
    assert code.exit_code == 0, code.output
    assert json.loads(code.stdout)["code"] == pyotp.TOTP(SECRET).at(59)

    # A pairing the key no longer accepts (here: a damaged pairing key) says what to do, and
    # pairing again replaces it.
    config = HostConfig.load()
    [stored] = config.keys
    config.add(stored.serial, Pairing(config.host_id, stored.key_id, bytes(32)))
    stale = invoke(url, "otp", "list")
    assert stale.exit_code == 1 and "pair again with `keybridge pair`" in stale.output
    assert invoke(url, "pair", input="y\n").exit_code == 0
    assert invoke(url, "otp", "list").exit_code == 0

    hosts = invoke(url, "--json", "unpair", "--list")
    assert [h["this_host"] for h in json.loads(hosts.stdout)] == [True]
    assert invoke(url, "unpair").exit_code == 0
    assert HostConfig.load().keys == []
    assert invoke(url, "otp", "list").exit_code == 1


def test_pin_set_verify_change_and_otp_asks_for_it(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(clock="fixed:59")
    url = sim.url
    assert invoke(url, "otp", "add", "site", "--secret", SECRET).exit_code == 0
    set_pin = invoke(url, "pin", "set", "--max-retries", "5", input="2468\n2468\n")
    assert set_pin.exit_code == 0, set_pin.output
    assert "2468" not in set_pin.output  # typed without echo

    wrong = invoke(url, "otp", "code", "site", input="1111\n")
    assert wrong.exit_code == 1 and "4 attempts left" in wrong.output
    right = invoke(url, "otp", "code", "site", input="2468\n")
    assert right.exit_code == 0 and pyotp.TOTP(SECRET).at(59) in right.output

    assert invoke(url, "pin", "change", input="2468\n1357\n1357\n").exit_code == 0
    checked = invoke(url, "--json", "pin", "verify", input="1357\n")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["pin_retries"] == 5
    assert invoke(url, "pin", "verify", input="12\n").exit_code == 2  # not a PIN: bad input


OTP_COMMANDS = [
    ["otp", "list"],
    ["otp", "code", "site"],
    ["otp", "type", "site", "--to", "stdout"],
    ["otp", "rename", "site", "site2"],
    ["otp", "add", "other", "--secret", SECRET],
    ["otp", "delete", "--force", "site"],
]


def test_each_command_asks_for_the_pin_by_its_policy(make_simulator: MakeSimulator) -> None:
    url = make_simulator(clock="fixed:59").url
    assert invoke(url, "otp", "add", "site", "--secret", SECRET).exit_code == 0
    assert invoke(url, "pin", "set", input="2468\n2468\n").exit_code == 0
    # Key-wide commands never ask (no input: a prompt would abort).
    for args in (["info"], ["unpair", "--list"]):
        result = invoke(url, *args)
        assert result.exit_code == 0 and "PIN" not in result.stderr, (args, result.output)
    # Every OTP command asks, and verifies what was typed before it runs.
    for args in OTP_COMMANDS:
        wrong = invoke(url, *args, input="1111\n")
        assert wrong.exit_code == 1 and "attempts left" in wrong.output, (args, wrong.output)
        assert invoke(url, "pin", "verify", input="2468\n").exit_code == 0  # retries back
    assert [
        e["name"] for e in json.loads(invoke(url, "--json", "otp", "list", input="2468\n").stdout)
    ] == ["site"]
