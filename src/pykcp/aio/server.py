"""Servers on asyncio: :class:`KCPListener` / :func:`listen` (kcp-go style) and
:func:`start_server` (asyncio streams).

A listener owns one UDP socket and a sans-IO :class:`~pykcp.core.listener.ListenerCore`. Each
batch the socket delivers is routed by the core; the listener gives every new session a
:class:`~pykcp.aio.driver.SessionDriver` and a face, then lets each touched session's driver
dispatch what happened to it.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Awaitable, Callable

from pykcp.aio.driver import SessionDriver
from pykcp.aio.endpoint import Batch, Endpoint, HostPort, new_socket, set_buffer, set_dscp
from pykcp.aio.session import KCPSession
from pykcp.aio.transport import stream_pair
from pykcp.aio.waiters import wait_for_wake, wake_all
from pykcp.core.config import Config
from pykcp.core.errors import ConfigError, KCPError, SessionClosedError
from pykcp.core.listener import ListenerCore
from pykcp.core.session import Address, Session
from pykcp.core.snmp import DEFAULT_SNMP, Snmp
from pykcp.core.stats import ListenerStats

__all__ = ["ClientConnectedCallback", "KCPListener", "KCPServer", "listen", "start_server"]

ClientConnectedCallback = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None
]


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
        self._drivers: dict[int, SessionDriver] = {}  # id(core session) -> its driver
        self._accept_queue: deque[SessionDriver] = deque()
        self._accept_waiters: list[asyncio.Future[None]] = []
        self._deadline: float | None = None
        self._error: KCPError | None = None
        self._closed_waiter: asyncio.Future[None] = loop.create_future()
        self._endpoint = Endpoint(
            loop,
            sock,
            owned=owned,
            receiver=self._receive,
            on_error=self._failed,
            snmp=self._core.snmp,
            fatal_send_errors=False,
        )
        DEFAULT_SNMP.attach(self._core.snmp, session=False)

    @property
    def snmp(self) -> Snmp:
        """Counters of datagrams the listener itself dropped (per-session ones are separate)."""
        return self._core.snmp

    def stats(self) -> ListenerStats:
        """Bounds, drops, and the live sessions' counters summed (a typed snapshot)."""
        return self._core.stats()

    @property
    def local_address(self) -> Address:
        return self._endpoint.local_address

    @property
    def socket(self) -> socket.socket:
        return self._endpoint.sock

    @property
    def sessions(self) -> frozenset[KCPSession]:
        """The live sessions of this listener."""
        return frozenset(d.face for d in self._drivers.values() if isinstance(d.face, KCPSession))

    @property
    def closed(self) -> bool:
        return self._core.closed

    # -- from the socket --

    def _receive(self, batch: Batch, now: int) -> None:
        core = self._core
        touched = core.receive_datagrams(batch, now)
        while (event := core.next_event()) is not None:
            self._adopt(event.session)
        drivers = self._drivers
        for session in touched:
            driver = drivers.get(id(session))
            if driver is not None:
                driver.pump(now)

    def _adopt(self, session: Session) -> None:
        driver = SessionDriver(
            session, self._endpoint, self._loop, owns_endpoint=False, on_finished=self._forget
        )
        self._drivers[id(session)] = driver
        face = KCPSession(driver)
        if self._on_session is not None:
            self._core.accepted(session)
            self._on_session(face)
        else:
            self._accept_queue.append(driver)
            wake_all(self._accept_waiters)

    def _forget(self, driver: SessionDriver) -> None:
        self._core.remove(driver.session, driver.now())
        self._drivers.pop(id(driver.session), None)
        if driver in self._accept_queue:
            self._accept_queue.remove(driver)

    def _failed(self, exc: OSError) -> None:
        self._error = SessionClosedError(f"socket error: {exc}")
        for driver in list(self._drivers.values()):
            driver.fail(exc)
        self.close()

    # -- kcp-go API --

    def set_deadline(self, deadline: float | None) -> None:
        """Accept deadline on the loop clock [SetDeadline]."""
        self.set_read_deadline(deadline)

    def set_read_deadline(self, deadline: float | None) -> None:
        self._deadline = deadline
        wake_all(self._accept_waiters)

    def set_write_deadline(self, deadline: float | None) -> None:
        raise KCPError("invalid operation")

    def set_read_buffer(self, size: int) -> None:
        set_buffer(self._endpoint.sock, socket.SO_RCVBUF, size)

    def set_write_buffer(self, size: int) -> None:
        set_buffer(self._endpoint.sock, socket.SO_SNDBUF, size)

    def set_dscp(self, dscp: int) -> None:
        set_dscp(self._endpoint.sock, dscp)

    async def accept(self) -> KCPSession:
        """The next new session [AcceptKCP]; waits until the deadline."""
        while True:
            if self._accept_queue:
                driver = self._accept_queue.popleft()
                self._core.accepted(driver.session)
                assert isinstance(driver.face, KCPSession)
                return driver.face
            if self._core.closed:
                raise self._error or SessionClosedError("listener is closed")
            await wait_for_wake(self._loop, self._accept_waiters, self._deadline)

    def close(self) -> None:
        """Stop accepting, close this listener's sessions and its owned socket [Close].

        A second call raises :class:`SessionClosedError` (io.ErrClosedPipe).
        """
        core = self._core
        if core.closed:
            raise SessionClosedError("listener is already closed")
        core.close()
        for driver in list(self._drivers.values()):
            driver.close()
        self._endpoint.close()
        DEFAULT_SNMP.detach(core.snmp)
        wake_all(self._accept_waiters)
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed_waiter)

    async def __aenter__(self) -> KCPListener:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self.closed:
            self.close()


async def _new_listener(
    addr: HostPort | None,
    config: Config,
    sock: socket.socket | None,
    reuse_port: bool,
    on_session: Callable[[KCPSession], None] | None = None,
) -> KCPListener:
    loop = asyncio.get_running_loop()
    if sock is not None:
        return KCPListener(loop, sock, False, config, on_session)
    if addr is None:
        raise ConfigError("an address or a socket is needed")
    own = await new_socket(loop, addr, config, reuse_port=reuse_port)
    try:
        return KCPListener(loop, own, True, config, on_session)
    except BaseException:
        own.close()
        raise


async def listen(
    addr: HostPort | None = None,
    config: Config | None = None,
    *,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
) -> KCPListener:
    """Listen for KCP sessions on *addr* [ListenWithOptions], or on an existing UDP socket
    [ServeConn] which is then left open on close."""
    return await _new_listener(addr, config or Config(), sock, reuse_port)


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

    def new_session(self, session: KCPSession) -> None:
        """A new session: give it a stream pair and run the callback."""
        stream_pair(session, self._limit, self._callback)

    def attach(self, listener: KCPListener) -> None:
        self._listener = listener

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
    server = KCPServer(asyncio.get_running_loop(), client_connected_cb, limit)
    addr = (host or "0.0.0.0", port) if sock is None else None
    listener = await _new_listener(addr, config or Config(), sock, reuse_port, server.new_session)
    server.attach(listener)
    return server
