"""A passive sniffer and a replaying attacker on a real pty link to a simulator process.

The sniffer records every message of pairing, storing an HES secret, computing and typing its
codes: the capture holds the secret in no encoding. The capture replayed to the key executes
nothing: no sealed frame of it opens, so the key never answers sealed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from firmware_sim.simulator import Simulator
from keybridge.errors import LinkTimeoutError
from keybridge.hostconfig import HostConfig
from keybridge.otp.credential import Credential
from keybridge.protocol.constants import Command, MessageType, Status
from keybridge.protocol.messages import Response, decode_message
from keybridge.session import KeySession
from keybridge.transport import open_transport
from keybridge.transport.base import Transport

MakeSimulator = Callable[..., Simulator]

HES_SECRET = "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp"  # as HES shows it: 32 chars, groups of 4
RAW = base64.b32decode("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


class Sniffer(Transport):
    """Wraps a transport and records every message in both directions."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.description = inner.description
        self.sent: list[bytes] = []
        self.received: list[bytes] = []

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def send(self, message: bytes) -> None:
        self.sent.append(bytes(message))
        await self.inner.send(message)

    async def receive(self, timeout: float) -> bytes:
        message = await self.inner.receive(timeout)
        self.received.append(bytes(message))
        return message


def encodings(secret_text: str, raw: bytes) -> list[bytes]:
    compact = secret_text.replace(" ", "")
    return [
        compact.upper().encode(),
        compact.lower().encode(),
        secret_text.encode(),
        compact.upper().rstrip("=")[:16].encode(),  # half of it is already too much
        raw,
        raw[:10],
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
    ]


async def capture_session(url: str) -> Sniffer:
    sniffer = Sniffer(open_transport(url))
    async with sniffer:
        key = await KeySession.attach(sniffer)
        assert not key.encrypted  # a host that never paired
        shown: list[str] = []

        def confirm(code: str) -> bool:
            shown.append(code)
            return True

        await key.pairing.pair(confirm)
        assert len(shown) == 1 and len(shown[0]) == 6 and shown[0].isdigit()
        await key.otp_put(Credential.from_secret(HES_SECRET), "HES.Web:alice@example.com")
        await key.otp_put(Credential.from_secret(HES_SECRET), "second")
        for _ in range(3):
            assert (await key.otp_calculate("HES.Web:alice@example.com")).code.isdigit()
        await key.otp_type("HES.Web:alice@example.com", enter=True)
        await key.otp_put(Credential.from_secret(RAW, kind="hotp"), "hotp")
        await key.otp_calculate("hotp")
    return sniffer


async def test_the_capture_holds_no_secret_and_its_replay_executes_nothing(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator(pair=False)
    sniffer = await capture_session(sim.url)
    assert "key display: pairing code" in sim.log_text()  # what the key showed the user
    capture = b"".join(sniffer.sent + sniffer.received)
    sealed = [m for m in sniffer.sent if m[0] == MessageType.SEALED]
    assert len(sealed) >= 8  # the OTP traffic really went through the session
    for needle in encodings(HES_SECRET, RAW):
        assert needle not in capture, needle
    pairing_key = HostConfig.load().keys[0].pairing_key
    assert pairing_key not in capture and pairing_key.hex().encode() not in capture

    # The owner removes "second" and uses the HOTP credential once more: the replay must not
    # bring "second" back nor move the counter.
    async with KeySession.connect(sim.url) as key:
        await key.otp_delete("second")
        before = await key.otp_calculate("hotp")
        hosts_before = (await key.info()).paired_hosts

    replies: list[bytes] = []
    async with open_transport(sim.url) as attacker:
        for message in sniffer.sent:
            await attacker.send(message)
            try:
                while True:
                    replies.append(await attacker.receive(0.15))
            except LinkTimeoutError:
                pass
    answers = [decode_message(r) for r in replies]
    assert answers and all(isinstance(a, Response) for a in answers)  # never a sealed answer
    denied = [a for a in answers if isinstance(a, Response) and a.status == Status.ACCESS_DENIED]
    assert len(denied) >= len(sealed)  # every replayed sealed frame was refused
    for answer in answers:
        assert isinstance(answer, Response)
        if answer.status == Status.OK:
            assert answer.command in (Command.GET_INFO, Command.PAIR_BEGIN, Command.SESSION_OPEN)

    async with KeySession.connect(sim.url) as key:
        names = [c.name for c in await key.otp_list()]
        assert names == ["HES.Web:alice@example.com", "hotp"]
        after = await key.otp_calculate("hotp")
        assert after.counter == (before.counter or 0) + 1  # the replay advanced nothing
        assert (await key.info()).paired_hosts == hosts_before  # no pairing was replayed
