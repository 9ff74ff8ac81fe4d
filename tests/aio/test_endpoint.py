"""The endpoint's batched socket I/O: UDP GSO out, UDP GRO in, and the one-by-one fallback."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys

import pytest

from pykcp.aio.endpoint import MAX_DRAIN, SOL_UDP, UDP_SEGMENT, Batch, Endpoint
from pykcp.core.snmp import Snmp
from tests.helpers import run

LINUX = sys.platform == "linux"


def _datagrams() -> list[bytes]:
    """Runs of equal sizes, shorter tails, a lone big one, tiny ones: every grouping case."""
    sizes = [1200] * 70 + [900] + [1200] * 3 + [1400, 30, 30, 30] + [1000] * 5 + [7]
    return [bytes([i % 256]) * size for i, size in enumerate(sizes)]


async def _exchange(*, gso: bool, gro: bool) -> tuple[list[bytes], Snmp, Endpoint]:
    loop = asyncio.get_running_loop()
    received: list[bytes] = []
    arrived = asyncio.Event()
    expected = _datagrams()

    def receiver(batch: Batch, now: int) -> None:
        received.extend(bytes(view) for view, _ in batch)
        if len(received) >= len(expected):
            arrived.set()

    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in (a, b):
        sock.bind(("127.0.0.1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    snmp = Snmp()
    sender = Endpoint(loop, a, owned=True, receiver=lambda *_: None, on_error=print, snmp=snmp)
    target = Endpoint(loop, b, owned=True, receiver=receiver, on_error=print, snmp=Snmp())
    sender.gso = sender.gso and gso
    if not gro and target.gro:
        b.setsockopt(SOL_UDP, 104, 0)
        target.gro = False
    try:
        sender.send(expected, b.getsockname(), snmp)
        await asyncio.wait_for(arrived.wait(), 5)
    finally:
        sender.close()
        target.close()
    return received, snmp, sender


@pytest.mark.parametrize(
    ("gso", "gro"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_every_datagram_arrives_whole_and_in_order(gso: bool, gro: bool) -> None:
    received, snmp, sender = run(lambda: _exchange(gso=gso, gro=gro))
    expected = _datagrams()
    assert received == expected
    assert snmp.OutPkts == len(expected)
    assert snmp.OutBytes == sum(map(len, expected))
    if LINUX and gso:
        assert sender.gso  # loopback segments: no fallback was needed


@pytest.mark.skipif(not LINUX, reason="UDP GRO is Linux's")
def test_gro_splits_a_coalesced_read_at_the_segment_size() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        got: list[tuple[bytes, object]] = []
        done = asyncio.Event()

        def receiver(batch: Batch, now: int) -> None:
            got.extend((bytes(view), addr) for view, addr in batch)
            if len(got) >= 11:
                done.set()

        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b.bind(("127.0.0.1", 0))
        target = Endpoint(loop, b, owned=True, receiver=receiver, on_error=print, snmp=Snmp())
        assert target.gro
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            parts = [os.urandom(1000) for _ in range(10)] + [b"short"]
            control = [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", 1000))]
            a.sendmsg(parts, control, 0, b.getsockname())
            await asyncio.wait_for(done.wait(), 5)
            assert [data for data, _ in got] == parts
            assert {addr for _, addr in got} == {a.getsockname()}
        target.close()

    run(main)


@pytest.mark.parametrize("gro", [True, False])
def test_one_readable_callback_drains_many_peers(gro: bool) -> None:
    # GRO merges one flow's datagrams only: a listener's reads mostly return one datagram
    # each. A callback must still drain up to MAX_DRAIN of them (it drained 16 with GRO, and
    # a busy listener's socket overflowed between callbacks).
    peers = MAX_DRAIN + 44

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        batches: list[int] = []
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b.bind(("127.0.0.1", 0))
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        target = Endpoint(
            loop, b, owned=True, receiver=lambda batch, now: batches.append(len(batch)),
            on_error=print, snmp=Snmp(),
        )  # fmt: skip
        if not gro and target.gro:
            b.setsockopt(SOL_UDP, 104, 0)
            target.gro = False
        assert target.gro == (gro and LINUX)
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(peers)]
        try:
            # All sent before the loop first polls the socket: one readable event sees them.
            for index, sock in enumerate(senders):
                sock.sendto(bytes([index % 256]) * 120, b.getsockname())
            for _ in range(200):
                if sum(batches) == peers:
                    break
                await asyncio.sleep(0.01)
        finally:
            for sock in senders:
                sock.close()
            target.close()
        return batches

    batches = run(main)
    assert batches == [MAX_DRAIN, peers - MAX_DRAIN]


@pytest.mark.parametrize("gro", [True, False])
def test_an_empty_datagram_is_passed_up_like_any_other(gro: bool) -> None:
    # Anyone can send a zero-length datagram; the GRO read once raised on it (a zero segment
    # size) inside the event loop. The layers above count it as a drop.
    async def main() -> tuple[list[bytes], list[dict[str, object]]]:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _, context: errors.append(context))
        got: list[bytes] = []
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b.bind(("127.0.0.1", 0))
        target = Endpoint(
            loop, b, owned=True, receiver=lambda batch, now: got.extend(bytes(v) for v, _ in batch),
            on_error=print, snmp=Snmp(),
        )  # fmt: skip
        if not gro and target.gro:
            b.setsockopt(SOL_UDP, 104, 0)
            target.gro = False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            for data in (b"", b"after", b""):
                a.sendto(data, b.getsockname())
            for _ in range(100):
                if len(got) == 3:
                    break
                await asyncio.sleep(0.01)
        target.close()
        return got, errors

    got, errors = run(main)
    assert got == [b"", b"after", b""] and errors == []


def test_a_socket_that_refuses_gso_falls_back_to_one_datagram_per_call() -> None:
    class Refusing(socket.socket):
        def sendmsg(self, *args: object, **kwargs: object) -> int:
            raise OSError(5, "Input/output error")  # EIO: the path cannot segment

    async def main() -> None:
        loop = asyncio.get_running_loop()
        received: list[bytes] = []
        a = Refusing(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        snmp = Snmp()
        sender = Endpoint(loop, a, owned=True, receiver=lambda *_: None, on_error=print, snmp=snmp)

        def receiver(batch: Batch, now: int) -> None:
            received.extend(bytes(view) for view, _ in batch)

        target = Endpoint(loop, b, owned=True, receiver=receiver, on_error=print, snmp=Snmp())
        datagrams = [bytes([i]) * 500 for i in range(20)]
        sender.gso = True
        sender.send(datagrams, b.getsockname(), snmp)
        assert not sender.gso
        for _ in range(100):
            if len(received) == 20:
                break
            await asyncio.sleep(0.01)
        assert received == datagrams and snmp.OutPkts == 20
        sender.close()
        target.close()

    run(main)
