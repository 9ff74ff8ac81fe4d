"""asyncio API: streams (``open_connection``/``start_server``) and kcp-go style sessions.

Thin adapter over the sans-IO :mod:`pykcp.core.session`: a non-blocking UDP socket watched with
``loop.add_reader`` (each callback drains the socket into a preallocated buffer), datagrams
sent with ``sendto`` as a flush produces them, and one :class:`~pykcp.aio.scheduler.Scheduler`
timer per loop for every session's flush deadline.

Two ways to use a session:

* streams: :func:`open_connection` and :func:`start_server` give stdlib
  ``asyncio.StreamReader``/``StreamWriter`` pairs backed by a real ``asyncio.Transport``, with
  backpressure both ways (``drain()`` waits while KCP's send queue is over the window; a full
  StreamReader stops pulling from KCP, which closes the receive window toward the peer);
* kcp-go style: :func:`dial` / :func:`listen` give :class:`KCPSession` / :class:`KCPListener`
  with ``read``/``write``/``accept``, deadlines and kcp-go's option setters.

KCP has no FIN: a session ends when either side closes it locally, or with
:class:`~pykcp.core.errors.PeerGoneError` when the configured idle/dead-link timeout fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pykcp.aio.scheduler import Scheduler, get_scheduler, now_ms
from pykcp.core.config import Config
from pykcp.core.errors import ConfigError, KCPError, KCPTimeoutError, SessionClosedError
from pykcp.core.session import Address, ListenerCore, Session, address_key, new_conv
from pykcp.core.snmp import Snmp

__all__ = [
    "KCPListener",
    "KCPServer",
    "KCPSession",
    "KCPTransport",
    "dial",
    "listen",
    "open_connection",
    "start_server",
]

logger = logging.getLogger(__name__)

_RECV_BUFFER = 2048  # > kcp-go's 1500-byte limit, so an oversized datagram is seen whole
_MAX_DRAIN = 256  # datagrams per reader callback, so one busy socket cannot starve the loop
_DELIVERY_CHUNK = 256 * 1024  # bytes per data_received() call at most
_TRANSIENT_SEND_ERRORS = frozenset(
    {errno.EAGAIN, errno.ENOBUFS, errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}
)

HostPort = tuple[str, int] | str


# -- sockets -------------------------------------------------------------------------------


async def _resolve(
    loop: asyncio.AbstractEventLoop, host: str | None, port: int, *, passive: bool = False
) -> tuple[int, Address]:
    flags = socket.AI_PASSIVE if passive else 0
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=flags)
    if not infos:
        raise OSError(f"cannot resolve {host!r}")
    family, _, _, _, addr = infos[0]
    return family, addr


def _split_address(addr: HostPort | Address) -> tuple[str | None, int]:
    if isinstance(addr, str):
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        return (host or None), int(port)
    return addr[0], int(addr[1])


def _configure_socket(sock: socket.socket, config: Config) -> None:
    """Buffers (kcptun's 4 MiB) and DSCP for a socket pykcp created."""
    for option, size in (
        (socket.SO_RCVBUF, config.read_buffer),
        (socket.SO_SNDBUF, config.write_buffer),
    ):
        _set_buffer(sock, option, size)
    if config.dscp is not None:
        _set_dscp(sock, config.dscp)


# Linux's SO_RCVBUFFORCE / SO_SNDBUFFORCE (not exported by the socket module): past
# rmem_max/wmem_max when the process has CAP_NET_ADMIN.
_FORCE_OPTION: dict[int, int | None] = (
    {socket.SO_RCVBUF: 33, socket.SO_SNDBUF: 32}
    if sys.platform == "linux"
    else {socket.SO_RCVBUF: None, socket.SO_SNDBUF: None}
)


def _set_buffer(sock: socket.socket, option: int, size: int) -> None:
    """Set a socket buffer; past Linux's rmem_max/wmem_max when privileged (as kcptun
    users configure it), else as large as the OS allows."""
    if not size:
        return
    forced = _FORCE_OPTION.get(option)
    if forced is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, forced, size)
            return
    with contextlib.suppress(OSError):  # a capped limit is not fatal
        sock.setsockopt(socket.SOL_SOCKET, option, size)


