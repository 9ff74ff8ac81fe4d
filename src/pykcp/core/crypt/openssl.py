"""Ciphers OpenSSL runs (through ``cryptography``): the kcp-go CFB family over AES, SM4,
Blowfish, CAST5 and 3DES, and AES-GCM (protocol.md §2.3, §2.5).

OpenSSL-backed ciphers keep their CFB contexts alive across datagrams. Creating a context costs
more than encrypting 1500 bytes, so instead of a new context per datagram the contexts are
brought back to the state "next keystream block = E(IV)" by feeding them one chosen block (a
context's state after a block is E(that ciphertext block), so feeding the ciphertext IV resets
it). Every call leaves its context on a block boundary. :meth:`BlockCrypt.encrypt_nonced` lets
the packet layer skip even the reset (protocol.md §2.7).

A compiled install built with OpenSSL's headers also has :mod:`pykcp.core.crypt._evp`, which
makes AES's two per-datagram calls (nonced encryption, decryption) from C through EVP, the
same way, without the Python around them; ``accelerated=False`` keeps AES on ``cryptography``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit_algorithms
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.modes import ECB

from pykcp.core.crypt.base import CFB_IV, BlockCrypt, Buffer, check_key, key_bytes
from pykcp.core.errors import ConfigError
from pykcp.core.wire import AEAD_NONCE_SIZE, AEAD_TAG_SIZE

_evp: Any
try:
    from pykcp.core.crypt import _evp
except ImportError:  # pure install, no OpenSSL headers at build time, or PYKCP_NO_EXTENSIONS=1
    _evp = None

__all__ = [
    "AEADCrypt",
    "AESBlockCrypt",
    "BlowfishBlockCrypt",
    "Cast5BlockCrypt",
    "SM4BlockCrypt",
    "TripleDESBlockCrypt",
]


class _OpenSSLCFB(BlockCrypt):
    """kcp-go CFB over a block cipher implemented by OpenSSL (through ``cryptography``).

    A call runs several updates on one CFB context, so a context must not serve two calls at
    once. Each kind of context sits in a pool: a call takes one (or makes one when every
    context is busy in another thread) and puts it back afterwards, so one thread always
    reuses the same context and threads never share one, without a lock.
    """

    def __init__(self, algorithm: BlockCipherAlgorithm, name: str) -> None:
        self.name = name
        size = algorithm.block_size // 8
        self._block_size = size
        self._iv = CFB_IV[:size]
        self._iv_int = int.from_bytes(self._iv, "little")
        self._algorithm = algorithm
        self._ecb = Cipher(algorithm, ECB()).encryptor()  # one update per use: no chain
        # Zero padding that completes a partial last block, by pad length.
        self._pads = tuple(bytes(n) for n in range(size))
        # Decryption input tail: the padding plus the ciphertext block IV, which leaves the
        # decryptor's next keystream block at E(IV) for the next datagram.
        self._decrypt_tails = tuple(bytes(n) + self._iv for n in range(size))
        self._exact: deque[Any] = deque()
        self._fast: deque[Any] = deque()
        self._decryptors: deque[Any] = deque()

    def _encryptor(self, pool: deque[Any]) -> Any:
        try:
            return pool.pop()
        except IndexError:
            return Cipher(self._algorithm, CFB(self._iv)).encryptor()

    def encrypt(self, data: Buffer) -> bytes:
        size = self._block_size
        context = self._encryptor(self._exact)
        out = context.update(data)
        pad = -len(out) % size
        if pad:
            last_block = out[len(out) - size + pad :] + context.update(self._pads[pad])
        elif out:
            last_block = out[-size:]
        else:
            self._exact.append(context)
            return bytes(out)
        # The context's next keystream block is R = E(last ciphertext block); feeding the
        # plaintext IV xor R makes the ciphertext IV, so the next keystream block is E(IV)
        # again: the state a fresh context starts in.
        keystream = int.from_bytes(self._ecb.update(last_block), "little")
        context.update((keystream ^ self._iv_int).to_bytes(size, "little"))
        self._exact.append(context)  # (a call that raised leaves its context behind)
        return bytes(out)

    def encrypt_nonced(self, *parts: Buffer) -> bytes:
        context = self._encryptor(self._fast)
        out = context.update(b"".join(parts))
        pad = -len(out) % self._block_size
        if pad:
            # Only block boundaries are valid starting points for the next datagram.
            context.update(self._pads[pad])
        self._fast.append(context)
        return bytes(out)

    def decrypt(self, data: Buffer) -> bytes:
        out = bytearray(data)
        self.decrypt_into(out)
        return bytes(out)

    def encrypt_nonced_into(self, buf: bytearray | memoryview) -> None:
        context = self._encryptor(self._fast)
        context.update_into(buf, buf)
        pad = -len(buf) % self._block_size
        if pad:
            # Only block boundaries are valid starting points for the next datagram.
            context.update(self._pads[pad])
        self._fast.append(context)

    def decrypt_into(self, buf: bytearray | memoryview) -> None:
        pool = self._decryptors
        try:
            context = pool.pop()
        except IndexError:
            context = Cipher(self._algorithm, CFB(self._iv)).decryptor()
        size = len(buf)
        context.update_into(buf, buf)
        if size:
            context.update(self._decrypt_tails[-size % self._block_size])
        pool.append(context)


def _openssl_algorithm(name: str, algorithm: BlockCipherAlgorithm) -> BlockCipherAlgorithm:
    try:
        Cipher(algorithm, ECB()).encryptor()
    except UnsupportedAlgorithm as exc:
        raise ConfigError(f"{name} is not supported by this OpenSSL build: {exc}") from exc
    return algorithm


class AESBlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewAESBlockCrypt``: AES-128/192/256 chosen by the key length."""

    accelerated = False
    """Whether the per-datagram calls go through the EVP kernel."""

    def __init__(self, key: bytes, *, accelerated: bool = True) -> None:
        key = check_key("AES", key, (16, 24, 32))
        name = {16: "aes-128", 24: "aes-192", 32: "aes"}[len(key)]
        super().__init__(algorithms.AES(key), name)
        if accelerated and _evp is not None:
            kernel = _evp.AESCFB(key, CFB_IV)
            self._route_to_kernel(kernel.encrypt_nonced_into, kernel.decrypt_into, exact=False)
            self.accelerated = True


