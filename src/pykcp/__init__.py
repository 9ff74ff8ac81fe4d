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
from pykcp.core.config import Config
from pykcp.core.crypt import CIPHER_NAMES, AEADCrypt, BlockCrypt, derive_key, new_crypt
from pykcp.core.errors import (
    ConfigError,
    KCPError,
    KCPTimeoutError,
    PeerGoneError,
    SessionClosedError,
)
from pykcp.core.fec import FECDecoder, FECEncoder
from pykcp.core.kcp import KCP
from pykcp.core.packet import CryptoCodec
from pykcp.core.reedsolomon import ReedSolomon
from pykcp.core.snmp import DEFAULT_SNMP, Snmp
from pykcp.smux import SmuxConfig

__version__ = "0.1.0"

__all__ = [
    "CIPHER_NAMES",
    "DEFAULT_SNMP",
    "KCP",
    "AEADCrypt",
    "BlockCrypt",
    "Config",
    "ConfigError",
    "CryptoCodec",
    "FECDecoder",
    "FECEncoder",
    "KCPError",
    "KCPListener",
    "KCPServer",
    "KCPSession",
    "KCPTimeoutError",
    "PeerGoneError",
    "ReedSolomon",
    "SessionClosedError",
    "SmuxConfig",
    "Snmp",
    "__version__",
    "derive_key",
    "dial",
    "listen",
    "new_crypt",
    "open_connection",
    "start_server",
]
