"""The asyncio API over real UDP on loopback: kcp-go's sess_test.go scenarios and more."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

import pykcp
from pykcp import (
    DEFAULT_SNMP,
    Config,
    KCPError,
    KCPSession,
    KCPTimeoutError,
    PeerGoneError,
    SessionClosedError,
)
from pykcp.tools.relay import LossyRelay
from tests.helpers import echo_handler, ipv6_loopback, run

KEY = "testkey"
# sess_test.go uses salsa20 with FEC 10/3, windows 1024, fast3 timing.
ECHO = Config.preset(
    "fast3", crypt="salsa20", key=KEY, data_shards=10, parity_shards=3, sndwnd=1024, rcvwnd=1024
)
PLAIN = Config.preset("fast3", sndwnd=1024, rcvwnd=1024)


async def echo_listener(config: Config, host: str = "127.0.0.1") -> pykcp.KCPListener:
    """A kcp-go style listener whose sessions echo everything (handleEcho)."""
    listener = await pykcp.listen((host, 0), config)

    async def serve(session: KCPSession) -> None:
        try:
            while True:
                await session.write(await session.read(65536))
        except KCPError:
            pass

    async def accept_loop() -> None:
        tasks = set()
        try:
            while True:
                session = await listener.accept()
                task = asyncio.create_task(serve(session))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except KCPError:
            pass

    listener._accept_task = asyncio.create_task(accept_loop())  # type: ignore[attr-defined]
    return listener


def port_of(listener: pykcp.KCPListener) -> int:
    return int(listener.local_address[1])


@pytest.mark.parametrize("config", [PLAIN, ECHO], ids=["plain", "salsa20-fec"])
def test_stream_echo(config: Config) -> None:
    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=config) as srv:
            port = srv.sockets[0].getsockname()[1]
            reader, writer = await pykcp.open_connection("127.0.0.1", port, config=config)
            payload = os.urandom(300_000)
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
            writer.close()
            await writer.wait_closed()

    run(main)


def test_send_recv_messages_with_write_delay() -> None:
    """TestSendRecv: 100 small messages, write delay on."""

    async def main() -> None:
        listener = await echo_listener(ECHO)
        async with await pykcp.dial(("127.0.0.1", port_of(listener)), ECHO) as client:
            client.set_write_delay(True)
            for i in range(100):
                message = f"hello{i}".encode()
                await client.write(message)
                assert await client.read(10) == message
        listener.close()

    run(main)


def test_write_buffers() -> None:
    """TestSendVector."""

    async def main() -> None:
        listener = await echo_listener(ECHO)
        async with await pykcp.dial(f"127.0.0.1:{port_of(listener)}", ECHO) as client:
            for i in range(50):
                await client.write_buffers([f"hello{i}".encode(), f"world{i}".encode()])
                assert await client.read(20) == f"hello{i}world{i}".encode()
        listener.close()

    run(main)


def test_tiny_buffer_receiver() -> None:
    """TestTinyBufferReceiver: 7-byte writes and reads, byte counter must stay in order."""

    async def main() -> None:
        config = Config(crypt="salsa20", key=KEY, data_shards=10, parity_shards=3)
        listener = await echo_listener(config)
        client = await pykcp.dial(("127.0.0.1", port_of(listener)), config)
        sent = received = 0
        for _ in range(100):
            chunk = bytes((sent + i) & 0xFF for i in range(7))
            sent += 7
            await client.write(chunk)
            data = await client.readexactly(7)
            assert data == bytes((received + i) & 0xFF for i in range(7))
            received += 7
        client.close()
        listener.close()

    run(main)


def test_close_semantics() -> None:
    """TestClose: double close, write after close, data still readable after close."""

    async def main() -> None:
        listener = await echo_listener(ECHO)
        port = port_of(listener)
        client = await pykcp.dial(("127.0.0.1", port), ECHO)
        client.close()
        with pytest.raises(SessionClosedError):
            client.close()
        with pytest.raises(SessionClosedError):
            await client.write(b"x" * 10)

        client = await pykcp.dial(("127.0.0.1", port), ECHO)
        await client.write(b"0123456789")
        for _ in range(200):
            if client.readable:
                break
            await asyncio.sleep(0.01)
        client.close()
        assert await client.readexactly(10) == b"0123456789"
        with pytest.raises(SessionClosedError):
            await client.read(10)
        listener.close()

    run(main)


def test_server_side_close_ends_the_client_stream_reader_only_locally() -> None:
    """Closing either side is local (KCP has no FIN); the closing side's reader sees EOF."""

    async def main() -> None:
        closed = asyncio.Event()
        server_writers: list[asyncio.StreamWriter] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server_writers.append(writer)
            if len(server_writers) > 1:
                return  # the client's late ACKs re-create a session, as in kcp-go
            await reader.readexactly(4)
            writer.write(b"bye!")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            assert await reader.read() == b""  # local close: EOF
            closed.set()

        server = await pykcp.start_server(handler, "127.0.0.1", 0, config=PLAIN)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await pykcp.open_connection("127.0.0.1", port, config=PLAIN)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"bye!"
        await closed.wait()
        assert server_writers[0].transport.is_closing()
        assert server.listener.sessions == frozenset()
        writer.close()
        assert await reader.read() == b""
        server.close()
        await server.wait_closed()

    run(main)


