"""Quantum Permutation Pads (QPP), bit-exact with xtaci/qpp v1.1.25, which today's kcptun uses.

kcptun's ``--QPP`` adds this byte-level cipher *per smux stream*, above smux (and so above
snappy and KCP): what the client reads from its TCP connection is encrypted before it is
written to the stream, and decrypted after it is read from the stream on the server, and the
same in the other direction. Both ends derive everything from ``--key`` (its UTF-8 bytes,
*not* the PBKDF2 output the packet cipher uses) and ``--QPPCount`` (default 61).

The algorithm, for 8 qubits (one byte):

Pads. ``num_pads`` permutations of 0..255 (and their inverses). The seed is first stretched to
seven 32-byte *chunks*: a seed shorter than 32 bytes becomes ``PBKDF2-SHA1(seed,
CHUNK_DERIVE_SALT, 128, 32)``; chunk *i* takes 32 consecutive seed bytes starting at ``32 * i``
(wrapping around the seed) and is replaced by ``PBKDF2-SHA1(chunk, CHUNK_DERIVE_SALT, 1024,
32)``. Seven is ``ceil(minimum_seed_length(8) / 32)`` with ``minimum_seed_length(8)`` = 211
bytes, the size of 256!. Each chunk also keys an AES-256 block cipher with
``PBKDF2-SHA1(chunk, SHUFFLE_SALT, 128, 32)``. Pad *p* starts as the identity and gets a
Fisher-Yates shuffle: ``state = HMAC-SHA256(chunk[p % 7], "QPP_" + binary(p))``; for ``i``
from 255 down to 1, ``state`` is encrypted (AES-ECB, both 16-byte halves) by each of the seven
ciphers in turn, read as a big-endian integer, and ``j = state % (i + 1)``; swap ``pad[i]``
and ``pad[j]``.

PRNG. xoshiro256** seeded with ``PBKDF2-SHA1(HMAC-SHA256(seed, PM_SELECTOR_IDENTIFIER),
PRNG_SALT, 128, 32)`` read as four little-endian u64. Its first output is the current word.

Stream. Byte *n* of a stream (counted from the stream's first byte, across all writes) uses
word ``w = r[n // 8]`` (the PRNG's outputs in order), key byte ``k = (w >> 8 * (n % 8)) & 0xFF``
and pad ``(w & 0xFFFF) % num_pads``: ``c = pad[b ^ k]``, and back ``b = rpad[c] ^ k``. Each
direction of each stream has its own PRNG, started afresh from the seed, so the output does
not depend on how the stream is cut into reads and writes.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import math
import struct
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pykcp.core.errors import ConfigError

__all__ = [
    "DEFAULT_PAD_COUNT",
    "MAX_PAD_COUNT",
    "QPPPort",
    "QPPRand",
    "QuantumPermutationPad",
    "minimum_pads",
    "minimum_seed_length",
    "qpp_warnings",
]

PAD_IDENTIFIER: Final = "QPP_"
PM_SELECTOR_IDENTIFIER: Final = b"PERMUTATION_MATRIX_SELECTOR"
SHUFFLE_SALT: Final = b"___QUANTUM_PERMUTATION_PAD_SHUFFLE_SALT___"
PRNG_SALT: Final = b"___QUANTUM_PERMUTATION_PAD_PRNG_SALT___"
CHUNK_DERIVE_SALT: Final = b"___QUANTUM_PERMUTATION_PAD_SEED_DERIVE___"
PBKDF2_LOOPS: Final = 128
CHUNK_DERIVE_LOOPS: Final = 1024
QUBITS: Final = 8
DEFAULT_PAD_COUNT: Final = 61
"""kcptun's ``--QPPCount`` default (a prime, as kcptun recommends)."""
MAX_PAD_COUNT: Final = 65535
"""qpp counts pads in a u16 (kcptun converts larger values silently; pykcp refuses them)."""

_MASK64: Final = (1 << 64) - 1


