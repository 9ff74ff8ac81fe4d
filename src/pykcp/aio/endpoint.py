"""UDP sockets on an asyncio loop: creation, options, and batched reads and writes.

An :class:`Endpoint` watches one non-blocking socket with ``loop.add_reader``. Each time the
socket is readable it drains up to :data:`MAX_DRAIN` datagrams into reused buffers and hands
the whole batch to its receiver in one call (protocol.md §6.3); :meth:`Endpoint.send` puts a
batch of datagrams on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Final

from pykcp.core.config import Config
from pykcp.core.session import Address
from pykcp.core.snmp import Snmp
from pykcp.core.wire import MTU_LIMIT

__all__ = [
    "MAX_DRAIN",
    "Batch",
    "Endpoint",
    "HostPort",
    "bind_socket",
    "configure_socket",
    "new_socket",
    "resolve",
    "same_host",
    "set_buffer",
    "set_dscp",
    "split_address",
]

logger = logging.getLogger("pykcp")

HostPort = tuple[str, int] | str
Batch = list[tuple[memoryview, Address]]
"""Datagrams read in one go, with their sources; the views are only valid during the call."""

MAX_DRAIN: Final = 256
"""Datagrams per reader callback at most, so one busy socket cannot starve the loop."""
_RECV_SIZE: Final = MTU_LIMIT + 548  # larger than any datagram kcp-go sends: oversize shows whole
TRANSIENT_ERRORS: Final = frozenset(
    {errno.EAGAIN, errno.ENOBUFS, errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}
)


# -- addresses -----------------------------------------------------------------------------


async def resolve(
    loop: asyncio.AbstractEventLoop, host: str | None, port: int, *, passive: bool = False
) -> tuple[int, Address]:
    """The first (family, address) getaddrinfo gives for a UDP socket."""
    if not 0 <= port <= 65535:
        # getaddrinfo would wrap it: port 70000 must not quietly become 4464.
        raise OverflowError(f"port must be 0-65535, got {port}")
    flags = socket.AI_PASSIVE if passive else 0
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=flags)
    if not infos:
        raise OSError(f"cannot resolve {host!r}")
    family, _, _, _, addr = infos[0]
    return family, addr


def split_address(addr: HostPort | Address) -> tuple[str | None, int]:
    """``(host, port)`` of ``"host:port"``, ``"[v6]:port"`` or a tuple."""
    if isinstance(addr, str):
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        return (host or None), int(port)
    return addr[0], int(addr[1])


def same_host(source: Address, remote: Address) -> bool:
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


# -- socket options ------------------------------------------------------------------------


def configure_socket(sock: socket.socket, config: Config) -> None:
    """Buffers (kcptun's 4 MiB) and DSCP for a socket pykcp created."""
    set_buffer(sock, socket.SO_RCVBUF, config.read_buffer)
    set_buffer(sock, socket.SO_SNDBUF, config.write_buffer)
    if config.dscp is not None:
        set_dscp(sock, config.dscp)


# Linux's SO_RCVBUFFORCE / SO_SNDBUFFORCE (not exported by the socket module): past
# rmem_max/wmem_max when the process has CAP_NET_ADMIN.
_FORCE_OPTION: dict[int, int | None] = (
    {socket.SO_RCVBUF: 33, socket.SO_SNDBUF: 32}
    if sys.platform == "linux"
    else {socket.SO_RCVBUF: None, socket.SO_SNDBUF: None}
)


def set_buffer(sock: socket.socket, option: int, size: int) -> None:
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


def set_dscp(sock: socket.socket, dscp: int) -> None:
    """Mark outgoing datagrams with *dscp* (IPv4 TOS and, on IPv6 sockets, traffic class)."""
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


def bind_socket(family: int, addr: Address, *, reuse_port: bool = False) -> socket.socket:
    """A non-blocking UDP socket bound to *addr* (dual-stack for IPv6 where the OS allows)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
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


async def new_socket(
    loop: asyncio.AbstractEventLoop,
    addr: HostPort,
    config: Config,
    *,
    reuse_port: bool = False,
) -> socket.socket:
    """A UDP socket bound to *addr* with the options of *config* (a listener's, or a client's
    with a chosen local address)."""
    host, port = split_address(addr)
    family, local = await resolve(loop, host, port, passive=True)
    sock = bind_socket(family, local, reuse_port=reuse_port)
    configure_socket(sock, config)
    return sock


# -- the endpoint --------------------------------------------------------------------------


class _Buffers(threading.local):
    """Receive buffers reused by every endpoint of a thread's loop.

    A batch is handed over and fully consumed inside one reader callback, and callbacks of one
    loop never overlap, so one set per thread serves any number of sockets.
    """

    def __init__(self) -> None:
        self.buffers = [bytearray(_RECV_SIZE) for _ in range(MAX_DRAIN)]
        self.views = [memoryview(b) for b in self.buffers]


_buffers = _Buffers()

Receiver = Callable[[Batch, int], None]


class Endpoint:
    """One UDP socket on the loop: batches in to a receiver, batches out to the socket."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        *,
        owned: bool,
        receiver: Receiver,
        on_error: Callable[[OSError], None],
        snmp: Snmp,
        fatal_send_errors: bool = True,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.owned = owned
        """Whether closing the endpoint closes the socket (pykcp created it)."""
        self._receiver = receiver
        self._on_error = on_error
        self._snmp = snmp
        # A listener serves many peers: one unreachable peer must not take down the others.
        self._fatal_send_errors = fatal_send_errors
        self.closed = False
        self.connected_to: Address = None
        """The remote the socket is connect()ed to (datagrams to it use send())."""
        sock.setblocking(False)
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        recv_into = self.sock.recvfrom_into
        buffers = _buffers.buffers
        views = _buffers.views
        batch: Batch = []
        for index in range(MAX_DRAIN):
            try:
                size, addr = recv_into(buffers[index])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in TRANSIENT_ERRORS:
                    continue  # an ICMP error of an earlier sendto surfaced here
                self._on_error(exc)
                return
            batch.append((views[index][:size], addr))
        if not batch:
            return
        now = int(self.loop.time() * 1000.0)
        try:
            self._receiver(batch, now)
        except Exception:  # nothing a peer sends may break the loop: count and drop
            self._snmp.InErrs += len(batch)
            logger.exception("pykcp: a receive batch could not be processed")

    def send(self, datagrams: Sequence[bytes | bytearray], addr: Address, snmp: Snmp) -> None:
        """Send *datagrams* to *addr*; counts what left in *snmp*.

        A full socket buffer drops a datagram (KCP retransmits it); other transient errors are
        logged at debug level. A fatal error ends the endpoint through its error callback.
        """
        if self.closed:
            return
        sent = 0
        octets = 0
        if addr is self.connected_to:
            transmit = self.sock.send  # no address to convert per datagram: ~1/3 cheaper
            args: tuple[Address, ...] = ()
        else:
            transmit = self.sock.sendto  # type: ignore[assignment]
            args = (addr,)
        for datagram in datagrams:
            try:
                transmit(datagram, *args)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in TRANSIENT_ERRORS or not self._fatal_send_errors:
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
        """Stop reading; close the socket if the endpoint owns it."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self._fd)
        if self.owned:
            self.sock.close()
