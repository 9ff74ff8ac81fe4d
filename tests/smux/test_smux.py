"""pykcp.smux over in-memory socket pairs: framing, streams, flow control, keepalive, errors."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pykcp import smux
from pykcp.core.errors import ConfigError, KCPTimeoutError, PeerGoneError, SessionClosedError
from pykcp.smux import (
    CMD_FIN,
    CMD_NOP,
    CMD_PSH,
    CMD_SYN,
    CMD_UPD,
    MuxSession,
    SmuxConfig,
    SmuxKeepAliveTimeoutError,
    SmuxProtocolError,
    StreamResetError,
    encode_frame,
    encode_update,
)
from tests.helpers import run

VERSIONS = pytest.mark.parametrize("version", [1, 2])
Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connected_pair() -> tuple[Pair, Pair]:
    a, b = socket.socketpair()
    return await asyncio.open_connection(sock=a), await asyncio.open_connection(sock=b)


@contextlib.asynccontextmanager
async def sessions(
    version: int = 1, **options: Any
) -> AsyncIterator[tuple[MuxSession, MuxSession]]:
    config = SmuxConfig(version=version, **options)
    (cr, cw), (sr, sw) = await connected_pair()
    client = MuxSession.client(cr, cw, config)
    server = MuxSession.server(sr, sw, config)
    try:
        yield client, server
    finally:
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def raw_peer(
    version: int = 1, *, client: bool = False, **options: Any
) -> AsyncIterator[tuple[MuxSession, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A session whose peer is a bare socket the test writes frames to by hand."""
    config = SmuxConfig(version=version, **options)
    (mr, mw), (pr, pw) = await connected_pair()
    session = MuxSession(mr, mw, config, client=client)
    try:
        yield session, pr, pw
    finally:
        session.close()
        pw.close()
        await session.wait_closed()


async def read_frame(reader: asyncio.StreamReader) -> tuple[smux.FrameHeader, bytes]:
    header = smux.decode_header(await reader.readexactly(smux.HEADER_SIZE))
    if header.cmd == CMD_UPD:
        return header, await reader.readexactly(8)
    if header.cmd == CMD_PSH:
        return header, await reader.readexactly(header.length)
    return header, b""


