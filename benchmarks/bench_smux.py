"""Throughput of pykcp.smux over an in-memory socketpair, versions 1 and 2.

Run: .venv/bin/python benchmarks/bench_smux.py
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

from pykcp.smux import MuxSession, SmuxConfig


async def _transfer(version: int, total: int, chunk: int, streams: int) -> float:
    a, b = socket.socketpair()
    client_rw = await asyncio.open_connection(sock=a)
    server_rw = await asyncio.open_connection(sock=b)
    config = SmuxConfig(version=version, keep_alive_disabled=True)
    client = MuxSession.client(*client_rw, config)
    server = MuxSession.server(*server_rw, config)
    try:
        block = bytes(chunk)
        per_stream = total // streams // chunk

        async def produce() -> None:
            _, writer = await client.open_stream()
            for _ in range(per_stream):
                writer.write(block)
                await writer.drain()
            writer.write_eof()
            await writer.drain()

        async def consume() -> int:
            reader, writer = await server.accept_stream()
            received = 0
            while data := await reader.read(1 << 20):
                received += len(data)
            writer.close()
            return received

        start = time.perf_counter()
        producers = [asyncio.create_task(produce()) for _ in range(streams)]
        received = sum(await asyncio.gather(*(consume() for _ in range(streams))))
        elapsed = time.perf_counter() - start
        await asyncio.gather(*producers)
        assert received == per_stream * chunk * streams
        return received / elapsed / 1e6
    finally:
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()


def throughput(
    version: int, *, streams: int = 1, total: int = 64 << 20, chunk: int = 64 << 10
) -> float:
    """MB/s of ``streams`` smux streams moving ``total`` bytes in all through a socketpair."""
    return asyncio.run(_transfer(version, total, chunk, streams))


def main(runs: int = 5) -> None:
    print(f"{'case (64 MiB, 64 KiB writes)':<30}{'median MB/s':>12}{'min':>8}{'max':>8}")
    for streams in (1, 16):
        for version in (1, 2):
            results = [throughput(version, streams=streams) for _ in range(runs)]
            name = f"smux v{version}, {streams} stream{'s' if streams > 1 else ''}"
            print(
                f"{name:<30}{statistics.median(results):>12.1f}"
                f"{min(results):>8.1f}{max(results):>8.1f}"
            )


if __name__ == "__main__":
    main()
