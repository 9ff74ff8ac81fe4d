"""A seeded lossy, delaying, reordering UDP relay (``pykcp relay``, the demo, interop tests).

Clients send to the relay's address; it forwards each datagram to *upstream* from one socket
per client (so the server still sees distinct peers) and sends the replies back. Every
datagram, either way, is dropped with probability ``loss`` and otherwise delivered after
``delay_ms`` plus a uniform jitter of up to ``jitter_ms``; datagrams whose jitter differs by
more than their gap overtake each other, so the link reorders. All draws come from one
``random.Random(seed)``, so a run can be replayed (up to the kernel's scheduling). Setting
:attr:`LossyRelay.blackhole` drops everything, which looks like a peer that vanished.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from typing import Any

__all__ = ["LossyRelay"]

Address = Any
# A full KCP window (1024 datagrams) arrives as one burst: the relay's sockets must hold it, or
# the kernel adds loss nobody asked for.
_BUFFER = 4 * 1024 * 1024
_MAX_DRAIN = 1024


def _big_socket(bind: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        for option, forced in (
            (socket.SO_RCVBUF, getattr(socket, "SO_RCVBUFFORCE", None)),
            (socket.SO_SNDBUF, getattr(socket, "SO_SNDBUFFORCE", None)),
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, forced or option, _BUFFER)
            except OSError:  # not privileged: as large as the OS allows
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER)
        sock.bind(tuple(bind[:2]))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class LossyRelay:
    """See the module docstring. Create with :meth:`start`; :meth:`close` when done."""

    def __init__(
        self, upstream: Address, *, loss: float, delay_ms: float, jitter_ms: float, seed: int
    ) -> None:
        if not 0.0 <= loss < 1.0:
            raise ValueError("loss must be in [0, 1)")
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError("delay and jitter must be >= 0")
        self.upstream = tuple(upstream[:2])
        self.loss = loss
        self.delay = delay_ms / 1000
        self.jitter = jitter_ms / 1000
        self.rng = random.Random(seed)
        self.blackhole = False
        self.forwarded = 0
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._front: socket.socket | None = None
        self._backs: dict[Address, socket.socket] = {}

    @classmethod
    async def start(
        cls,
        upstream: Address,
        *,
        loss: float = 0.0,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int = 1,
        listen: Address = ("127.0.0.1", 0),
    ) -> LossyRelay:
        """Bind the relay's front socket on *listen* and start forwarding to *upstream*."""
        relay = cls(upstream, loss=loss, delay_ms=delay_ms, jitter_ms=jitter_ms, seed=seed)
        loop = asyncio.get_running_loop()
        relay._loop = loop
        front = _big_socket(listen)
        relay._front = front
        loop.add_reader(front.fileno(), relay._front_readable)
        return relay

    @property
    def address(self) -> Address:
        """Where clients send (host, port)."""
        assert self._front is not None
        return self._front.getsockname()[:2]

    def _front_readable(self) -> None:
        front = self._front
        assert front is not None and self._loop is not None
        for _ in range(_MAX_DRAIN):
            try:
                data, client = front.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error of an earlier send
            back = self._backs.get(client)
            if back is None:
                host = self.upstream[0]
                back = _big_socket(("::", 0) if ":" in host else ("0.0.0.0", 0))
                self._backs[client] = back
                self._loop.add_reader(back.fileno(), self._back_readable, back, client)
            self._forward(data, back, self.upstream)

    def _back_readable(self, back: socket.socket, client: Address) -> None:
        front = self._front
        if front is None:
            return
        for _ in range(_MAX_DRAIN):
            try:
                data = back.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            self._forward(data, front, client)

    def _forward(self, data: bytes, sock: socket.socket, addr: Address) -> None:
        rng = self.rng
        if self.blackhole or (self.loss and rng.random() < self.loss):
            self.dropped += 1
            return
        self.forwarded += 1
        delay = self.delay + (rng.random() * self.jitter if self.jitter else 0.0)
        if delay <= 0:
            _send(sock, data, addr)
            return
        assert self._loop is not None
        self._loop.call_later(delay, _send, sock, data, addr)

    def close(self) -> None:
        """Close every socket of the relay (datagrams still in flight are lost)."""
        loop = self._loop
        socks = list(self._backs.values())
        if self._front is not None:
            socks.append(self._front)
        self._front = None
        self._backs.clear()
        for sock in socks:
            if loop is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(sock.fileno())
            sock.close()


def _send(sock: socket.socket, data: bytes, addr: Address) -> None:
    if sock.fileno() < 0:
        return  # closed meanwhile
    with contextlib.suppress(OSError):  # a full buffer or an ICMP error is just more loss
        sock.sendto(data, addr)
