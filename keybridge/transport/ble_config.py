"""Where a BLE key is and how to reach it: ``ble:`` URLs and the bleak backend to use.

URL forms and the ``KEYBRIDGE_BLE_BACKEND`` variable are described in
:mod:`keybridge.transport.ble`. This module imports bleak; import it only on BLE code paths.
Bumble is imported only when a Bumble central is asked for.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from keybridge.errors import DeviceNotFoundError, InvalidInputError

if TYPE_CHECKING:
    from keybridge.transport.bumble_backend import BumbleCentral

__all__ = ["BACKEND_ENV", "BleBackend", "BleTarget", "looks_like_address", "parse_ble_url"]

BACKEND_ENV = "KEYBRIDGE_BLE_BACKEND"


def looks_like_address(text: str) -> bool:
    """Whether ``text`` is a BLE address (or, on macOS, a CoreBluetooth peripheral UUID)."""
    parts = text.split(":")
    if len(parts) == 6 and all(len(p) == 2 for p in parts):
        return all(c in "0123456789abcdefABCDEF" for p in parts for c in p)
    # CoreBluetooth identifies peripherals by UUID.
    return len(text) == 36 and text.count("-") == 4


@dataclass(frozen=True)
class BleTarget:
    """What a ``ble:`` URL designates: an address or a name, and optionally a Bumble HCI spec."""

    identifier: str
    by_address: bool
    hci: str | None = None

    def url(self) -> str:
        """The URL back (``ble://ADDRESS`` or ``ble:NAME``, with ``?hci=`` if set)."""
        base = (
            f"ble://{self.identifier}"
            if self.by_address
            else f"ble:{quote(self.identifier, safe='')}"
        )
        return base + (f"?hci={quote(self.hci, safe=':/.-_')}" if self.hci else "")


def parse_ble_url(url: str) -> BleTarget:
    """Parse ``ble://ADDRESS[?hci=SPEC]`` or ``ble:NAME[?hci=SPEC]``.

    Raises:
        InvalidInputError: not a ``ble:`` URL, empty target, or a malformed ``ble://`` address.
    """
    if not url.lower().startswith("ble:"):
        raise InvalidInputError(f"{url!r} is not a BLE device URL (ble://ADDRESS or ble:NAME)")
    rest = url[4:]
    rest, _, query = rest.partition("?")
    params = parse_qs(query, keep_blank_values=True)
    unknown = set(params) - {"hci"}
    if unknown:
        raise InvalidInputError(
            f"unknown parameter {sorted(unknown)[0]!r} in {url!r}: the only one is hci=SPEC"
        )
    hci = params.get("hci", [None])[-1] or None
    if rest.startswith("//"):
        identifier = unquote(rest[2:]).strip("/")
        if not looks_like_address(identifier):
            raise InvalidInputError(
                f"{identifier!r} in {url!r} is not a BLE address (XX:XX:XX:XX:XX:XX): "
                "use ble:NAME to pick a key by name"
            )
        return BleTarget(identifier.upper(), True, hci)
    identifier = unquote(rest)
    if not identifier:
        raise InvalidInputError(f"{url!r} names no key: use ble://ADDRESS or ble:NAME")
    return BleTarget(identifier, looks_like_address(identifier), hci)


def _hci_from_env() -> str | None:
    value = os.environ.get(BACKEND_ENV, "").strip()
    if value in ("", "platform"):
        return None
    if value.startswith("bumble:") and len(value) > len("bumble:"):
        return value[len("bumble:") :]
    raise InvalidInputError(
        f"{BACKEND_ENV}={value!r} is not understood: use 'platform' or 'bumble:<HCI transport>'"
        " (for example bumble:tcp-client:127.0.0.1:40123 or bumble:usb:0)"
    )


@dataclass
class BleBackend:
    """The bleak backend classes to use, with the extra keyword arguments they need."""

    scanner_cls: type[BaseBleakScanner] | None = None
    client_cls: type[BaseBleakClient] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    hci: str | None = None
    description: str = "platform BLE"
    closer: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def platform(cls) -> BleBackend:
        """Bleak's backend for this operating system."""
        return cls()

    @classmethod
    def on_central(cls, central: BumbleCentral, hci: str | None = None) -> BleBackend:
        """The Bumble backend on an existing central (its owner closes it)."""
        from keybridge.transport.bumble_backend import BumbleBleakClient, BumbleBleakScanner

        return cls(
            BumbleBleakScanner,
            BumbleBleakClient,
            {"bumble_central": central},
            hci,
            central.description,
        )

    @classmethod
    async def bumble(cls, hci: str) -> BleBackend:
        """The Bumble backend on a new central over the HCI transport ``hci`` (owned)."""
        try:
            from keybridge.transport.bumble_backend import BumbleCentral
        except ImportError as exc:
            raise DeviceNotFoundError(
                f"cannot use the Bumble HCI transport {hci!r}: Bumble is not installed ({exc});"
                " install it with `pip install 'keybridge[sim-ble]'`"
            ) from None
        try:
            central = await BumbleCentral.open(hci)
            await asyncio.wait_for(central.start(), 10)
        except (BleakError, TimeoutError, OSError) as exc:
            raise DeviceNotFoundError(
                f"cannot open the Bumble HCI transport {hci!r}: {exc}; is the simulator running?"
            ) from exc
        backend = cls.on_central(central, hci)
        backend.closer = central.close
        return backend

    @classmethod
    async def configured(cls, hci: str | None) -> BleBackend:
        """``hci`` if given, else what ``KEYBRIDGE_BLE_BACKEND`` says, else the platform."""
        spec = hci or _hci_from_env()
        return await cls.bumble(spec) if spec else cls.platform()

    async def aclose(self) -> None:
        """Release what this backend opened (a Bumble central)."""
        if self.closer is not None:
            closer, self.closer = self.closer, None
            await closer()

    def scanner(self, **options: Any) -> BleakScanner:
        return BleakScanner(backend=self.scanner_cls, **options, **self.kwargs)

    def client(self, device: BLEDevice, **options: Any) -> BleakClient:
        return BleakClient(device, backend=self.client_cls, **options, **self.kwargs)