class SM4BlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewSM4BlockCrypt`` (16-byte key)."""

    def __init__(self, key: bytes) -> None:
        key = check_key("SM4", key, (16,))
        super().__init__(_openssl_algorithm("SM4", algorithms.SM4(key)), "sm4")


class BlowfishBlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewBlowfishBlockCrypt`` (1..56-byte key). Legacy 64-bit block cipher."""

    def __init__(self, key: bytes) -> None:
        key = key_bytes(key)
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
        key = check_key("CAST5", key, (16,))
        super().__init__(decrepit_algorithms.CAST5(key), "cast5")


class TripleDESBlockCrypt(_OpenSSLCFB):
    """kcp-go ``NewTripleDESBlockCrypt``: 3DES-EDE, 24-byte key K1||K2||K3. Legacy."""

    def __init__(self, key: bytes) -> None:
        key = check_key("3DES", key, (24,))
        super().__init__(decrepit_algorithms.TripleDES(key), "3des")


class AEADCrypt:
    """kcp-go's AEAD mode with AES-GCM (``NewAESGCMCrypt``): 12-byte nonce, 16-byte tag.

    Not in kcp-go 5.6.1; the datagram is ``nonce || ciphertext || tag`` with no CRC.
    """

    nonce_size: int = AEAD_NONCE_SIZE
    overhead: int = AEAD_TAG_SIZE

    def __init__(self, key: bytes) -> None:
        key = check_key("AES-GCM", key, (16, 24, 32))
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