def pattern(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


# -- config and framing ----------------------------------------------------------------------


def test_config_defaults_match_smux() -> None:
    config = SmuxConfig()
    assert (config.version, config.keep_alive_disabled) == (1, False)
    assert (config.keep_alive_interval, config.keep_alive_timeout) == (10.0, 30.0)
    assert config.max_frame_size == 32768
    assert config.max_receive_buffer == 4 * 1024 * 1024
    assert config.max_stream_buffer == 65536
    config.verify()


@pytest.mark.parametrize(
    "options",
    [
        {"version": 3},
        {"version": 0},
        {"keep_alive_interval": 0},
        {"keep_alive_interval": 5, "keep_alive_timeout": 4},
        {"max_frame_size": 0},
        {"max_frame_size": 65536},
        {"max_receive_buffer": 0},
        {"max_stream_buffer": 0},
        {"max_stream_buffer": 8, "max_receive_buffer": 4},
    ],
)
def test_config_verify_rejects_what_smux_rejects(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SmuxConfig(**options).verify()


def test_config_keepalive_unchecked_when_disabled() -> None:
    SmuxConfig(keep_alive_disabled=True, keep_alive_interval=0, keep_alive_timeout=0).verify()


def test_frame_layout() -> None:
    frame = encode_frame(2, CMD_PSH, 0x01020304, b"hey")
    assert frame == bytes([2, CMD_PSH, 3, 0, 4, 3, 2, 1]) + b"hey"
    assert smux.decode_header(frame) == smux.FrameHeader(2, CMD_PSH, 3, 0x01020304)
    assert encode_update(0x11223344, 65536) == bytes.fromhex("4433221100000100")
    assert smux.decode_update(encode_update(2**32 + 5, 7)) == (5, 7)
    assert (CMD_SYN, CMD_FIN, CMD_PSH, CMD_NOP, CMD_UPD) == (0, 1, 2, 3, 4)


def test_errors_are_catchable_as_builtins() -> None:
    assert issubclass(SmuxKeepAliveTimeoutError, TimeoutError)
    assert issubclass(SmuxKeepAliveTimeoutError, KCPTimeoutError)
    assert issubclass(SmuxKeepAliveTimeoutError, PeerGoneError)
    assert issubclass(SmuxProtocolError, ConnectionError)
    assert issubclass(StreamResetError, ConnectionResetError)


# -- wire behaviour against a hand-driven peer -------------------------------------------------


@VERSIONS
def test_client_wire_bytes_for_open_write_close(version: int) -> None:
    async def main() -> None:
        async with raw_peer(version, client=True, keep_alive_disabled=True) as (session, pr, _):
            _reader, writer = await session.open_stream()
            assert writer.get_extra_info("stream_id") == 3
            writer.write(b"hello")
            writer.close()
            await writer.wait_closed()
            assert await read_frame(pr) == ((version, CMD_SYN, 0, 3), b"")
            assert await read_frame(pr) == ((version, CMD_PSH, 5, 3), b"hello")
            assert await read_frame(pr) == ((version, CMD_FIN, 0, 3), b"")
            assert session.num_streams == 0

    run(main)


def test_stream_ids_client_odd_from_3_server_even_from_2() -> None:
    async def main() -> None:
        async with sessions(keep_alive_disabled=True) as (client, server):
            opened = [await client.open_stream() for _ in "abc"]
            opened += [await server.open_stream() for _ in "ab"]
            accepted = [await server.accept_stream() for _ in "abc"]
            accepted += [await client.accept_stream() for _ in "ab"]
            opened_ids = [w.get_extra_info("stream_id") for _, w in opened]
            assert opened_ids == [3, 5, 7, 2, 4]
            assert [w.get_extra_info("stream_id") for _, w in accepted] == opened_ids
            assert client.num_streams == server.num_streams == 5
            for _, writer in opened + accepted:
                writer.close()
            for _, writer in opened + accepted:
                await writer.wait_closed()
            await asyncio.sleep(0.05)  # the FINs cross
            assert client.num_streams == server.num_streams == 0

    run(main)


def test_stream_ids_exhausted_goes_away() -> None:
    async def main() -> None:
        async with sessions(keep_alive_disabled=True) as (client, _):
            client._next_stream_id = 0xFFFFFFFD
            await client.open_stream()
            with pytest.raises(smux.SmuxGoAwayError):
                await client.open_stream()
            with pytest.raises(smux.SmuxGoAwayError):
                await client.open_stream()

    run(main)


def test_v2_receiver_acknowledges_first_read_then_every_half_window() -> None:
    async def main() -> None:
        async with raw_peer(2, keep_alive_disabled=True, max_stream_buffer=1000) as (
            session,
            pr,
            pw,
        ):
            pw.write(encode_frame(2, CMD_SYN, 3) + encode_frame(2, CMD_PSH, 3, b"x" * 10))
            reader, _reader_writer = await session.accept_stream()
            assert await reader.readexactly(10) == b"x" * 10
            assert await read_frame(pr) == ((2, CMD_UPD, 8, 3), encode_update(10, 1000))
            pw.write(encode_frame(2, CMD_PSH, 3, b"y" * 400))
            pw.write(encode_frame(2, CMD_PSH, 3, b"z" * 100))
            assert await reader.readexactly(500) == b"y" * 400 + b"z" * 100
            assert await read_frame(pr) == ((2, CMD_UPD, 8, 3), encode_update(510, 1000))

    run(main)


def test_v2_sender_respects_peer_window() -> None:
    async def main() -> None:
        async with raw_peer(2, keep_alive_disabled=True, max_frame_size=100) as (session, pr, pw):
            _, writer = await session.open_stream()
            sid = writer.get_extra_info("stream_id")
            pw.write(encode_frame(2, CMD_UPD, sid, encode_update(0, 250)))
            await asyncio.sleep(0.05)  # let the window arrive before the data
            writer.write(bytes(1000))
            assert (await read_frame(pr))[0].cmd == CMD_SYN
            sizes = [(await read_frame(pr))[0].length for _ in range(3)]
            assert sizes == [100, 100, 50]
            assert writer.transport.get_write_buffer_size() == 750
            pw.write(encode_frame(2, CMD_UPD, sid, encode_update(250, 300)))
            sizes = [(await read_frame(pr))[0].length for _ in range(3)]
            assert sizes == [100, 100, 100]
            assert writer.transport.get_write_buffer_size() == 450

    run(main)


def test_v2_peer_consuming_more_than_sent_resets_the_stream() -> None:
    async def main() -> None:
        async with raw_peer(2, keep_alive_disabled=True) as (session, _, pw):
            _, writer = await session.open_stream()
            sid = writer.get_extra_info("stream_id")
            pw.write(encode_frame(2, CMD_UPD, sid, encode_update(100, 1000)))
            await asyncio.sleep(0.05)
            writer.write(b"data")
            with pytest.raises(SmuxProtocolError):
                await writer.wait_closed()
            assert not session.is_closed

    run(main)


@VERSIONS
def test_data_for_unknown_stream_and_duplicate_syn_are_ignored(version: int) -> None:
    async def main() -> None:
        async with raw_peer(version, keep_alive_disabled=True) as (session, _, pw):
            pw.write(encode_frame(version, CMD_PSH, 99, b"lost"))
            pw.write(encode_frame(version, CMD_FIN, 99))
            pw.write(encode_frame(version, CMD_SYN, 5) + encode_frame(version, CMD_SYN, 5))
            pw.write(encode_frame(version, CMD_PSH, 5, b"kept"))
            pw.write(encode_frame(version, CMD_NOP, 0))
            reader, _reader_writer = await session.accept_stream()
            assert await reader.readexactly(4) == b"kept"
            assert session.num_streams == 1
            assert session._bucket == session.config.max_receive_buffer

    run(main)


# -- streams end to end ------------------------------------------------------------------------


@VERSIONS
def test_hundreds_of_streams_both_ways(version: int) -> None:
    """Each stream sends a request, half-closes, and gets a transformed answer back."""
    streams = 200

    async def serve(server: MuxSession) -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.read()
            writer.write(hashlib.sha256(request).digest() + request[::-1])
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async with asyncio.TaskGroup() as group:
            for _ in range(streams):
                group.create_task(answer(*await server.accept_stream()))

    async def ask(client: MuxSession, index: int) -> None:
        reader, writer = await client.open_stream()
        request = pattern(index, random.Random(-index).randrange(0, 120_000))
        writer.write(request)
        writer.write_eof()
        await writer.drain()
        answer = await reader.read()
        assert answer == hashlib.sha256(request).digest() + request[::-1]
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        async with sessions(version, keep_alive_disabled=True) as (client, server):
            server_task = asyncio.create_task(serve(server))
            async with asyncio.TaskGroup() as group:
                for index in range(streams):
                    group.create_task(ask(client, index))
            await server_task
            assert client.num_streams == server.num_streams == 0
            assert client._bucket == server._bucket == client.config.max_receive_buffer

    run(main, timeout=60)


@VERSIONS
def test_half_close_lets_the_peer_answer_at_length(version: int) -> None:
    async def main() -> None:
        async with sessions(version, keep_alive_disabled=True) as (client, server):
            reader, writer = await client.open_stream()
            writer.write(b"question")
            writer.write_eof()
            with pytest.raises(RuntimeError):
                writer.write(b"more")
            sreader, swriter = await server.accept_stream()
            assert await sreader.read() == b"question"
            assert sreader.at_eof()
            answer = pattern(1, 1_000_000)  # far beyond any window
            swriter.write(answer)
            swriter.write_eof()
            received = asyncio.create_task(reader.read())
            await swriter.drain()
            assert await received == answer
            swriter.close()
            writer.close()
            await swriter.wait_closed()
            await writer.wait_closed()

    run(main)


@VERSIONS
def test_close_while_the_peer_writes(version: int) -> None:
    async def main() -> None:
        async with sessions(version, keep_alive_disabled=True) as (client, server):
            reader, writer = await client.open_stream()
            writer.write(b"start")
            sreader, swriter = await server.accept_stream()
            assert await sreader.readexactly(5) == b"start"
            swriter.close()  # while the client keeps writing
            await swriter.wait_closed()
            assert await reader.read() == b""  # FIN reached the client
            chunk = bytes(64 * 1024)
            if version == 1:
                # smux v1 has no way to tell: the writes go through and the peer drops them.
                for _ in range(20):
                    writer.write(chunk)
                    await writer.drain()
                writer.close()
                await writer.wait_closed()
            else:
                # v2: once the window is gone, a closed peer will never open it again.
                with pytest.raises(StreamResetError):
                    for _ in range(20):
                        writer.write(chunk)
                        await writer.drain()
                    await writer.wait_closed()
            # The session is unharmed and nothing leaked.
            _reader2, writer2 = await client.open_stream()
            writer2.write(b"again")
            sreader2, _sreader2_writer = await server.accept_stream()
            assert await sreader2.readexactly(5) == b"again"
            assert server.num_streams == 1
            assert server._bucket == server.config.max_receive_buffer

    run(main)


@VERSIONS
def test_abort_drops_unsent_data_and_sends_fin(version: int) -> None:
    async def main() -> None:
        async with raw_peer(version, client=True, keep_alive_disabled=True) as (session, pr, _):
            _, writer = await session.open_stream()
            writer.write(b"never sent")
            writer.transport.abort()
            await writer.wait_closed()
            assert (await read_frame(pr))[0].cmd == CMD_SYN
            assert (await read_frame(pr))[0].cmd == CMD_FIN
            assert session.num_streams == 0

    run(main)


@VERSIONS
def test_session_close_ends_streams_and_flushes_fins(version: int) -> None:
    async def main() -> None:
        async with sessions(version, keep_alive_disabled=True) as (client, server):
            _reader, writer = await client.open_stream()
            writer.write(b"last")
            open_reader, _open_writer = await client.open_stream()
            sreader, _sreader_writer = await server.accept_stream()
            second, _second_writer = await server.accept_stream()
            writer.write(b" words")
            writer.close()
            client.close()
            await client.wait_closed()
            assert await open_reader.read() == b""
            with pytest.raises(SessionClosedError):
                await client.open_stream()
            with pytest.raises(SessionClosedError):
                await client.accept_stream()
            assert client.num_streams == 0 and client.is_closed and client.error is None
            assert await sreader.read() == b"last words"  # FIN arrived before the connection ended
            with pytest.raises(SessionClosedError):
                await second.read()
            with pytest.raises(SessionClosedError):
                await server.accept_stream()
            assert isinstance(server.error, SessionClosedError)

    run(main)


# -- flow control --------------------------------------------------------------------------------


def test_v2_a_stalled_reader_stalls_only_its_stream() -> None:
    async def main() -> None:
        async with sessions(2, keep_alive_disabled=True) as (client, server):
            _, stalled_writer = await client.open_stream()
            stalled_writer.write(b"s")
            stalled_reader, _stalled_reader_writer = await server.accept_stream()
            payload = pattern(7, 3_000_000)
            stalled_writer.write(payload)

            reader, writer = await client.open_stream()
            sreader, swriter = await server.accept_stream()
            flowing = pattern(8, 3_000_000)

            async def echo() -> None:
                while data := await sreader.read(65536):
                    swriter.write(data)
                    await swriter.drain()
                swriter.close()

            echo_task = asyncio.create_task(echo())
            writer.write(flowing)
            writer.write_eof()
            assert await reader.read() == flowing
            await echo_task

            # The stalled stream holds at most the initial window beyond its reader's limit.
            transport = stalled_reader._transport  # type: ignore[attr-defined]
            held = transport._recv_queued + len(stalled_reader._buffer)  # type: ignore[attr-defined]
            assert 0 < held <= smux.INITIAL_PEER_WINDOW + 2 * 65536 + 32768
            assert stalled_writer.transport.get_write_buffer_size() > 0
            assert await stalled_reader.readexactly(1 + len(payload)) == b"s" + payload

    run(main)


def test_v1_unread_data_is_bounded_by_the_session_receive_buffer() -> None:
    async def main() -> None:
        async with sessions(
            1, keep_alive_disabled=True, max_receive_buffer=200_000, max_stream_buffer=65536
        ) as (client, server):
            _, writer = await client.open_stream()
            payload = pattern(3, 2_000_000)
            writer.write(payload)
            reader, _reader_writer = await server.accept_stream()
            transport = reader._transport  # type: ignore[attr-defined]
            while server._bucket > 0:  # until the session stops reading the connection
                await asyncio.sleep(0.01)
            for _ in range(20):
                await asyncio.sleep(0.01)
                assert transport._recv_queued <= 200_000 + 32768
            assert await reader.readexactly(len(payload)) == payload
            assert server._bucket == 200_000

    run(main)


@VERSIONS
def test_drain_applies_backpressure(version: int) -> None:
    async def main() -> None:
        async with sessions(version, keep_alive_disabled=True) as (client, server):
            _, writer = await client.open_stream()
            writer.transport.set_write_buffer_limits(high=100_000)
            writer.write(bytes(10_000_000))
            drain = asyncio.create_task(writer.drain())
            await asyncio.sleep(0.1)
            assert not drain.done()  # nobody reads: the data cannot all have left
            reader, _reader_writer = await server.accept_stream()
            assert len(await reader.readexactly(10_000_000)) == 10_000_000
            await drain

    run(main)


def test_session_obeys_the_connections_flow_control() -> None:
    """The session hands a stalled connection at most one batch past its high-water mark.

    Frames must reach the connection through ``write()``: since Python 3.12 the socket
    transport has a ``writelines()`` of its own that never pauses the protocol (gh-127655),
    so ``drain()`` on the connection returned at once and the whole of what the streams wrote
    piled up in the transport's buffer.
    """
    from pykcp.smux import session as smux_session

    async def main() -> None:
        (mr, mw), (_pr, pw) = await connected_pair()  # the peer never reads
        session = MuxSession.client(mr, mw, SmuxConfig(keep_alive_disabled=True))
        try:
            _, writer = await session.open_stream()
            writer.write(bytes(10_000_000))
            drain = asyncio.create_task(writer.drain())
            await asyncio.sleep(0.1)
            _, high = mw.transport.get_write_buffer_limits()
            batch = smux_session._SEND_BATCH
            bound = high + batch + smux.HEADER_SIZE + session.config.max_frame_size
            assert mw.transport.get_write_buffer_size() <= bound
            assert not drain.done()
            drain.cancel()
        finally:
            session.close()
            pw.close()
            await session.wait_closed()

    run(main)


def test_a_write_racing_the_loss_of_the_connection_ends_the_session_cleanly() -> None:
    """Frames emitted after the connection's transport is gone are dropped, as by
    ``transport.write()``; the socket transport's own ``writelines()`` (Python >= 3.12) raised
    AttributeError there (gh-136234), which escaped as the session's error."""

    async def main() -> None:
        (mr, mw), (_pr, pw) = await connected_pair()
        session = MuxSession.client(mr, mw, SmuxConfig(keep_alive_disabled=True))
        try:
            reader, writer = await session.open_stream()
            await asyncio.sleep(0.05)  # the SYN has left
            mw.transport.abort()  # connection_lost() runs on the next loop pass...
            writer.write(b"x")  # ...and the send loop, woken now, right after it
            with pytest.raises(ConnectionError):
                await reader.read()
            await session.wait_closed()
            assert isinstance(session.error, SessionClosedError), repr(session.error)
        finally:
            session.close()
            pw.close()
            await session.wait_closed()

    run(main)


# -- keepalive -----------------------------------------------------------------------------------


def test_keepalive_sends_nops_and_times_out_a_silent_peer() -> None:
    async def main() -> None:
        async with raw_peer(1, keep_alive_interval=0.05, keep_alive_timeout=0.2) as (
            session,
            pr,
            _,
        ):
            accept = asyncio.create_task(session.accept_stream())
            assert await read_frame(pr) == ((1, CMD_NOP, 0, 0), b"")
            with pytest.raises(SmuxKeepAliveTimeoutError):
                await accept
            assert isinstance(session.error, SmuxKeepAliveTimeoutError)
            nops = await pr.read()  # the connection was closed after a few more NOPs
            assert nops == encode_frame(1, CMD_NOP, 0) * (len(nops) // 8)

    run(main)


def test_keepalive_timeout_fails_open_streams() -> None:
    async def main() -> None:
        async with raw_peer(2, client=True, keep_alive_interval=0.05, keep_alive_timeout=0.1) as (
            session,
            _,
            _,
        ):
            reader, writer = await session.open_stream()
            with pytest.raises(SmuxKeepAliveTimeoutError):
                await reader.read()
            with pytest.raises(SmuxKeepAliveTimeoutError):
                await writer.wait_closed()

    run(main)


@VERSIONS
def test_keepalive_keeps_an_idle_session_alive(version: int) -> None:
    async def main() -> None:
        async with sessions(version, keep_alive_interval=0.02, keep_alive_timeout=0.25) as (
            client,
            server,
        ):
            await asyncio.sleep(0.6)  # two timeout checks with only NOPs arriving
            assert not client.is_closed and not server.is_closed
            _reader, writer = await client.open_stream()
            writer.write(b"ping")
            sreader, _sreader_writer = await server.accept_stream()
            assert await sreader.readexactly(4) == b"ping"

    run(main)


# -- bad input -----------------------------------------------------------------------------------

JUNK = {
    "bad version": encode_frame(9, CMD_NOP, 0),
    "bad command": encode_frame(1, 7, 3),
    "truncated header": bytes([1, CMD_PSH, 4]),
    "truncated data": encode_frame(1, CMD_PSH, 3, b"abcdef")[:-2],
    "truncated update": encode_frame(1, CMD_UPD, 3, encode_update(1, 2))[:-3],
}


@pytest.mark.parametrize("junk", list(JUNK))
def test_junk_closes_the_session_with_a_protocol_error(junk: str) -> None:
    async def main() -> None:
        async with raw_peer(1, keep_alive_disabled=True) as (session, pr, pw):
            pw.write(encode_frame(1, CMD_SYN, 3) + encode_frame(1, CMD_PSH, 3, b"ok"))
            reader, _writer = await session.accept_stream()
            assert await reader.readexactly(2) == b"ok"
            pw.write(JUNK[junk])
            if junk.startswith("truncated"):
                pw.write_eof()
            with pytest.raises(SmuxProtocolError):
                await reader.read()
            with pytest.raises(SmuxProtocolError):
                await session.accept_stream()
            with pytest.raises(SmuxProtocolError):
                await session.open_stream()
            assert isinstance(session.error, SmuxProtocolError)
            assert session.is_closed and session.num_streams == 0
            assert await pr.read() == b""  # the connection was closed

    run(main)


def test_version_mismatch_between_sessions() -> None:
    async def main() -> None:
        (cr, cw), (sr, sw) = await connected_pair()
        client = MuxSession.client(cr, cw, SmuxConfig(version=2, keep_alive_disabled=True))
        server = MuxSession.server(sr, sw, SmuxConfig(version=1, keep_alive_disabled=True))
        await client.open_stream()
        with pytest.raises(SmuxProtocolError):
            await server.accept_stream()
        client.close()
        await client.wait_closed()
        await server.wait_closed()

    run(main)


def test_peer_closing_the_connection_fails_streams_without_fin() -> None:
    async def main() -> None:
        async with raw_peer(1, keep_alive_disabled=True) as (session, _, pw):
            pw.write(encode_frame(1, CMD_SYN, 3) + encode_frame(1, CMD_PSH, 3, b"partial"))
            pw.write(encode_frame(1, CMD_SYN, 5) + encode_frame(1, CMD_PSH, 5, b"whole"))
            pw.write(encode_frame(1, CMD_FIN, 5))
            first, _first_writer = await session.accept_stream()
            second, _second_writer = await session.accept_stream()
            pw.close()
            assert await second.read() == b"whole"
            # Like a TCP reset: the stream never completed, its reader gets the error.
            with pytest.raises(SessionClosedError):
                await first.read()
            assert isinstance(session.error, SessionClosedError)

    run(main)


@pytest.mark.parametrize("seed", range(40))
def test_random_frames_end_cleanly(seed: int) -> None:
    """Whatever arrives, the session either carries on or ends with a smux/connection error."""
    rng = random.Random(seed)
    version = rng.choice([1, 2])

    def random_frame() -> bytes:
        cmd = rng.choice([CMD_SYN, CMD_FIN, CMD_PSH, CMD_NOP, CMD_UPD, CMD_PSH, rng.randrange(256)])
        ver = version if rng.random() < 0.97 else rng.randrange(256)
        sid = rng.choice([1, 3, 5, rng.randrange(2**32)])
        if cmd == CMD_PSH:
            return encode_frame(ver, cmd, sid, rng.randbytes(rng.randrange(1, 3000)))
        if cmd == CMD_UPD:
            return encode_frame(ver, cmd, sid, encode_update(rng.randrange(2**32), 1 << 20))
        return encode_frame(ver, cmd, sid)

    async def main() -> None:
        async with raw_peer(version, keep_alive_disabled=True) as (session, _, pw):
            wire = b"".join(random_frame() for _ in range(rng.randrange(1, 60)))
            if rng.random() < 0.5:
                wire = wire[: rng.randrange(len(wire) + 1)]
            pw.write(wire)
            pw.write_eof()
            pairs = []
            with contextlib.suppress(SessionClosedError, SmuxProtocolError):
                while True:
                    pairs.append(await session.accept_stream())
            for reader, writer in pairs:
                writer.write(b"reply")
                with contextlib.suppress(SessionClosedError, SmuxProtocolError):
                    await reader.read()
            assert isinstance(session.error, SessionClosedError | SmuxProtocolError)
            tasks = [session._recv_task, session._send_task]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results)

    run(main)


def test_accept_backlog_holds_back_further_streams() -> None:
    async def main() -> None:
        async with raw_peer(1, keep_alive_disabled=True) as (session, _, pw):
            extra = 20
            pw.write(
                b"".join(
                    encode_frame(1, CMD_SYN, 1 + 2 * i) for i in range(smux.ACCEPT_BACKLOG + extra)
                )
            )
            while session.num_streams < smux.ACCEPT_BACKLOG:
                await asyncio.sleep(0.01)
            for _ in range(20):
                await asyncio.sleep(0.01)
                assert session.num_streams == smux.ACCEPT_BACKLOG  # reading stopped there
            pairs = [await session.accept_stream() for _ in range(smux.ACCEPT_BACKLOG + extra)]
            ids = [writer.get_extra_info("stream_id") for _, writer in pairs]
            assert ids == [1 + 2 * i for i in range(smux.ACCEPT_BACKLOG + extra)]

    run(main)
