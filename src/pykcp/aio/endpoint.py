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
import struct
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


# Linux's UDP segmentation offloads (not exported by the socket module before 3.12).
SOL_UDP: Final = 17
UDP_SEGMENT: Final = 103
UDP_GRO: Final = 104
_GSO_MAX_SEGMENTS: Final = 64  # the kernel's UDP_MAX_SEGMENTS
_GSO_MAX_BYTES: Final = 65000  # one IP datagram at most carries the whole batch
_GRO_BUFFER: Final = 65536  # the most one coalesced read returns
# The arena coalesced reads fill one after another: 16 full 64 KiB reads, or MAX_DRAIN single
# datagrams from different peers (GRO merges only one flow's datagrams, so a listener's reads
# mostly return one each).
_GRO_ARENA: Final = 16 * _GRO_BUFFER
_GSO_ERRORS: Final = frozenset({errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP})
_SEGMENT_SIZE = struct.Struct("=H")
_GRO_SIZE = struct.Struct("=i")
_GRO_ANCILLARY = socket.CMSG_SPACE(4)


class _Buffers(threading.local):
    """Receive buffers reused by every endpoint of a thread's loop.

    A batch is handed over and fully consumed inside one reader callback, and callbacks of one
    loop never overlap, so one set per thread serves any number of sockets. ``single`` holds
    one datagram each; ``arena`` (allocated on first use) holds what GRO reads return, each
    read placed after the one before.
    """

    def __init__(self) -> None:
        self.single = [bytearray(_RECV_SIZE) for _ in range(MAX_DRAIN)]
        self.single_views = [memoryview(b) for b in self.single]
        self._arena: memoryview | None = None

    @property
    def arena(self) -> memoryview:
        if self._arena is None:
            self._arena = memoryview(bytearray(_GRO_ARENA))
        return self._arena


_buffers = _Buffers()

Receiver = Callable[[Batch, int], None]


def _enable_gro(sock: socket.socket) -> bool:
    """Ask the kernel to coalesce arriving datagrams (GRO); False where it cannot."""
    if sys.platform != "linux" or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(SOL_UDP, UDP_GRO, 1)
    except OSError:
        return False
    return True


class Endpoint:
    """One UDP socket on the loop: batches in to a receiver, batches out to the socket.

    On Linux the batches cross the kernel boundary whole: runs of equal-sized datagrams leave
    in one ``sendmsg`` with UDP_SEGMENT (GSO), and datagrams that arrive together come up in
    one ``recvmsg`` with UDP_GRO. Either falls back to one datagram per system call where the
    kernel or the socket refuses it; counters count datagrams either way.
    """

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
        self.gso = sys.platform == "linux" and sock.family in (socket.AF_INET, socket.AF_INET6)
        """Batches leave with UDP GSO (turned off for good by the first refusal)."""
        self.gro = _enable_gro(sock)
        """Arriving datagrams come up coalesced (UDP GRO)."""
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        batch = self._read_coalesced() if self.gro else self._read_single()
        if not batch:
            return
        now = int(self.loop.time() * 1000.0)
        try:
            self._receiver(batch, now)
        except Exception:  # nothing a peer sends may break the loop: count and drop
            self._snmp.InErrs += len(batch)
            logger.exception("pykcp: a receive batch could not be processed")

    def _read_single(self) -> Batch:
        recv_into = self.sock.recvfrom_into
        buffers = _buffers.single
        views = _buffers.single_views
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
                return []
            batch.append((views[index][:size], addr))
        return batch

    def _read_coalesced(self) -> Batch:
        recvmsg_into = self.sock.recvmsg_into
        arena = _buffers.arena
        last = len(arena) - _GRO_BUFFER
        offset = 0
        batch: Batch = []
        for _ in range(MAX_DRAIN):  # (bounded even if every read fails transiently)
            if offset > last or len(batch) >= MAX_DRAIN:
                break
            try:
                size, ancillary, flags, addr = recvmsg_into(
                    [arena[offset : offset + _GRO_BUFFER]], _GRO_ANCILLARY
                )
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in TRANSIENT_ERRORS:
                    continue
                self._on_error(exc)
                return []
            step = size
            for level, kind, data in ancillary:
                if level == SOL_UDP and kind == UDP_GRO and len(data) >= _GRO_SIZE.size:
                    step = _GRO_SIZE.unpack_from(data)[0] or size
            if flags & socket.MSG_TRUNC:
                self._snmp.InErrs += 1  # longer than any datagram a KCP peer sends
                continue
            if not size:  # an empty datagram: passed up as one, as a plain read does
                batch.append((arena[offset:offset], addr))
                continue
            end = offset + size
            for start in range(offset, end, step):
                batch.append((arena[start : min(start + step, end)], addr))
            offset = end
        return batch

    def send(self, datagrams: Sequence[bytes | bytearray], addr: Address, snmp: Snmp) -> None:
        """Send *datagrams* to *addr*; counts what left in *snmp*.

        A full socket buffer drops a datagram (KCP retransmits it); other transient errors are
        logged at debug level. A fatal error ends the endpoint through its error callback.
        """
        if self.closed:
            return
        target = None if addr is self.connected_to else addr
        count = len(datagrams)
        sent = octets = 0
        index = 0
        while index < count:
            first = len(datagrams[index])
            end = index + 1
            if self.gso and count > 1:
                # A run of equal-sized datagrams (the last one may be shorter) in one call.
                total = first
                while end < count and end - index < _GSO_MAX_SEGMENTS:
                    size = len(datagrams[end])
                    if size > first or total + size > _GSO_MAX_BYTES:
                        break
                    total += size
                    end += 1
                    if size < first:
                        break
            try:
                if end - index > 1:
                    self._send_segmented(datagrams[index:end], first, target)
                elif target is None:
                    self.sock.send(datagrams[index])
                else:
                    self.sock.sendto(datagrams[index], target)
            except (BlockingIOError, InterruptedError):
                index = end
                continue  # socket buffer full: KCP retransmits what is lost here
            except OSError as exc:
                if end - index > 1 and exc.errno in _GSO_ERRORS:
                    self.gso = False  # this socket or path cannot segment: one by one
                    logger.debug("pykcp: UDP GSO refused (%s): sending datagrams singly", exc)
                    continue
                if exc.errno in TRANSIENT_ERRORS or not self._fatal_send_errors:
                    logger.debug("pykcp: sending to %r failed: %s", addr, exc)
                    index = end
                    continue
                self._on_error(exc)
                return
            for datagram in datagrams[index:end]:
                octets += len(datagram)
            sent += end - index
            index = end
        snmp.OutPkts += sent
        snmp.OutBytes += octets

    def _send_segmented(
        self, datagrams: Sequence[bytes | bytearray], size: int, target: Address
    ) -> None:
        control = [(SOL_UDP, UDP_SEGMENT, _SEGMENT_SIZE.pack(size))]
        if target is None:
            self.sock.sendmsg(datagrams, control)
        else:
            self.sock.sendmsg(datagrams, control, 0, target)

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
