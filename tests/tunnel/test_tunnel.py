"""pykcp.tunnel in one process: client -> server -> TCP target over 127.0.0.1, plus the
snappy framing, kcptun's settings and the SNMP log."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import cramjam
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pykcp.core.crypt import CIPHER_NAMES, AEADCrypt, AESBlockCrypt, derive_key
from pykcp.core.errors import ConfigError
from pykcp.core.snmp import DEFAULT_SNMP
from pykcp.tunnel import ClientConfig, ServerConfig, TunnelClient, TunnelServer
from pykcp.tunnel.common import (
    SNMP_FIELDS,
    go_time_format,
    pipe,
    snmp_file_name,
    snmp_struct_text,
    write_snmp_row,
)
from pykcp.tunnel.compress import (
    STREAM_IDENTIFIER,
    SnappyError,
    SnappyFrameDecoder,
    SnappyFrameEncoder,
    SnappyProtocol,
)
from pykcp.tunnel.config import KCPTUN_CIPHERS, kcptun_cipher, parse_address, split_host_port
from tests.helpers import KCPTUN_TIMINGS, echo_handler, ipv6_loopback, run

# -- helpers shared with tests/interop/test_kcptun_interop.py --------------------------------

StreamPair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    """A TCP echo target on 127.0.0.1; yields its port."""
    server = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def payload(index: int, size: int) -> bytes:
    """Odd connections carry random bytes, even ones compressible text."""
    if index % 2:
        return random.Random(index).randbytes(size)
    line = f"connection {index} says hello through the tunnel; ".encode()
    return (line * (size // len(line) + 1))[:size]


async def exchange(port: int, index: int, size: int) -> None:
    """Send *size* bytes through the tunnel's TCP port and check the echo byte for byte."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = payload(index, size)
    try:
        received = asyncio.ensure_future(reader.readexactly(size))
        for offset in range(0, size, 50_000):
            writer.write(data[offset : offset + 50_000])
            await writer.drain()
        assert await received == data, f"connection {index}: echo differs"
    finally:
        writer.close()


async def exchange_many(port: int, count: int, size: int) -> None:
    await asyncio.gather(*(exchange(port, i, size) for i in range(count)))


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def tunnel(
    target_port: int,
    *,
    client_options: dict[str, Any] | None = None,
    server_options: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[TunnelClient, TunnelServer]]:
    """A pykcp tunnel client + server in this process; *options* go to both configs (the
    client-only ones to the client), *client_options* / *server_options* to one side."""
    common = {"key": "test key", "quiet": True, **options}
    client_only = {k: common.pop(k) for k in ("conn", "autoexpire", "scavengettl") if k in common}
    server = TunnelServer(
        ServerConfig(
            listen="127.0.0.1:0",
            target=f"127.0.0.1:{target_port}",
            **{**common, **(server_options or {})},
        )
    )
    await server.start()
    client = TunnelClient(
        ClientConfig(
            localaddr="127.0.0.1:0",
            remoteaddr=f"127.0.0.1:{server.local_address[1]}",
            **{**common, **client_only, **(client_options or {})},
        )
    )
    try:
        await client.start()
        yield client, server
    finally:
        await client.close()
        await server.close()


# -- loopback ---------------------------------------------------------------------------------


@pytest.mark.parametrize("smuxver", [1, 2])
@pytest.mark.parametrize("nocomp", [False, True], ids=["snappy", "nocomp"])
def test_loopback_concurrent_connections(nocomp: bool, smuxver: int) -> None:
    """24 TCP connections at once, 256 KiB each way, bytes checked (aes + FEC 10/3)."""

    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, nocomp=nocomp, smuxver=smuxver) as (client, server),
        ):
            await exchange_many(client.local_address[1], 24, 256 * 1024)
            assert len(client.sessions) == 1
            assert len(server.sessions) == 1

    run(main)


def test_loopback_salsa20_without_fec() -> None:
    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, crypt="salsa20", datashard=0, parityshard=0, mode="fast3") as (
                client,
                _,
            ),
        ):
            await exchange_many(client.local_address[1], 4, 100_000)

    run(main)


