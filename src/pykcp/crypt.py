"""Packet ciphers, bit-exact with kcp-go's ``BlockCrypt`` family, plus AES-GCM.

Every non-AEAD block cipher runs in kcp-go's mode: standard full-block CFB
(segment size = block size) over the *whole* datagram, restarted for every datagram from the
fixed IV :data:`CFB_IV` (its first 8 bytes for 8-byte-block ciphers). Salsa20 and the XOR pad
are stream transforms; "none" is the identity. :class:`AEADCrypt` is kcp-go's AES-GCM mode
(12-byte nonce, 16-byte tag, no associated data).

Speed notes (the reasons behind the shape of the code):

* OpenSSL-backed ciphers keep their CFB contexts alive across datagrams. Creating a context
  costs more than encrypting 1500 bytes, so instead of a new context per datagram the
  contexts are brought back to the state "next keystream block = E(IV)" by feeding them one
  chosen block (a context's state after a block is E(that ciphertext block), so feeding the
  ciphertext IV resets it). Every call leaves its context on a block boundary.
* Decryption never needs the serial chain: all keystream blocks are E(IV), E(C0), E(C1)...,
  which the hand-written TEA/XTEA compute for the whole datagram at once with big-integer
  lane arithmetic.
* :meth:`BlockCrypt.encrypt_nonced` lets the packet layer skip even the reset: see there.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit_algorithms
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.modes import ECB

from pykcp.errors import ConfigError

__all__ = [
    "CFB_IV",
    "CIPHER_NAMES",
    "AEADCrypt",
    "AESBlockCrypt",
    "BlockCrypt",
    "BlowfishBlockCrypt",
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

CFB_IV: Final = bytes.fromhex("a7734f9c12ac1b01a415f2c1fc78e66b")
"""kcp-go's fixed CFB initial vector (8-byte-block ciphers use the first 8 bytes)."""

KDF_SALT: Final = b"kcp-go"
KDF_ITERATIONS: Final = 4096
XOR_SALT: Final = b"sH3CIVoF#rWLtJo6"
XOR_PAD_SIZE: Final = 1500

_M32: Final = 0xFFFFFFFF

Buffer = bytes | bytearray | memoryview
"""What the ciphers accept."""


class BlockCrypt(ABC):
    """A kcp-go ``BlockCrypt``: a length-preserving transform of a whole datagram.

    ``decrypt(encrypt(x)) == x`` and ``encrypt`` is deterministic, byte-for-byte equal to
    kcp-go's ``Encrypt`` for the same key. Instances may be shared between sessions and
    threads.
    """

    name: str
    """kcptun's name of the cipher."""

    @abstractmethod
    def encrypt(self, data: Buffer) -> bytes:
        """kcp-go's ``Encrypt`` of *data* (any length)."""

    @abstractmethod
    def decrypt(self, data: Buffer) -> bytes:
        """kcp-go's ``Decrypt`` of *data* (any length)."""

    def encrypt_nonced(self, *parts: Buffer) -> bytes:
        """Encrypt the concatenation of *parts*, whose first 16 bytes are a fresh random nonce.

        A receiver's ``decrypt`` recovers every byte after the first cipher block exactly;
        the first block (inside the nonce) may come out as *other* uniformly random bytes,
        which nobody checks. CFB ciphers use this freedom to skip resetting their chain to
        the fixed IV: the first ciphertext block becomes ``nonce xor R`` for some key-secret
        state ``R`` instead of ``nonce xor E(IV)``, equally random, and the rest of the chain
        follows from that block as usual. Default: :meth:`encrypt`.
        """
        return self.encrypt(b"".join(parts))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _xor_bytes(a: Buffer, b: Buffer, n: int) -> bytes:
    """The first *n* bytes of ``a xor b`` (both at least *n* bytes long)."""
    a_view = memoryview(a)[:n]
    b_view = memoryview(b)[:n]
    return (int.from_bytes(a_view, "little") ^ int.from_bytes(b_view, "little")).to_bytes(
        n, "little"
    )


# --------------------------------------------------------------------------------------------
# OpenSSL-backed CFB ciphers


