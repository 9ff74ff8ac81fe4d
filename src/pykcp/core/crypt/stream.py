"""Stream transforms of the kcp-go family: Salsa20, the XOR pad and "none" (protocol.md §2.4)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, Final

from pykcp.core.crypt.base import BlockCrypt, Buffer, key_bytes, xor_bytes

_kernel: Any
try:
    from pykcp.core.crypt import _stream as _kernel
except ImportError:  # a pure install, or PYKCP_NO_EXTENSIONS=1
    _kernel = None

__all__ = ["XOR_PAD_SIZE", "XOR_SALT", "NoneBlockCrypt", "Salsa20BlockCrypt", "SimpleXORBlockCrypt"]

XOR_SALT: Final = b"sH3CIVoF#rWLtJo6"
XOR_PAD_SIZE: Final = 1500


class Salsa20BlockCrypt(BlockCrypt):
    """kcp-go ``NewSalsa20BlockCrypt``: Salsa20/20, nonce = bytes 0..7 (left in clear).

    The key is zero-padded or truncated to 32 bytes as Go copies it into a [32]byte; the
    padded key is always passed, since a 16-byte key would select Salsa20's other constants.

    A new nonce per datagram means a new pycryptodome cipher object per datagram, whose
    Python-level set-up costs more than the keystream. When pycryptodome's C library is
    reachable through cffi, the three C calls are made directly (about twice as fast); the
    direct path must reproduce kcp-go's output on a known vector first, else the public API
    is used. A compiled install has its own C Salsa20 (:mod:`pykcp.core.crypt._stream`),
    which goes first: no Python at all per datagram. ``accelerated=False`` forces the public
    API.
    """

    name = "salsa20"

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        from Crypto.Cipher import Salsa20

        self._new = Salsa20.new
        self._key = key_bytes(key)[:32].ljust(32, b"\0")
        self._raw = _salsa20_raw_api() if accelerated else None
        self.accelerated = self._raw is not None
        if accelerated and _kernel is not None:
            transform = _kernel.Salsa20(self._key).encrypt_into
            self._route_to_kernel(transform, transform)
            self.accelerated = True

    def encrypt(self, data: Buffer) -> bytes:
        out = bytearray(data)
        self.encrypt_into(out)
        return bytes(out)

    decrypt = encrypt

    def encrypt_into(self, buf: bytearray | memoryview) -> None:
        if len(buf) < 8:
            return
        nonce = bytes(buf[:8])
        raw = self._raw
        if raw is None:
            body = memoryview(buf)[8:]
            self._new(self._key, nonce).encrypt(body, output=body)
            return
        ffi, lib = raw
        state = ffi.new("void **")
        if lib.Salsa20_stream_init(self._key, 32, nonce, 8, state):
            raise RuntimeError("pycryptodome could not set up Salsa20")
        try:
            body = ffi.from_buffer("uint8_t[]", buf) + 8
            lib.Salsa20_stream_encrypt(state[0], body, body, len(buf) - 8)
        finally:
            lib.Salsa20_stream_destroy(state[0])

    encrypt_nonced_into = encrypt_into
    decrypt_into = encrypt_into


# kcp-go's Salsa20 of the bytes 0..44 under the key 0..31.
_SALSA20_CHECK: Final = (
    "000102030405060726a40554145a27c1c663a1ba3cf142e037c25eb36781c6cd39c5ce378adce09b5f962f547a"
)


@lru_cache(maxsize=1)
def _salsa20_raw_api() -> tuple[Any, Any] | None:
    """(ffi, lib) of pycryptodome's Salsa20 C code, if usable and verified; else None."""
    try:
        from Crypto.Cipher import Salsa20 as module
        from Crypto.Util import _raw_api

        if _raw_api.backend != "cffi":
            return None
        raw = (_raw_api.ffi, module._raw_salsa20_lib)
        probe = Salsa20BlockCrypt.__new__(Salsa20BlockCrypt)
        probe._key = bytes(range(32))
        probe._raw = raw
        if probe.encrypt(bytes(range(45))).hex() != _SALSA20_CHECK:
            return None
    except Exception:  # any change inside pycryptodome: fall back to its public API
        return None
    return raw


class SimpleXORBlockCrypt(BlockCrypt):
    """kcp-go ``NewSimpleXORBlockCrypt``: XOR with a fixed 1500-byte PBKDF2 pad.

    Obfuscation only: the same pad for every datagram. Bytes past 1500 stay as they are.
    """

    name = "xor"

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        self._pad = hashlib.pbkdf2_hmac("sha1", key_bytes(key), XOR_SALT, 32, XOR_PAD_SIZE)
        self.accelerated = accelerated and _kernel is not None
        if self.accelerated:
            transform = _kernel.XorPad(self._pad).encrypt_into
            self._route_to_kernel(transform, transform)

    def encrypt(self, data: Buffer) -> bytes:
        view = memoryview(data)
        n = min(len(view), XOR_PAD_SIZE)
        head = xor_bytes(view, self._pad, n)
        return head if n == len(view) else head + bytes(view[n:])

    decrypt = encrypt

    def encrypt_into(self, buf: bytearray | memoryview) -> None:
        n = min(len(buf), XOR_PAD_SIZE)
        buf[:n] = xor_bytes(buf, self._pad, n)  # the same length: no resize, no tail copy

    encrypt_nonced_into = encrypt_into
    decrypt_into = encrypt_into


class NoneBlockCrypt(BlockCrypt):
    """kcp-go ``NewNoneBlockCrypt``: identity, but the session still adds nonce and CRC."""

    name = "none"

    def __init__(self, key: bytes = b"") -> None:
        del key  # accepted and ignored, like kcp-go

    def encrypt(self, data: Buffer) -> bytes:
        return bytes(data)

    decrypt = encrypt

    def encrypt_into(self, buf: bytearray | memoryview) -> None:
        pass  # the identity

    encrypt_nonced_into = encrypt_into
    decrypt_into = encrypt_into