def _set_dscp(sock: socket.socket, dscp: int) -> None:
    done = False
    if sock.family == socket.AF_INET6:
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
            done = True
        except OSError:
            pass
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
        done = True
    except OSError:
        pass
    if not done:
        raise OSError("cannot set DSCP on this socket")


def _bind_socket(family: int, addr: Address, *, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            # Dual stack where the OS allows it, so "::" also serves IPv4 peers.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Endpoint:
    """A UDP socket on the loop: reads with add_reader, hands datagrams to a dispatcher."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        owned: bool,
        dispatch: Callable[[memoryview, Address, int], Session | None],
        on_batch_done: Callable[[set[Session], int], None],
        on_error: Callable[[OSError], None],
        snmp: Snmp,
        *,
        fatal_send_errors: bool = True,
    ) -> None:
        self.loop = loop
        # A listener serves many peers: one unreachable peer must not take down the others.
        self._fatal_send_errors = fatal_send_errors
        self.sock = sock
        self.owned = owned
        self._dispatch = dispatch
        self._on_batch_done = on_batch_done
        self._on_error = on_error
        self._snmp = snmp
        self._buffer = bytearray(_RECV_BUFFER)
        self._view = memoryview(self._buffer)
        self.closed = False
        self.connected_to: Address = None
        """The remote the socket is connect()ed to (datagrams to it use send())."""
        sock.setblocking(False)
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        recv_into = self.sock.recvfrom_into
        buffer = self._buffer
        view = self._view
        dispatch = self._dispatch
        touched: set[Session] = set()
        now = now_ms(self.loop)
        for _ in range(_MAX_DRAIN):
            try:
                size, addr = recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in _TRANSIENT_SEND_ERRORS:
                    continue  # an ICMP error of an earlier sendto surfaced here
                self._on_error(exc)
                return
            try:
                session = dispatch(view[:size], addr, now)
            except Exception:  # nothing a peer sends may break the loop: count and drop
                self._snmp.InErrs += 1
                logger.debug("pykcp: datagram from %r dropped", addr, exc_info=True)
                continue
            if session is not None:
                touched.add(session)
        if touched:
            try:
                self._on_batch_done(touched, now)
            except Exception:
                logger.exception("pykcp: receive batch handling failed")

    def send(self, datagrams: Iterable[bytes], addr: Address, snmp: Snmp) -> None:
        """Send each datagram as it comes (the iterable seals them lazily).

        A full socket buffer drops the datagram (KCP retransmits it) but the iterable is
        still consumed, so the FEC encoder sees every payload.
        """
        if self.closed:
            return
        transmit: Callable[[bytes], int]
        if addr is self.connected_to:
            transmit = self.sock.send  # no address to convert per datagram: ~1/3 cheaper
        else:
            sendto = self.sock.sendto

            def transmit(datagram: bytes) -> int:
                return sendto(datagram, addr)

        sent = 0
        octets = 0
        for datagram in datagrams:
            try:
                transmit(datagram)
            except (BlockingIOError, InterruptedError):
                continue  # socket buffer full: KCP retransmits what is lost here
            except OSError as exc:
                if exc.errno in _TRANSIENT_SEND_ERRORS or not self._fatal_send_errors:
                    logger.debug("pykcp: sending to %r failed: %s", addr, exc)
                    continue
                self._on_error(exc)
                return
            sent += 1
            octets += len(datagram)
        snmp.OutPkts += sent
        snmp.OutBytes += octets

    @property
    def local_address(self) -> Address:
        return self.sock.getsockname()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self._fd)
        if self.owned:
            self.sock.close()


# -- sessions ------------------------------------------------------------------------------


class KCPSession:
    """A KCP session on an asyncio loop: kcp-go's ``UDPSession`` (get one from :func:`dial` or
    :meth:`KCPListener.accept`).

    ``read``/``write`` follow kcp-go's Read/Write: reads return as soon as any data is there;
    a write queues the whole buffer once fewer than ``sndwnd`` segments are waiting. Deadlines
    are absolute times on the loop clock (``loop.time()``); ``None`` disables them.
    """

    def __init__(
        self,
        core: Session,
        endpoint: _Endpoint,
        loop: asyncio.AbstractEventLoop,
        *,
        listener: KCPListener | None = None,
    ) -> None:
        self._core = core
        self._endpoint = endpoint
        self._loop = loop
        self._scheduler: Scheduler = get_scheduler(loop)
        self._listener = listener
        self._leftover = b""
        # Several tasks (or blocking-API threads) may wait at once: all are woken to re-check.
        self._read_waiters: list[asyncio.Future[None]] = []
        self._write_waiters: list[asyncio.Future[None]] = []
        self._read_deadline: float | None = None
        self._write_deadline: float | None = None
        self._transport: KCPTransport | None = None
        self._close_callbacks: list[Callable[[KCPSession], None]] = []
        self._finished = False
        core.owner = self
        self._pump(now_ms(loop))

    # -- properties mirroring kcp-go getters --

    @property
    def conv(self) -> int:
        """The conversation id [GetConv]."""
        return self._core.conv

    @property
    def rto(self) -> int:
        """Current retransmission timeout in ms [GetRTO]."""
        return int(self._core.kcp.rx_rto)

    @property
    def srtt(self) -> int:
        """Smoothed round-trip time in ms [GetSRTT]."""
        return int(self._core.kcp.rx_srtt)

    @property
    def srttvar(self) -> int:
        return int(self._core.kcp.rx_rttvar)

    @property
    def local_address(self) -> Address:
        return self._endpoint.local_address

    @property
    def remote_address(self) -> Address:
        return self._core.remote

    @property
    def snmp(self) -> Snmp:
        """This session's counters (also folded into ``pykcp.DEFAULT_SNMP``)."""
        return self._core.snmp

    @property
    def closed(self) -> bool:
        return self._core.closed

    @property
    def core(self) -> Session:
        """The sans-IO session underneath."""
        return self._core

    # -- option setters (kcp-go names) --

    def set_nodelay(self, nodelay: int, interval: int, resend: int, nc: int) -> None:
        self._core.set_nodelay(nodelay, interval, resend, nc)

    def set_window_size(self, sndwnd: int, rcvwnd: int) -> None:
        self._core.set_window_size(sndwnd, rcvwnd)
        self._wake_writer()

    def set_mtu(self, mtu: int) -> bool:
        return self._core.set_mtu(mtu)

    def set_stream_mode(self, enable: bool) -> None:
        self._core.set_stream_mode(enable)

    def set_write_delay(self, enable: bool) -> None:
        self._core.write_delay = enable

    def set_ack_nodelay(self, enable: bool) -> None:
        self._core.set_ack_nodelay(enable)

    def set_dscp(self, dscp: int) -> None:
        """[SetDSCP]; only on a session with its own socket, as in kcp-go."""
        if self._listener is not None:
            raise KCPError("invalid operation: DSCP is set on the listener")
        _set_dscp(self._endpoint.sock, dscp)

    def set_read_buffer(self, size: int) -> None:
        if self._listener is not None:
            raise KCPError("invalid operation: buffers are set on the listener")
        _set_buffer(self._endpoint.sock, socket.SO_RCVBUF, size)

    def set_write_buffer(self, size: int) -> None:
        if self._listener is not None:
            raise KCPError("invalid operation: buffers are set on the listener")
        _set_buffer(self._endpoint.sock, socket.SO_SNDBUF, size)

    def set_oob_handler(self, handler: Callable[[bytes], None] | None) -> None:
        """Receive out-of-band datagrams (latest kcp-go's SetOOBHandler)."""
        self._core.oob_handler = handler

    def send_oob(self, payload: bytes) -> None:
        """Send one unreliable out-of-band datagram (needs FEC; 5.6.1 peers cannot read it)."""
        self._core.send_oob(payload)
        self._pump(now_ms(self._loop))

    def set_deadline(self, deadline: float | None) -> None:
        """Read and write deadline on the loop clock (``loop.time()`` seconds)."""
        self.set_read_deadline(deadline)
        self.set_write_deadline(deadline)

    def set_read_deadline(self, deadline: float | None) -> None:
        self._read_deadline = deadline
        _wake_all(self._read_waiters)

    def set_write_deadline(self, deadline: float | None) -> None:
        self._write_deadline = deadline
        _wake_all(self._write_waiters)

    # -- data --

    async def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (the next message if *n* < 0), waiting for data [Read].

        Raises :class:`KCPTimeoutError` at the read deadline, :class:`SessionClosedError` once
        the session is closed and drained, :class:`PeerGoneError` if the peer vanished.
        """
        if self._transport is not None:
            raise KCPError("session is attached to a transport; read from its StreamReader")
        while True:
            data = self._take(n)
            if data:
                return data
            if self._core.closed:
                raise self._core.error or SessionClosedError("session is closed")
            await self._wait(self._read_waiters, self._read_deadline)

    async def readexactly(self, n: int) -> bytes:
        """Exactly *n* bytes (io.ReadFull)."""
        parts = []
        remaining = n
        while remaining > 0:
            chunk = await self.read(remaining)
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def _take(self, n: int) -> bytes:
        leftover = self._leftover
        if not leftover:
            core = self._core
            leftover = core.recv(now_ms(self._loop)) or b""
            if not leftover:
                return b""
            self._after_recv()
        if 0 <= n < len(leftover):
            self._leftover = leftover[n:]
            return leftover[:n]
        self._leftover = b""
        return leftover

    def _after_recv(self) -> None:
        self._scheduler.schedule(self, self._core.next_deadline())

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue all of *data* once the send queue is below the window [Write]."""
        core = self._core
        while True:
            if core.closed:
                raise core.error or SessionClosedError("session is closed")
            if core.writable:
                break
            await self._wait(self._write_waiters, self._write_deadline)
        return self.write_nowait(data)

    async def write_buffers(self, buffers: Iterable[bytes | bytearray | memoryview]) -> int:
        """[WriteBuffers]: the buffers as one write."""
        return await self.write(b"".join(buffers))

    def write_nowait(self, data: bytes | bytearray | memoryview) -> int:
        """Queue *data* regardless of the window (the transport's write path)."""
        now = now_ms(self._loop)
        size = self._core.send(data, now)
        self._pump(now)
        return size

    async def _wait(self, waiters: list[asyncio.Future[None]], deadline: float | None) -> None:
        await _wait_for_wake(self._loop, waiters, deadline)

    # -- plumbing --

    def on_timer(self, now: int) -> int | None:
        """Scheduler callback: flush, send, wake waiters; the next deadline."""
        core = self._core
        transport = self._transport
        if transport is not None:
            # Hand received data to the protocol first, so the ACKs this flush sends
            # advertise the receive window the application has actually freed.
            transport._deliver(now)
        core.on_timer(now)
        self._after_io(now)
        return core.next_deadline()

    def _input_done(self, now: int) -> None:
        self._core.input_done(now)
        self._pump(now)

    def _pump(self, now: int) -> None:
        self._scheduler.schedule(self, self._core.next_deadline())
        self._after_io(now)

    def _after_io(self, now: int) -> None:
        core = self._core
        self._endpoint.send(core.datagrams_to_send(), core.remote, core.snmp)
        if core.closed:
            self._finish()
            return
        transport = self._transport
        if transport is not None:
            transport._deliver(now)
            transport._check_writable()
        else:
            if self._read_waiters and core.readable:
                _wake_all(self._read_waiters)
            if self._write_waiters and core.writable:
                _wake_all(self._write_waiters)

    def _wake_writer(self) -> None:
        if self._write_waiters and self._core.writable:
            _wake_all(self._write_waiters)

    def _finish(self) -> None:
        """The core closed (locally, dead peer, or replaced): release everything once."""
        if self._finished:
            return
        self._finished = True
        self._scheduler.cancel(self)
        _wake_all(self._read_waiters)
        _wake_all(self._write_waiters)
        if self._listener is not None:
            self._listener._session_closed(self)
        else:
            self._endpoint.close()
        if self._transport is not None:
            self._transport._connection_lost(self._core.error)
        for callback in self._close_callbacks:
            callback(self)
        self._close_callbacks.clear()

    def _socket_failed(self, exc: OSError) -> None:
        if not self._core.closed:
            self._core.error = SessionClosedError(f"socket error: {exc}")
            self._core.close(now_ms(self._loop))
        self._finish()

    def close(self) -> None:
        """[Close]: flush what is pending, then stop. A second call raises SessionClosedError."""
        if not self._core.close(now_ms(self._loop)):
            raise SessionClosedError("session is already closed")
        self._endpoint.send(self._core.datagrams_to_send(), self._core.remote, self._core.snmp)
        self._finish()

    async def __aenter__(self) -> KCPSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._core.closed:
            self.close()

    def __repr__(self) -> str:
        return f"<KCPSession conv={self.conv:#010x} remote={self.remote_address!r}>"


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def _wait_for_wake(
    loop: asyncio.AbstractEventLoop, waiters: list[asyncio.Future[None]], deadline: float | None
) -> None:
    """Sleep until woken through *waiters* or until *deadline* (then KCPTimeoutError)."""
    if deadline is not None and deadline <= loop.time():
        raise KCPTimeoutError("timeout")
    waiter: asyncio.Future[None] = loop.create_future()
    waiters.append(waiter)
    handle = None if deadline is None else loop.call_at(deadline, _wake, waiter)
    try:
        await waiter
    finally:
        if handle is not None:
            handle.cancel()
        if waiter in waiters:
            waiters.remove(waiter)
    if deadline is not None and loop.time() >= deadline:
        raise KCPTimeoutError("timeout")