class _OpenSSLCFB(BlockCrypt):
    """kcp-go CFB over a block cipher implemented by OpenSSL (through ``cryptography``)."""

    def __init__(self, algorithm: BlockCipherAlgorithm, name: str) -> None:
        self.name = name
        size = algorithm.block_size // 8
        self._block_size = size
        self._iv = CFB_IV[:size]
        self._iv_int = int.from_bytes(self._iv, "little")
        self._algorithm = algorithm
        self._ecb = Cipher(algorithm, ECB()).encryptor()
        # Zero padding that completes a partial last block, by pad length.
        self._pads = tuple(bytes(n) for n in range(size))
        # Decryption input tail: the padding plus the ciphertext block IV, which leaves the
        # decryptor's next keystream block at E(IV) for the next datagram.
        self._decrypt_tails = tuple(bytes(n) + self._iv for n in range(size))
        self._exact_lock = threading.Lock()
        self._fast_lock = threading.Lock()
        self._decrypt_lock = threading.Lock()
        self._exact = self._cfb().encryptor()
        self._fast = self._cfb().encryptor()
        self._decryptor = self._cfb().decryptor()

    def _cfb(self) -> Cipher[CFB]:
        return Cipher(self._algorithm, CFB(self._iv))

    def encrypt(self, data: Buffer) -> bytes:
        size = self._block_size
        with self._exact_lock:
            try:
                out = self._exact.update(data)
                pad = -len(out) % size
                if pad:
                    last_block = out[len(out) - size + pad :] + self._exact.update(self._pads[pad])
                elif out:
                    last_block = out[-size:]
                else:
                    return out
                # The context's next keystream block is R = E(last ciphertext block);
                # feeding the plaintext IV xor R makes the ciphertext IV, so the next
                # keystream block is E(IV) again: the state a fresh context starts in.
                keystream = int.from_bytes(self._ecb.update(last_block), "little")
                self._exact.update((keystream ^ self._iv_int).to_bytes(size, "little"))
            except BaseException:
                self._exact = self._cfb().encryptor()
                raise
        return out

    def encrypt_nonced(self, *parts: Buffer) -> bytes:
        data = b"".join(parts)
        with self._fast_lock:
            out = self._fast.update(data)
            pad = -len(out) % self._block_size
            if pad:
                # Only block boundaries are valid starting points for the next datagram.
                self._fast.update(self._pads[pad])
        return out

    def decrypt(self, data: Buffer) -> bytes:
        with self._decrypt_lock:
            out = self._decryptor.update(data)
            if out:
                self._decryptor.update(self._decrypt_tails[-len(out) % self._block_size])
        return out


def _key_bytes(key: object) -> bytes:
    """*key* as bytes; ``TypeError`` unless it is bytes-like (``bytes(32)`` would be a zero
    key of 32 bytes, so an int must never get this far)."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"key must be bytes-like, got {type(key).__name__}")
    return bytes(key)


def _check_key(name: str, key: bytes, sizes: tuple[int, ...]) -> bytes:
    key = _key_bytes(key)
    if len(key) not in sizes:
        want = " or ".join(str(s) for s in sizes)
        raise ConfigError(f"{name} needs a key of {want} bytes, got {len(key)}")
    return key


def _openssl_algorithm(name: str, algorithm: BlockCipherAlgorithm) -> BlockCipherAlgorithm:
    try:
        Cipher(algorithm, ECB()).encryptor()
    except UnsupportedAlgorithm as exc:
        raise ConfigError(f"{name} is not supported by this OpenSSL build: {exc}") from exc
    return algorithm


class AESBlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewAESBlockCrypt``: AES-128/192/256 chosen by the key length."""

    def __init__(self, key: bytes) -> None:
        key = _check_key("AES", key, (16, 24, 32))
        name = {16: "aes-128", 24: "aes-192", 32: "aes"}[len(key)]
        super().__init__(algorithms.AES(key), name)


