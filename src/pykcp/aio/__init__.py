"""The asyncio adapter: sockets, one driver per session, and the faces users hold.

``endpoint`` (UDP sockets, batched I/O) -> ``server`` (listener, ``start_server``) ->
``driver`` (runs one sans-IO session, dispatches its events) -> ``session`` (kcp-go style
``KCPSession``) and ``transport`` (asyncio streams); ``client`` has ``dial`` and
``open_connection``;
``scheduler`` keeps every session's timer in one heap per loop.
"""

from pykcp.aio.client import dial, open_connection
from pykcp.aio.endpoint import HostPort
from pykcp.aio.server import KCPListener, KCPServer, listen, start_server
from pykcp.aio.session import KCPSession
from pykcp.aio.transport import KCPTransport

__all__ = [
    "HostPort",
    "KCPListener",
    "KCPServer",
    "KCPSession",
    "KCPTransport",
    "dial",
    "listen",
    "open_connection",
    "start_server",
]
