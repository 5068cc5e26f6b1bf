"""Typed key operations over a transport: :class:`KeySession`, its PIN and pairing parts, the
options it connects with and the values it returns.

::

    async with KeySession.connect(url, ConnectOptions(timeout=3)) as key:
        await key.pin.verify(pin)
        await key.otp_put(Credential.from_secret(secret), "HES.Web:me@example.com")
        print(await key.otp_calculate("HES.Web:me@example.com"))
"""

from keybridge.session.core import KeySession
from keybridge.session.options import ConnectOptions
from keybridge.session.pairing import ConfirmCallback, Pairings
from keybridge.session.pin import Pin
from keybridge.session.results import Code, CredentialInfo, KeyInfo, Typed

__all__ = [
    "Code",
    "ConfirmCallback",
    "ConnectOptions",
    "CredentialInfo",
    "KeyInfo",
    "KeySession",
    "Pairings",
    "Pin",
    "Typed",
]