@pytest.mark.skipif(not ipv6_loopback(), reason="::1 unavailable")
def test_ipv6_addresses_in_brackets() -> None:
    async def main() -> None:
        async with echo_server() as target:
            server = TunnelServer(
                ServerConfig(listen="[::1]:0", target=f"127.0.0.1:{target}", quiet=True)
            )
            await server.start()
            client = TunnelClient(
                ClientConfig(
                    localaddr="[::1]:0",
                    remoteaddr=f"[::1]:{server.local_address[1]}",
                    quiet=True,
                )
            )
            await client.start()
            try:
                assert server.local_address[0] == client.local_address[0] == "::1"
                reader, writer = await asyncio.open_connection(*client.local_address)
                writer.write(b"over IPv6")
                assert await reader.readexactly(9) == b"over IPv6"
                writer.close()
            finally:
                await client.close()
                await server.close()

    run(main)


def test_unix_socket_target(tmp_path: Path) -> None:
    path = str(tmp_path / "target.sock")

    async def main() -> None:
        target = await asyncio.start_unix_server(echo_handler, path)
        try:
            server = TunnelServer(ServerConfig(listen="127.0.0.1:0", target=path, quiet=True))
            await server.start()
            client = TunnelClient(
                ClientConfig(
                    localaddr="127.0.0.1:0",
                    remoteaddr=f"127.0.0.1:{server.local_address[1]}",
                    quiet=True,
                )
            )
            await client.start()
            try:
                await exchange(client.local_address[1], 3, 100_000)
            finally:
                await client.close()
                await server.close()
        finally:
            target.close()

    run(main)


def test_round_robin_over_conn_sessions() -> None:
    async def main() -> None:
        async with echo_server() as target, tunnel(target, conn=3) as (client, server):
            port = client.local_address[1]
            connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
            for reader, writer in connections:
                writer.write(b"ping")
                assert await reader.readexactly(4) == b"ping"
            sessions = client.sessions
            assert len(sessions) == 3
            assert [s.num_streams for s in sessions] == [2, 2, 2]
            assert len(server.sessions) == 3
            for _, writer in connections:
                writer.close()

    run(main)


def test_dscp_reaches_the_client_socket() -> None:
    async def main() -> None:
        async with echo_server() as target, tunnel(target, dscp=46) as (client, _):
            await exchange(client.local_address[1], 1, 1000)
            (session,) = client.sessions
            sock = session.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 46 << 2

    run(main)


def test_dead_session_is_replaced() -> None:
    async def main() -> None:
        async with echo_server() as target, tunnel(target) as (client, _):
            port = client.local_address[1]
            await exchange(port, 1, 1000)
            (first,) = client.sessions
            first.close()
            await exchange(port, 2, 1000)
            (second,) = client.sessions
            assert second is not first and not second.is_closed

    run(main)


def test_autoexpire_rotates_and_scavenger_closes() -> None:
    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, autoexpire=1, scavengettl=0) as (client, _),
        ):
            port = client.local_address[1]
            await exchange(port, 1, 1000)
            (first,) = client.sessions
            await asyncio.sleep(1.1)
            await exchange(port, 2, 1000)
            (second,) = client.sessions
            assert second is not first
            await wait_for(lambda: first.is_closed, 5)
            assert not second.is_closed

    run(main)