def test_read_and_write_deadlines() -> None:
    """TestTimeout: a read with nothing to read fails at the deadline; so does a write when
    the send window stays full (nobody acknowledges)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            config = Config(sndwnd=4, rcvwnd=4)
            client = await pykcp.dial(silent.getsockname(), config)
            client.set_deadline(loop.time() + 0.2)
            with pytest.raises(KCPTimeoutError):
                await client.read(10)
            with pytest.raises(TimeoutError):  # a builtin TimeoutError too
                await client.read(10)
            client.set_read_deadline(None)
            client.set_write_deadline(loop.time() + 0.3)
            with pytest.raises(KCPTimeoutError):
                for _ in range(10):
                    await client.write(b"x" * 3000)
            # A deadline set while a read waits wakes it up.
            client.set_read_deadline(None)
            pending = asyncio.create_task(client.read(1))
            await asyncio.sleep(0.05)
            client.set_read_deadline(loop.time())
            with pytest.raises(KCPTimeoutError):
                await pending
            client.close()
        finally:
            silent.close()

    run(main)


def test_many_parallel_clients() -> None:
    """TestParallel1024CLIENT_64BMSG_64CNT scaled down: 128 clients x 16 messages of 64 bytes."""

    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=PLAIN) as srv:
            port = srv.sockets[0].getsockname()[1]

            async def client(index: int) -> None:
                reader, writer = await pykcp.open_connection("127.0.0.1", port, config=PLAIN)
                for count in range(16):
                    message = (f"{index}:{count}:".encode() * 16)[:64]
                    writer.write(message)
                    assert await reader.readexactly(64) == message
                writer.close()

            await asyncio.gather(*(client(i) for i in range(128)))
            assert len(srv.listener.sessions) == 128

    run(main, timeout=40)


def test_listener_accept_deadline_and_close() -> None:
    """TestListenerClose: accept times out at the deadline; accept after close fails."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = await pykcp.listen(("127.0.0.1", 0), Config(data_shards=10, parity_shards=3))
        listener.set_deadline(loop.time() + 0.1)
        with pytest.raises(KCPTimeoutError):
            await listener.accept()
        with pytest.raises(KCPError):
            listener.set_write_deadline(loop.time() + 1)
        listener.set_deadline(None)
        waiting = asyncio.create_task(listener.accept())
        await asyncio.sleep(0.01)
        listener.close()
        with pytest.raises(SessionClosedError):
            await waiting
        with pytest.raises(SessionClosedError):
            await listener.accept()
        with pytest.raises(SessionClosedError):
            listener.close()

    run(main)


