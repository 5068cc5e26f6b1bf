"""Pair a host with an in-process key and talk to it through a session, without asyncio.

For fixtures and tests that drive the firmware core directly: :func:`pair_firmware` runs the
real pairing exchange (approving the button press for the test), :class:`SecureLink` opens a
session and seals every request, and :func:`pair_state_file` pairs a simulator's state file
before the simulator process starts, so a host config can connect to it at once.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from firmware_sim.firmware.button import Button
from keybridge.errors import ProtocolError
from keybridge.protocol.commands import GetInfoResponse, HandshakeBody, SessionOpenRequest
from keybridge.protocol.constants import Command, MessageType, Status
from keybridge.protocol.messages import Request, Response, decode_message, encode_message
from keybridge.protocol.secure import Pairing, PairingHost, SecureChannel, SessionHost

if TYPE_CHECKING:
    from firmware_sim.firmware.core import Firmware
    from keybridge.hostconfig import HostConfig

__all__ = ["SecureLink", "pair_firmware", "pair_state_file"]


def _call(
    firmware: Firmware, command: Command, payload: bytes, seq: int, pairing_id: bytes | None = None
) -> bytes:
    body = (
        SessionOpenRequest(payload, pairing_id)
        if command is Command.SESSION_OPEN
        else HandshakeBody(payload)
    )
    request = encode_message(Request(seq, command, body.to_fields()))
    out = firmware.handle(request) + firmware.poll()
    for raw in out:
        message = decode_message(raw)
        if isinstance(message, Response) and message.seq == seq:
            if message.status != Status.OK:
                raise ProtocolError(f"{command.name} failed with {message.status!r}: {raw.hex()}")
            return HandshakeBody.from_fields(message.fields).payload
    raise ProtocolError(f"{command.name}: the key sent no answer")


def pair_firmware(
    firmware: Firmware, config: HostConfig | None = None, *, host_id: bytes | None = None
) -> Pairing:
    """Pair a host (``config``'s, or ``host_id``) with ``firmware``; its button is approved.

    The pairing is stored in ``config`` under the key's serial number when one is given.
    """
    host = PairingHost(config.host_id if config is not None else host_id)
    saved, firmware.button = firmware.button, Button("auto")
    try:
        begin = _call(firmware, Command.PAIR_BEGIN, host.begin(), 0xFE01)
        payload = host.confirm(begin)
        reply = _call(firmware, Command.PAIR_CONFIRM, payload, 0xFE02)
    finally:
        firmware.button = saved
    pairing = host.finish(reply, user_confirmed=True)
    if config is not None:
        config.add(firmware.serial, pairing)
    return pairing


class SecureLink:
    """A session with an in-process key: :meth:`handle` seals a plaintext message, feeds it
    to the key and returns the key's answers opened (plaintext answers pass unchanged)."""

    def __init__(self, firmware: Firmware, pairing: Pairing) -> None:
        self.firmware = firmware
        self.pairing = pairing
        self.channel: SecureChannel = self.open()
        self.sent: list[bytes] = []
        """Every sealed frame that went to the key."""
        self.received: list[bytes] = []
        """Every frame the key answered, as it travelled (sealed or not)."""

    def open(self) -> SecureChannel:
        """(Re)open the session."""
        opening = SessionHost(self.pairing)
        reply = _call(
            self.firmware,
            Command.SESSION_OPEN,
            opening.request(),
            0xFE03,
            self.pairing.pairing_id,
        )
        self.channel = opening.finish(reply)
        return self.channel

    def handle(self, plaintext: bytes) -> list[bytes]:
        envelope = self.channel.seal(plaintext)
        self.sent.append(envelope)
        return self._open(self.firmware.handle(envelope))

    def poll(self) -> list[bytes]:
        return self._open(self.firmware.poll())

    def _open(self, out: list[bytes]) -> list[bytes]:
        self.received += out
        return [
            self.channel.open(raw) if raw[:1] == bytes([MessageType.SEALED]) else raw for raw in out
        ]


def pair_state_file(state: str | os.PathLike[str], config: HostConfig) -> str:
    """Pair ``config``'s host with the simulator key whose state file is ``state`` (made if
    new, secrets sealed under its device key); returns the key's serial number."""
    from firmware_sim.firmware.clock import KeyClock
    from firmware_sim.firmware.core import Firmware
    from firmware_sim.firmware.device_key import encrypted_flash

    firmware = Firmware(encrypted_flash(state), KeyClock(), Button("auto"))
    pair_firmware(firmware, config)
    return firmware.serial


def info_of(firmware: Firmware) -> GetInfoResponse:
    """GET_INFO of an in-process key (answered outside sessions)."""
    [raw] = firmware.handle(encode_message(Request(0xFE00, Command.GET_INFO)))
    message = decode_message(raw)
    assert isinstance(message, Response)
    return GetInfoResponse.from_fields(message.fields)
