"""Client sessions: :func:`dial` (kcp-go style) and :func:`open_connection` (asyncio streams)."""

from __future__ import annotations

import asyncio
import socket

from pykcp.aio.driver import SessionDriver
from pykcp.aio.endpoint import (
    Batch,
    Endpoint,
    HostPort,
    bind_socket,
    configure_socket,
    new_socket,
    resolve,
    same_host,
    split_address,
)
from pykcp.aio.scheduler import now_ms
from pykcp.aio.session import KCPSession
from pykcp.aio.transport import stream_pair
from pykcp.core.config import Config
from pykcp.core.errors import ConfigError
from pykcp.core.session import Address, Session, address_key, new_conv

__all__ = ["dial", "open_connection"]


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
    host, port = split_address(addr)
    owned = sock is None
    family, remote = await resolve(loop, host, port)
    if sock is None:
        if local_addr is not None:
            sock = await new_socket(loop, local_addr, config)
        else:
            any_address = ("::", 0, 0, 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            sock = bind_socket(family, any_address)
            configure_socket(sock, config)
    elif sock.family == socket.AF_INET6 and family == socket.AF_INET:
        remote = (f"::ffff:{remote[0]}", remote[1], 0, 0)
    if sock.family == socket.AF_INET and family == socket.AF_INET6:
        raise ConfigError("an IPv4 socket cannot reach an IPv6 address")
    session = Session(
        new_conv() if conv is None else conv,
        config,
        now_ms(loop),
        remote=remote,
        crypt=config.make_crypt(),
    )
    remote_key = address_key(remote)
    drivers: list[SessionDriver] = []

    def receive(batch: Batch, now: int) -> None:
        if not all(address_key(source) == remote_key for _, source in batch):
            # latest kcp-go: only the dialed peer may talk to us (protocol.md §6.1)
            accepted = [(d, s) for d, s in batch if _from_peer(s, remote, remote_key)]
            session.snmp.InErrs += len(batch) - len(accepted)
            batch = accepted
        if batch:
            drivers[0].datagrams_received(batch, now)

    def failed(exc: OSError) -> None:
        drivers[0].fail(exc)

    try:
        endpoint = Endpoint(
            loop, sock, owned=owned, receiver=receive, on_error=failed, snmp=session.snmp
        )
    except BaseException:
        if owned:
            sock.close()
        raise
    if owned:
        # Our own socket serves one peer: connect it, so sends skip the per-datagram address
        # conversion and the kernel filters foreign sources.
        try:
            sock.connect(remote)
            endpoint.connected_to = remote
        except OSError:
            pass
    driver = SessionDriver(session, endpoint, loop, owns_endpoint=owned)
    drivers.append(driver)
    return KCPSession(driver)


def _from_peer(source: Address, remote: Address, remote_key: tuple[object, ...]) -> bool:
    return address_key(source) == remote_key or same_host(source, remote)


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
    reader, protocol, transport = stream_pair(session, limit)
    return reader, asyncio.StreamWriter(transport, protocol, reader, transport.loop)