def _wake_all(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()


# -- transport -----------------------------------------------------------------------------


class KCPTransport(asyncio.Transport):
    """An ``asyncio.Transport`` over a :class:`KCPSession` (what StreamWriter writes to).

    Flow control counts KCP segments waiting to be sent: writing pauses the protocol above
    ``high`` (default 2 x sndwnd) and resumes it below ``low`` (default sndwnd, where kcp-go
    would unblock a Write). ``pause_reading`` stops taking data out of KCP, so KCP's receive
    window closes and the peer stops sending.
    """

    def __init__(self, session: KCPSession, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._session = session
        self._protocol: Any = protocol
        self._reading = True
        self._writing_paused = False
        self._closing = False
        self._lost = False
        window = session.core.kcp.snd_wnd
        self._high = 2 * window
        self._low = window
        session._transport = self
        protocol.connection_made(self)
        self._deliver(now_ms(session._loop))
        if session.core.closed:
            self._connection_lost(session.core.error)

    def _deliver(self, now: int) -> None:
        if not self._reading or self._lost:
            return
        session = self._session
        core = session.core
        leftover = session._leftover
        if leftover:
            session._leftover = b""
            self._protocol.data_received(leftover)
        data_received = self._protocol.data_received
        recv = core.recv
        delivered = False
        while self._reading:
            # Hand over up to _DELIVERY_CHUNK at a time: one data_received() per segment
            # would cost a StreamReader wake-up per ~1.3 kB.
            chunks: list[bytes] = []
            size = 0
            while size < _DELIVERY_CHUNK:
                data = recv(now)
                if data is None:
                    break
                chunks.append(data)
                size += len(data)
            if not chunks:
                break
            delivered = True
            data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if size < _DELIVERY_CHUNK:
                break
        if delivered:
            session._after_recv()

    def _check_writable(self) -> None:
        if self._writing_paused and self._session.core.kcp.waitsnd() < self._low:
            self._writing_paused = False
            self._protocol.resume_writing()

    def _connection_lost(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._deliver(now_ms(self._session._loop))
        self._lost = True
        self._closing = True
        self._session._loop.call_soon(self._protocol.connection_lost, exc)

    # asyncio.Transport API

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        if not data:
            return
        session = self._session
        try:
            session.write_nowait(data)
        except KCPError as exc:
            self._connection_lost(exc)
            return
        if not self._writing_paused and session.core.kcp.waitsnd() >= self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def can_write_eof(self) -> bool:
        return False  # KCP has no half-close

    def write_eof(self) -> None:
        raise NotImplementedError("KCP has no half-close (no FIN)")

    def get_write_buffer_size(self) -> int:
        return int(self._session.core.kcp.waitsnd()) * int(self._session.core.kcp.mss)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        mss = int(self._session.core.kcp.mss)
        return self._low * mss, self._high * mss

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        mss = int(self._session.core.kcp.mss)
        window = int(self._session.core.kcp.snd_wnd)
        high_segments = window * 2 if high is None else max(1, -(-high // mss))
        low_segments = min(window, high_segments) if low is None else max(0, low // mss)
        if low_segments > high_segments:
            raise ValueError("low must not exceed high")
        self._high, self._low = high_segments, low_segments
        self._check_writable()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not self._session.closed:
            self._session.close()
        self._connection_lost(None)

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
        loop = self._session._loop
        loop.call_soon(lambda: self._deliver(now_ms(loop)))

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        session = self._session
        if name == "peername":
            return session.remote_address
        if name == "sockname":
            return session.local_address
        if name == "socket":
            return session._endpoint.sock
        if name == "kcp_session":
            return session
        return default


# -- client --------------------------------------------------------------------------------


async def dial(
    addr: HostPort,
    config: Config | None = None,
    *,
    local_addr: tuple[str, int] | None = None,
    sock: socket.socket | None = None,
    conv: int | None = None,
) -> KCPSession:
    """Open a client session to *addr* (``(host, port)`` or ``"host:port"``) [DialWithOptions].

    Nothing is sent until the first write (KCP has no handshake). With *sock*, the session runs
    over that UDP socket and leaves it open on close [NewConn]; *conv* picks the conversation
    id [NewConn3] (default random).
    """
    config = config or Config()
    loop = asyncio.get_running_loop()
    host, port = _split_address(addr)
    owned = sock is None
    if sock is None:
        family, remote = await _resolve(loop, host, port)
        if local_addr is not None:
            local_family, local = await _resolve(loop, local_addr[0], local_addr[1], passive=True)
            sock = _bind_socket(local_family, local)
        else:
            sock = _bind_socket(
                family, ("::", 0, 0, 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            )
        _configure_socket(sock, config)
    else:
        family, remote = await _resolve(loop, host, port)
        if sock.family == socket.AF_INET6 and family == socket.AF_INET:
            remote = (f"::ffff:{remote[0]}", remote[1], 0, 0)
    if sock.family == socket.AF_INET and family == socket.AF_INET6:
        raise ConfigError("an IPv4 socket cannot reach an IPv6 address")
    core = Session(
        new_conv() if conv is None else conv,
        config,
        now_ms(loop),
        remote=remote,
        crypt=config.make_crypt(),
    )
    remote_key = address_key(remote)
    holder: list[KCPSession] = []

    def dispatch(data: memoryview, source: Address, now: int) -> Session | None:
        if address_key(source) != remote_key and not _same_host(source, remote):
            core.snmp.InErrs += 1  # latest kcp-go: only the dialed peer may talk to us
            return None
        core.datagram_received(data, now)
        return core

    def batch_done(touched: set[Session], now: int) -> None:
        holder[0]._input_done(now)

    def failed(exc: OSError) -> None:
        holder[0]._socket_failed(exc)

    try:
        endpoint = _Endpoint(loop, sock, owned, dispatch, batch_done, failed, core.snmp)
    except BaseException:
        if owned:
            sock.close()
        raise
    if owned:
        # Our own socket serves one peer: connect it, so sends skip the per-datagram address
        # conversion and the kernel filters foreign sources (latest kcp-go filters them too).
        try:
            sock.connect(remote)
            endpoint.connected_to = remote
        except OSError:
            pass
    session = KCPSession(core, endpoint, loop)
    holder.append(session)
    return session


def _same_host(source: Address, remote: Address) -> bool:
    """True for the same peer written two ways (an IPv4-mapped IPv6 address vs IPv4)."""
    if source[1] != remote[1]:
        return False
    try:
        a = ipaddress.ip_address(source[0].split("%")[0])
        b = ipaddress.ip_address(remote[0].split("%")[0])
    except ValueError:
        return False
    a4 = a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) else a
    b4 = b.ipv4_mapped if isinstance(b, ipaddress.IPv6Address) else b
    return (a4 or a) == (b4 or b)


async def open_connection(
    host: str,
    port: int,
    *,
    config: Config | None = None,
    local_addr: tuple[str, int] | None = None,
    sock: socket.socket | None = None,
    limit: int = 2**16,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Like :func:`asyncio.open_connection`, over a KCP session."""
    session = await dial((host, port), config, local_addr=local_addr, sock=sock)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport = KCPTransport(session, protocol)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


# -- server --------------------------------------------------------------------------------


class KCPListener:
    """Accepts KCP sessions on one UDP socket: kcp-go's ``Listener`` (see :func:`listen`).

    Closing the listener closes the sessions it created too (they share its socket and its
    reader), and the socket if the listener created it.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        owned: bool,
        config: Config,
        on_session: Callable[[KCPSession], None] | None = None,
    ) -> None:
        self._loop = loop
        self._config = config
        self._core = ListenerCore(config)
        self._on_session = on_session
        self._accept_waiters: list[asyncio.Future[None]] = []
        self._deadline: float | None = None
        self._error: KCPError | None = None
        self._sessions: set[KCPSession] = set()
        self._closed_waiter: asyncio.Future[None] = loop.create_future()
        self._endpoint = _Endpoint(
            loop,
            sock,
            owned,
            self._dispatch,
            self._batch_done,
            self._failed,
            self._core.snmp,
            fatal_send_errors=False,
        )

    @property
    def snmp(self) -> Snmp:
        """Counters of datagrams the listener itself dropped (per-session ones are separate)."""
        return self._core.snmp

    @property
    def local_address(self) -> Address:
        return self._endpoint.local_address

    @property
    def socket(self) -> socket.socket:
        return self._endpoint.sock

    @property
    def sessions(self) -> frozenset[KCPSession]:
        return frozenset(self._sessions)

    @property
    def closed(self) -> bool:
        return self._core.closed

    def _dispatch(self, data: memoryview, addr: Address, now: int) -> Session | None:
        core = self._core
        session = core.datagram_received(data, addr, now)
        if core.replaced:
            replaced = core.replaced[:]
            core.replaced.clear()
            for old in replaced:
                owner = old.owner
                if owner is not None:
                    owner._finish()
        if session is not None and session.owner is None:
            wrapper = KCPSession(session, self._endpoint, self._loop, listener=self)
            self._sessions.add(wrapper)
            if self._on_session is not None:
                core.accept_queue.remove(session)
                self._on_session(wrapper)
            else:
                _wake_all(self._accept_waiters)
        return session

    def _batch_done(self, touched: set[Session], now: int) -> None:
        for session in touched:
            owner = session.owner
            if owner is not None and not session.closed:
                owner._input_done(now)

    def _failed(self, exc: OSError) -> None:
        self._error = SessionClosedError(f"socket error: {exc}")
        for session in list(self._sessions):
            session._socket_failed(exc)
        self.close()

    def _session_closed(self, session: KCPSession) -> None:
        self._core.remove(session.core)
        self._sessions.discard(session)
        if session.core in self._core.accept_queue:
            self._core.accept_queue.remove(session.core)

    def set_deadline(self, deadline: float | None) -> None:
        """Accept deadline on the loop clock [SetDeadline]."""
        self.set_read_deadline(deadline)

    def set_read_deadline(self, deadline: float | None) -> None:
        self._deadline = deadline
        _wake_all(self._accept_waiters)

    def set_write_deadline(self, deadline: float | None) -> None:
        raise KCPError("invalid operation")

    def set_read_buffer(self, size: int) -> None:
        _set_buffer(self._endpoint.sock, socket.SO_RCVBUF, size)

    def set_write_buffer(self, size: int) -> None:
        _set_buffer(self._endpoint.sock, socket.SO_SNDBUF, size)

    def set_dscp(self, dscp: int) -> None:
        _set_dscp(self._endpoint.sock, dscp)

    async def accept(self) -> KCPSession:
        """The next new session [AcceptKCP]; waits until the deadline."""
        core = self._core
        while True:
            if core.accept_queue:
                session = core.accept_queue.popleft()
                owner = session.owner
                assert isinstance(owner, KCPSession)
                return owner
            if core.closed:
                raise self._error or SessionClosedError("listener is closed")
            await _wait_for_wake(self._loop, self._accept_waiters, self._deadline)

    def close(self) -> None:
        """Stop accepting, close this listener's sessions and its owned socket [Close].

        A second call raises :class:`SessionClosedError` (io.ErrClosedPipe).
        """
        core = self._core
        if core.closed:
            raise SessionClosedError("listener is already closed")
        core.close()
        for session in list(self._sessions):
            if not session.closed:
                session.close()
        self._endpoint.close()
        _wake_all(self._accept_waiters)
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed_waiter)

    async def __aenter__(self) -> KCPListener:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self.closed:
            self.close()


async def _listening_socket(
    loop: asyncio.AbstractEventLoop,
    addr: HostPort | None,
    sock: socket.socket | None,
    config: Config,
    reuse_port: bool,
) -> tuple[socket.socket, bool]:
    if sock is not None:
        return sock, False
    if addr is None:
        raise ConfigError("an address or a socket is needed")
    host, port = _split_address(addr)
    family, local = await _resolve(loop, host, port, passive=True)
    new = _bind_socket(family, local, reuse_port=reuse_port)
    _configure_socket(new, config)
    return new, True


async def listen(
    addr: HostPort | None = None,
    config: Config | None = None,
    *,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
) -> KCPListener:
    """Listen for KCP sessions on *addr* [ListenWithOptions], or on an existing UDP socket
    [ServeConn] which is then left open on close."""
    config = config or Config()
    loop = asyncio.get_running_loop()
    lsock, owned = await _listening_socket(loop, addr, sock, config, reuse_port)
    try:
        return KCPListener(loop, lsock, owned, config)
    except BaseException:
        if owned:
            lsock.close()
        raise


ClientConnectedCallback = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None
]


class KCPServer(asyncio.AbstractServer):
    """What :func:`start_server` returns: an ``asyncio.Server`` look-alike.

    ``close()`` stops accepting and closes every session of the server (KCP has no FIN, so a
    server waiting for its peers to hang up could wait forever); ``wait_closed()`` returns
    once that is done.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: ClientConnectedCallback,
        limit: int,
    ) -> None:
        self._loop = loop
        self._callback = callback
        self._limit = limit
        self._listener: KCPListener | None = None
        self._serving_forever: asyncio.Future[None] | None = None

    def _attach(self, listener: KCPListener) -> None:
        self._listener = listener

    def _new_session(self, session: KCPSession) -> None:
        reader = asyncio.StreamReader(limit=self._limit, loop=self._loop)
        protocol = asyncio.StreamReaderProtocol(reader, self._callback, loop=self._loop)
        KCPTransport(session, protocol)

    @property
    def listener(self) -> KCPListener:
        assert self._listener is not None
        return self._listener

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        if self._listener is None or self._listener.closed:
            return ()
        return (self._listener.socket,)

    def close(self) -> None:
        if self._listener is not None and not self._listener.closed:
            self._listener.close()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()

    def close_clients(self) -> None:
        self.close()

    def abort_clients(self) -> None:
        self.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._listener is not None and not self._listener.closed

    async def start_serving(self) -> None:
        return None  # serving starts at creation

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError("serve_forever() is already running")
        if not self.is_serving():
            raise RuntimeError("server is closed")
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    async def wait_closed(self) -> None:
        if self._listener is not None:
            await self._listener.wait_closed()
        # Let the connection_lost() calls of the closed sessions run before returning.
        for _ in range(2):
            await asyncio.sleep(0)

    async def __aenter__(self) -> KCPServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


async def start_server(
    client_connected_cb: ClientConnectedCallback,
    host: str | None = None,
    port: int = 0,
    *,
    config: Config | None = None,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
    limit: int = 2**16,
) -> KCPServer:
    """Like :func:`asyncio.start_server`: *client_connected_cb(reader, writer)* runs for every
    new KCP session."""
    config = config or Config()
    loop = asyncio.get_running_loop()
    server = KCPServer(loop, client_connected_cb, limit)
    lsock, owned = await _listening_socket(
        loop, (host or "0.0.0.0", port) if sock is None else None, sock, config, reuse_port
    )
    try:
        listener = KCPListener(loop, lsock, owned, config, on_session=server._new_session)
    except BaseException:
        if owned:
            lsock.close()
        raise
    server._attach(listener)
    return server