def test_listener_socket_ownership() -> None:
    """TestListenerOwnedPacketConn / NonOwnedPacketConn."""

    async def main() -> None:
        owned = await pykcp.listen(("127.0.0.1", 0))
        owned_socket = owned.socket
        owned.close()
        assert owned_socket.fileno() == -1

        borrowed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        borrowed.bind(("127.0.0.1", 0))
        try:
            listener = await pykcp.listen(sock=borrowed, config=PLAIN)
            client = await pykcp.dial(borrowed.getsockname(), PLAIN)
            await client.write(b"served over a borrowed socket")
            session = await listener.accept()
            assert await session.read() == b"served over a borrowed socket"
            listener.close()
            assert borrowed.fileno() != -1
            client.close()
        finally:
            borrowed.close()

    run(main)


def test_session_socket_ownership() -> None:
    """TestUDPSessionOwnedPacketConn / NonOwnedPacketConn (NewConn over a caller socket)."""

    async def main() -> None:
        listener = await echo_listener(PLAIN)
        owned = await pykcp.dial(("127.0.0.1", port_of(listener)), PLAIN)
        owned.local_address  # noqa: B018 - the socket is open
        owned.close()
        with pytest.raises(OSError):
            owned.local_address  # noqa: B018 - closed with the session

        borrowed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        borrowed.bind(("127.0.0.1", 0))
        try:
            client = await pykcp.dial(
                ("127.0.0.1", port_of(listener)), PLAIN, sock=borrowed, conv=0xDEADBEEF
            )
            assert client.conv == 0xDEADBEEF
            assert client.local_address == borrowed.getsockname()
            await client.write(b"new conn")
            assert await client.readexactly(8) == b"new conn"
            client.close()
            assert borrowed.fileno() != -1
        finally:
            borrowed.close()
        listener.close()

    run(main)


def test_snmp_counts() -> None:
    """TestSNMP plus real numbers: per-session counters fold into DEFAULT_SNMP."""

    async def main() -> None:
        before = DEFAULT_SNMP.copy()
        listener = await echo_listener(PLAIN)
        client = await pykcp.dial(("127.0.0.1", port_of(listener)), PLAIN)
        await client.write(b"x" * 10_000)
        assert len(await client.readexactly(10_000)) == 10_000
        snmp = client.snmp
        assert snmp.ActiveOpens == 1
        assert snmp.BytesSent == snmp.BytesReceived == 10_000
        assert snmp.OutPkts >= 8 and snmp.InPkts >= 8
        assert snmp.OutBytes >= 10_000 and snmp.InBytes >= 10_000
        assert snmp.OutSegs >= 8 and snmp.InSegs >= 8
        assert DEFAULT_SNMP.CurrEstab >= before.CurrEstab + 2
        assert DEFAULT_SNMP.MaxConn >= DEFAULT_SNMP.CurrEstab
        client.close()
        listener.close()
        after = DEFAULT_SNMP
        assert after.CurrEstab == before.CurrEstab
        assert after.ActiveOpens == before.ActiveOpens + 1
        assert after.PassiveOpens == before.PassiveOpens + 1
        assert after.BytesSent >= before.BytesSent + 20_000
        assert len(after.header()) == len(after.to_list())

    run(main)


