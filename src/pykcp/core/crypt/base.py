"""What every packet cipher shares: the :class:`BlockCrypt` interface, kcp-go's fixed CFB IV and
key checks (protocol.md §2.1-2.3).

Every non-AEAD block cipher runs in kcp-go's mode: standard full-block CFB (segment size =
block size) over the *whole* datagram, restarted for every datagram from the fixed IV
:data:`CFB_IV` (its first 8 bytes for 8-byte-block ciphers). Salsa20 and the XOR pad are stream
transforms; "none" is the identity. :class:`~pykcp.core.crypt.openssl.AEADCrypt` is kcp-go's
AES-GCM mode (12-byte nonce, 16-byte tag, no associated data).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Final

from pykcp.core.errors import ConfigError

__all__ = ["CFB_IV", "BlockCrypt", "Buffer", "check_key", "key_bytes", "xor_bytes"]

CFB_IV: Final = bytes.fromhex("a7734f9c12ac1b01a415f2c1fc78e66b")
"""kcp-go's fixed CFB initial vector (8-byte-block ciphers use the first 8 bytes)."""


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

    # In-place forms: the packet layer encrypts and decrypts each datagram inside the one
    # buffer it lives in (protocol.md §6.2). *buf* is a writable buffer (a bytearray or a
    # memoryview of one); the defaults go through the copying forms above.

    def encrypt_into(self, buf: bytearray | memoryview) -> None:
        """:meth:`encrypt` of *buf*, in place."""
        buf[:] = self.encrypt(buf)

    def encrypt_nonced_into(self, buf: bytearray | memoryview) -> None:
        """:meth:`encrypt_nonced` of *buf* (a fresh nonce first), in place."""
        buf[:] = self.encrypt_nonced(buf)

    def decrypt_into(self, buf: bytearray | memoryview) -> None:
        """:meth:`decrypt` of *buf*, in place."""
        buf[:] = self.decrypt(buf)

    def _route_to_kernel(
        self,
        encrypt_into: Callable[[bytearray | memoryview], None],
        decrypt_into: Callable[[bytearray | memoryview], None],
        *,
        exact: bool = True,
    ) -> None:
        """Send the in-place forms straight to a C kernel's bound methods.

        They become instance attributes, which the packet layer looks up per datagram: no
        Python frame between it and the kernel. *exact*: *encrypt_into* is kcp-go's
        ``Encrypt`` itself, so it serves :meth:`encrypt_into` too, not only
        :meth:`encrypt_nonced_into` (which AES-CFB's kernel alone may serve, protocol.md §2.7).
        """
        self.encrypt_nonced_into = encrypt_into  # type: ignore[method-assign, assignment]
        if exact:
            self.encrypt_into = encrypt_into  # type: ignore[method-assign, assignment]
        self.decrypt_into = decrypt_into  # type: ignore[method-assign, assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def xor_bytes(a: Buffer, b: Buffer, n: int) -> bytes:
    """The first *n* bytes of ``a xor b`` (both at least *n* bytes long)."""
    a_view = memoryview(a)[:n]
    b_view = memoryview(b)[:n]
    return (int.from_bytes(a_view, "little") ^ int.from_bytes(b_view, "little")).to_bytes(
        n, "little"
    )


def key_bytes(key: object) -> bytes:
    """*key* as bytes; ``TypeError`` unless it is bytes-like (``bytes(32)`` would be a zero
    key of 32 bytes, so an int must never get this far)."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"key must be bytes-like, got {type(key).__name__}")
    return bytes(key)


def check_key(name: str, key: bytes, sizes: tuple[int, ...]) -> bytes:
    key = key_bytes(key)
    if len(key) not in sizes:
        want = " or ".join(str(s) for s in sizes)
        raise ConfigError(f"{name} needs a key of {want} bytes, got {len(key)}")
    return key