class SM4BlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewSM4BlockCrypt`` (16-byte key)."""

    def __init__(self, key: bytes) -> None:
        key = _check_key("SM4", key, (16,))
        super().__init__(_openssl_algorithm("SM4", algorithms.SM4(key)), "sm4")


class BlowfishBlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewBlowfishBlockCrypt`` (1..56-byte key). Legacy 64-bit block cipher."""

    def __init__(self, key: bytes) -> None:
        key = _key_bytes(key)
        if not 1 <= len(key) <= 56:
            raise ConfigError(f"Blowfish needs a key of 1 to 56 bytes, got {len(key)}")
        # Blowfish's key schedule reads the key cyclically, so a repeated key is the same
        # key; OpenSSL refuses keys under 4 bytes, Go does not.
        if len(key) < 4:
            key *= -(-4 // len(key))
        super().__init__(decrepit_algorithms.Blowfish(key), "blowfish")


class Cast5BlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewCast5BlockCrypt`` (16-byte key). Legacy 64-bit block cipher."""

    def __init__(self, key: bytes) -> None:
        key = _check_key("CAST5", key, (16,))
        super().__init__(decrepit_algorithms.CAST5(key), "cast5")


class TripleDESBlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewTripleDESBlockCrypt``: 3DES-EDE, 24-byte key K1||K2||K3. Legacy."""

    def __init__(self, key: bytes) -> None:
        key = _check_key("3DES", key, (24,))
        super().__init__(decrepit_algorithms.TripleDES(key), "3des")


# --------------------------------------------------------------------------------------------
# Stream transforms


class Salsa20BlockCrypt(BlockCrypt):
    """kcp-go ``NewSalsa20BlockCrypt``: Salsa20/20, nonce = bytes 0..7 (left in clear).

    The key is zero-padded or truncated to 32 bytes as Go copies it into a [32]byte; the
    padded key is always passed, since a 16-byte key would select Salsa20's other constants.

    A new nonce per datagram means a new pycryptodome cipher object per datagram, whose
    Python-level set-up costs more than the keystream. When pycryptodome's C library is
    reachable through cffi, the three C calls are made directly (about twice as fast); the
    direct path must reproduce kcp-go's output on a known vector first, else the public API
    is used. ``accelerated=False`` forces the public API.
    """

    name = "salsa20"

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        from Crypto.Cipher import Salsa20

        self._new = Salsa20.new
        self._key = _key_bytes(key)[:32].ljust(32, b"\0")
        self._raw = _salsa20_raw_api() if accelerated else None
        self.accelerated = self._raw is not None

    def encrypt(self, data: Buffer) -> bytes:
        # pycryptodome takes bytes much faster than a memoryview.
        if not isinstance(data, bytes):
            data = bytes(data)
        if len(data) < 8:
            return data
        raw = self._raw
        if raw is None:
            nonce = data[:8]
            return nonce + self._new(self._key, nonce).encrypt(data[8:])
        ffi, lib = raw
        out = bytearray(data)
        state = ffi.new("void **")
        if lib.Salsa20_stream_init(self._key, 32, data[:8], 8, state):
            raise RuntimeError("pycryptodome could not set up Salsa20")
        try:
            body = ffi.from_buffer("uint8_t[]", out) + 8
            lib.Salsa20_stream_encrypt(state[0], body, body, len(out) - 8)
        finally:
            lib.Salsa20_stream_destroy(state[0])
        return bytes(out)

    decrypt = encrypt


# crypto.md §8: kcp-go's Salsa20 of the bytes 0..44 under the key 0..31.
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

    def __init__(self, key: bytes) -> None:
        self._pad = hashlib.pbkdf2_hmac("sha1", _key_bytes(key), XOR_SALT, 32, XOR_PAD_SIZE)

    def encrypt(self, data: Buffer) -> bytes:
        view = memoryview(data)
        n = min(len(view), XOR_PAD_SIZE)
        head = _xor_bytes(view, self._pad, n)
        return head if n == len(view) else head + bytes(view[n:])

    decrypt = encrypt


class NoneBlockCrypt(BlockCrypt):
    """kcp-go ``NewNoneBlockCrypt``: identity, but the session still adds nonce and CRC."""

    name = "none"

    def __init__(self, key: bytes = b"") -> None:
        del key  # accepted and ignored, like kcp-go

    def encrypt(self, data: Buffer) -> bytes:
        return bytes(data)

    decrypt = encrypt


# --------------------------------------------------------------------------------------------
# Hand-written ciphers (no maintained Python package implements them)


class _PythonCFB(BlockCrypt):
    """kcp-go CFB over a block cipher written in Python.

    Subclasses give the block size, ``_encrypt_chain`` for the serial encryption chain and
    ``_keystream`` that encrypts many independent blocks at once (decryption).
    """

    _block_size: int

    @abstractmethod
    def _encrypt_chain(self, data: memoryview, full_blocks: int) -> tuple[bytes, bytes]:
        """CFB-encrypt the first *full_blocks* blocks of *data*.

        Returns the ciphertext and the keystream block that follows it.
        """

    @abstractmethod
    def _keystream(self, blocks: bytes) -> bytes:
        """The block cipher applied to each block of *blocks* independently."""

    def encrypt(self, data: Buffer) -> bytes:
        view = memoryview(data).cast("B")
        size = self._block_size
        full = len(view) // size
        body, keystream = self._encrypt_chain(view, full)
        rest = len(view) - full * size
        if rest:
            body += _xor_bytes(view[full * size :], keystream, rest)
        return body

    def decrypt(self, data: Buffer) -> bytes:
        view = memoryview(data).cast("B")
        length = len(view)
        if length == 0:
            return b""
        size = self._block_size
        blocks = -(-length // size)
        # Keystream block i is E(C[i-1]) with C[-1] = IV: one batch, no chain.
        keystream = self._keystream(self._iv + bytes(view[: (blocks - 1) * size]))
        return _xor_bytes(view, keystream, length)

    _iv: bytes


_TEA_DELTA: Final = 0x9E3779B9


@lru_cache(maxsize=64)
def _lanes(count: int) -> tuple[int, int]:
    """(ones, mask) for big-integer "SIMD": 1 and 0xFFFFFFFF in each of *count* 64-bit lanes.

    Each lane holds one 32-bit value. Lane arithmetic never carries across lanes: values
    stay below 2**38 between masks, and the bits a right shift drags in from the lane above
    land at bit 59+, where no carry reaches and the next mask removes them.
    """
    ones = int.from_bytes(b"\0\0\0\0\0\0\0\1" * count, "big")
    return ones, ones * _M32


class _TEAFamily(_PythonCFB):
    """Shared CFB plumbing of TEA and XTEA: 8-byte blocks of two big-endian u32."""

    _block_size = 8
    _iv = CFB_IV[:8]

    def __init__(self, key: bytes, name: str) -> None:
        key = _check_key(name.upper(), key, (16,))
        self.name = name
        self._key_words: tuple[int, int, int, int] = struct.unpack(">4I", key)
        r0, r1 = struct.unpack(">2I", self._iv)
        # A single lane is just the block: ones = 1, mask = 2**32 - 1.
        self._start = self._encrypt_lanes(r0, r1, 1, _M32)

    @abstractmethod
    def _encrypt_lanes(self, v0: int, v1: int, ones: int, mask: int) -> tuple[int, int]:
        """Encrypt the blocks whose halves sit in the lanes of v0 and v1 (see _lanes)."""

    def _keystream(self, blocks: bytes) -> bytes:
        count = len(blocks) // 8
        ones, mask = _lanes(count)
        packed = int.from_bytes(blocks, "big")
        v0, v1 = self._encrypt_lanes((packed >> 32) & mask, packed & mask, ones, mask)
        return ((v0 << 32) | v1).to_bytes(len(blocks), "big")


class TEABlockCrypt(_TEAFamily):
    """kcp-go ``NewTEABlockCrypt``: TEA with 16 rounds (Go's ``NewCipherWithRounds(k, 16)``).

    Legacy; pure Python.
    """

    def __init__(self, key: bytes) -> None:
        super().__init__(key, "tea")

    def _encrypt_chain(self, data: memoryview, full_blocks: int) -> tuple[bytes, bytes]:
        count = 2 * full_blocks
        words = struct.unpack_from(f">{count}I", data)
        out = [0] * count
        k0, k1, k2, k3 = self._key_words
        v0, v1 = self._start
        for i in range(0, count, 2):
            v0 ^= words[i]
            v1 ^= words[i + 1]
            out[i] = v0
            out[i + 1] = v1
            # One TEA block, 8 cycles unrolled (sums = i * delta mod 2**32, literal constants
            # are the fastest operands CPython has). Only each line's final sum is masked:
            # bits above 32 of the shifted terms never reach the low 32.
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0x9E3779B9)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0x9E3779B9)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0x3C6EF372)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0x3C6EF372)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0xDAA66D2B)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0xDAA66D2B)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0x78DDE6E4)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0x78DDE6E4)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0x1715609D)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0x1715609D)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0xB54CDA56)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0xB54CDA56)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0x5384540F)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0x5384540F)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + 0xF1BBCDC8)) ^ ((v1 >> 5) + k1))) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + 0xF1BBCDC8)) ^ ((v0 >> 5) + k3))) & 0xFFFFFFFF
        return struct.pack(f">{count}I", *out), struct.pack(">2I", v0, v1)

    def _encrypt_lanes(self, v0: int, v1: int, ones: int, mask: int) -> tuple[int, int]:
        k0, k1, k2, k3 = (k * ones for k in self._key_words)
        total = 0
        for _ in range(8):
            total = (total + _TEA_DELTA) & _M32
            s = total * ones
            v0 = (v0 + ((((v1 << 4) + k0) ^ (v1 + s)) ^ ((v1 >> 5) + k1))) & mask
            v1 = (v1 + ((((v0 << 4) + k2) ^ (v0 + s)) ^ ((v0 >> 5) + k3))) & mask
        return v0, v1


