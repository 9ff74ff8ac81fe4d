"""Session benchmarks: loopback sink throughput and the cost of idle sessions.

    .venv/bin/python benchmarks/bench_session.py [--quick]

Sink: a pykcp client streams bytes to a pykcp sink server running in another process (so each
side has its own core, like kcp-go's Go to Go BenchmarkSinkSpeed), aes + FEC 10/3, fast2,
windows 1024, MTU 1350. Reported: MB/s (10^6 bytes) from the first write until the sink has
counted every byte; median of several runs. Also reported: each process's CPU seconds per
wall second, and "CPU-bound" = MB/s / the busier side's CPU share, i.e. the rate the per-byte
CPU cost allows when each side has a core of its own (robust against a busy machine, which
the plain MB/s is not: both sides then wait for the scheduler and KCP retransmits).

Idle: one listener with N sessions that exchanged one message and went quiet; reported: CPU
time the process spends per wall second while idle, and memory per session (tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from multiprocessing.connection import Connection

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import pykcp
from pykcp import Config

SINK_CONFIG = Config.preset(
    "fast2",
    crypt="aes",
    key="bench",
    data_shards=10,
    parity_shards=3,
    sndwnd=1024,
    rcvwnd=1024,
    mtu=1350,
)


def _sink_process(config: Config, total: int, pipe: Connection) -> None:
    async def main() -> None:
        done = asyncio.Event()
        received = 0

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal received
            while received < total:
                data = await reader.read(1 << 20)
                if not data:
                    break
                received += len(data)
            done.set()

        server = await pykcp.start_server(sink, "127.0.0.1", 0, config=config)
        pipe.send(server.sockets[0].getsockname()[1])
        cpu = time.process_time()
        await done.wait()
        pipe.send((time.perf_counter(), time.process_time() - cpu))
        server.close()
        await server.wait_closed()

    asyncio.run(main())


@dataclass
class SinkResult:
    mb_per_s: float
    sender_cpu: float
    """CPU seconds per wall second of the sending process (1.0 = one core busy)."""
    sink_cpu: float

    @property
    def cpu_bound_mb_per_s(self) -> float:
        """What the busier side's CPU cost per byte allows with a core of its own."""
        return self.mb_per_s / max(self.sender_cpu, self.sink_cpu)


def sink_throughput(total: int = 64 * 1024 * 1024, config: Config = SINK_CONFIG) -> SinkResult:
    """One pykcp -> pykcp stream over loopback (sink in a second process)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_sink_process, args=(config, total, theirs), daemon=True)
    process.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("sink process did not start")
        port = ours.recv()

        async def send() -> SinkResult:
            _, writer = await pykcp.open_connection("127.0.0.1", port, config=config)
            block = os.urandom(1 << 20)
            started = time.perf_counter()
            cpu = time.process_time()
            for _ in range(total // len(block)):
                writer.write(block)
                await writer.drain()
            give_up = time.monotonic() + 300
            while not ours.poll():
                if time.monotonic() > give_up:
                    raise RuntimeError("the sink never received everything")
                await asyncio.sleep(0.005)
            finished, sink_cpu = ours.recv()
            elapsed = finished - started
            sender_cpu = time.process_time() - cpu
            writer.close()
            return SinkResult(total / elapsed / 1e6, sender_cpu / elapsed, sink_cpu / elapsed)

        return asyncio.run(send())
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()


def idle_sessions(count: int = 1000, watch: float = 2.0) -> tuple[float, float]:
    """(CPU seconds per wall second, bytes per session) for *count* idle server sessions."""

    async def main() -> tuple[float, float]:
        config = Config.preset("fast2")
        listener = await pykcp.listen(("127.0.0.1", 0), config)
        port = listener.local_address[1]
        clients = []
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        accepted = []

        async def accept_all() -> None:
            # Accept while the clients dial: the backlog (128) would drop the rest.
            for _ in range(count):
                session = await listener.accept()
                await session.read()
                accepted.append(session)

        acceptor = asyncio.create_task(accept_all())
        for _ in range(count):
            client = await pykcp.dial(("127.0.0.1", port), config)
            await client.write(b"hello")
            clients.append(client)
        await asyncio.wait_for(acceptor, 60)
        await asyncio.sleep(1.0)  # let the last ACKs go out; then everything is quiet
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        cpu = time.process_time()
        await asyncio.sleep(watch)
        cpu_per_second = (time.process_time() - cpu) / watch
        for client in clients:
            client.close()
        listener.close()
        # Client and server sessions both live in this process: half the memory is per side.
        return cpu_per_second, used / (2 * count)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    total = (16 if args.quick else 32) * 1024 * 1024

    width = 56

    def row(name: str, value: str) -> None:
        print(f"{name:<{width}}  {value}", flush=True)

    plain = Config.preset("fast2", sndwnd=1024, rcvwnd=1024, mtu=1350)
    for label, config in (("aes+FEC10/3", SINK_CONFIG), ("no crypto/FEC", plain)):
        results = [sink_throughput(total, config) for _ in range(runs)]
        speeds = " ".join(f"{r.mb_per_s:.1f}" for r in results)
        sender = statistics.median(r.sender_cpu for r in results)
        sink = statistics.median(r.sink_cpu for r in results)
        bound = statistics.median(r.cpu_bound_mb_per_s for r in results)
        row(
            f"sink {label} fast2 wnd1024 mtu1350, {total >> 20} MiB: MB/s",
            f"{statistics.median(r.mb_per_s for r in results):.1f}  (runs {speeds};"
            f" CPU sender {sender:.2f}, sink {sink:.2f}; CPU-bound {bound:.1f})",
        )
    count = 200 if args.quick else 1000
    idle = [idle_sessions(count) for _ in range(1 if args.quick else 3)]
    cpu = statistics.median(r[0] for r in idle)
    memory = statistics.median(r[1] for r in idle)
    row(f"{count} idle sessions: CPU per wall second", f"{cpu * 100:.2f} %")
    row(f"{count} idle sessions: memory per session", f"{memory / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
