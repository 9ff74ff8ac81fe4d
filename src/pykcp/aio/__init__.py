from pykcp.aio._all import (
    HostPort,
    KCPListener,
    KCPServer,
    KCPSession,
    KCPTransport,
    dial,
    listen,
    open_connection,
    start_server,
)

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
