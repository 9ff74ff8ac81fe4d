"""kcptun's stream compression: the snappy framing format over a KCP session.

kcptun (``generic.NewCompStream``) wraps the KCP connection in golang/snappy's framed
``Writer`` (flushed after every write) and ``Reader``; smux then runs on top. Framing format
(https://github.com/google/snappy/blob/main/framing_format.txt): a stream identifier chunk
``ff 06 00 00 "sNaPpY"``, then chunks of ``type u8 | length u24 LE | body``. Data chunks
(0x00 compressed, 0x01 stored) start with the masked CRC-32C of their uncompressed content;
0x80-0xfe are skipped; 0x02-0x7f are reserved and fatal.

cramjam does the snappy work and checks every CRC; this module only finds chunk boundaries,
because cramjam's one-shot framed decoder needs whole chunks and its streaming decoder does
not keep partial input between calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

import cramjam

from pykcp.core.errors import KCPError

__all__ = [
    "STREAM_IDENTIFIER",
    "SnappyError",
    "SnappyFrameDecoder",
    "SnappyFrameEncoder",
    "SnappyProtocol",
    "SnappyTransport",
]

STREAM_IDENTIFIER = b"\xff\x06\x00\x00sNaPpY"
_CHUNK_HEADER = 4
_CHECKSUM = 4
_MAX_BLOCK = 65536
# golang/snappy: MaxEncodedLen(65536) = 32 + n + n/6; a longer data chunk is corrupt.
_MAX_DATA_CHUNK = _CHECKSUM + 32 + _MAX_BLOCK + _MAX_BLOCK // 6


class SnappyError(KCPError, ConnectionError):
    """The compressed stream is corrupt (bad header, checksum or block)."""


class SnappyFrameEncoder:
    """Compresses each write into complete framed chunks (golang/snappy's ``Writer.Write``
    followed by ``Flush``); the first output starts with the stream identifier."""

    def __init__(self) -> None:
        self._compressor = cramjam.snappy.Compressor()

    def encode(self, data: bytes | bytearray | memoryview) -> bytes:
        """The chunks carrying *data* (nothing for empty input)."""
        if not data:
            return b""
        self._compressor.compress(data)
        return bytes(self._compressor.flush())


class SnappyFrameDecoder:
    """Incremental decoder: :meth:`feed` takes any slice of the stream and returns the bytes
    of every chunk completed so far."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._started = False

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete chunk held back."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decode what *data* completes; raises :class:`SnappyError` on a corrupt stream."""
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        end = 0
        while size - end >= _CHUNK_HEADER:
            chunk_type = buffer[end]
            length = buffer[end + 1] | buffer[end + 2] << 8 | buffer[end + 3] << 16
            if not self._started:
                if chunk_type != 0xFF:
                    raise SnappyError("snappy: stream does not start with a stream identifier")
                self._started = True
            if chunk_type <= 0x01:
                if not _CHECKSUM <= length <= _MAX_DATA_CHUNK:
                    raise SnappyError(f"snappy: corrupt data chunk of {length} bytes")
            elif chunk_type < 0x80:
                raise SnappyError(f"snappy: unsupported chunk type {chunk_type:#04x}")
            if size - end - _CHUNK_HEADER < length:
                break
            end += _CHUNK_HEADER + length
        if not end:
            return b""
        if end == size:
            batch = bytes(buffer)
            buffer.clear()
        else:
            batch = bytes(buffer[:end])
            del buffer[:end]
        if not batch.startswith(STREAM_IDENTIFIER):
            batch = STREAM_IDENTIFIER + batch
        try:
            return bytes(cramjam.snappy.decompress(batch))
        except cramjam.DecompressionError as exc:
            raise SnappyError(str(exc)) from None


class SnappyTransport(asyncio.Transport):
    """The compressed side of a connection as an asyncio transport: writes are compressed
    onto the inner transport, flow control and closing are passed through."""

    def __init__(self, inner: asyncio.Transport, protocol: SnappyProtocol) -> None:
        super().__init__()
        self._inner = inner
        self._snappy = protocol
        self._encoder = SnappyFrameEncoder()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data and not self._inner.is_closing():
            self._inner.write(self._encoder.encode(data))

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False  # golang/snappy has no end-of-stream marker; neither does KCP

    def write_eof(self) -> None:
        raise NotImplementedError("a compressed KCP stream cannot be half-closed")

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def close(self) -> None:
        self._inner.close()

    def abort(self) -> None:
        self._inner.abort()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._snappy.upper = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        upper: asyncio.BaseProtocol = self._snappy.upper
        return upper

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)


class SnappyProtocol(asyncio.Protocol):
    """Sits on the raw transport: decompresses what arrives for the *upper* protocol, which
    sees a :class:`SnappyTransport` (``protocol.transport``) instead of the raw one."""

    def __init__(self, upper: asyncio.BaseProtocol) -> None:
        self.upper: Any = upper
        self.transport: SnappyTransport | None = None
        self._decoder = SnappyFrameDecoder()
        self._error: SnappyError | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = SnappyTransport(transport, self)
        self.upper.connection_made(self.transport)

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return
        try:
            plain = self._decoder.feed(data)
        except SnappyError as exc:
            # golang/snappy's Reader fails for good; smux then tears the session down.
            self._error = exc
            assert self.transport is not None
            self.transport.abort()
            return
        if plain:
            self.upper.data_received(plain)

    def eof_received(self) -> bool | None:
        result: bool | None = self.upper.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self.upper.connection_lost(self._error or exc)

    def pause_writing(self) -> None:
        self.upper.pause_writing()

    def resume_writing(self) -> None:
        self.upper.resume_writing()
