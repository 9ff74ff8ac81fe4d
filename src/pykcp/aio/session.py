"""kcp-go style sessions on asyncio: :class:`KCPSession`.

``read``/``write`` follow kcp-go's Read/Write: reads return as soon as any data is there; a
write queues the whole buffer once fewer than ``sndwnd`` segments are waiting. KCP has no FIN:
a session ends when either side closes it locally, or with
:class:`~pykcp.core.errors.PeerGoneError` when the configured idle/dead-link timeout fires.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable

from pykcp.aio.driver import SessionDriver
from pykcp.aio.endpoint import set_buffer, set_dscp
from pykcp.aio.scheduler import now_ms
from pykcp.aio.transport import KCPTransport
from pykcp.aio.waiters import wait_for_wake, wake_all
from pykcp.core.errors import KCPError, SessionClosedError
from pykcp.core.session import Address, Buffer
from pykcp.core.snmp import Snmp
from pykcp.core.stats import SessionStats
from pykcp.core.trace import Tracer

__all__ = ["KCPSession"]


class KCPSession:
    """A KCP session on an asyncio loop: kcp-go's ``UDPSession`` (get one from :func:`dial`
    or :meth:`~pykcp.aio.server.KCPListener.accept`).

    Deadlines are absolute times on the loop clock (``loop.time()``); ``None`` disables them.
    """

    def __init__(self, driver: SessionDriver) -> None:
        self._driver = driver
        self._session = driver.session
        self._loop = driver.loop
        # Several tasks (or blocking-API threads) may wait at once: all are woken to re-check.
        self._read_waiters: list[asyncio.Future[None]] = []
        self._write_waiters: list[asyncio.Future[None]] = []
        self._read_deadline: float | None = None
        self._write_deadline: float | None = None
        driver.attach_face(self)

    # -- kcp-go getters --

    @property
    def conv(self) -> int:
        """The conversation id [GetConv]."""
        return self._session.conv

    @property
    def rto(self) -> int:
        """Current retransmission timeout in ms [GetRTO]."""
        return self._session.rto

    @property
    def srtt(self) -> int:
        """Smoothed round-trip time in ms [GetSRTT]."""
        return self._session.srtt

    @property
    def srttvar(self) -> int:
        """Round-trip time variation in ms [GetSRTTVar]."""
        return self._session.rttvar

    @property
    def mss(self) -> int:
        """Largest payload of one KCP segment (the MTU minus every header)."""
        return self._session.mss

    @property
    def window_size(self) -> tuple[int, int]:
        """``(sndwnd, rcvwnd)`` in segments."""
        return self._session.snd_wnd, self._session.rcv_wnd

    def stats(self) -> SessionStats:
        """A typed snapshot of the session: RTT, windows, queues, counters."""
        return self._session.stats(now_ms(self._loop))

    @property
    def local_address(self) -> Address:
        return self._driver.endpoint.local_address

    @property
    def remote_address(self) -> Address:
        return self._session.remote

    @property
    def snmp(self) -> Snmp:
        """This session's counters (``pykcp.DEFAULT_SNMP`` includes them)."""
        return self._session.snmp

    @property
    def closed(self) -> bool:
        return self._session.closed

    @property
    def readable(self) -> bool:
        """A read would return at once with data."""
        return bool(self._driver.has_leftover or self._session.readable)

    # -- kcp-go setters --

    def set_nodelay(self, nodelay: int, interval: int, resend: int, nc: int) -> None:
        """[SetNoDelay]; negative values leave a setting unchanged."""
        self._session.set_nodelay(nodelay, interval, resend, nc)

    def set_window_size(self, sndwnd: int, rcvwnd: int) -> None:
        """[SetWindowSize]; values <= 0 leave a window unchanged."""
        self._session.set_window_size(sndwnd, rcvwnd)
        self._driver.pump(now_ms(self._loop))

    def set_mtu(self, mtu: int) -> bool:
        """[SetMtu]: False when no segment would fit."""
        return self._session.set_mtu(mtu)

    def set_stream_mode(self, enable: bool) -> None:
        """[SetStreamMode]"""
        self._session.set_stream_mode(enable)

    def set_write_delay(self, enable: bool) -> None:
        """[SetWriteDelay]"""
        self._session.write_delay = enable

    def set_ack_nodelay(self, enable: bool) -> None:
        """[SetACKNoDelay]"""
        self._session.set_ack_nodelay(enable)

    def set_trace(self, tracer: Tracer | None) -> None:
        """Send this session's trace events (segments sent, retransmitted and acknowledged, RTO
        changes, FEC recoveries, liveness...) to *tracer*, a callable taking the event's name
        and its fields; None stops tracing [SetLogger]. See :mod:`pykcp.core.trace`."""
        self._session.set_trace(tracer)

    def set_rate_limit(self, bytes_per_second: int) -> None:
        """[SetRateLimit]: pace what this session sends (all headers included); 0 lifts it."""
        self._session.set_rate_limit(bytes_per_second)
        self._driver.pump(now_ms(self._loop))

    def _own_socket(self, what: str) -> socket.socket:
        if not self._driver.owns_endpoint:
            raise KCPError(f"invalid operation: {what} is set on the listener")
        return self._driver.endpoint.sock

    def set_dscp(self, dscp: int) -> None:
        """[SetDSCP]; only on a session with its own socket, as in kcp-go."""
        set_dscp(self._own_socket("DSCP"), dscp)

    def set_read_buffer(self, size: int) -> None:
        """[SetReadBuffer]; only on a session with its own socket."""
        set_buffer(self._own_socket("the read buffer"), socket.SO_RCVBUF, size)

    def set_write_buffer(self, size: int) -> None:
        """[SetWriteBuffer]; only on a session with its own socket."""
        set_buffer(self._own_socket("the write buffer"), socket.SO_SNDBUF, size)

    def set_oob_handler(self, handler: Callable[[bytes], None] | None) -> None:
        """Receive out-of-band datagrams (latest kcp-go's SetOOBHandler)."""
        self._driver.oob_handler = handler

    def send_oob(self, payload: bytes) -> None:
        """Send one unreliable out-of-band datagram (needs FEC; 5.6.1 peers cannot read it)."""
        self._driver.send_oob(payload)

    def set_deadline(self, deadline: float | None) -> None:
        """Read and write deadline on the loop clock (``loop.time()`` seconds)."""
        self.set_read_deadline(deadline)
        self.set_write_deadline(deadline)

    def set_read_deadline(self, deadline: float | None) -> None:
        self._read_deadline = deadline
        wake_all(self._read_waiters)

    def set_write_deadline(self, deadline: float | None) -> None:
        self._write_deadline = deadline
        wake_all(self._write_waiters)

    # -- data --

    async def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (the next message if *n* < 0), waiting for data [Read].

        ``read(0)`` returns ``b""`` at once, as asyncio's does. Raises
        :class:`KCPTimeoutError` at the read deadline, :class:`SessionClosedError` once the
        session is closed and drained, :class:`PeerGoneError` if the peer vanished.
        """
        if self._driver.transport is not None:
            raise KCPError("session is attached to a transport; read from its StreamReader")
        if n == 0:
            return b""
        while True:
            data = self._driver.read(n)
            if data:
                return data
            if self._session.closed:
                raise self._session.error or SessionClosedError("session is closed")
            await wait_for_wake(self._loop, self._read_waiters, self._read_deadline)

    async def readexactly(self, n: int) -> bytes:
        """Exactly *n* bytes (io.ReadFull)."""
        parts = []
        remaining = n
        while remaining > 0:
            chunk = await self.read(remaining)
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    async def write(self, data: Buffer) -> int:
        """Queue all of *data* once the send queue is below the window [Write]."""
        session = self._session
        while True:
            if session.closed:
                raise session.error or SessionClosedError("session is closed")
            if session.writable:
                break
            await wait_for_wake(self._loop, self._write_waiters, self._write_deadline)
        return self._driver.write(data)

    async def write_buffers(self, buffers: Iterable[Buffer]) -> int:
        """[WriteBuffers]: the buffers as one write."""
        return await self.write(b"".join(buffers))

    def close(self) -> None:
        """[Close]: flush what is pending, then stop. A second call raises SessionClosedError."""
        if not self._driver.close():
            raise SessionClosedError("session is already closed")

    def attach_protocol(self, protocol: asyncio.BaseProtocol) -> KCPTransport:
        """Hand this session to an asyncio *protocol* (streams, a framing layer...).

        Returns the :class:`~pykcp.aio.transport.KCPTransport` the protocol is connected to;
        from then on the protocol receives the data and :meth:`read` is not available.
        """
        return KCPTransport(self._driver, protocol)

    async def __aenter__(self) -> KCPSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._session.closed:
            self.close()

    def __repr__(self) -> str:
        return f"<KCPSession conv={self.conv:#010x} remote={self.remote_address!r}>"

    # -- events from the driver (SessionConsumer) --

    def data_readable(self) -> None:
        wake_all(self._read_waiters)

    def writable(self) -> None:
        wake_all(self._write_waiters)

    def session_closed(self, error: KCPError | None) -> None:
        wake_all(self._read_waiters)
        wake_all(self._write_waiters)
