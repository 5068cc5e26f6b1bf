"""The one interface every link to a key implements: whole messages in, whole messages out."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

__all__ = ["Transport"]


class Transport(abc.ABC):
    """A link to one key that carries whole messages (framing is the transport's business).

    ``receive`` raises :class:`~keybridge.errors.LinkTimeoutError` when nothing arrives in time
    and :class:`~keybridge.errors.TransportError` once the link is gone. Use as an async context
    manager, or call :meth:`open` and :meth:`close`.
    """

    description: str
    """Where the key is, for messages (``"/dev/ttyACM0"``, ``"socket://127.0.0.1:7000"``)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect to the key; raises :class:`~keybridge.errors.DeviceNotFoundError` if absent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; safe to call twice or on a transport that never opened."""

    @abc.abstractmethod
    async def send(self, message: bytes) -> None:
        """Send one message."""

    @abc.abstractmethod
    async def receive(self, timeout: float) -> bytes:
        """The next message from the key, waiting at most ``timeout`` seconds."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self, 'description', '?')!r})"