def minimum_seed_length(qubits: int) -> int:
    """Bytes needed to hold ``(2**qubits)!``, qpp's ``QPPMinimumSeedLength`` (211 for 8)."""
    return max(1, (math.factorial(1 << qubits).bit_length() + 7) // 8)


def minimum_pads(qubits: int) -> int:
    """qpp's ``QPPMinimumPads``: the seed length in 32-byte units, rounded up (7 for 8)."""
    return (minimum_seed_length(qubits) + 31) // 32


def qpp_warnings(count: int, key: str) -> list[str]:
    """kcptun's ``ValidateQPPParams``: ConfigError for an unusable pad count, else the
    warnings kcptun prints (short key, few pads, a count sharing a factor with 8)."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise ConfigError(f"QPPCount must be an integer, got {type(count).__name__}")
    if not 1 <= count <= MAX_PAD_COUNT:
        raise ConfigError(f"QPPCount must be in [1, {MAX_PAD_COUNT}], got {count}")
    warnings = []
    seed_length = minimum_seed_length(QUBITS)
    if len(key.encode()) < seed_length:
        warnings.append(
            f"QPP Warning: 'key' has size of {len(key.encode())} bytes, "
            f"required {seed_length} bytes at least"
        )
    if count < minimum_pads(QUBITS):
        warnings.append(f"QPP Warning: QPPCount {count}, required {minimum_pads(QUBITS)} at least")
    if math.gcd(count, QUBITS) != 1:
        warnings.append(f"QPP Warning: QPPCount {count}, choose a prime number for security")
    return warnings


def _pbkdf2_sha1(password: bytes, salt: bytes, rounds: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha1", password, salt, rounds, 32)


def _seed_chunks(seed: bytes) -> list[bytes]:
    if len(seed) < 32:
        seed = _pbkdf2_sha1(seed, CHUNK_DERIVE_SALT, PBKDF2_LOOPS)
    count = minimum_pads(QUBITS)
    chunks = []
    for i in range(count):
        raw = bytes(seed[(32 * i + j) % len(seed)] for j in range(32))
        chunks.append(_pbkdf2_sha1(raw, CHUNK_DERIVE_SALT, CHUNK_DERIVE_LOOPS))
    return chunks


class QPPRand:
    """One direction's pad selector: xoshiro256** state, the current 64-bit word and how many
    of its bytes are used (qpp's ``Rand``). :meth:`copy` gives an independent twin."""

    __slots__ = ("count", "s0", "s1", "s2", "s3", "word")

    def __init__(self, seed: bytes) -> None:
        selector = hmac.new(seed, PM_SELECTOR_IDENTIFIER, hashlib.sha256).digest()
        state = _pbkdf2_sha1(selector, PRNG_SALT, PBKDF2_LOOPS)
        self.s0, self.s1, self.s2, self.s3 = (
            int.from_bytes(state[i : i + 8], "little") for i in range(0, 32, 8)
        )
        self.count = 0
        self.word = self.next()

    def next(self) -> int:
        """The next xoshiro256** output (advances the state, not :attr:`word`)."""
        s0, s1, s2, s3 = self.s0, self.s1, self.s2, self.s3
        x = (s1 * 5) & _MASK64
        result = ((((x << 7) | (x >> 57)) & _MASK64) * 9) & _MASK64
        t = (s1 << 17) & _MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & _MASK64
        self.s0, self.s1, self.s2, self.s3 = s0, s1, s2, s3
        return result

    def copy(self) -> QPPRand:
        return copy.copy(self)

    def take_words(self, n: int) -> tuple[list[int], int]:
        """The words covering the next *n* stream bytes and the offset of the first byte in
        the first word; afterwards the state points just past those bytes."""
        offset = self.count
        total = offset + n
        words = [self.word]
        # next() inlined: this loop is most of QPP's cost in Python.
        s0, s1, s2, s3 = self.s0, self.s1, self.s2, self.s3
        mask = _MASK64
        append = words.append
        for _ in range((total - 1) // 8 + (total % 8 == 0)):
            x = (s1 * 5) & mask
            append((((x << 7) | (x >> 57)) * 9) & mask)
            t = (s1 << 17) & mask
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = ((s3 << 45) | (s3 >> 19)) & mask
        self.s0, self.s1, self.s2, self.s3 = s0, s1, s2, s3
        if total % 8 == 0:
            self.word = words.pop()
        else:
            self.word = words[-1]
        self.count = total % 8
        return words, offset


class QuantumPermutationPad:
    """The pads of one seed (qpp's ``NewQPP``); shared by every stream, never modified.

    Building them runs about 110,000 AES block operations for the default 61 pads (a few
    tenths of a second): do it once, off the event loop.
    """

    def __init__(self, seed: bytes, num_pads: int = DEFAULT_PAD_COUNT) -> None:
        if not isinstance(seed, bytes | bytearray | memoryview):
            raise TypeError(f"the QPP seed must be bytes-like, got {type(seed).__name__}")
        if isinstance(num_pads, bool) or not isinstance(num_pads, int):
            raise TypeError(f"num_pads must be an int, got {type(num_pads).__name__}")
        if not 1 <= num_pads <= MAX_PAD_COUNT:
            raise ConfigError(f"num_pads must be in [1, {MAX_PAD_COUNT}], got {num_pads}")
        self.seed = bytes(seed)
        self.num_pads = num_pads
        chunks = _seed_chunks(self.seed)
        ciphers = [
            Cipher(
                algorithms.AES(_pbkdf2_sha1(chunk, SHUFFLE_SALT, PBKDF2_LOOPS)), modes.ECB()
            ).encryptor()
            for chunk in chunks
        ]
        pads: list[bytes] = []
        for index in range(num_pads):
            pad = list(range(256))
            state = hmac.new(
                chunks[index % len(chunks)],
                f"{PAD_IDENTIFIER}{index:b}".encode(),
                hashlib.sha256,
            ).digest()
            for i in range(255, 0, -1):
                for cipher in ciphers:
                    state = cipher.update(state)
                j = int.from_bytes(state, "big") % (i + 1)
                pad[i], pad[j] = pad[j], pad[i]
            pads.append(bytes(pad))
        self.pads: tuple[bytes, ...] = tuple(pads)
        """Encryption tables (``bytes.translate`` tables): ``c = pad[b ^ k]``."""
        rpads = []
        for table in pads:
            inverse = bytearray(256)
            for i, value in enumerate(table):
                inverse[value] = i
            rpads.append(bytes(inverse))
        self.rpads: tuple[bytes, ...] = tuple(rpads)
        """Decryption tables: ``b = rpad[c] ^ k``."""
        self._rand = QPPRand(self.seed)

    def new_rand(self) -> QPPRand:
        """A fresh pad selector from the seed (kcptun's ``CreatePRNG(key)`` per stream)."""
        return self._rand.copy()

    def _keystream(self, words: list[int], offset: int, n: int) -> bytes:
        return struct.pack(f"<{len(words)}Q", *words)[offset : offset + n]

    def encrypt(self, data: bytes | bytearray | memoryview, rand: QPPRand) -> bytes:
        """*data* encrypted as the next bytes of the stream *rand* belongs to."""
        n = len(data)
        if n == 0:
            return b""
        words, offset = rand.take_words(n)
        stream = self._keystream(words, offset, n)
        mixed = (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
            n, "little"
        )
        return self._permute(mixed, words, offset, self.pads)

    def decrypt(self, data: bytes | bytearray | memoryview, rand: QPPRand) -> bytes:
        """The inverse of :meth:`encrypt` for a selector in the same position."""
        n = len(data)
        if n == 0:
            return b""
        words, offset = rand.take_words(n)
        permuted = self._permute(bytes(data), words, offset, self.rpads)
        stream = self._keystream(words, offset, n)
        return (int.from_bytes(permuted, "little") ^ int.from_bytes(stream, "little")).to_bytes(
            n, "little"
        )

    def _permute(
        self, data: bytes, words: list[int], offset: int, tables: tuple[bytes, ...]
    ) -> bytes:
        # One table per 8-byte word of the stream; the first word may be partly used already,
        # so *data* is aligned on word boundaries by a dummy prefix that is cut off again.
        num_pads = self.num_pads
        aligned = b"\0" * offset + data if offset else data
        out = b"".join(
            [
                aligned[8 * i : 8 * i + 8].translate(tables[(w & 0xFFFF) % num_pads])
                for i, w in enumerate(words)
            ]
        )
        return out[offset:] if offset else out


class QPPPort:
    """Both directions of one stream (kcptun's ``QPPPort``): :meth:`encrypt` what is written
    to the stream, :meth:`decrypt` what is read from it."""

    __slots__ = ("_pad", "_read", "_write")

    def __init__(self, pad: QuantumPermutationPad) -> None:
        self._pad = pad
        self._write = pad.new_rand()
        self._read = pad.new_rand()

    def encrypt(self, data: bytes) -> bytes:
        return self._pad.encrypt(data, self._write)

    def decrypt(self, data: bytes) -> bytes:
        return self._pad.decrypt(data, self._read)
