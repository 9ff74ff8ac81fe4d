"""A seeded lossy UDP relay for session tests.

Clients send to :attr:`LossyRelay.address`; the relay forwards to *upstream* from one socket
per client (so the server still sees distinct peers) and sends replies back. Each datagram,
either way, is dropped with probability *loss* drawn from ``random.Random(seed)``, so a failing
run can be replayed. Setting :attr:`blackhole` drops everything (a peer that vanished).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

Address = Any


class _Back(asyncio.DatagramProtocol):
    """The relay's socket toward upstream on behalf of one client."""

    def __init__(self, relay: LossyRelay, client: Address) -> None:
        self.relay = relay
        self.client = client
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._forward(data, self.relay._front, self.client, upstream=False)


class _Front(asyncio.DatagramProtocol):
    def __init__(self, relay: LossyRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_client(data, addr)


class LossyRelay:
    """See the module docstring. Create with :meth:`start`."""

    def __init__(self, upstream: Address, loss: float, seed: int) -> None:
        self.upstream = upstream
        self.loss = loss
        self.rng = random.Random(seed)
        self.blackhole = False
        self.forwarded = 0
        self.dropped = 0
        self._front: Any = None
        self._backs: dict[Address, _Back] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(
        cls, upstream: Address, *, loss: float = 0.0, seed: int = 1, host: str = "127.0.0.1"
    ) -> LossyRelay:
        relay = cls(upstream, loss, seed)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Front(relay), local_addr=(host, 0)
        )
        relay._front = transport
        return relay

    @property
    def address(self) -> Address:
        assert self._front is not None
        return self._front.get_extra_info("sockname")[:2]

    def _from_client(self, data: bytes, client: Address) -> None:
        back = self._backs.get(client)
        if back is None:
            back = self._backs[client] = _Back(self, client)
            self._pending[client] = [data]
            task = asyncio.get_running_loop().create_task(self._open_back(back))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if back.transport is None:
            self._pending[client].append(data)
            return
        self._forward(data, back.transport, None, upstream=True)

    async def _open_back(self, back: _Back) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: back, remote_addr=self.upstream[:2])
        assert back.transport is not None
        for data in self._pending.pop(back.client, []):
            self._forward(data, back.transport, None, upstream=True)

    def _forward(
        self,
        data: bytes,
        transport: Any,
        addr: Address,
        *,
        upstream: bool,
    ) -> None:
        if transport is None or transport.is_closing():
            return
        if self.blackhole or (self.loss and self.rng.random() < self.loss):
            self.dropped += 1
            return
        self.forwarded += 1
        if upstream:
            transport.sendto(data)
        else:
            transport.sendto(data, addr)

    def close(self) -> None:
        if self._front is not None:
            self._front.close()
        for back in self._backs.values():
            if back.transport is not None:
                back.transport.close()
        self._backs.clear()