class XTEABlockCrypt(_TEAFamily):
    """kcp-go ``NewXTEABlockCrypt``: standard XTEA, 64 rounds. Legacy; pure Python."""

    def __init__(self, key: bytes) -> None:
        k = struct.unpack(">4I", _check_key("XTEA", key, (16,)))
        # Per half-round constants sum + k[...]: the key schedule of XTEA, precomputed.
        constants: list[tuple[int, int]] = []
        total = 0
        for _ in range(32):
            first = (total + k[total & 3]) & _M32
            total = (total + _TEA_DELTA) & _M32
            constants.append((first, (total + k[(total >> 11) & 3]) & _M32))
        self._constants = tuple(constants)
        self._flat_constants = tuple(c for pair in constants for c in pair)
        super().__init__(key, "xtea")

    def _encrypt_chain(self, data: memoryview, full_blocks: int) -> tuple[bytes, bytes]:
        count = 2 * full_blocks
        words = struct.unpack_from(f">{count}I", data)
        out = [0] * count
        (
            a0,
            b0,
            a1,
            b1,
            a2,
            b2,
            a3,
            b3,
            a4,
            b4,
            a5,
            b5,
            a6,
            b6,
            a7,
            b7,
            a8,
            b8,
            a9,
            b9,
            a10,
            b10,
            a11,
            b11,
            a12,
            b12,
            a13,
            b13,
            a14,
            b14,
            a15,
            b15,
            a16,
            b16,
            a17,
            b17,
            a18,
            b18,
            a19,
            b19,
            a20,
            b20,
            a21,
            b21,
            a22,
            b22,
            a23,
            b23,
            a24,
            b24,
            a25,
            b25,
            a26,
            b26,
            a27,
            b27,
            a28,
            b28,
            a29,
            b29,
            a30,
            b30,
            a31,
            b31,
        ) = self._flat_constants
        v0, v1 = self._start
        for i in range(0, count, 2):
            v0 ^= words[i]
            v1 ^= words[i + 1]
            out[i] = v0
            out[i + 1] = v1
            # One XTEA block, 32 cycles unrolled over the per-round key constants.
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a0)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b0)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a1)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b1)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a2)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b2)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a3)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b3)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a4)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b4)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a5)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b5)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a6)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b6)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a7)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b7)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a8)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b8)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a9)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b9)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a10)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b10)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a11)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b11)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a12)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b12)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a13)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b13)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a14)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b14)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a15)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b15)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a16)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b16)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a17)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b17)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a18)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b18)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a19)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b19)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a20)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b20)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a21)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b21)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a22)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b22)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a23)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b23)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a24)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b24)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a25)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b25)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a26)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b26)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a27)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b27)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a28)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b28)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a29)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b29)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a30)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b30)) & 0xFFFFFFFF
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ a31)) & 0xFFFFFFFF
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ b31)) & 0xFFFFFFFF
        return struct.pack(f">{count}I", *out), struct.pack(">2I", v0, v1)

    def _encrypt_lanes(self, v0: int, v1: int, ones: int, mask: int) -> tuple[int, int]:
        for a, b in self._constants:
            v0 = (v0 + ((((v1 << 4) ^ (v1 >> 5)) + v1) ^ (a * ones))) & mask
            v1 = (v1 + ((((v0 << 4) ^ (v0 >> 5)) + v0) ^ (b * ones))) & mask
        return v0, v1


