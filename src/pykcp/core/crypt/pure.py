"""kcp-go's CFB over block ciphers no maintained Python package implements: TEA, XTEA and
Twofish, written here (protocol.md §2.3).

Decryption never needs the serial chain: all keystream blocks are E(IV), E(C0), E(C1)..., which
TEA and XTEA compute for the whole datagram at once with big-integer lane arithmetic.

This Python is the reference and what a pure install runs. A compiled install also has the C
kernel :mod:`pykcp.core.crypt._legacy`: the classes here still compute the key schedules and
hand them to it, and it runs the blocks (about a hundred times faster). ``accelerated=False``
keeps a cipher on the Python blocks.
"""

from __future__ import annotations

import struct
from abc import abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

from pykcp.core.crypt.base import CFB_IV, BlockCrypt, Buffer, check_key, xor_bytes

_kernel: Any
try:
    from pykcp.core.crypt import _legacy as _kernel
except ImportError:  # a pure install, or PYKCP_NO_EXTENSIONS=1
    _kernel = None

__all__ = ["TEABlockCrypt", "TwofishBlockCrypt", "XTEABlockCrypt"]

_M32: Final = 0xFFFFFFFF


class _PythonCFB(BlockCrypt):
    """kcp-go CFB over a block cipher written in Python.

    Subclasses give the block size, ``_encrypt_chain`` for the serial encryption chain and
    ``_keystream`` that encrypts many independent blocks at once (decryption).
    """

    _block_size: int
    accelerated = False
    """Whether the C kernel runs the blocks."""

    def _use_kernel(self, accelerated: bool, schedule: Sequence[int]) -> None:
        if accelerated and _kernel is not None:
            kernel = _kernel.CFB(self.name, self._iv, schedule)
            self._route_to_kernel(kernel.encrypt_into, kernel.decrypt_into)
            self.accelerated = True

    @abstractmethod
    def _encrypt_chain(self, data: memoryview, full_blocks: int) -> tuple[bytes, bytes]:
        """CFB-encrypt the first *full_blocks* blocks of *data*.

        Returns the ciphertext and the keystream block that follows it.
        """

    @abstractmethod
    def _keystream(self, blocks: bytes) -> bytes:
        """The block cipher applied to each block of *blocks* independently."""

    def encrypt(self, data: Buffer) -> bytes:
        if self.accelerated:
            out = bytearray(data)
            self.encrypt_into(out)
            return bytes(out)
        view = memoryview(data).cast("B")
        size = self._block_size
        full = len(view) // size
        body, keystream = self._encrypt_chain(view, full)
        rest = len(view) - full * size
        if rest:
            body += xor_bytes(view[full * size :], keystream, rest)
        return body

    def decrypt(self, data: Buffer) -> bytes:
        if self.accelerated:
            out = bytearray(data)
            self.decrypt_into(out)
            return bytes(out)
        view = memoryview(data).cast("B")
        length = len(view)
        if length == 0:
            return b""
        size = self._block_size
        blocks = -(-length // size)
        # Keystream block i is E(C[i-1]) with C[-1] = IV: one batch, no chain.
        keystream = self._keystream(self._iv + bytes(view[: (blocks - 1) * size]))
        return xor_bytes(view, keystream, length)

    # The Python blocks' exact encryption is a valid nonced one: no joined copy first.
    encrypt_nonced_into = BlockCrypt.encrypt_into

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

    def __init__(self, key: bytes, name: str, accelerated: bool) -> None:
        key = check_key(name.upper(), key, (16,))
        self.name = name
        self._key_words: tuple[int, int, int, int] = struct.unpack(">4I", key)
        r0, r1 = struct.unpack(">2I", self._iv)
        # A single lane is just the block: ones = 1, mask = 2**32 - 1.
        self._start = self._encrypt_lanes(r0, r1, 1, _M32)
        self._use_kernel(accelerated, self._schedule())

    @abstractmethod
    def _schedule(self) -> Sequence[int]:
        """The key schedule the C kernel takes."""

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

    Legacy.
    """

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        super().__init__(key, "tea", accelerated)

    def _schedule(self) -> Sequence[int]:
        return self._key_words

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
    """kcp-go ``NewXTEABlockCrypt``: standard XTEA, 64 rounds. Legacy."""

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        k = struct.unpack(">4I", check_key("XTEA", key, (16,)))
        # Per half-round constants sum + k[...]: the key schedule of XTEA, precomputed.
        constants: list[tuple[int, int]] = []
        total = 0
        for _ in range(32):
            first = (total + k[total & 3]) & _M32
            total = (total + _TEA_DELTA) & _M32
            constants.append((first, (total + k[(total >> 11) & 3]) & _M32))
        self._constants = tuple(constants)
        self._flat_constants = tuple(c for pair in constants for c in pair)
        super().__init__(key, "xtea", accelerated)

    def _schedule(self) -> Sequence[int]:
        return self._flat_constants

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
    """kcp-go ``NewTwofishBlockCrypt`` (16/24/32-byte key).

    The key-dependent S-boxes are folded with the MDS matrix into four 65536-entry tables at
    construction (about 10 MB and 20 ms per instance), so a round costs four look-ups.
    """

    name = "twofish"
    _block_size = 16
    _iv = CFB_IV

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        key = check_key("Twofish", key, (16, 24, 32))
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
        self._use_kernel(accelerated, (*self._subkeys, *s0, *s1, *s2, *s3))

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