@pytest.mark.parametrize("closewait", [0, 1])
def test_server_closewait_delays_the_targets_close(closewait: int) -> None:
    """Today's kcptun ``Pipe``: when the target closes, its data reaches the client at once
    and the end of the connection ``--closewait`` seconds later (the server's default is 30)."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello and goodbye")
        await writer.drain()
        writer.close()

    async def main() -> None:
        target = await asyncio.start_server(greet, "127.0.0.1", 0)
        try:
            async with tunnel(
                target.sockets[0].getsockname()[1], server_options={"closewait": closewait}
            ) as (client, server):
                assert (client.config.closewait, server.config.closewait) == (0, closewait)
                reader, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
                assert await reader.readexactly(17) == b"hello and goodbye"
                data_at = time.monotonic()
                assert await reader.read() == b""
                waited = time.monotonic() - data_at
                writer.close()
            assert closewait - 0.05 <= waited <= closewait + 0.8, waited
        finally:
            target.close()

    run(main, timeout=20)


def test_client_closewait_delays_the_end_of_the_stream() -> None:
    """The client's ``--closewait`` (0 by default) holds the stream open after the local
    connection ended: the target gets the data at once and its EOF that much later."""
    got: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await got.put((await reader.readexactly(8), time.monotonic()))
        await reader.read()
        await got.put((b"", time.monotonic()))
        writer.close()

    async def main() -> None:
        target = await asyncio.start_server(record, "127.0.0.1", 0)
        try:
            async with tunnel(
                target.sockets[0].getsockname()[1],
                client_options={"closewait": 1},
                server_options={"closewait": 0},
            ) as (client, _):
                _, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
                writer.write(b"question")
                await writer.drain()
                writer.close()
                data, data_at = await asyncio.wait_for(got.get(), 5)
                eof, eof_at = await asyncio.wait_for(got.get(), 5)
            assert (data, eof) == (b"question", b"")
            assert 0.95 <= eof_at - data_at <= 1.8, eof_at - data_at
        finally:
            target.close()

    run(main, timeout=20)


def test_client_half_close_ends_both_directions() -> None:
    """No half-close through the tunnel (as in kcptun, whose smux streams cannot half-close):
    EOF from the client closes the stream, so the client gets EOF although the target never
    closed, and the target gets EOF after the server's --closewait (0 here)."""
    target_saw_eof = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers, never closes on its own
        target_saw_eof.set()

    async def main() -> None:
        target = await asyncio.start_server(silent, "127.0.0.1", 0)
        try:
            async with tunnel(target.sockets[0].getsockname()[1], closewait=0) as (client, _):
                reader, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
                writer.write(b"question")
                writer.write_eof()
                assert await reader.read() == b""
                await asyncio.wait_for(target_saw_eof.wait(), 10)
                writer.close()
        finally:
            target.close()

    run(main)


def test_pipe_ends_both_sides_when_a_transform_fails() -> None:
    """A direction that fails unexpectedly still ends its destination, so the other
    direction and the pipe end too instead of leaving both connections open."""

    async def connected_pair() -> tuple[StreamPair, StreamPair]:
        accepted: asyncio.Queue[StreamPair] = asyncio.Queue()

        async def on_accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await accepted.put((r, w))

        server = await asyncio.start_server(on_accept, "127.0.0.1", 0)
        outer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        inner = await accepted.get()
        server.close()
        return outer, inner

    def broken(data: bytes) -> bytes:
        raise ValueError("transform failed")

    async def main() -> None:
        (a_out, a_in), (b_out, b_in) = await connected_pair(), await connected_pair()
        piping = asyncio.ensure_future(pipe(*a_in, *b_in, a_to_b=broken))
        a_out[1].write(b"data")
        assert await asyncio.wait_for(b_out[0].read(), 5) == b""
        b_out[1].close()
        assert await asyncio.wait_for(a_out[0].read(), 5) == b""
        await asyncio.wait_for(piping, 5)
        a_out[1].close()

    run(main, timeout=20)


def test_unreachable_target_closes_the_stream() -> None:
    async def main() -> None:
        async with echo_server() as closed_port:
            pass  # the port is free again
        async with tunnel(closed_port) as (client, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
            writer.write(b"anyone there?")
            assert await reader.read() == b""
            writer.close()

    run(main)


def test_mismatched_key_moves_no_data() -> None:
    async def main() -> None:
        async with echo_server() as target:
            server = TunnelServer(
                ServerConfig(listen="127.0.0.1:0", target=f"127.0.0.1:{target}", key="a")
            )
            await server.start()
            client = TunnelClient(
                ClientConfig(
                    localaddr="127.0.0.1:0",
                    remoteaddr=f"127.0.0.1:{server.local_address[1]}",
                    key="b",
                    quiet=True,
                )
            )
            await client.start()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
                writer.write(b"secret")
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(reader.read(1), 0.5)
                assert not server.sessions
                writer.close()
            finally:
                await client.close()
                await server.close()

    run(main)


@pytest.mark.parametrize("crypt", ["aes-128-gcm", "null"])
def test_loopback_aead_and_null(crypt: str) -> None:
    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, crypt=crypt) as (client, server),
        ):
            await exchange_many(client.local_address[1], 4, 100_000)
            assert server.listener.stats().crypto_failures == 0

    run(main)


