"""pykcp.smux against real xtaci/smux 1.5.16 (the gopeer's smux-* commands) over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from pykcp.smux import INITIAL_PEER_WINDOW, MuxSession, SmuxConfig, StreamResetError
from tests.helpers import go_process, run

pytestmark = pytest.mark.interop

VERSIONS = pytest.mark.parametrize("version", [1, 2])


async def finish(proc: asyncio.subprocess.Process) -> str:
    """The rest of the peer's stdout once it exits; fails on a non-zero exit."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err = await asyncio.wait_for(
        asyncio.gather(proc.stdout.read(), proc.stderr.read()), timeout=30
    )
    assert await proc.wait() == 0, err.decode()
    return out.decode()


async def connect_to_go_server(
    gopeer: Path, version: int, mode: str, config: SmuxConfig, *extra: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, MuxSession]]:
    async with go_process(
        gopeer, "smux-server", "-version", str(version), "-mode", mode, *extra
    ) as proc:
        assert proc.stdout is not None
        host, port = (await proc.stdout.readline()).decode().strip().rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        session = MuxSession.client(reader, writer, config)
        try:
            yield proc, session
        finally:
            session.close()
            await session.wait_closed()


go_server = contextlib.asynccontextmanager(connect_to_go_server)


async def echo_through(session: MuxSession, seed: int, max_size: int) -> None:
    reader, writer = await session.open_stream()
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(max_size + 1))
    received = asyncio.create_task(reader.readexactly(len(data)))
    writer.write(data)
    await writer.drain()
    assert await received == data
    writer.write_eof()  # smux answers our FIN by closing its side
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(("version", "frame"), [(1, 32768), (2, 32768), (2, 65535), (1, 1000)])
def test_python_client_streams_echoed_by_go_smux(gopeer: Path, version: int, frame: int) -> None:
    async def main() -> None:
        config = SmuxConfig(version=version, keep_alive_disabled=True, max_frame_size=frame)
        go_frame = ("-frame", str(frame))
        async with go_server(gopeer, version, "echo", config, *go_frame) as (proc, session):
            async with asyncio.TaskGroup() as group:
                for seed in range(60):
                    group.create_task(echo_through(session, seed, 300_000))
            assert session.num_streams == 0
            session.close()
            assert "served 60" in await finish(proc)

    run(main)


@VERSIONS
def test_python_half_close_then_go_answers(gopeer: Path, version: int) -> None:
    async def main() -> None:
        config = SmuxConfig(version=version, keep_alive_disabled=True)
        async with go_server(gopeer, version, "digest", config) as (proc, session):
            for seed in range(5):
                reader, writer = await session.open_stream()
                data = random.Random(seed).randbytes(1_500_000)
                writer.write(data)
                writer.write_eof()
                await writer.drain()
                assert await reader.read() == hashlib.sha256(data).digest()
                writer.close()
                await writer.wait_closed()
            session.close()
            assert "served 5" in await finish(proc)

    run(main)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def serve(session: MuxSession, handler: Handler) -> int:
    served = 0
    async with asyncio.TaskGroup() as group:
        while True:
            try:
                pair = await session.accept_stream()
            except ConnectionError:
                return served
            served += 1
            group.create_task(handler(*pair))


async def go_client_against_python_server(
    gopeer: Path, config: SmuxConfig, *go_args: str, handler: Handler = echo
) -> tuple[str, int, MuxSession]:
    sessions: list[MuxSession] = []
    served: list[asyncio.Task[int]] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = MuxSession.server(reader, writer, config)
        sessions.append(session)
        served.append(asyncio.create_task(serve(session, handler)))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        async with go_process(
            gopeer, "smux-client", "-connect", f"127.0.0.1:{port}", *go_args
        ) as proc:
            out = await finish(proc)
        (count,) = await asyncio.gather(*served)
    return out, count, sessions[0]


