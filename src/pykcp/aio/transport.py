"""asyncio streams over KCP: :class:`KCPTransport`.

The transport is a face over a :class:`~pykcp.aio.driver.SessionDriver`, like
:class:`~pykcp.aio.session.KCPSession`, but feeds a protocol (a ``StreamReaderProtocol``)
instead of read waiters. Backpressure works both ways: writing pauses the protocol while KCP's
send queue is above the high-water mark, and a paused reader stops taking data out of KCP,
so KCP's receive window closes and the peer stops sending.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pykcp.aio.driver import SessionDriver
from pykcp.core.errors import KCPError
from pykcp.core.session import Buffer

__all__ = ["KCPTransport", "stream_pair"]

_DELIVERY_CHUNK = 256 * 1024  # bytes per data_received() call at most


class KCPTransport(asyncio.Transport):
    """An ``asyncio.Transport`` over a KCP session (what a StreamWriter writes to).

    Flow control counts KCP segments waiting to be sent: writing pauses the protocol at
    ``high`` (default 2 x sndwnd) and resumes it below ``low`` (default sndwnd, where kcp-go
    would unblock a Write): ``low`` is the session's write threshold. ``pause_reading`` stops
    taking data out of KCP.
    """

    def __init__(self, driver: SessionDriver, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._driver = driver
        self._session = driver.session
        self._protocol: Any = protocol
        self._reading = True
        self._writing_paused = False
        self._closing = False
        self._lost = False
        window = self._session.snd_wnd
        self._high = 2 * window
        self._session.write_threshold = None  # low = sndwnd, following window changes
        driver.attach_transport(self)
        protocol.connection_made(self)
        self._deliver()
        if self._session.closed:
            self.session_closed(self._session.error)

    # -- events from the driver (SessionConsumer) --

    def data_readable(self) -> None:
        self._deliver()

    def writable(self) -> None:
        if self._writing_paused:
            self._writing_paused = False
            self._protocol.resume_writing()

    def session_closed(self, error: KCPError | None) -> None:
        if self._lost:
            return
        self._deliver()
        self._lost = True
        self._closing = True
        self._driver.loop.call_soon(self._protocol.connection_lost, error)

    def _deliver(self) -> None:
        """Hand what KCP has received to the protocol, up to _DELIVERY_CHUNK per call (one
        data_received() per segment would cost a StreamReader wake-up per ~1.3 kB)."""
        read = self._driver.read
        data_received = self._protocol.data_received
        while self._reading and not self._lost:
            chunks: list[bytes] = []
            size = 0
            while size < _DELIVERY_CHUNK:
                data = read()
                if not data:
                    break
                chunks.append(data)
                size += len(data)
            if not chunks:
                return
            data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if size < _DELIVERY_CHUNK:
                return

    # -- asyncio.Transport --

    def write(self, data: Buffer) -> None:
        if self._closing or not data:
            return
        try:
            self._driver.write(data)
        except KCPError as exc:
            self.session_closed(exc)
            return
        if not self._writing_paused and self._session.waitsnd >= self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def can_write_eof(self) -> bool:
        return False  # KCP has no half-close

    def write_eof(self) -> None:
        raise NotImplementedError("KCP has no half-close (no FIN)")

    def get_write_buffer_size(self) -> int:
        return self._session.waitsnd * self._session.mss

    def get_write_buffer_limits(self) -> tuple[int, int]:
        mss = self._session.mss
        return self._session.write_threshold * mss, self._high * mss

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        mss = self._session.mss
        window = self._session.snd_wnd
        high_segments = window * 2 if high is None else max(1, -(-high // mss))
        low_segments = min(window, high_segments) if low is None else max(0, low // mss)
        if low_segments > high_segments:
            raise ValueError("low must not exceed high")
        self._high = high_segments
        self._session.write_threshold = low_segments

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._driver.close()
        self.session_closed(None)

    def abort(self) -> None:
        self.close()

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading:
            return
        self._reading = True
        # Deliver on the next loop pass, as a socket transport would: StreamReader resumes us
        # right before it starts waiting, and must not be fed before its waiter exists.
        self._driver.loop.call_soon(self._deliver)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the session runs on."""
        return self._driver.loop

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        driver = self._driver
        if name == "peername":
            return self._session.remote
        if name == "sockname":
            return driver.endpoint.local_address
        if name == "socket":
            return driver.endpoint.sock
        if name == "kcp_session":
            return driver.face
        return default


def stream_pair(
    session: AttachableSession, limit: int, callback: Any = None
) -> tuple[asyncio.StreamReader, asyncio.StreamReaderProtocol, KCPTransport]:
    """A StreamReader and its protocol, connected to *session* through a new KCPTransport
    (*callback* is ``start_server``'s client_connected_cb)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, callback, loop=loop)
    transport = session.attach_protocol(protocol)
    return reader, protocol, transport


class AttachableSession(Protocol):
    """What :func:`stream_pair` needs of a session (a ``KCPSession``)."""

    def attach_protocol(self, protocol: asyncio.BaseProtocol) -> KCPTransport: ...