def test_gcm_client_against_aes_server_fails_cleanly() -> None:
    """Mismatched ciphers deliver nothing: the server's listener counts every datagram of
    the client as an authentication failure (protocol.md §2.8) and opens no session."""
    delivered = bytearray()

    async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        delivered.extend(await reader.read())
        writer.close()

    async def main() -> None:
        target = await asyncio.start_server(collect, "127.0.0.1", 0)
        try:
            async with tunnel(
                target.sockets[0].getsockname()[1],
                client_options={"crypt": "aes-128-gcm"},
                server_options={"crypt": "aes"},
            ) as (client, server):
                reader, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
                writer.write(b"secret" * 1000)
                await wait_for(lambda: server.listener.stats().crypto_failures >= 3, 5)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(reader.read(1), 0.3)
                stats = server.listener.stats()
                assert stats.crypto_failures == server.listener.snmp.InCsumErrors >= 3
                assert stats.sessions == 0 and not server.sessions
                writer.close()
            assert delivered == b""
        finally:
            target.close()

    run(main)


def test_ratelimit_paces_both_directions() -> None:
    """--ratelimit is each KCP session's send rate, all headers included: 600 kB echoed with
    a 1 MB/s limit on both ends (no FEC, incompressible data) takes at least ~0.6 s."""

    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, ratelimit=1_000_000, nocomp=True, datashard=0, parityshard=0) as (
                client,
                _,
            ),
        ):
            assert client.config.kcp_config().rate_limit == 1_000_000
            started = time.monotonic()
            await exchange(client.local_address[1], 1, 600_000)
            elapsed = time.monotonic() - started
            assert 0.5 <= elapsed <= 3.0, elapsed

    run(main, timeout=30)


def test_close_ends_open_connections() -> None:
    async def main() -> None:
        async with echo_server() as target:
            async with tunnel(target) as (client, _):
                reader, writer = await asyncio.open_connection("127.0.0.1", client.local_address[1])
                writer.write(b"x")
                assert await reader.readexactly(1) == b"x"
            # the tunnel is closed: the connection ends instead of hanging
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    run(main)


def test_snmp_log_written_periodically(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, snmplog=str(tmp_path / "snmp-20060102.log"), snmpperiod=1) as (
                client,
                _,
            ),
        ):
            await exchange(client.local_address[1], 1, 1000)
            await wait_for(lambda: any(tmp_path.iterdir()), 5)

    run(main)
    (log,) = tmp_path.iterdir()
    assert log.name == f"snmp-{datetime.date.today():%Y%m%d}.log"
    header, *rows = log.read_text().splitlines()
    assert header.split(",") == ["Unix", *SNMP_FIELDS]
    assert rows and len(rows[0].split(",")) == len(SNMP_FIELDS) + 1


# -- snappy framing ---------------------------------------------------------------------------