def _twofish_tables() -> tuple[bytes, bytes]:
    """Twofish's fixed byte permutations q0 and q1, built from their 4-bit tables."""

    def permutation(t: tuple[list[int], list[int], list[int], list[int]]) -> bytes:
        def ror4(x: int) -> int:
            return ((x >> 1) | (x << 3)) & 15

        out = bytearray(256)
        for x in range(256):
            a, b = x >> 4, x & 15
            a, b = a ^ b, (a ^ ror4(b) ^ (a << 3)) & 15
            a, b = t[0][a], t[1][b]
            a, b = a ^ b, (a ^ ror4(b) ^ (a << 3)) & 15
            a, b = t[2][a], t[3][b]
            out[x] = (b << 4) | a
        return bytes(out)

    q0 = permutation(
        (
            [8, 1, 7, 13, 6, 15, 3, 2, 0, 11, 5, 9, 14, 12, 10, 4],
            [14, 12, 11, 8, 1, 2, 3, 5, 15, 4, 10, 6, 7, 0, 9, 13],
            [11, 10, 5, 14, 6, 13, 9, 0, 12, 8, 15, 3, 2, 4, 7, 1],
            [13, 7, 15, 4, 1, 2, 6, 14, 9, 11, 3, 0, 8, 5, 12, 10],
        )
    )
    q1 = permutation(
        (
            [2, 8, 11, 13, 15, 7, 6, 14, 3, 1, 9, 4, 0, 10, 12, 5],
            [1, 14, 2, 11, 4, 12, 3, 7, 6, 13, 10, 5, 15, 9, 0, 8],
            [4, 12, 7, 5, 1, 6, 9, 10, 0, 14, 13, 8, 2, 11, 3, 15],
            [11, 9, 5, 1, 12, 3, 13, 14, 6, 4, 7, 15, 2, 0, 8, 10],
        )
    )
    return q0, q1


