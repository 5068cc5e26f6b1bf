"""BLE device URLs and backend configuration (no radio)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import InvalidInputError
from keybridge.transport.ble import BACKEND_ENV, BleBackend, BleTarget, parse_ble_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ble://c3:5a:10:9e:42:7b", BleTarget("C3:5A:10:9E:42:7B", True)),
        ("BLE://C3:5A:10:9E:42:7B/", BleTarget("C3:5A:10:9E:42:7B", True)),
        ("ble:kb-1", BleTarget("kb-1", False)),
        ("ble:my%20key", BleTarget("my key", False)),
        ("ble:C3:5A:10:9E:42:7B", BleTarget("C3:5A:10:9E:42:7B", True)),
        (
            "ble://C3:5A:10:9E:42:7B?hci=tcp-client:127.0.0.1:40123",
            BleTarget("C3:5A:10:9E:42:7B", True, "tcp-client:127.0.0.1:40123"),
        ),
        ("ble:kb?hci=usb:0", BleTarget("kb", False, "usb:0")),
        (
            "ble://0BA8E7C6-3B1A-4E43-9A0C-6E1F2A3B4C5D",
            BleTarget("0BA8E7C6-3B1A-4E43-9A0C-6E1F2A3B4C5D", True),
        ),
    ],
)
def test_parse(url: str, expected: BleTarget) -> None:
    assert parse_ble_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("socket://x:1", "not a BLE device URL"),
        ("ble:", "names no key"),
        ("ble://kb-1", "not a BLE address"),
        ("ble://C3:5A:10:9E:42", "not a BLE address"),
        ("ble:kb?mtu=23", "unknown parameter 'mtu'"),
    ],
)
def test_parse_errors(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_ble_url(url)


@given(
    address=st.binary(min_size=6, max_size=6),
    port=st.integers(1, 65535),
    with_hci=st.booleans(),
)
def test_address_url_round_trip(address: bytes, port: int, with_hci: bool) -> None:
    text = ":".join(f"{b:02X}" for b in address)
    target = BleTarget(text, True, f"tcp-client:127.0.0.1:{port}" if with_hci else None)
    assert parse_ble_url(target.url()) == target


@given(name=st.text(min_size=1, max_size=20).filter(lambda n: n.strip() == n))
def test_name_url_round_trip(name: str) -> None:
    target = parse_ble_url(BleTarget(name, False).url())
    assert target.identifier == name


async def test_env_platform_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert (await BleBackend.configured(None)).client_cls is None
    monkeypatch.setenv(BACKEND_ENV, "platform")
    assert (await BleBackend.configured(None)).scanner_cls is None
    monkeypatch.setenv(BACKEND_ENV, "bluez")
    with pytest.raises(InvalidInputError, match="bumble:<HCI transport>"):
        await BleBackend.configured(None)


def test_name_with_slashes_stays_a_name() -> None:
    assert parse_ble_url(BleTarget("//odd", False).url()) == BleTarget("//odd", False)


async def test_unreachable_hci_transport_is_a_clear_error() -> None:
    from keybridge.errors import DeviceNotFoundError

    with pytest.raises(DeviceNotFoundError, match="is the simulator running"):
        await BleBackend.bumble("tcp-client:127.0.0.1:1")