def _crc32c(data: bytes) -> int:
    """Bitwise CRC-32C (Castagnoli, reflected 0x82F63B78): slow, independent of cramjam."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _chunk(chunk_type: int, body: bytes) -> bytes:
    return bytes([chunk_type]) + len(body).to_bytes(3, "little") + body


def _stored(data: bytes) -> bytes:
    return _chunk(0x01, _masked(_crc32c(data)).to_bytes(4, "little") + data)


def test_crc32c_reference_value() -> None:
    assert _crc32c(b"123456789") == 0xE3069283  # the standard check value


def test_encoder_output_is_the_framing_format() -> None:
    encoder = SnappyFrameEncoder()
    first = encoder.encode(b"a" * 1000)
    assert first.startswith(STREAM_IDENTIFIER)
    second = encoder.encode(b"b" * 10)
    assert not second.startswith(STREAM_IDENTIFIER)
    assert encoder.encode(b"") == b""
    assert bytes(cramjam.snappy.decompress(first + second)) == b"a" * 1000 + b"b" * 10
    # a block bigger than 64 KiB spans several chunks, each within the format's limit
    big = encoder.encode(random.Random(1).randbytes(200_000))
    offset, sizes = 0, []
    while offset < len(big):
        length = int.from_bytes(big[offset + 1 : offset + 4], "little")
        sizes.append(length)
        offset += 4 + length
    assert offset == len(big) and len(sizes) == 4 and max(sizes) <= 65536 + 4


def test_decoder_reads_hand_made_chunks_in_any_split() -> None:
    """Stored chunks with an independently computed CRC, a compressed chunk, padding and a
    skippable chunk, fed in pieces of every size from 1 byte up."""
    plain = b"The quick brown fox jumps over the lazy dog. " * 40
    compressed_block = bytes(cramjam.snappy.compress_raw(plain))
    stream = (
        STREAM_IDENTIFIER
        + _stored(b"123456789")
        + _chunk(0xFE, b"\x00" * 7)
        + _chunk(0x00, _masked(_crc32c(plain)).to_bytes(4, "little") + compressed_block)
        + _chunk(0x80, b"skip me")
        + STREAM_IDENTIFIER
        + _stored(b"!")
    )
    expected = b"123456789" + plain + b"!"
    for piece in (1, 2, 3, 5, 17, 100, len(stream)):
        decoder = SnappyFrameDecoder()
        out = b"".join(decoder.feed(stream[i : i + piece]) for i in range(0, len(stream), piece))
        assert out == expected, piece
        assert decoder.buffered == 0


def test_encoder_decoder_round_trip_random_writes() -> None:
    rng = random.Random(7)
    encoder, decoder = SnappyFrameEncoder(), SnappyFrameDecoder()
    sent, wire = [], []
    for _ in range(200):
        size = rng.choice([1, 10, 1000, 70_000])
        data = rng.randbytes(size) if rng.random() < 0.5 else bytes(size)
        sent.append(data)
        wire.append(encoder.encode(data))
    stream = b"".join(wire)
    received, offset = [], 0
    while offset < len(stream):
        step = rng.randint(1, 5000)
        received.append(decoder.feed(stream[offset : offset + step]))
        offset += step
    assert b"".join(received) == b"".join(sent)


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (_stored(b"no identifier"), "stream identifier"),
        (STREAM_IDENTIFIER + _chunk(0x02, b"x"), "unsupported chunk type"),
        (STREAM_IDENTIFIER + _chunk(0x01, b"abc"), "corrupt data chunk"),
        (STREAM_IDENTIFIER + b"\x00\xff\xff\x01", "corrupt data chunk"),
        (STREAM_IDENTIFIER + _chunk(0x01, b"\0\0\0\0data"), "checksum"),
        (STREAM_IDENTIFIER + _chunk(0x00, b"\0\0\0\0\xff\xff\xff"), "corrupt"),
    ],
    ids=["no-identifier", "reserved", "short", "oversized", "bad-crc", "bad-block"],
)
def test_decoder_rejects_corrupt_streams(stream: bytes, message: str) -> None:
    with pytest.raises(SnappyError, match=message):
        SnappyFrameDecoder().feed(stream)


class _FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


class _Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: list[Exception | None] = []

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def test_snappy_protocol_compresses_writes_and_fails_on_corruption() -> None:
    upper = _Recorder()
    snappy = SnappyProtocol(upper)
    inner = _FakeTransport()
    snappy.connection_made(inner)
    assert snappy.transport is not None
    snappy.transport.writelines([b"abc", b"def"])
    assert bytes(cramjam.snappy.decompress(b"".join(inner.written))) == b"abcdef"
    snappy.data_received(STREAM_IDENTIFIER + _stored(b"hi"))
    assert upper.data == b"hi"
    snappy.data_received(_chunk(0x01, b"\0\0\0\0bad"))
    assert inner.closed
    snappy.connection_lost(None)
    assert len(upper.lost) == 1 and isinstance(upper.lost[0], SnappyError)


# -- settings ---------------------------------------------------------------------------------


def test_defaults_are_todays_kcptun() -> None:
    """Today's kcptun (v20251205 and later); changed from 20210922: smuxver 1 -> 2; new:
    ratelimit, framesize, closewait (0 client, 30 server), QPP, QPPCount, client pprof."""
    client, server = ClientConfig(), ServerConfig()
    assert (client.localaddr, client.remoteaddr) == (":12948", "vps:29900")
    assert (server.listen, server.target) == (":29900", "127.0.0.1:12948")
    for config in (client, server):
        assert config.key == "it's a secrect"
        assert (config.crypt, config.mode, config.mtu, config.ratelimit) == ("aes", "fast", 1350, 0)
        assert (config.datashard, config.parityshard, config.dscp) == (10, 3, 0)
        assert (config.sockbuf, config.smuxver, config.smuxbuf) == (4194304, 2, 4194304)
        assert (config.framesize, config.streambuf, config.keepalive) == (8192, 2097152, 10)
        assert (config.snmpperiod, config.qppcount) == (60, 61)
        assert (config.nodelay, config.interval, config.resend, config.nc) == (0, 50, 0, 0)
        assert not (config.nocomp or config.acknodelay or config.quiet or config.tcp)
        assert not (config.qpp or config.pprof)
    assert (client.sndwnd, client.rcvwnd, server.sndwnd, server.rcvwnd) == (128, 512, 1024, 1024)
    assert (client.closewait, server.closewait) == (0, 30)
    assert (client.conn, client.autoexpire, client.scavengettl) == (1, 0, 600)


@pytest.mark.parametrize(
    ("mode", "timing"),
    [*KCPTUN_TIMINGS, ("manual", (1, 15, 3, 1)), ("anything else", (1, 15, 3, 1))],
)
def test_mode_presets_and_manual(mode: str, timing: tuple[int, int, int, int]) -> None:
    config = ClientConfig(mode=mode, nodelay=1, interval=15, resend=3, nc=1)
    assert config.timing() == timing
    kcp = config.kcp_config()
    assert kcp.timing() == timing


def test_kcp_and_smux_settings_follow_kcptun() -> None:
    config = ServerConfig(
        sndwnd=300,
        rcvwnd=400,
        mtu=1200,
        ratelimit=123456,
        datashard=5,
        parityshard=2,
        acknodelay=True,
        dscp=46,
        sockbuf=1 << 20,
        smuxver=1,
        smuxbuf=1 << 22,
        framesize=4096,
        streambuf=1 << 20,
        keepalive=5,
    )
    kcp = config.kcp_config()
    assert kcp.stream and not kcp.write_delay and kcp.ack_nodelay
    assert (kcp.sndwnd, kcp.rcvwnd, kcp.mtu, kcp.rate_limit) == (300, 400, 1200, 123456)
    assert (kcp.data_shards, kcp.parity_shards, kcp.dscp) == (5, 2, 46)
    assert kcp.read_buffer == kcp.write_buffer == 1 << 20
    assert (kcp.crypt, kcp.key) == ("aes", "it's a secrect")
    smux = config.smux_config()
    assert (smux.version, smux.max_receive_buffer, smux.max_stream_buffer) == (1, 1 << 22, 1 << 20)
    assert (smux.keep_alive_interval, smux.keep_alive_timeout, smux.max_frame_size) == (5, 30, 4096)


@pytest.mark.parametrize(
    ("name", "crypt_type", "key_size"),
    [
        ("aes-128-gcm", AEADCrypt, 16),
        ("aes", AESBlockCrypt, 32),
        ("aes-128", AESBlockCrypt, 16),
        ("null", type(None), 0),
    ],
)
def test_cipher_names_map_as_in_todays_kcptun(name: str, crypt_type: type, key_size: int) -> None:
    """kcptun's std.SelectBlockCrypt: aes-128-gcm is AES-GCM keyed with the first 16 bytes
    of the PBKDF2 output (protocol.md §2.5, §2.6), null is no crypto layer at all."""
    config = ClientConfig(crypt=name, key="pw")
    crypt = config.make_crypt()
    assert type(crypt) is crypt_type
    assert config.kcp_config().make_crypt().__class__ is crypt_type
    if isinstance(crypt, AEADCrypt):
        nonce = bytes(12)
        sealed = AESGCM(derive_key("pw")[:key_size]).encrypt(nonce, b"payload", None)
        assert crypt.open(nonce, sealed) == b"payload"
    assert kcptun_cipher(name) == name


def test_unknown_cipher_is_an_error_listing_the_names() -> None:
    assert set(KCPTUN_CIPHERS) == set(CIPHER_NAMES) and len(KCPTUN_CIPHERS) == 15
    for bad in ("whatever", "AES", "", "aes-256-gcm"):
        with pytest.raises(ConfigError, match="valid names: aes, aes-128, aes-128-gcm") as info:
            ClientConfig(crypt=bad).validate()
        assert repr(bad) in str(info.value) and "null" in str(info.value)
    with pytest.raises(ConfigError, match="unknown crypt 5"):
        kcptun_cipher(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"smuxver": 3}, "unsupported smux version"),
        ({"smuxver": 0}, "unsupported smux version"),
        ({"keepalive": 31}, "keep-alive"),
        ({"keepalive": 0}, "keep-alive"),
        ({"streambuf": 1 << 23}, "max stream buffer"),
        ({"framesize": 0}, "frame size"),
        ({"framesize": 65536}, "frame size"),
        ({"mtu": 1501}, r"mtu must be an integer in \[53, 1500\]"),
        ({"mtu": 52}, r"mtu must be an integer in \[53, 1500\]"),  # aes + FEC: 20 + 8 + 25
        ({"mtu": 60, "crypt": "aes-128-gcm"}, r"\[61, 1500\]"),  # 28 + 8 + 25
        ({"mtu": 24, "crypt": "null", "datashard": 0}, r"\[25, 1500\]"),
        ({"ratelimit": -1}, "ratelimit must be in"),
        ({"ratelimit": 1 << 32}, "ratelimit must be in"),
        ({"closewait": -1}, "closewait must not be negative"),
        ({"qpp": True, "qppcount": 0}, r"QPPCount must be in \[1, 65535\]"),
        ({"qpp": True, "qppcount": 65536}, r"QPPCount must be in \[1, 65535\]"),
        ({"sndwnd": 0}, "sndwnd"),
        ({"conn": 0}, "conn"),
        ({"tcp": True}, "not supported"),
        ({"localaddr": "12948"}, "missing port"),
        ({"remoteaddr": "host:port"}, "invalid port"),
        ({"remoteaddr": "host:3000-3010"}, "port ranges"),
        ({"snmpperiod": -1}, "snmpperiod"),
    ],
)
def test_invalid_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientConfig(**changes).validate()


def test_small_mtu_follows_pykcp_config() -> None:
    """The lower bound is pykcp.Config's: the chosen cipher's and FEC's headers + 25."""
    ClientConfig(mtu=53).validate()
    ClientConfig(mtu=25, crypt="null", datashard=0).validate()
    ServerConfig(mtu=61, crypt="aes-128-gcm").validate()
    assert ClientConfig(mtu=53).kcp_config().min_mtu == 53


