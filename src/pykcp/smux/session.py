"""One smux session over an asyncio byte stream, and its streams (frame.py has the wire)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

from pykcp.core.errors import SessionClosedError
from pykcp.core.wire import diff32
from pykcp.smux.frame import (
    ACCEPT_BACKLOG,
    CMD_FIN,
    CMD_NOP,
    CMD_PSH,
    CMD_SYN,
    CMD_UPD,
    HEADER,
    HEADER_SIZE,
    INITIAL_PEER_WINDOW,
    UPDATE,
    UPDATE_SIZE,
    SmuxConfig,
    SmuxGoAwayError,
    SmuxKeepAliveTimeoutError,
    SmuxProtocolError,
    StreamResetError,
    encode_frame,
)

__all__ = ["MuxSession"]

_STREAM_READER_LIMIT = 2**16  # asyncio's default
_U32 = 0xFFFFFFFF
_SEND_BATCH = 256 * 1024  # bytes handed to the connection before awaiting its drain()


def _int32(value: int) -> int:
    """The signed reading of a wrapping u32 (smux does its window arithmetic this way)."""
    return diff32(value, 0)


class MuxSession:
    """One smux session over an asyncio byte stream.

    Create it with :meth:`client` or :meth:`server` from inside a running event loop; it owns
    the connection from then on and closes it when the session ends. Streams come as
    ``(asyncio.StreamReader, asyncio.StreamWriter)`` pairs backed by a transport of their own
    (``writer.get_extra_info("stream_id")``), so ``write``/``drain``/``write_eof``/``close``/
    ``wait_closed`` behave as on TCP. As with TCP, a StreamWriter that is garbage collected
    closes its stream: keep the writer while the stream is in use.

    Errors: :class:`~pykcp.core.errors.SessionClosedError` after :meth:`close` or when the
    connection ends; :class:`SmuxProtocolError` on bad input; :class:`SmuxKeepAliveTimeoutError`
    when the peer goes silent. Streams still open when the session fails see the same error
    on read and in ``wait_closed``; streams the peer had finished read to their end.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: SmuxConfig | None = None,
        *,
        client: bool,
    ) -> None:
        self.config = config if config is not None else SmuxConfig()
        self.config.verify()
        self.is_client = client
        self._loop = asyncio.get_running_loop()
        self._reader = reader
        self._writer = writer
        self._version = self.config.version
        self._next_stream_id = 1 if client else 0
        self._go_away = False
        self._streams: dict[int, _StreamTransport] = {}
        self._backlog: collections.deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            collections.deque()
        )
        self._accept_waiters: list[asyncio.Future[None]] = []
        self._backlog_space = asyncio.Event()
        # Receive budget shared by all streams (smux's token bucket): bytes that arrived and
        # wait undelivered in a stream's queue are taken out of it.
        self._bucket = self.config.max_receive_buffer
        self._bucket_refilled = asyncio.Event()
        self._data_ready = False
        self._control: collections.deque[bytes] = collections.deque()
        self._nop_pending = False
        self._ready: collections.deque[_StreamTransport] = collections.deque()
        self._send_wakeup = asyncio.Event()
        self._closed = False
        self._error: Exception | None = None
        self._recv_task = self._loop.create_task(self._recv_loop())
        self._send_task = self._loop.create_task(self._send_loop())
        self._keepalive_task: asyncio.Task[None] | None = None
        if not self.config.keep_alive_disabled:
            self._keepalive_task = self._loop.create_task(self._keepalive_loop())

    @classmethod
    def client(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: SmuxConfig | None = None,
    ) -> MuxSession:
        """The client end (odd stream ids), like ``smux.Client``."""
        return cls(reader, writer, config, client=True)

    @classmethod
    def server(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        config: SmuxConfig | None = None,
    ) -> MuxSession:
        """The server end (even stream ids), like ``smux.Server``."""
        return cls(reader, writer, config, client=False)

    # -- public API ---------------------------------------------------------------------------

    @property
    def num_streams(self) -> int:
        """Streams currently open (including opened by the peer and not yet accepted)."""
        return 0 if self._closed else len(self._streams)

    @property
    def is_closed(self) -> bool:
        """True once the session has been closed, locally or by an error."""
        return self._closed

    @property
    def error(self) -> Exception | None:
        """Why the session ended, or None while open or after a local :meth:`close`."""
        return self._error

    async def open_stream(
        self, *, limit: int = _STREAM_READER_LIMIT
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a new stream (sends SYN). ``limit`` is the StreamReader's buffer limit."""
        self._raise_if_closed()
        if self._go_away:
            raise SmuxGoAwayError("smux stream ids exhausted; start a new session")
        stream_id = self._next_stream_id + 2
        if stream_id > _U32:
            self._go_away = True
            raise SmuxGoAwayError("smux stream ids exhausted; start a new session")
        self._next_stream_id = stream_id
        pair = self._new_stream(stream_id, limit)
        self._send_control(encode_frame(self._version, CMD_SYN, stream_id))
        return pair

    async def accept_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Wait for the peer to open a stream."""
        while True:
            self._raise_if_closed()
            if self._backlog:
                pair = self._backlog.popleft()
                self._backlog_space.set()
                return pair
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._accept_waiters.append(waiter)
            try:
                await waiter
            finally:
                self._accept_waiters.remove(waiter)

    def close(self) -> None:
        """Close every stream and the underlying connection.

        Frames that can be sent right away (queued control frames, written data within the
        window, FINs of closed streams) are handed to the connection first.
        """
        self._shutdown(None)

    async def wait_closed(self) -> None:
        """Wait until the session has ended (by :meth:`close` or an error) and its connection
        is closed."""
        tasks = [self._recv_task, self._send_task]
        if self._keepalive_task is not None:
            tasks.append(self._keepalive_task)
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def __aenter__(self) -> MuxSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Extra information of the underlying connection (``peername``, ``sockname``...)."""
        return self._writer.get_extra_info(name, default)

    # -- internals used by the streams ----------------------------------------------------

    def _raise_if_closed(self) -> None:
        if self._closed:
            if self._error is not None:
                raise self._error
            raise SessionClosedError("smux session is closed")

    def _new_stream(
        self, stream_id: int, limit: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader = asyncio.StreamReader(limit=limit, loop=self._loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self._loop)
        transport = _StreamTransport(self, stream_id, protocol)
        self._streams[stream_id] = transport
        protocol.connection_made(transport)
        writer = asyncio.StreamWriter(transport, protocol, reader, self._loop)
        return reader, writer

    def _send_control(self, frame: bytes) -> None:
        if self._closed:
            return
        self._control.append(frame)
        self._send_wakeup.set()

    def _stream_ready(self, stream: _StreamTransport) -> None:
        if self._closed or stream._in_ready:
            return
        if not stream._has_work():
            stream._check_blocked()
            return
        stream._in_ready = True
        self._ready.append(stream)
        self._send_wakeup.set()

    def _forget(self, stream: _StreamTransport) -> None:
        if self._streams.get(stream.stream_id) is stream:
            del self._streams[stream.stream_id]

    def _take_tokens(self, n: int) -> None:
        self._bucket -= n

    def _return_tokens(self, n: int) -> None:
        self._bucket += n
        if self._bucket > 0:
            self._bucket_refilled.set()

    # -- sending ------------------------------------------------------------------------------

    def _emit(self, budget: int | None) -> bool:
        """Hand frames to the connection until ``budget`` bytes; True if work is left."""
        parts: list[bytes] = []
        size = 0
        control = self._control
        ready = self._ready
        while budget is None or size < budget:
            if self._nop_pending:
                self._nop_pending = False
                frame = encode_frame(self._version, CMD_NOP, 0)
                parts.append(frame)
                size += len(frame)
            elif control:
                frame = control.popleft()
                parts.append(frame)
                size += len(frame)
            elif ready:
                stream = ready.popleft()
                stream._in_ready = False
                size += stream._next_frame(parts)
                self._stream_ready(stream)
            else:
                break
        if parts:
            # One write(), never writelines(): since Python 3.12 the selector socket transport
            # has a writelines() of its own that skips what write() does, so through it the
            # transport never paused us (drain() returned at once, its buffer grew without
            # bound: CPython gh-127655) and, after the connection was lost, it raised
            # AttributeError instead of dropping the data (gh-136234). write() keeps flow
            # control and loss handling the same on every Python version and every transport;
            # the join is the copy that 3.11's writelines() made too.
            self._writer.write(b"".join(parts))
        return bool(control or ready or self._nop_pending)

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._send_wakeup.wait()
                self._send_wakeup.clear()
                more = True
                while more and not self._closed:
                    more = self._emit(_SEND_BATCH)
                    await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._fail(SessionClosedError(f"smux: writing to the connection failed: {exc!r}"))
        except Exception as exc:
            # A failing protocol callback must not leave a session that silently stops sending.
            self._fail(exc)
            raise

    # -- receiving ----------------------------------------------------------------------------

    async def _recv_loop(self) -> None:
        reader = self._reader
        version = self._version
        streams = self._streams
        try:
            while True:
                while self._bucket <= 0:
                    self._bucket_refilled.clear()
                    await self._bucket_refilled.wait()
                try:
                    header = await reader.readexactly(HEADER_SIZE)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        raise
                    self._fail(SessionClosedError("smux: the connection was closed by the peer"))
                    return
                self._data_ready = True
                ver, cmd, length, stream_id = HEADER.unpack(header)
                if ver != version:
                    self._fail(
                        SmuxProtocolError(
                            f"smux: frame version {ver}, this session speaks version {version}"
                        )
                    )
                    return
                if cmd == CMD_PSH:
                    if length:
                        data = await reader.readexactly(length)
                        stream = streams.get(stream_id)
                        if stream is not None:
                            stream._on_data(data)
                elif cmd == CMD_NOP:
                    pass
                elif cmd == CMD_SYN:
                    if stream_id not in streams:
                        while len(self._backlog) >= ACCEPT_BACKLOG and not self._closed:
                            self._backlog_space.clear()
                            await self._backlog_space.wait()
                        if self._closed:
                            return
                        self._backlog.append(self._new_stream(stream_id, _STREAM_READER_LIMIT))
                        for waiter in self._accept_waiters:
                            if not waiter.done():
                                waiter.set_result(None)
                elif cmd == CMD_FIN:
                    stream = streams.get(stream_id)
                    if stream is not None:
                        stream._on_fin()
                elif cmd == CMD_UPD:
                    # smux reads 8 bytes whatever the length field says, in either version.
                    payload = await reader.readexactly(UPDATE_SIZE)
                    stream = streams.get(stream_id)
                    if stream is not None and version == 2:
                        stream._on_update(*UPDATE.unpack(payload))
                else:
                    self._fail(SmuxProtocolError(f"smux: unknown command {cmd}"))
                    return
        except asyncio.IncompleteReadError:
            self._fail(SmuxProtocolError("smux: the connection ended inside a frame"))
        except (ConnectionError, OSError) as exc:
            self._fail(SessionClosedError(f"smux: reading the connection failed: {exc!r}"))
        except Exception as exc:
            self._fail(exc)
            raise

    async def _keepalive_loop(self) -> None:
        loop = self._loop
        interval = self.config.keep_alive_interval
        timeout = self.config.keep_alive_timeout
        now = loop.time()
        next_ping = now + interval
        next_check = now + timeout
        while not self._closed:
            await asyncio.sleep(max(0.0, min(next_ping, next_check) - loop.time()))
            now = loop.time()
            if now >= next_ping:
                if not self._closed:
                    self._nop_pending = True
                    self._send_wakeup.set()
                next_ping += interval
                if next_ping <= now:  # the loop was held up: don't fire a burst of NOPs
                    next_ping = now + interval
            if now >= next_check:
                if self._data_ready:
                    self._data_ready = False
                elif self._bucket > 0:
                    # A session that stopped reading because its buffer is full has not
                    # heard the peer for a reason of its own: smux keeps it alive.
                    self._fail(
                        SmuxKeepAliveTimeoutError(
                            f"smux: nothing received for {timeout} s (keepalive timeout)"
                        )
                    )
                    return
                next_check += timeout
                if next_check <= now:
                    next_check = now + timeout

    # -- shutdown -----------------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        if self._closed:
            return
        self._error = exc
        self._shutdown(exc)

    def _shutdown(self, exc: Exception | None) -> None:
        if self._closed:
            return
        if exc is None and not self._writer.is_closing():
            self._emit(None)
        self._closed = True
        streams = list(self._streams.values())
        self._streams.clear()
        self._ready.clear()
        self._control.clear()
        for stream in streams:
            stream._session_closed(exc)
        for waiter in self._accept_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._backlog.clear()
        self._backlog_space.set()
        current = asyncio.current_task()
        for task in (self._recv_task, self._send_task, self._keepalive_task):
            if task is not None and task is not current:
                task.cancel()
        self._writer.close()


class _StreamTransport(asyncio.Transport):
    """One smux stream seen as an asyncio transport, feeding a StreamReaderProtocol."""

    def __init__(
        self, session: MuxSession, stream_id: int, protocol: asyncio.StreamReaderProtocol
    ) -> None:
        super().__init__()
        self.stream_id = stream_id
        self._session = session
        self._protocol: asyncio.Protocol = protocol
        self._version = session.config.version
        self._frame_size = session.config.max_frame_size
        self._stream_buffer = session.config.max_stream_buffer
        # receiving
        self._recv_queue: collections.deque[bytes] = collections.deque()
        self._recv_queued = 0
        self._reading_paused = False
        self._delivery_scheduled = False
        self._peer_fin = False
        self._eof_delivered = False
        self._num_read = 0
        self._read_since_update = 0
        # sending
        self._send_buffer = bytearray()
        self._write_eof_called = False
        self._eof_requested = False
        self._fin_sent = False
        self._closing = False
        self._done = False
        self._in_ready = False
        self._num_written = 0
        self._peer_consumed = 0
        self._peer_window = INITIAL_PEER_WINDOW
        self._update_after_fin = False
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024
        self._protocol_paused = False

    def __repr__(self) -> str:
        return f"<smux stream {self.stream_id}>"

    # -- asyncio.Transport --------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "stream_id":
            return self.stream_id
        if name == "smux_session":
            return self._session
        if name in ("peername", "sockname"):
            return self._session.get_extra_info(name, default)
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        if not isinstance(protocol, asyncio.Protocol):
            raise TypeError("a smux stream needs an asyncio.Protocol")
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing or self._done

    def close(self) -> None:
        """Flush what was written, send FIN, then forget the stream (later data is dropped)."""
        if self._closing or self._done:
            return
        self._closing = True
        self._eof_requested = True
        self._drop_recv_queue()
        if self._fin_sent:
            self._finish(None)
            return
        self._session._stream_ready(self)

    def abort(self) -> None:
        """Discard unsent data, send FIN now and forget the stream."""
        if self._done:
            return
        self._closing = True
        self._send_buffer.clear()
        self._drop_recv_queue()
        self._reset(None)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__}")
        if self._write_eof_called:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._closing or self._done or not data:
            return
        self._send_buffer += data
        self._session._stream_ready(self)
        self._maybe_pause_protocol()

    def write_eof(self) -> None:
        if self._write_eof_called or self._closing or self._done:
            return
        self._write_eof_called = True
        self._eof_requested = True
        self._session._stream_ready(self)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return len(self._send_buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low_water, self._high_water

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_protocol()
        self._maybe_resume_protocol()

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._done

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        if (self._recv_queue or self._peer_fin) and not self._delivery_scheduled:
            # Deliver from the loop rather than from inside StreamReader.read().
            self._delivery_scheduled = True
            self._session._loop.call_soon(self._deliver_queued)

    # -- write side ---------------------------------------------------------------------------

    def _maybe_pause_protocol(self) -> None:
        if not self._protocol_paused and len(self._send_buffer) > self._high_water:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._send_buffer) <= self._low_water:
            self._protocol_paused = False
            self._protocol.resume_writing()

    def _window(self) -> int:
        """Bytes the peer's window still admits (version 2), negative when it is overrun."""
        inflight = _int32(self._num_written - self._peer_consumed)
        return _int32(self._peer_window) - inflight

    def _has_work(self) -> bool:
        if self._done:
            return False
        if self._send_buffer:
            return self._version != 2 or self._window() > 0
        return self._eof_requested and not self._fin_sent

    def _next_frame(self, parts: list[bytes]) -> int:
        """Append this stream's next frame(s) to ``parts``; return their size."""
        version = self._version
        if self._send_buffer:
            n = min(len(self._send_buffer), self._frame_size)
            if version == 2:
                window = self._window()
                if window <= 0:
                    return 0
                n = min(n, window)
            with memoryview(self._send_buffer) as view:  # released before the buffer shrinks
                chunk = bytes(view[:n])
            del self._send_buffer[:n]
            self._num_written = (self._num_written + n) & _U32
            parts.append(HEADER.pack(version, CMD_PSH, n, self.stream_id))
            parts.append(chunk)
            self._maybe_resume_protocol()
            return HEADER_SIZE + n
        if self._eof_requested and not self._fin_sent:
            self._fin_sent = True
            parts.append(HEADER.pack(version, CMD_FIN, 0, self.stream_id))
            size = HEADER_SIZE
            if self._closing:
                self._finish(None)
            elif version == 2:
                # Tell the peer we still read after our FIN (see the module docstring).
                parts.append(self._update_frame())
                size += HEADER_SIZE + UPDATE_SIZE
            return size
        return 0

    def _update_frame(self) -> bytes:
        return HEADER.pack(self._version, CMD_UPD, UPDATE_SIZE, self.stream_id) + UPDATE.pack(
            self._num_read, self._stream_buffer & _U32
        )

    def _check_blocked(self) -> bool:
        """Reset a version 2 stream whose window is gone and whose peer stopped reading."""
        if (
            self._version == 2
            and self._send_buffer
            and self._peer_fin
            and not self._update_after_fin
            and self._window() <= 0
        ):
            self._reset(StreamResetError("smux: the peer closed the stream before reading it all"))
            return True
        return False

    def _reset(self, exc: Exception | None) -> None:
        self._send_buffer.clear()
        if not self._fin_sent:
            self._fin_sent = True
            self._session._send_control(HEADER.pack(self._version, CMD_FIN, 0, self.stream_id))
        self._finish(exc)

    def _finish(self, exc: Exception | None) -> None:
        """The stream is over: forget it and tell the protocol (from the loop, like asyncio)."""
        if self._done:
            return
        self._done = True
        self._closing = True
        self._drop_recv_queue()
        self._session._forget(self)
        self._session._loop.call_soon(self._protocol.connection_lost, exc)

    # -- read side ----------------------------------------------------------------------------

    def _drop_recv_queue(self) -> None:
        if self._recv_queued:
            self._session._return_tokens(self._recv_queued)
        self._recv_queue.clear()
        self._recv_queued = 0

    def _on_data(self, data: bytes) -> None:
        if self._closing or self._done or self._peer_fin:
            return  # smux forgets a closed stream; nothing may follow a FIN
        if self._reading_paused or self._recv_queue:
            self._recv_queue.append(data)
            self._recv_queued += len(data)
            self._session._take_tokens(len(data))
        else:
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        self._protocol.data_received(data)
        if self._version == 2:
            n = len(data)
            self._num_read = (self._num_read + n) & _U32
            self._read_since_update += n
            # smux acknowledges its first read and then every half window.
            if self._read_since_update >= self._stream_buffer // 2 or self._num_read == n:
                self._read_since_update = 0
                self._session._send_control(self._update_frame())

    def _deliver_queued(self) -> None:
        self._delivery_scheduled = False
        while self._recv_queue and not self._reading_paused and not self._done:
            data = self._recv_queue.popleft()
            self._recv_queued -= len(data)
            self._session._return_tokens(len(data))
            self._deliver(data)
        self._maybe_deliver_eof()

    def _maybe_deliver_eof(self) -> None:
        if self._peer_fin and not self._recv_queue and not self._eof_delivered and not self._done:
            self._eof_delivered = True
            if not self._protocol.eof_received():
                self.close()

    def _on_fin(self) -> None:
        if self._peer_fin:
            return
        self._peer_fin = True
        if not self._closing:
            self._maybe_deliver_eof()
        self._check_blocked()

    def _on_update(self, consumed: int, window: int) -> None:
        if _int32(self._num_written - consumed) < 0:
            self._reset(SmuxProtocolError("smux: peer consumed more than was sent"))
            return
        self._peer_consumed = consumed
        self._peer_window = window
        if self._peer_fin:
            self._update_after_fin = True
        self._session._stream_ready(self)

    def _session_closed(self, exc: Exception | None) -> None:
        if self._done:
            return
        self._done = True
        self._closing = True
        self._send_buffer.clear()
        # Data that already arrived stays readable, as in smux.
        while self._recv_queue:
            self._protocol.data_received(self._recv_queue.popleft())
        self._recv_queued = 0
        if self._peer_fin:
            exc = None  # the peer finished this stream: its data is complete, end it cleanly
        self._session._loop.call_soon(self._protocol.connection_lost, exc)
