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
from pykcp.crypt import CIPHER_NAMES, AEADCrypt, BlockCrypt, derive_key, new_crypt
from pykcp.errors import (
    ConfigError,
    KCPError,
    KCPTimeoutError,
    PeerGoneError,
    SessionClosedError,
)
from pykcp.fec import FECDecoder, FECEncoder
from pykcp.kcp import KCP
from pykcp.packet import CryptoCodec
from pykcp.reedsolomon import ReedSolomon
from pykcp.smux import SmuxConfig
from pykcp.snmp import DEFAULT_SNMP, Snmp

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
