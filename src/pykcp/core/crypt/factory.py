"""kcptun's cipher names, key derivation and the factory that builds a cipher from them
(protocol.md §2.1, §2.6)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from pykcp.core.crypt.base import BlockCrypt, key_bytes
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
from pykcp.core.errors import ConfigError

__all__ = ["CIPHER_NAMES", "KDF_ITERATIONS", "KDF_SALT", "derive_key", "new_crypt"]

KDF_SALT: Final = b"kcp-go"
KDF_ITERATIONS: Final = 4096


# --------------------------------------------------------------------------------------------
# kcptun names


# name -> (constructor, key bytes kcptun passes: the first N of the master key, 0 = all)
_FACTORIES: Final[dict[str, tuple[Callable[[bytes], BlockCrypt | AEADCrypt], int]]] = {
    "none": (NoneBlockCrypt, 0),
    "aes-128": (AESBlockCrypt, 16),
    "aes-192": (AESBlockCrypt, 24),
    "aes": (AESBlockCrypt, 0),
    "salsa20": (Salsa20BlockCrypt, 0),
    "blowfish": (BlowfishBlockCrypt, 0),
    "twofish": (TwofishBlockCrypt, 0),
    "cast5": (Cast5BlockCrypt, 16),
    "3des": (TripleDESBlockCrypt, 24),
    "tea": (TEABlockCrypt, 16),
    "xtea": (XTEABlockCrypt, 16),
    "xor": (SimpleXORBlockCrypt, 0),
    "sm4": (SM4BlockCrypt, 16),
    "aes-128-gcm": (AEADCrypt, 16),
}

CIPHER_NAMES: Final[tuple[str, ...]] = ("null", *_FACTORIES)
"""kcptun's cipher names; "null" means no encryption layer at all."""


def derive_key(password: str | bytes) -> bytes:
    """kcptun's key derivation: PBKDF2-HMAC-SHA1(password, "kcp-go", 4096 rounds, 32 bytes).

    A ``str`` password is UTF-8 encoded, as Go's ``[]byte(string)``.
    """
    if isinstance(password, str):
        password = password.encode()
    return hashlib.pbkdf2_hmac("sha1", password, KDF_SALT, KDF_ITERATIONS, 32)


def new_crypt(name: str, key: bytes) -> BlockCrypt | AEADCrypt | None:
    """The cipher kcptun builds for *name* from the (derived) *key*; None for "null".

    Like kcptun, ciphers with a fixed key size use the first bytes of *key*
    (aes-128, aes-128-gcm, sm4, tea, xtea, cast5: 16; aes-192, 3des: 24; the others take the
    whole key, so "aes" is AES-256 with the usual 32-byte derived key). Unlike kcptun, an
    unknown name or an unusable key raises :class:`~pykcp.core.errors.ConfigError` instead of
    silently falling back to AES.
    """
    if name == "null":
        return None
    try:
        factory, size = _FACTORIES[name]
    except KeyError:
        known = ", ".join(CIPHER_NAMES)
        raise ConfigError(f"unknown cipher {name!r}; known ciphers: {known}") from None
    key = key_bytes(key)
    if size:
        if len(key) < size:
            raise ConfigError(f"{name} needs a key of at least {size} bytes, got {len(key)}")
        key = key[:size]
    return factory(key)
