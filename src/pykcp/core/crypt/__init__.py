"""Packet ciphers, bit-exact with kcp-go's ``BlockCrypt`` family, plus AES-GCM (protocol.md §2).

``base`` holds the interface, ``openssl`` the ciphers OpenSSL runs, ``stream`` the stream
transforms, ``pure`` the ciphers written here in Python, ``factory`` kcptun's names.
"""

from __future__ import annotations

from pykcp.core.crypt.base import CFB_IV, BlockCrypt, Buffer
from pykcp.core.crypt.factory import CIPHER_NAMES, derive_key, new_crypt
from pykcp.core.crypt.openssl import (
    AEADCrypt,
    AESBlockCrypt,
    BlowfishBlockCrypt,
    Cast5BlockCrypt,
    SM4BlockCrypt,
    TripleDESBlockCrypt,
)
from pykcp.core.crypt.pure import TEABlockCrypt, TwofishBlockCrypt, XTEABlockCrypt
from pykcp.core.crypt.stream import NoneBlockCrypt, Salsa20BlockCrypt, SimpleXORBlockCrypt

__all__ = [
    "CFB_IV",
    "CIPHER_NAMES",
    "AEADCrypt",
    "AESBlockCrypt",
    "BlockCrypt",
    "BlowfishBlockCrypt",
    "Buffer",
    "Cast5BlockCrypt",
    "NoneBlockCrypt",
    "SM4BlockCrypt",
    "Salsa20BlockCrypt",
    "SimpleXORBlockCrypt",
    "TEABlockCrypt",
    "TripleDESBlockCrypt",
    "TwofishBlockCrypt",
    "XTEABlockCrypt",
    "derive_key",
    "new_crypt",
]
