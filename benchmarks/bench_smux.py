"""Throughput of pykcp.smux: one stream over an in-memory socketpair, versions 1 and 2.

Run: .venv/bin/python benchmarks/bench_smux.py
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

from pykcp.smux import Session, SmuxConfig


async def _one_stream_transfer(version: int, total: int, chunk: int) -> float:
    a, b = socket.socketpair()
    client_rw = await asyncio.open_connection(sock=a)
    server_rw = await asyncio.open_connection(sock=b)
    config = SmuxConfig(version=version, keep_alive_disabled=True)
    client = Session.client(*client_rw, config)
    server = Session.server(*server_rw, config)
    try:
        _, writer = await client.open_stream()
        block = bytes(chunk)

        async def produce() -> None:
            for _ in range(total // chunk):
                writer.write(block)
                await writer.drain()
            writer.write_eof()

        start = time.perf_counter()
        producer = asyncio.create_task(produce())
        reader, _server_writer = await server.accept_stream()
        received = 0
        while data := await reader.read(1 << 20):
            received += len(data)
        elapsed = time.perf_counter() - start
        await producer
        assert received == total // chunk * chunk
        return received / elapsed / 1e6
    finally:
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()


def one_stream_throughput(version: int, total: int = 64 << 20, chunk: int = 64 << 10) -> float:
    """MB/s of one smux stream moving ``total`` bytes through a local socketpair."""
    return asyncio.run(_one_stream_transfer(version, total, chunk))


def main(runs: int = 5) -> None:
    print(f"{'case':<32}{'median MB/s':>12}{'min':>8}{'max':>8}")
    for version in (1, 2):
        results = [one_stream_throughput(version) for _ in range(runs)]
        name = f"smux v{version}, 1 stream, 64 MiB"
        print(
            f"{name:<32}{statistics.median(results):>12.1f}{min(results):>8.1f}{max(results):>8.1f}"
        )


if __name__ == "__main__":
    main()