def test_json_overrides_like_go(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text(
        '{"LocalAddr": "127.0.0.1:1000", "remoteaddr": "10.0.0.1:4000", "mode": "fast2",'
        ' "NoComp": true, "conn": 4, "key": null, "unknown": [1, 2], "sndwnd": 256,'
        ' "ratelimit": 5000, "CloseWait": 3, "framesize": 4096, "qpp": true,'
        ' "QPP-Count": 31, "qppcount": 1}'
    )
    base = ClientConfig(key="from flags", conn=2, mtu=1200)
    config = ClientConfig.from_json_file(str(path), base=base)
    assert config is base
    assert (config.localaddr, config.remoteaddr) == ("127.0.0.1:1000", "10.0.0.1:4000")
    assert (config.mode, config.nocomp, config.conn, config.sndwnd) == ("fast2", True, 4, 256)
    assert (config.key, config.mtu) == ("from flags", 1200)  # null and absent keys keep flags
    assert (config.ratelimit, config.closewait, config.framesize) == (5000, 3, 4096)
    # kcptun's JSON key for QPPCount is "qpp-count"; "qppcount" is no key of kcptun's.
    assert config.qpp and config.qppcount == 31


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"mtu": "1350"}', "'mtu' must be a JSON integer"),
        ('{"mtu": 1350.5}', "'mtu' must be a JSON integer"),
        ('{"nocomp": 1}', "'nocomp' must be a JSON boolean"),
        ('{"key": 5}', "'key' must be a JSON string"),
        ('{"qpp-count": "61"}', "'qpp-count' must be a JSON integer"),
        ('{"qpp": 1}', "'qpp' must be a JSON boolean"),
        ('{"closewait": 1.5}', "'closewait' must be a JSON integer"),
        ("[1]", "expected a JSON object"),
        ("{oops", "not valid JSON"),
    ],
)
def test_json_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        ServerConfig.from_json_file(str(path))


