"""Hostile peers and careless callers on loopback: bounded servers, liveness that junk cannot
fake, failures that stay inside one session, and the small API edges (issue #12)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from typing import Any

import pytest

import pykcp
from pykcp import DEFAULT_SNMP, Config, PeerGoneError, SessionClosedError
from pykcp.core.session import Session
from tests.helpers import echo_handler, run


def _push(conv: int, sn: int, data: bytes = b"hi") -> bytes:
    return struct.pack("<IBBHIIII", conv, 81, 0, 32, 0, sn, 0, len(data)) + data


def _spray(port: int, datagrams: int, make: Any) -> int:
    """Send one datagram from each of *datagrams* fresh source ports; the bytes sent."""
    total = 0
    for index in range(datagrams):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            payload = make(index)
            sock.sendto(payload, ("127.0.0.1", port))
            total += len(payload)
    return total


def test_a_spoofed_flood_is_bounded_and_reaped() -> None:
    """One datagram from each of 2,000 sources: at most accept_backlog sessions exist at
    once, none outlives establish_timeout, and what goes back stays under 3x the flood."""
    config = Config(accept_backlog=64, establish_timeout=1.0, keepalive=None)

    async def main() -> None:
        handlers = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal handlers
            handlers += 1
            await echo_handler(reader, writer)

        async with await pykcp.start_server(handler, "127.0.0.1", 0, config=config) as srv:
            port = srv.sockets[0].getsockname()[1]
            listener = srv.listener
            loop = asyncio.get_running_loop()
            sent = await loop.run_in_executor(
                None, _spray, port, 2000, lambda i: _push(i + 1, 0, os.urandom(80))
            )
            await asyncio.sleep(0.3)
            assert 0 < len(listener.sessions) <= 64
            assert listener.stats().dropped_full > 1000
            back = sum(s.snmp.OutBytes for s in listener.sessions)
            assert back <= 3 * sent
            for _ in range(100):  # unconfirmed sessions end within establish_timeout
                if not listener.sessions:
                    break
                await asyncio.sleep(0.05)
            assert not listener.sessions
            assert handlers <= 2000

    run(main, timeout=60)


def test_datagrams_a_session_rejects_do_not_keep_it_alive() -> None:
    """Junk and another conversation sprayed at a client every 200 ms: it still sees its
    dead peer gone at the dead-link timeout."""
    config = Config(dead_link_timeout=1.0, idle_timeout=1.0, keepalive=None)

    async def main() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            client = await pykcp.dial(silent.getsockname(), config)
            await client.write(b"anyone?")
            stop = asyncio.Event()

            async def spray() -> None:
                target = client.local_address
                while not stop.is_set():
                    for junk in (bytes(24), _push(client.conv ^ 1, 0), b"\xff" * 40):
                        silent.sendto(junk, target)
                    await asyncio.sleep(0.2)

            task = asyncio.create_task(spray())
            with pytest.raises(PeerGoneError):
                await asyncio.wait_for(client.read(), 5)
            stop.set()
            await task
            assert client.snmp.KCPInErrors > 0
        finally:
            silent.close()

    run(main)


def test_a_failure_inside_one_session_closes_only_that_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in one session's pipeline ends it with the error visible to its reader and
    writer; the scheduler and the other sessions go on."""
    from pykcp.aio import client

    broken: set[int] = set()

    class Flaky(Session):  # (a subclass: compiled classes cannot be patched)
        def datagrams_to_send(self, now: int) -> list[bytearray]:
            if self.conv in broken:
                raise AttributeError("a bug in the pipeline")
            return super().datagrams_to_send(now)

    async def main() -> None:
        monkeypatch.setattr(client, "Session", Flaky)
        listener = await pykcp.listen(("127.0.0.1", 0), Config())
        good = await pykcp.dial(listener.local_address, Config())
        bad = await pykcp.dial(listener.local_address, Config())
        broken.add(bad.conv)
        with pytest.raises(SessionClosedError) as caught:
            await bad.write(b"x")
            await asyncio.wait_for(bad.read(), 5)
        assert isinstance(caught.value.__cause__, AttributeError)
        assert bad.closed
        with pytest.raises(SessionClosedError):
            await bad.write(b"again")
        await good.write(b"still fine")
        peer = await asyncio.wait_for(listener.accept(), 5)
        assert await asyncio.wait_for(peer.read(), 5) == b"still fine"
        listener.close()

    run(main)


def test_read_zero_returns_at_once() -> None:
    async def main() -> None:
        listener = await pykcp.listen(("127.0.0.1", 0), Config())
        client = await pykcp.dial(listener.local_address, Config())
        assert await asyncio.wait_for(client.read(0), 1) == b""
        await client.write(b"pending")
        peer = await asyncio.wait_for(listener.accept(), 5)
        assert await asyncio.wait_for(peer.read(0), 1) == b""
        assert await peer.read() == b"pending"
        listener.close()
        client.close()

    run(main)


@pytest.mark.parametrize("port", [70000, 65536, -1])
def test_ports_out_of_range_raise_overflow_error(port: int) -> None:
    async def main() -> None:
        with pytest.raises(OverflowError):
            await pykcp.listen(("127.0.0.1", port))
        with pytest.raises(OverflowError):
            await pykcp.dial(("127.0.0.1", port))

    run(main)


def test_default_snmp_counts_live_sessions() -> None:
    async def main() -> None:
        before = DEFAULT_SNMP.copy()
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            reader, writer = await pykcp.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            live = DEFAULT_SNMP.copy()
            # Both ends are live and already counted, before anything closed.
            assert live.CurrEstab == before.CurrEstab + 2
            assert live.InPkts >= before.InPkts + 2
            assert live.OutPkts >= before.OutPkts + 2
            assert live.BytesSent >= before.BytesSent + 8
            writer.close()
        after = DEFAULT_SNMP.copy()
        assert after.CurrEstab == before.CurrEstab
        assert after.InPkts >= live.InPkts

    run(main)


def test_the_server_does_not_accept_a_phantom_after_closing() -> None:
    """#12 item 5: the server answers and closes; the client's late ACK must not open a new
    session for the application."""

    async def main() -> None:
        accepted = 0

        async def answer_and_close(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            nonlocal accepted
            accepted += 1
            data = await reader.read(100)
            writer.write(data.upper())
            writer.close()

        async with await pykcp.start_server(answer_and_close, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            for _ in range(20):
                reader, writer = await pykcp.open_connection("127.0.0.1", port)
                writer.write(b"request")
                assert await asyncio.wait_for(reader.readexactly(7), 5) == b"REQUEST"
                await asyncio.sleep(0.05)  # the client's ACK arrives after the close
                writer.close()
            await asyncio.sleep(0.3)
            assert accepted == 20
            assert not srv.listener.sessions

    run(main)
