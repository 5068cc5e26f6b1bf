"""Links to a key: one :class:`Transport` interface, chosen by device URL.

URL forms: a serial device or pty path (``/dev/ttyACM0``), ``socket://HOST:PORT``, ``loop://``
(tests), ``ble://ADDRESS`` or ``ble:NAME``. The BLE transport (and bleak) is imported only when a
BLE URL is used.
"""

from __future__ import annotations

import importlib

from keybridge.errors import DeviceNotFoundError, InvalidInputError
from keybridge.transport.base import Transport
from keybridge.transport.serial import SerialTransport

__all__ = ["SerialTransport", "Transport", "is_ble_url", "open_transport"]

_SERIAL_SCHEMES = ("socket://", "loop://", "rfc2217://", "spy://", "alt://", "hwgrep://")


def is_ble_url(url: str) -> bool:
    """True for ``ble://ADDRESS`` and ``ble:NAME``."""
    return url.lower().startswith("ble:")


def open_transport(url: str) -> Transport:
    """The transport for a device URL, not yet connected: ``async with`` it (or ``await .open()``).

    Raises :class:`~keybridge.errors.InvalidInputError` for a URL no transport understands and
    :class:`~keybridge.errors.DeviceNotFoundError` when BLE support is not available.
    """
    url = url.strip()
    if not url:
        raise InvalidInputError(
            "no device given: pass --device (a serial path, socket://HOST:PORT, ble://ADDRESS"
            " or ble:NAME) or set KEYBRIDGE_DEVICE"
        )
    if is_ble_url(url):
        return _ble_transport(url)
    if "://" in url and not url.lower().startswith(_SERIAL_SCHEMES):
        raise InvalidInputError(
            f"unknown device URL {url!r}: use a serial device path, socket://HOST:PORT,"
            " ble://ADDRESS or ble:NAME"
        )
    return SerialTransport(url)


def _ble_transport(url: str) -> Transport:
    try:
        module = importlib.import_module("keybridge.transport.ble")
    except ImportError as exc:
        raise DeviceNotFoundError(
            f"cannot use {url}: BLE support is not available ({exc}); install it with"
            " `pip install 'keybridge[ble]'` or use a serial or socket:// device"
        ) from None
    factory = getattr(module, "transport_for_url", None) or getattr(module, "BleTransport", None)
    if factory is None:
        raise DeviceNotFoundError(f"cannot use {url}: this keybridge has no BLE transport")
    transport = factory(url)
    if not isinstance(transport, Transport):
        raise TypeError(f"{factory!r} returned {transport!r}, not a Transport")
    return transport
