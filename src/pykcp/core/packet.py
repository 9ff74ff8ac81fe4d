"""Crypto framing of a datagram, as kcp-go's sessions do it (protocol.md §2.2, §2.5, §2.8).

* no crypt (``None``): the payload as is.
* CFB family (any :class:`~pykcp.core.crypt.BlockCrypt`, including "none"):
  ``Encrypt(nonce16 || crc32 || payload)``, the CRC-32/IEEE of the payload stored
  little-endian and computed before encryption.
* AEAD (:class:`~pykcp.core.crypt.AEADCrypt`): ``nonce12 || ciphertext || tag16``.

Bad input never raises: :meth:`CryptoCodec.open` returns None and counts the drop in the
codec's :class:`~pykcp.core.snmp.Snmp`: a failed CRC or tag adds to ``InCsumErrors`` (as kcp-go),
a datagram too short to hold the header adds to ``InErrs`` (kcp-go drops those without
counting; pykcp counts them so a peer with the wrong crypto settings shows up somewhere).
"""

from __future__ import annotations

import os
import weakref
from collections import deque
from collections.abc import Callable
from functools import partial

from cryptography.exceptions import InvalidTag

from pykcp.core.crypt import AEADCrypt, BlockCrypt, Buffer, NoneBlockCrypt
from pykcp.core.snmp import Snmp

try:
    import cython
except ImportError:  # Cython is not installed: certainly pure Python
    from pykcp.core import _nocython as cython

if not cython.compiled:  # (compiled, these are packet.pxd's C inlines)
    from pykcp.core._bytes import crc32, get_u32, put_u32
from pykcp.core.wire import AEAD_TAG_SIZE, CFB_HEADER_SIZE, NONCE_SIZE

__all__ = ["CryptoCodec", "NonceSource"]

_TAG = AEAD_TAG_SIZE
_TAG_ROOM = bytes(AEAD_TAG_SIZE)

_sources: weakref.WeakSet[NonceSource] = weakref.WeakSet()


def _forget_nonces_in_child() -> None:
    # A forked child must never send the random bytes its parent buffered: both processes
    # would then use the same nonces.
    for source in list(_sources):
        source.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_nonces_in_child)


class NonceSource:
    """Fresh random nonces of *size* bytes, cheaply: one ``os.urandom`` call per *batch*.

    Thread-safe without a lock (``deque.popleft`` hands each nonce out exactly once); a
    forked child drops what its parent had buffered.
    """

    def __init__(self, size: int, batch: int = 256) -> None:
        self.size = size
        self._batch = batch
        self._queue: deque[bytes] = deque()
        _sources.add(self)

    def __call__(self) -> bytes:
        """The next nonce."""
        while True:
            try:
                return self._queue.popleft()
            except IndexError:
                self._refill()

    def _refill(self) -> None:
        size = self.size
        chunk = os.urandom(size * self._batch)
        self._queue.extend(chunk[i : i + size] for i in range(0, len(chunk), size))

    def clear(self) -> None:
        """Forget buffered nonces."""
        self._queue.clear()


_SHARED_SOURCES: dict[int, NonceSource] = {}


def _shared_source(size: int) -> NonceSource:
    source = _SHARED_SOURCES.get(size)
    if source is None:
        source = _SHARED_SOURCES.setdefault(size, NonceSource(size))
    return source