_Q0, _Q1 = _twofish_tables()
_MDS: Final = ((0x01, 0xEF, 0x5B, 0x5B), (0x5B, 0xEF, 0xEF, 0x01), (0xEF, 0x5B, 0x01, 0xEF),
               (0xEF, 0x01, 0xEF, 0x5B))  # fmt: skip
_RS: Final = ((0x01, 0xA4, 0x55, 0x87, 0x5A, 0x58, 0xDB, 0x9E),
              (0xA4, 0x56, 0x82, 0xF3, 0x1E, 0xC6, 0x68, 0xE5),
              (0x02, 0xA1, 0xFC, 0xC1, 0x47, 0xAE, 0x3D, 0x19),
              (0xA4, 0x55, 0x87, 0x5A, 0x58, 0xDB, 0x9E, 0x03))  # fmt: skip


def _gf_mul(a: int, b: int, poly: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a <<= 1
        if a & 0x100:
            a ^= poly
        b >>= 1
    return result


def _mds_column(column: int, byte: int) -> int:
    """MDS matrix column *column* times *byte*, as a little-endian u32."""
    return sum(_gf_mul(_MDS[row][column], byte, 0x169) << (8 * row) for row in range(4))


def _rol32(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _M32


class TwofishBlockCrypt(_PythonCFB):
    """kcp-go ``NewTwofishBlockCrypt`` (16/24/32-byte key). Pure Python.

    The key-dependent S-boxes are folded with the MDS matrix into four 65536-entry tables at
    construction (about 10 MB and 20 ms per instance), so a round costs four look-ups.
    """

    name = "twofish"
    _block_size = 16
    _iv = CFB_IV

    def __init__(self, key: bytes) -> None:
        key = _check_key("Twofish", key, (16, 24, 32))
        k = len(key) // 8
        words = struct.unpack(f"<{2 * k}I", key)
        even, odd = words[0::2], words[1::2]
        # S words from the RS code over GF(2^8)/0x14D, listed last-first.
        s_words = []
        for i in range(k):
            chunk = key[8 * i : 8 * i + 8]
            s_words.append(sum(_gf_mul_row(_RS[row], chunk) << (8 * row) for row in range(4)))
        s_words.reverse()

        subkeys = []
        rho = 0x01010101
        for i in range(20):
            a = self._h(2 * i * rho, even)
            b = _rol32(self._h((2 * i + 1) * rho, odd), 8)
            subkeys.append((a + b) & _M32)
            subkeys.append(_rol32((a + 2 * b) & _M32, 9))
        self._subkeys = tuple(subkeys)

        s_bytes = [w.to_bytes(4, "little") for w in s_words]
        s0, s1, s2, s3 = ([0] * 256 for _ in range(4))
        for x in range(256):
            y = self._sbox_bytes(x, s_bytes)
            s0[x], s1[x], s2[x] = _mds_column(0, y[0]), _mds_column(1, y[1]), _mds_column(2, y[2])
            s3[x] = _mds_column(3, y[3])
        # g(X) = s0[b0] ^ s1[b1] ^ s2[b2] ^ s3[b3] for the bytes b0..b3 of X, and the round
        # takes g(R0) and g(ROL(R1, 8)). Pairing the byte tables into 16-bit ones (index = low
        # or high half of the register) halves the look-ups and removes the rotation.
        self._tables = (
            _pair_table(s0, s1),
            _pair_table(s2, s3),
            _pair_table(s1, s2),
            _pair_table(s3, s0),
        )
        self._start = self._encrypt_words(*struct.unpack("<4I", self._iv))

    @staticmethod
    def _sbox_bytes(x: int, key_words: list[bytes]) -> tuple[int, int, int, int]:
        """The four key-dependent S-box outputs of h() for the input byte x in every lane."""
        q0, q1 = _Q0, _Q1
        y0 = y1 = y2 = y3 = x
        k = len(key_words)
        if k == 4:
            w = key_words[3]
            y0, y1, y2, y3 = q1[y0] ^ w[0], q0[y1] ^ w[1], q0[y2] ^ w[2], q1[y3] ^ w[3]
        if k >= 3:
            w = key_words[2]
            y0, y1, y2, y3 = q1[y0] ^ w[0], q1[y1] ^ w[1], q0[y2] ^ w[2], q0[y3] ^ w[3]
        w1, w0 = key_words[1], key_words[0]
        return (
            q1[q0[q0[y0] ^ w1[0]] ^ w0[0]],
            q0[q0[q1[y1] ^ w1[1]] ^ w0[1]],
            q1[q1[q0[y2] ^ w1[2]] ^ w0[2]],
            q0[q1[q1[y3] ^ w1[3]] ^ w0[3]],
        )

    @classmethod
    def _h(cls, x: int, key_words: tuple[int, ...]) -> int:
        words = [w.to_bytes(4, "little") for w in key_words]
        out = 0
        xb = x.to_bytes(4, "little")
        ys = [cls._sbox_bytes(xb[i], words)[i] for i in range(4)]
        for column in range(4):
            out ^= _mds_column(column, ys[column])
        return out

    def _encrypt_words(self, p0: int, p1: int, p2: int, p3: int) -> tuple[int, int, int, int]:
        lo0, hi0, lo1, hi1 = self._tables
        (
            k0,
            k1,
            k2,
            k3,
            k4,
            k5,
            k6,
            k7,
            k8,
            k9,
            k10,
            k11,
            k12,
            k13,
            k14,
            k15,
            k16,
            k17,
            k18,
            k19,
            k20,
            k21,
            k22,
            k23,
            k24,
            k25,
            k26,
            k27,
            k28,
            k29,
            k30,
            k31,
            k32,
            k33,
            k34,
            k35,
            k36,
            k37,
            k38,
            k39,
        ) = self._subkeys
        r0, r1, r2, r3 = p0 ^ k0, p1 ^ k1, p2 ^ k2, p3 ^ k3
        # 16 rounds unrolled; each round's g() is two 16-bit table look-ups, and the halves
        # swap roles every round instead of moving.
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k8)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k9)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k10)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k11)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k12)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k13)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k14)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k15)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k16)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k17)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k18)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k19)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k20)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k21)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k22)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k23)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k24)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k25)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k26)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k27)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k28)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k29)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k30)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k31)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k32)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k33)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k34)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k35)) & 0xFFFFFFFF
        t0 = lo0[r0 & 0xFFFF] ^ hi0[r0 >> 16]
        t1 = lo1[r1 & 0xFFFF] ^ hi1[r1 >> 16]
        x = (r2 ^ (t0 + t1 + k36)) & 0xFFFFFFFF
        r2 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r3 = (((r3 << 1) | (r3 >> 31)) ^ (t0 + t1 + t1 + k37)) & 0xFFFFFFFF
        t0 = lo0[r2 & 0xFFFF] ^ hi0[r2 >> 16]
        t1 = lo1[r3 & 0xFFFF] ^ hi1[r3 >> 16]
        x = (r0 ^ (t0 + t1 + k38)) & 0xFFFFFFFF
        r0 = ((x >> 1) | (x << 31)) & 0xFFFFFFFF
        r1 = (((r1 << 1) | (r1 >> 31)) ^ (t0 + t1 + t1 + k39)) & 0xFFFFFFFF
        return r2 ^ k4, r3 ^ k5, r0 ^ k6, r1 ^ k7

    def _encrypt_chain(self, data: memoryview, full_blocks: int) -> tuple[bytes, bytes]:
        words = struct.unpack_from(f"<{4 * full_blocks}I", data)
        out = [0] * (4 * full_blocks)
        encrypt_words = self._encrypt_words
        r0, r1, r2, r3 = self._start
        for i in range(0, 4 * full_blocks, 4):
            r0 ^= words[i]
            r1 ^= words[i + 1]
            r2 ^= words[i + 2]
            r3 ^= words[i + 3]
            out[i : i + 4] = (r0, r1, r2, r3)
            r0, r1, r2, r3 = encrypt_words(r0, r1, r2, r3)
        return struct.pack(f"<{4 * full_blocks}I", *out), struct.pack("<4I", r0, r1, r2, r3)

    def _keystream(self, blocks: bytes) -> bytes:
        count = len(blocks) // 16
        words = struct.unpack(f"<{4 * count}I", blocks)
        encrypt_words = self._encrypt_words
        out: list[int] = []
        for i in range(0, 4 * count, 4):
            out.extend(encrypt_words(words[i], words[i + 1], words[i + 2], words[i + 3]))
        return struct.pack(f"<{4 * count}I", *out)


