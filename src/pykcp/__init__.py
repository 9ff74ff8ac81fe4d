"""pykcp: reliable, ordered, encrypted and error-corrected streams over UDP, wire-compatible
with kcp-go."""

from __future__ import annotations

from pykcp.aio import (
    KCPListener,
    KCPServer,
    KCPSession,
    dial,
    listen,
    open_connection,
    start_server,
)
from pykcp.config import Config
from pykcp.errors import (
    ConfigError,
    KCPError,
    KCPTimeoutError,
    PeerGoneError,
    SessionClosedError,
)
from pykcp.kcp import KCP
from pykcp.snmp import DEFAULT_SNMP, Snmp

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SNMP",
    "KCP",
    "Config",
    "ConfigError",
    "KCPError",
    "KCPListener",
    "KCPServer",
    "KCPSession",
    "KCPTimeoutError",
    "PeerGoneError",
    "SessionClosedError",
    "Snmp",
    "__version__",
    "dial",
    "listen",
    "open_connection",
    "start_server",
]