@pytest.mark.parametrize(("version", "frame"), [(1, 32768), (2, 32768), (2, 65535), (1, 1000)])
def test_go_client_streams_echoed_by_python(gopeer: Path, version: int, frame: int) -> None:
    async def main() -> None:
        config = SmuxConfig(version=version, keep_alive_disabled=True, max_frame_size=frame)
        out, served, _ = await go_client_against_python_server(
            gopeer,
            config,
            *("-version", str(version), "-frame", str(frame)),
            *("-streams", "60", "-size", "300000"),
        )
        assert "ok 60" in out
        assert served == 60

    run(main)


def test_go_keepalive_keeps_python_session_alive(gopeer: Path) -> None:
    async def main() -> None:
        config = SmuxConfig(version=2, keep_alive_interval=0.1, keep_alive_timeout=0.3)
        out, served, session = await go_client_against_python_server(
            gopeer,
            config,
            *("-version", "2", "-keepalive", "50", "-keepalive-timeout", "1000"),
            *("-idle", "1000", "-streams", "2", "-size", "1000"),
        )
        assert "ok 2" in out and served == 2
        assert not isinstance(session.error, TimeoutError)

    run(main)


def test_python_keepalive_keeps_go_session_alive(gopeer: Path) -> None:
    async def main() -> None:
        config = SmuxConfig(version=1, keep_alive_interval=0.05, keep_alive_timeout=2.0)
        go_keepalive = ("-keepalive", "100", "-keepalive-timeout", "300")
        async with go_server(gopeer, 1, "echo", config, *go_keepalive) as (proc, session):
            await asyncio.sleep(1.0)  # Go closes a session that hears nothing for 300-600 ms
            assert not session.is_closed
            await echo_through(session, 1, 1000)
            session.close()
            assert "served 1" in await finish(proc)

    run(main)


@VERSIONS
def test_go_sender_is_held_back_by_a_slow_python_reader(gopeer: Path, version: int) -> None:
    """v2: Go obeys the windows pykcp announces; v1: pykcp stops reading at its buffer bound."""
    held: list[int] = []

    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(40):
            await asyncio.sleep(0.01)
        transport = writer.transport
        held.append(transport._recv_queued + len(reader._buffer))  # type: ignore[attr-defined]
        await echo(reader, writer)

    async def main() -> None:
        config = SmuxConfig(version=version, keep_alive_disabled=True, max_receive_buffer=262144)
        out, served, _ = await go_client_against_python_server(
            gopeer,
            config,
            *("-version", str(version), "-streams", "2", "-size", "4000000"),
            handler=slow_echo,
        )
        assert "ok 2" in out and served == 2
        frame = 32768
        reader_limit = 2 * 65536 + frame  # the StreamReader's own buffer before it pauses
        if version == 2:  # each stream: its window
            assert all(0 < amount <= INITIAL_PEER_WINDOW + reader_limit for amount in held), held
        else:
            # One receive buffer for the whole session (the other stream may get nothing).
            # The handlers sample at different moments: once the first one drains, its tokens
            # go back to the bucket, so only each sample, not their sum, is bounded.
            bound = config.max_receive_buffer + frame + reader_limit
            assert sum(held) > 0 and all(amount <= bound for amount in held), held

    run(main)


@VERSIONS
def test_go_closing_a_stream_python_writes_to(gopeer: Path, version: int) -> None:
    async def main() -> None:
        config = SmuxConfig(version=version, keep_alive_disabled=True)
        async with go_server(gopeer, version, "drop", config) as (proc, session):
            reader, writer = await session.open_stream()
            writer.write(b"x")
            assert await reader.read() == b""  # Go read one byte and closed
            if version == 2:
                with pytest.raises(StreamResetError):
                    for _ in range(100):
                        writer.write(bytes(65536))
                        await writer.drain()
            else:
                for _ in range(100):  # v1 cannot tell; Go drops the data
                    writer.write(bytes(65536))
                    await writer.drain()
                writer.close()
            # The session goes on.
            reader2, writer2 = await session.open_stream()
            writer2.write(b"y")
            assert await reader2.read() == b""
            writer2.close()
            session.close()
            assert "served 2" in await finish(proc)

    run(main)
