"""Blocking, socket-like API for threaded code.

Every session and listener of the process runs on ONE background I/O thread (an asyncio loop
in a daemon thread, started on first use); the objects here are thread-safe handles that
submit work to it and wait. Timeouts follow the socket module: ``settimeout(None)`` blocks,
a number of seconds raises :class:`~pykcp.core.errors.KCPTimeoutError` (a ``TimeoutError``, like
``socket.timeout``) when it passes.

    with pykcp.blocking.dial(("127.0.0.1", 9000), config) as conn:
        conn.sendall(b"hello")
        print(conn.recv(1024))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pykcp import aio
from pykcp.core.config import Config
from pykcp.core.errors import KCPTimeoutError
from pykcp.core.session import Address
from pykcp.core.snmp import Snmp

__all__ = ["BlockingConnection", "BlockingListener", "dial", "io_loop", "listen"]

T = TypeVar("T")


class _IOThread:
    """The process-wide event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="pykcp-io", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """Run the coroutine *make()* on the I/O thread and wait for its result."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("pykcp.blocking called from its own I/O thread; use pykcp.aio")

        async def bounded() -> T:
            if timeout is None:
                return await make()
            # asyncio.wait (unlike wait_for with 0) lets the operation take its first step,
            # so a zero timeout still returns data that is already there (non-blocking mode).
            task = asyncio.ensure_future(make())
            done, _ = await asyncio.wait({task}, timeout=max(timeout, 0.0))
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if not task.cancelled() and task.exception() is None:
                    return task.result()  # it finished while being cancelled
                raise KCPTimeoutError("timeout")
            return task.result()

        future = asyncio.run_coroutine_threadsafe(_as_coroutine(bounded), self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function on the I/O thread (where all pykcp state lives)."""
        if threading.current_thread() is self.thread:
            return function()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                result.set_result(function())
            except BaseException as exc:
                result.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return result.result()


async def _as_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_io: _IOThread | None = None
_io_lock = threading.Lock()


def _io_thread() -> _IOThread:
    global _io
    with _io_lock:
        if _io is None or not _io.thread.is_alive():
            _io = _IOThread()
        return _io


def io_loop() -> asyncio.AbstractEventLoop:
    """The event loop of the background I/O thread (started on first call)."""
    return _io_thread().loop


_UNSET: Any = object()