def test_single_8mib_write() -> None:
    async def main() -> None:
        total = 0
        done = asyncio.Event()
        size = 8 * 1024 * 1024

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal total
            while total < size:
                total += len(await reader.read(1 << 20))
            done.set()

        async with await pykcp.start_server(sink, "127.0.0.1", 0, config=PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            _, writer = await pykcp.open_connection("127.0.0.1", port, config=PLAIN)
            writer.write(os.urandom(size))
            await writer.drain()
            await done.wait()
            assert total == size
            writer.close()

    run(main, timeout=40)


def test_slow_reader_backpressure_bounds_memory() -> None:
    """A reader that stops reading closes the KCP window; the writer's drain() then blocks
    with a bounded send queue; everything arrives once the reader resumes."""

    async def main() -> None:
        config = Config.preset("fast3", sndwnd=64, rcvwnd=64)
        resume = asyncio.Event()
        received = bytearray()
        server_transports: list[asyncio.BaseTransport] = []

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server_transports.append(writer.transport)
            received.extend(await reader.readexactly(1000))
            await resume.wait()
            while len(received) < 4_000_000:
                received.extend(await reader.read(1 << 16))

        async with await pykcp.start_server(slow, "127.0.0.1", 0, config=config) as server:
            port = server.sockets[0].getsockname()[1]
            _, writer = await pykcp.open_connection("127.0.0.1", port, config=config)
            client = writer.transport.get_extra_info("kcp_session")
            chunk = os.urandom(50_000)
            payload = chunk * 80
            writes = 0

            async def writer_task() -> None:
                nonlocal writes
                for start in range(0, len(payload), len(chunk)):
                    writer.write(payload[start : start + len(chunk)])
                    await writer.drain()
                    writes += 1

            task = asyncio.create_task(writer_task())
            await asyncio.sleep(1.0)
            assert not task.done()  # drain() is holding the writer back
            assert writes < 40
            # Bounded: the send queue stays within 2 x window + one write, the peer's KCP
            # receive queue within its window, the StreamReader within its limit.
            stats = client.stats()
            assert stats.in_flight + stats.send_queue <= 2 * 64 + len(chunk) // stats.mss + 1
            peer = server_transports[0].get_extra_info("kcp_session").stats()
            assert peer.recv_queue <= 64
            resume.set()
            await task
            while len(received) < len(payload):
                await asyncio.sleep(0.02)
            assert bytes(received) == payload
            writer.close()

    run(main, timeout=40)


def test_junk_at_a_listener_with_a_cipher_creates_nothing() -> None:
    async def main() -> None:
        config = Config(crypt="aes", key=KEY)
        listener = await pykcp.listen(("127.0.0.1", 0), config)
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for size in (1, 12, 20, 24, 100, 1400, 1500, 2000):
                junk.sendto(os.urandom(size), listener.local_address)
            for _ in range(100):
                if listener.snmp.InCsumErrors >= 5:
                    break
                await asyncio.sleep(0.01)
            assert listener.snmp.InCsumErrors >= 5
            assert listener.sessions == frozenset()
            # The listener still works for a real client afterwards.
            client = await pykcp.dial(listener.local_address, config)
            await client.write(b"real")
            session = await listener.accept()
            assert await session.read() == b"real"
            client.close()
        finally:
            junk.close()
            listener.close()

    run(main)


def test_junk_without_crypto_is_counted() -> None:
    async def main() -> None:
        listener = await pykcp.listen(("127.0.0.1", 0), Config())
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            junk.sendto(b"\x00" * 8, listener.local_address)
            junk.sendto(b"\xff" * 64, listener.local_address)  # readable conv: kcp-go accepts
            session = await listener.accept()
            assert session.conv == 0xFFFFFFFF
            for _ in range(100):
                if session.snmp.KCPInErrors:
                    break
                await asyncio.sleep(0.01)
            assert session.snmp.KCPInErrors == 1
            assert listener.snmp.KCPInErrors == 1
        finally:
            junk.close()
            listener.close()

    run(main)


def test_errors_in_datagram_handling_never_reach_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from pykcp.aio import server
    from pykcp.core.listener import ListenerCore

    class Exploding(ListenerCore):  # (a subclass: compiled classes cannot be patched)
        def receive_datagrams(self, batch: Any, now: int) -> list[Any]:
            raise RuntimeError("bug in the pipeline")

    async def main() -> None:
        errors: list[Any] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        monkeypatch.setattr(server, "ListenerCore", Exploding)
        listener = await pykcp.listen(("127.0.0.1", 0))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for _ in range(3):
                sender.sendto(b"x" * 30, listener.local_address)
            for _ in range(100):
                if listener.snmp.InErrs >= 3:
                    break
                await asyncio.sleep(0.01)
            assert listener.snmp.InErrs == 3
            assert errors == []
        finally:
            sender.close()
            listener.close()

    run(main)


def test_vanished_peer_raises_peer_gone_within_idle_timeout() -> None:
    async def main() -> None:
        listener = await echo_listener(PLAIN)
        relay = await LossyRelay.start(listener.local_address)
        config = PLAIN.replace(idle_timeout=1.0)
        client = await pykcp.dial(relay.address, config)
        await client.write(b"hello")
        assert await client.readexactly(5) == b"hello"
        relay.blackhole = True
        # (The exact moment is checked with simulated time in test_session_core.)
        with pytest.raises(PeerGoneError):
            await client.read()
        assert client.closed
        with pytest.raises(PeerGoneError):
            await client.write(b"x")
        relay.close()
        listener.close()

    run(main)


def test_vanished_peer_ends_the_stream_with_peer_gone() -> None:
    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=PLAIN) as srv:
            relay = await LossyRelay.start(srv.sockets[0].getsockname())
            config = PLAIN.replace(dead_link_timeout=1.0)
            reader, writer = await pykcp.open_connection(*relay.address, config=config)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            relay.blackhole = True
            writer.write(b"lost")  # never acknowledged: the dead-link clock runs
            with pytest.raises(PeerGoneError):
                await reader.read(10)
            relay.close()

    run(main)


