"""Typed key operations over a transport: :class:`KeySession`, its PIN and pairing parts, the
options it connects with and the values it returns.

::

    async with KeySession.connect(url, ConnectOptions(timeout=3)) as key:
        await key.pin.verify(pin)
        await key.otp_put(Credential.from_secret(secret), "HES.Web:me@example.com")
        print(await key.otp_calculate("HES.Web:me@example.com"))

The names load on first use: the result values (:mod:`.results`) import without the transport
and crypto stack, so the agent's client (the CLI talking to a running agent) stays light.
"""

from keybridge._lazy import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "KeySession": "core",
        "ConnectOptions": "options",
        "ConfirmCallback": "pairing",
        "Pairings": "pairing",
        "Pin": "pin",
        **dict.fromkeys(("Code", "CredentialInfo", "KeyInfo", "Typed"), "results"),
    },
)