class BlockingConnection:
    """A blocking KCP session with a socket-like interface (see :func:`dial`).

    KCP has no FIN: ``recv`` never returns ``b""`` because the peer hung up. It raises
    :class:`~pykcp.core.errors.SessionClosedError` once this side closed (after queued data is
    read) and :class:`~pykcp.core.errors.PeerGoneError` when the configured idle or dead-link
    timeout declares the peer gone.
    """

    def __init__(self, session: aio.KCPSession, io_thread: _IOThread, timeout: float | None):
        self._session = session
        self._io = io_thread
        self._timeout = timeout
        self._closed = False

    @property
    def session(self) -> aio.KCPSession:
        """The asyncio session underneath (only touch it on :func:`io_loop`)."""
        return self._session

    @property
    def conv(self) -> int:
        return self._session.conv

    @property
    def snmp(self) -> Snmp:
        return self._session.snmp

    def getpeername(self) -> Address:
        return self._session.remote_address

    def getsockname(self) -> Address:
        return self._io.call(lambda: self._session.local_address)

    def settimeout(self, timeout: float | None) -> None:
        """Seconds each blocking call may take (None: no limit)."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 or None")
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """``False`` = timeout 0: calls return what is possible at once, else raise
        :class:`KCPTimeoutError` (where a socket would raise BlockingIOError)."""
        self._timeout = None if flag else 0.0

    def _run(self, make: Callable[[], Awaitable[T]], timeout: float | None = _UNSET) -> T:
        return self._io.run(make, self._timeout if timeout is _UNSET else timeout)

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Queue all of *data* (waits while KCP's send window is full); returns its length."""
        payload = bytes(data)
        return self._run(lambda: self._session.write(payload))

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self.send(data)

    def recv(self, bufsize: int) -> bytes:
        """Up to *bufsize* bytes, waiting until some arrive."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if bufsize == 0:
            return b""
        return self._run(lambda: self._session.read(bufsize))

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        size = nbytes or len(view)
        data = self.recv(size)
        view[: len(data)] = data
        return len(data)

    def recvexactly(self, size: int) -> bytes:
        """Exactly *size* bytes (the timeout applies to the whole call)."""
        return self._run(lambda: self._session.readexactly(size))

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object over the connection, like :meth:`socket.socket.makefile`."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only 'r', 'w', 'b')")
        reading = "r" in mode
        writing = "w" in mode
        if not (reading or writing):
            raise ValueError("mode must contain 'r' or 'w'")
        raw = _RawConnectionIO(self, reading, writing)
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if "b" not in mode:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffered: io.BufferedIOBase
        if reading and writing:
            buffered = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffered = io.BufferedReader(raw, buffering)
        else:
            buffered = io.BufferedWriter(raw, buffering)
        if "b" in mode:
            return buffered
        text = io.TextIOWrapper(buffered, encoding, errors, newline)  # type: ignore[type-var]
        text.mode = mode  # type: ignore[misc]
        return text

    # kcp-go option setters, run on the I/O thread

    def set_nodelay(self, nodelay: int, interval: int, resend: int, nc: int) -> None:
        self._io.call(lambda: self._session.set_nodelay(nodelay, interval, resend, nc))

    def set_window_size(self, sndwnd: int, rcvwnd: int) -> None:
        self._io.call(lambda: self._session.set_window_size(sndwnd, rcvwnd))

    def set_mtu(self, mtu: int) -> bool:
        return self._io.call(lambda: self._session.set_mtu(mtu))

    def set_stream_mode(self, enable: bool) -> None:
        self._io.call(lambda: self._session.set_stream_mode(enable))

    def set_write_delay(self, enable: bool) -> None:
        self._io.call(lambda: self._session.set_write_delay(enable))

    def set_ack_nodelay(self, enable: bool) -> None:
        self._io.call(lambda: self._session.set_ack_nodelay(enable))

    def set_rate_limit(self, bytes_per_second: int) -> None:
        self._io.call(lambda: self._session.set_rate_limit(bytes_per_second))

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the session (idempotent, like socket.close)."""
        _close_once(self, self._session)

    def __enter__(self) -> BlockingConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<pykcp.blocking.BlockingConnection conv={self.conv:#010x}>"


class _Closable(Protocol):
    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


def _close_once(handle: BlockingConnection | BlockingListener, target: _Closable) -> None:
    """Close *target* on the I/O thread the first time *handle* is closed."""
    if handle._closed:
        return
    handle._closed = True

    def shut() -> None:
        if not target.closed:
            target.close()

    handle._io.call(shut)


class _RawConnectionIO(io.RawIOBase):
    def __init__(self, conn: BlockingConnection, reading: bool, writing: bool) -> None:
        super().__init__()
        self._conn = conn
        self._reading = reading
        self._writing = writing

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def readinto(self, buffer: Any) -> int:
        return self._conn.recv_into(buffer)

    def write(self, data: Any) -> int:
        return self._conn.send(data)


class BlockingListener:
    """A blocking listener (see :func:`listen`)."""

    def __init__(self, listener: aio.KCPListener, io_thread: _IOThread) -> None:
        self._listener = listener
        self._io = io_thread
        self._closed = False

    @property
    def listener(self) -> aio.KCPListener:
        return self._listener

    @property
    def address(self) -> Address:
        return self._io.call(lambda: self._listener.local_address)

    def getsockname(self) -> Address:
        return self.address

    @property
    def snmp(self) -> Snmp:
        return self._listener.snmp

    def accept(self, timeout: float | None = None) -> BlockingConnection:
        """The next new session (waits up to *timeout* seconds; None: forever)."""
        session = self._io.run(self._listener.accept, timeout)
        return BlockingConnection(session, self._io, None)

    def close(self) -> None:
        """Close the listener and its sessions (idempotent)."""
        _close_once(self, self._listener)

    def __enter__(self) -> BlockingListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def dial(
    addr: aio.HostPort,
    config: Config | None = None,
    timeout: float | None = None,
    *,
    local_addr: tuple[str, int] | None = None,
    sock: socket.socket | None = None,
) -> BlockingConnection:
    """Open a client session; *timeout* becomes the connection's default (settimeout)."""
    io_thread = _io_thread()
    session = io_thread.run(lambda: aio.dial(addr, config, local_addr=local_addr, sock=sock))
    return BlockingConnection(session, io_thread, timeout)


def listen(
    addr: aio.HostPort | None = None,
    config: Config | None = None,
    *,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
) -> BlockingListener:
    """Listen for KCP sessions on *addr* (or over an existing UDP socket)."""
    io_thread = _io_thread()
    listener = io_thread.run(lambda: aio.listen(addr, config, sock=sock, reuse_port=reuse_port))
    return BlockingListener(listener, io_thread)