@pytest.mark.parametrize("fec", [False, True], ids=["arq-only", "fec-10-3"])
def test_transfer_through_a_lossy_link(fec: bool) -> None:
    async def main() -> None:
        config = Config.preset(
            "fast3",
            crypt="aes",
            key=KEY,
            data_shards=10 if fec else 0,
            parity_shards=3 if fec else 0,
            sndwnd=256,
            rcvwnd=256,
        )
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=config) as srv:
            relay = await LossyRelay.start(srv.sockets[0].getsockname(), loss=0.1, seed=7)
            reader, writer = await pykcp.open_connection(*relay.address, config=config)
            payload = os.urandom(400_000)
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
            snmp = writer.transport.get_extra_info("kcp_session").snmp
            assert relay.dropped > 0
            assert snmp.RetransSegs + snmp.FECRecovered > 0
            if fec:
                (server_session,) = srv.listener.sessions
                assert snmp.FECRecovered + server_session.snmp.FECRecovered > 0
            writer.close()
            relay.close()

    run(main, timeout=40)


@pytest.mark.skipif(not ipv6_loopback(), reason="::1 unavailable")
def test_ipv6_echo() -> None:
    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "::1", 0, config=ECHO) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await pykcp.open_connection("::1", port, config=ECHO)
            writer.write(b"over IPv6")
            assert await reader.readexactly(9) == b"over IPv6"
            assert writer.get_extra_info("peername")[0] == "::1"
            writer.close()

    run(main)


@pytest.mark.skipif(not ipv6_loopback(), reason="::1 unavailable")
def test_dual_stack_listener_serves_ipv4() -> None:
    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "::", 0, config=PLAIN) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await pykcp.open_connection("127.0.0.1", port, config=PLAIN)
            writer.write(b"v4 to dual stack")
            assert await reader.readexactly(16) == b"v4 to dual stack"
            writer.close()

    run(main)


def test_server_object_behaves_like_asyncio_server() -> None:
    async def main() -> None:
        server = await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=PLAIN)
        assert server.is_serving() and len(server.sockets) == 1
        assert server.get_loop() is asyncio.get_running_loop()
        forever = asyncio.create_task(server.serve_forever())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await pykcp.open_connection("127.0.0.1", port, config=PLAIN)
        writer.write(b"hi")
        assert await reader.readexactly(2) == b"hi"
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await forever
        assert not server.is_serving() and server.sockets == ()
        await server.wait_closed()
        writer.close()

    run(main)


def test_setters_mirror_kcp_go() -> None:
    async def main() -> None:
        listener = await echo_listener(PLAIN)
        client = await pykcp.dial(("127.0.0.1", port_of(listener)), PLAIN)
        client.set_nodelay(1, 10, 2, 1)
        client.set_window_size(128, 256)
        assert client.window_size == (128, 256)
        assert client.set_mtu(1200) and client.mss == 1176
        assert not client.set_mtu(20)
        client.set_stream_mode(True)
        client.set_ack_nodelay(True)
        client.set_write_delay(False)
        client.set_dscp(46)
        client.set_read_buffer(1 << 20)
        client.set_write_buffer(1 << 20)
        await client.write(b"y" * 5000)
        assert len(await client.readexactly(5000)) == 5000
        assert client.rto > 0 and client.srtt >= 0
        assert client.remote_address[1] == port_of(listener)
        server_session = next(iter(listener.sessions))
        with pytest.raises(KCPError):
            server_session.set_dscp(46)
        client.close()
        listener.close()

    run(main)