def test_json_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        ServerConfig.from_json_file(str(tmp_path / "absent.json"))


def test_addresses_split_like_go() -> None:
    assert split_host_port(":29900") == ("", "29900")
    assert split_host_port("[::1]:80") == ("::1", "80")
    assert split_host_port("example.com:http") == ("example.com", "http")
    for bad in ("/tmp/socket", "::1:80", "[::1:80"):
        with pytest.raises(ConfigError):
            split_host_port(bad)
    assert parse_address(":12948") == (None, 12948)
    assert parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert ServerConfig(target="/run/app.sock").target_is_unix
    assert not ServerConfig(target="localhost:80").target_is_unix


# -- SNMP log ---------------------------------------------------------------------------------

_MOMENT = datetime.datetime(
    2026, 3, 7, 15, 4, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=-7))
)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("snmp-20060102.log", "snmp-20260307.log"),
        ("2006-01-02T15:04:05", "2026-03-07T15:04:05"),
        ("Jan _2 3:4:5 PM", "Mar  7 3:4:5 PM"),
        ("January Monday Mon 06 1 2 03 pm", "March Saturday Sat 26 3 7 03 pm"),
        ("-0700 -07:00 Z07:00 -07", "-0700 -07:00 -07:00 -07"),
        (".000 .999999 ,00", ".123 .123456 ,12"),
        ("002 __2", "066  66"),
        ("plain.csv", "plain.csv"),
    ],
)
def test_go_time_format(layout: str, expected: str) -> None:
    assert go_time_format(layout, _MOMENT) == expected


