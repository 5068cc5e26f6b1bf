"""The host agent: one long-running process that keeps the key's connection, its encrypted
session and the PIN unlock, serves this user's keybridge commands on a Unix socket, and types
the key's code when the desktop's hotkey is pressed (:meth:`Agent.type_code`).

::

    link = KeyLink(url, ConnectOptions())
    agent = Agent(link, pin_timeout=900)
    server = AgentServer(agent, socket_path())
    await server.start()

Clients: :class:`AgentClient` (one request at a time) and :class:`AgentSession` (the key
session's operations through the agent). The protocol is in ``docs/agent.md``. Names load on
first use, so the client does not import the session stack.
"""

from keybridge._lazy import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from keybridge.agent.client import AgentClient, AgentSession, agent_session
    from keybridge.agent.core import DEFAULT_PIN_TIMEOUT, Agent, TypeResult, WindowInfo
    from keybridge.agent.link import Backoff, KeyLink
    from keybridge.agent.paths import socket_path
    from keybridge.agent.server import AgentServer
    from keybridge.agent.unlock import PinUnlock

__all__ = [
    "DEFAULT_PIN_TIMEOUT",
    "Agent",
    "AgentClient",
    "AgentServer",
    "AgentSession",
    "Backoff",
    "KeyLink",
    "PinUnlock",
    "TypeResult",
    "WindowInfo",
    "agent_session",
    "socket_path",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(("AgentClient", "AgentSession", "agent_session"), "client"),
        **dict.fromkeys(("DEFAULT_PIN_TIMEOUT", "Agent", "TypeResult", "WindowInfo"), "core"),
        **dict.fromkeys(("Backoff", "KeyLink"), "link"),
        "socket_path": "paths",
        "AgentServer": "server",
        "PinUnlock": "unlock",
    },
)
