"""How a session connects: one value for ``KeySession.connect`` and ``KeySession.attach``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keybridge.hostconfig import HostConfig
    from keybridge.protocol.channel import KeepaliveCallback

__all__ = ["ConnectOptions"]


@dataclass(frozen=True)
class ConnectOptions:
    """Options of a connection to a key (the defaults suit a key on a serial link)."""

    set_time: bool = True
    """Set the key's clock to this host's once the session is open."""
    force_time: bool = False
    """Let the clock go back more than the key's tolerance."""
    timeout: float = 2.0
    """Seconds to wait for an answer (keep-alives extend it)."""
    retries: int = 3
    """Times a request is sent again when no answer came."""
    on_keepalive: KeepaliveCallback | None = None
    """Called while the key waits (for its button): show a prompt with a countdown."""
    config: HostConfig | None = None
    """This host's id and pairings (default: :meth:`HostConfig.load`, read when first needed)."""
    secure: bool = True
    """Open an encrypted session when paired; ``False`` reads the key's info only (to pair
    again over a pairing the key lost)."""