def test_go_time_format_utc_z() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert go_time_format("Z07:00/.999", moment) == "Z/"


def test_snmp_file_name_formats_only_the_file_part() -> None:
    assert snmp_file_name("/var/log/2006/snmp-20060102.log", _MOMENT) == (
        "/var/log/2006/snmp-20260307.log"
    )


def test_snmp_csv_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "snmp.csv")
    now = 1_700_000_000.5
    assert write_snmp_row(path, now) == path
    write_snmp_row(path, now + 60)
    lines = Path(path).read_bytes().split(b"\n")
    assert lines[-1] == b"" and b"\r" not in b"".join(lines)  # Go's csv: LF line ends
    header, first, second = (line.decode().split(",") for line in lines[:3])
    assert header[0] == "Unix" and header[1:] == list(SNMP_FIELDS)
    assert len(header) == 25  # kcp-go 5.6.1: 24 counters
    assert first[0] == "1700000000" and second[0] == "1700000060"
    assert all(value.isdigit() for value in first)


def test_snmp_struct_text_looks_like_go() -> None:
    text = snmp_struct_text()
    assert text.startswith("&{BytesSent:") and text.endswith("}")
    assert f"InPkts:{DEFAULT_SNMP.InPkts} " in text
    assert text.index("FECRecovered:") < text.index("FECParityShards:")