def _pair_table(low: list[int], high: list[int]) -> tuple[int, ...]:
    """low[x & 255] ^ high[x >> 8] for every 16-bit x."""
    return tuple(h ^ lo for h in high for lo in low)


def _gf_mul_row(row: tuple[int, ...], chunk: bytes) -> int:
    value = 0
    for coefficient, byte in zip(row, chunk, strict=True):
        value ^= _gf_mul(coefficient, byte, 0x14D)
    return value


# --------------------------------------------------------------------------------------------
# AEAD


class AEADCrypt:
    """kcp-go's AEAD mode with AES-GCM (``NewAESGCMCrypt``): 12-byte nonce, 16-byte tag.

    Not in kcp-go 5.6.1; the datagram is ``nonce || ciphertext || tag`` with no CRC.
    """

    nonce_size: int = 12
    overhead: int = 16

    def __init__(self, key: bytes) -> None:
        key = _check_key("AES-GCM", key, (16, 24, 32))
        self.name = f"aes-{8 * len(key)}-gcm"
        self.aead = AESGCM(key)
        """The ``cryptography`` AEAD object (the packet layer calls it directly)."""

    def seal(self, nonce: Buffer, plaintext: Buffer) -> bytes:
        """Ciphertext followed by the tag (no associated data)."""
        return self.aead.encrypt(nonce, plaintext, None)

    def open(self, nonce: Buffer, sealed: Buffer) -> bytes | None:
        """The plaintext, or None when the tag does not verify."""
        try:
            return self.aead.decrypt(nonce, sealed, None)
        except InvalidTag:
            return None

    def __repr__(self) -> str:
        return f"<AEADCrypt {self.name}>"


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
    unknown name or an unusable key raises :class:`~pykcp.errors.ConfigError` instead of
    silently falling back to AES.
    """
    if name == "null":
        return None
    try:
        factory, size = _FACTORIES[name]
    except KeyError:
        known = ", ".join(CIPHER_NAMES)
        raise ConfigError(f"unknown cipher {name!r}; known ciphers: {known}") from None
    key = _key_bytes(key)
    if size:
        if len(key) < size:
            raise ConfigError(f"{name} needs a key of at least {size} bytes, got {len(key)}")
        key = key[:size]
    return factory(key)
