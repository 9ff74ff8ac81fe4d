"""pykcp: reliable, ordered, encrypted and error-corrected streams over UDP, wire-compatible
with kcp-go.

The package face is sans-IO: importing it (``from pykcp import KCP, Config``) loads the
protocol core and no networking. The asyncio API (``open_connection``, ``start_server``,
``dial``, ``listen`` ...) and smux are imported on first use; ``pykcp.blocking`` is the
socket-like API for threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pykcp import _extensions

if _extensions.disabled():
    _extensions.install_source_finder()

from pykcp.core import kcp as _kcp
from pykcp.core.config import PRESETS, Config
from pykcp.core.crypt import CIPHER_NAMES, AEADCrypt, BlockCrypt, derive_key, new_crypt
from pykcp.core.errors import (
    ConfigError,
    KCPError,
    KCPTimeoutError,
    PeerGoneError,
    SessionClosedError,
)
from pykcp.core.events import (
    DataReadable,
    Event,
    NewSession,
    OOBReceived,
    PeerGone,
    SessionClosed,
    SessionReplaced,
    Writable,
)
from pykcp.core.fec import FECDecoder, FECEncoder
from pykcp.core.kcp import KCP
from pykcp.core.listener import ListenerCore
from pykcp.core.packet import CryptoCodec
from pykcp.core.reedsolomon import ReedSolomon
from pykcp.core.session import Session
from pykcp.core.snmp import DEFAULT_SNMP, Snmp, SnmpTotals
from pykcp.core.stats import ListenerStats, SessionStats

if TYPE_CHECKING:
    from pykcp.aio import (
        KCPListener,
        KCPServer,
        KCPSession,
        KCPTransport,
        dial,
        listen,
        open_connection,
        start_server,
    )
    from pykcp.smux import MuxSession, SmuxConfig

__version__ = "0.1.0"
"""The package version: written here only (the package metadata reads it from this line)."""

implementation: str = _extensions.running(_kcp)
"""``"compiled"`` when the compiled fast path runs, ``"python"`` for pure Python (see
``PYKCP_NO_EXTENSIONS``)."""

# Imported on first access (PEP 562), so the package face loads no asyncio.
_LAZY: dict[str, str] = {
    "KCPListener": "pykcp.aio",
    "KCPServer": "pykcp.aio",
    "KCPSession": "pykcp.aio",
    "KCPTransport": "pykcp.aio",
    "dial": "pykcp.aio",
    "listen": "pykcp.aio",
    "open_connection": "pykcp.aio",
    "start_server": "pykcp.aio",
    "MuxSession": "pykcp.smux",
    "SmuxConfig": "pykcp.smux",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pykcp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CIPHER_NAMES",
    "DEFAULT_SNMP",
    "KCP",
    "PRESETS",
    "AEADCrypt",
    "BlockCrypt",
    "Config",
    "ConfigError",
    "CryptoCodec",
    "DataReadable",
    "Event",
    "FECDecoder",
    "FECEncoder",
    "KCPError",
    "KCPListener",
    "KCPServer",
    "KCPSession",
    "KCPTimeoutError",
    "KCPTransport",
    "ListenerCore",
    "ListenerStats",
    "MuxSession",
    "NewSession",
    "OOBReceived",
    "PeerGone",
    "PeerGoneError",
    "ReedSolomon",
    "Session",
    "SessionClosed",
    "SessionClosedError",
    "SessionReplaced",
    "SessionStats",
    "SmuxConfig",
    "Snmp",
    "SnmpTotals",
    "Writable",
    "__version__",
    "derive_key",
    "dial",
    "implementation",
    "listen",
    "new_crypt",
    "open_connection",
    "start_server",
]