class CryptoCodec:
    """Seals payloads into datagrams and opens datagrams back into payloads.

    *crypt* selects the framing (None, a :class:`BlockCrypt` or an :class:`AEADCrypt`).
    Drops are counted in *snmp* (a private :class:`Snmp` when not given, see :attr:`snmp`).
    *nonce_source* returns ``n`` fresh random bytes per call; the default is a process-wide
    :class:`NonceSource`.
    """

    def __init__(
        self,
        crypt: BlockCrypt | AEADCrypt | None,
        *,
        snmp: Snmp | None = None,
        nonce_source: Callable[[int], bytes] | None = None,
    ) -> None:
        self.crypt = crypt
        self.snmp = snmp if snmp is not None else Snmp()
        self.header_size: int
        self.trailer_size: int
        if crypt is None:
            self.header_size, self.trailer_size = 0, 0
        elif isinstance(crypt, AEADCrypt):
            self.header_size, self.trailer_size = crypt.nonce_size, crypt.overhead
        else:
            self.header_size, self.trailer_size = CFB_HEADER_SIZE, 0
        nonce_size = self.header_size if isinstance(crypt, AEADCrypt) else NONCE_SIZE
        self._next_nonce: Callable[[], bytes]
        if nonce_source is None:
            self._next_nonce = _shared_source(nonce_size)
        else:
            self._next_nonce = partial(nonce_source, nonce_size)
        # An injected source asks for reproducible datagrams: then every nonce goes through
        # the cipher exactly as kcp-go would encrypt it (see BlockCrypt.encrypt_nonced).
        self._exact = nonce_source is not None
        # The cipher again, under the type of its family (None for the other family).
        self._aead: AEADCrypt | None = crypt if isinstance(crypt, AEADCrypt) else None
        self._block: BlockCrypt | None = crypt if isinstance(crypt, BlockCrypt) else None
        self._identity = isinstance(crypt, NoneBlockCrypt)

    @property
    def overhead(self) -> int:
        """Bytes a datagram has beyond its payload (header + trailer)."""
        return self.header_size + self.trailer_size

    def seal_into(self, buf: bytearray, nonce: bytes | None = None) -> bytearray:
        """Seal the datagram in *buf* in place: its first :attr:`header_size` bytes are
        headroom for the nonce (and CRC), the payload follows; an AEAD tag is appended.

        *nonce* pins the nonce (16 bytes for the CFB family, ``nonce_size`` for AEAD), which
        makes the result byte-for-byte what kcp-go sends with that nonce; for tests and
        vectors only, a nonce must never be used twice.
        """
        if self.crypt is None:
            return buf
        if nonce is None:
            nonce = self._next_nonce()
        aead = self._aead
        if aead is not None:
            size = aead.nonce_size
            if len(nonce) != size:
                raise ValueError(f"AEAD nonce must be {size} bytes")
            buf[:size] = nonce
            payload_end = len(buf)
            buf += _TAG_ROOM  # (before any view of buf: a viewed bytearray cannot grow)
            with memoryview(buf) as whole:
                aead.aead.encrypt_into(nonce, whole[size:payload_end], None, whole[size:])
            return buf
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
        block = self._block
        assert block is not None
        buf[:NONCE_SIZE] = nonce
        view = memoryview(buf)
        put_u32(view, NONCE_SIZE, crc32(view[CFB_HEADER_SIZE:]))
        if self._identity:
            pass  # "none": nonce and CRC only
        elif self._exact:
            block.encrypt_into(buf)
        else:
            block.encrypt_nonced_into(buf)
        return buf

    def seal(self, payload: Buffer, *, nonce: bytes | None = None) -> bytes:
        """The datagram carrying *payload*, with a fresh nonce (see :meth:`seal_into`)."""
        buf = bytearray(self.header_size)
        buf += payload
        return bytes(self.seal_into(buf, nonce=nonce))

    def open(self, datagram: Buffer) -> memoryview | None:
        """The payload of *datagram*, or None if it is too short, corrupted or forged.

        A writable datagram (a bytearray, or a memoryview of one) is decrypted in place and
        the result is a view into it; anything else is copied first.
        """
        view = memoryview(datagram)
        if self.crypt is None:
            return view
        if view.readonly:
            view = memoryview(bytearray(view))
        aead = self._aead
        if aead is not None:
            nonce_size = aead.nonce_size
            if len(view) < nonce_size + aead.overhead:
                self.snmp.InErrs += 1
                return None
            try:
                aead.aead.decrypt_into(
                    bytes(view[:nonce_size]), view[nonce_size:], None, view[nonce_size:-_TAG]
                )
            except InvalidTag:
                self.snmp.InCsumErrors += 1
                return None
            return view[nonce_size:-_TAG]
        if len(view) < CFB_HEADER_SIZE:
            self.snmp.InErrs += 1
            return None
        block = self._block
        assert block is not None
        if not self._identity:
            block.decrypt_into(view)
        if crc32(view[CFB_HEADER_SIZE:]) != get_u32(view, NONCE_SIZE):
            self.snmp.InCsumErrors += 1
            return None
        return view[CFB_HEADER_SIZE:]

    def __repr__(self) -> str:
        return f"CryptoCodec({self.crypt!r})"
