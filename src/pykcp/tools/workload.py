"""Test workloads over a KCP session: the ``sink`` and ``echo`` protocols of ``pykcp serve`` /
``pykcp client`` (and of the Go peer's ``wl-serve`` / ``wl-client``, so either end can be
kcp-go).

``sink``: the client sends an 8-byte big-endian length, then that many bytes; the server, once
it has read them all, sends the same 8 bytes back, and the client stops its clock there. A
session may carry several such rounds.

``echo``: no framing; the server writes back whatever it reads. The client verifies every
byte; in ping-pong mode it sends one message at a time and times each round trip.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pykcp.aio import KCPSession
from pykcp.core.errors import KCPError

__all__ = [
    "WORKLOADS",
    "WorkloadError",
    "WorkloadResult",
    "payload_block",
    "run_client",
    "serve_session",
]

WORKLOADS = ("echo", "sink")
_LENGTH = struct.Struct(">Q")
_READ_SIZE = 1 << 20


class WorkloadError(KCPError):
    """The peer broke the workload protocol (wrong echo, bad length)."""


@dataclass
class WorkloadResult:
    """What a client run measured; :meth:`as_json` is the CLI's output line."""

    workload: str
    bytes: int
    seconds: float
    rtts_ms: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mbps(self) -> float:
        """Throughput in MB/s (10**6 bytes)."""
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": True,
            "workload": self.workload,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 6),
            "MBps": round(self.mbps, 3),
        }
        if self.rtts_ms:
            out.update(rtt_stats(self.rtts_ms))
        out.update(self.extra)
        return out


def rtt_stats(rtts_ms: list[float]) -> dict[str, Any]:
    """Summary of per-message round trips (ms): count, min, median, p99, max, mean."""
    ordered = sorted(rtts_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "messages": len(ordered),
        "rtt_min_ms": round(ordered[0], 3),
        "rtt_median_ms": round(statistics.median(ordered), 3),
        "rtt_p99_ms": round(p99, 3),
        "rtt_max_ms": round(ordered[-1], 3),
        "rtt_mean_ms": round(statistics.fmean(ordered), 3),
    }


def payload_block(size: int, seed: int = 1) -> bytes:
    """Deterministic pseudo-random bytes (the echo payload; the sink repeats one block)."""
    return random.Random(seed).randbytes(size)


# -- server side -----------------------------------------------------------------------------


async def serve_session(session: KCPSession, workload: str) -> int:
    """Run *workload*'s server side on *session* until the peer goes away; bytes received.

    Ends quietly on a closed session or a vanished peer (KCP has no FIN, so that is how every
    session ends); protocol errors propagate.
    """
    received = 0
    try:
        if workload == "echo":
            while True:
                data = await _read_available(session, _READ_SIZE)
                received += len(data)
                await session.write(data)
        elif workload == "sink":
            while True:
                header = await session.readexactly(_LENGTH.size)
                (remaining,) = _LENGTH.unpack(header)
                while remaining > 0:
                    data = await session.read(min(remaining, _READ_SIZE))
                    remaining -= len(data)
                    received += len(data)
                await session.write(header)
        else:
            raise ValueError(f"unknown workload {workload!r}")
    except (ConnectionError, TimeoutError):
        pass
    return received


async def _read_available(session: KCPSession, limit: int) -> bytes:
    """At least one message, plus whatever else is already received, up to *limit* bytes.

    A read returns one KCP message (about one segment in stream mode), and every write
    flushes KCP, which walks the whole send buffer. Echoing segment by segment therefore
    costs one full flush per segment; echoing what has arrived in one write costs one per
    receive batch.
    """
    data = await session.read(limit)
    if len(data) >= limit or not session.readable:
        return data
    parts = [data]
    size = len(data)
    while size < limit and session.readable:
        more = await session.read(limit - size)  # returns at once: a message is waiting
        parts.append(more)
        size += len(more)
    return b"".join(parts)


# -- client side -----------------------------------------------------------------------------


async def run_client(
    session: KCPSession,
    workload: str,
    total: int,
    size: int,
    *,
    pingpong: bool = False,
    progress: Callable[[int], None] | None = None,
) -> WorkloadResult:
    """Run *workload*'s client side: move *total* bytes in *size*-byte writes."""
    if total < 0 or size <= 0:
        raise ValueError("bytes must be >= 0 and size > 0")
    if workload == "sink":
        return await _sink(session, total, size, progress)
    if workload == "echo":
        if pingpong:
            return await _pingpong(session, total, size, progress)
        return await _echo(session, total, size, progress)
    raise ValueError(f"unknown workload {workload!r}")


async def _sink(
    session: KCPSession, total: int, size: int, progress: Callable[[int], None] | None
) -> WorkloadResult:
    block = memoryview(payload_block(size))
    header = _LENGTH.pack(total)
    start = time.perf_counter()
    await session.write(header)
    sent = 0
    while sent < total:
        chunk = block[: min(size, total - sent)]
        await session.write(chunk)
        sent += len(chunk)
        if progress is not None:
            progress(sent)
    reply = await session.readexactly(_LENGTH.size)
    seconds = time.perf_counter() - start
    if reply != header:
        raise WorkloadError(f"sink server answered {reply.hex()}, expected {header.hex()}")
    return WorkloadResult("sink", total, seconds)


async def _echo(
    session: KCPSession, total: int, size: int, progress: Callable[[int], None] | None
) -> WorkloadResult:
    payload = payload_block(total)
    view = memoryview(payload)

    async def writer() -> None:
        for offset in range(0, total, size):
            await session.write(view[offset : offset + size])

    start = time.perf_counter()
    write_task = asyncio.ensure_future(writer())
    received = 0
    try:
        while received < total:
            data = await session.read(total - received)
            end = received + len(data)
            # (A bytes slice compares with memcmp; a memoryview compares item by item.)
            if payload[received:end] != data:
                raise WorkloadError(f"echo differs from what was sent in bytes {received}..{end}")
            received = end
            if progress is not None:
                progress(received)
            if write_task.done() and write_task.exception() is not None:
                break
        await write_task
    finally:
        if not write_task.done():
            write_task.cancel()
    return WorkloadResult("echo", total, time.perf_counter() - start)


async def _pingpong(
    session: KCPSession, total: int, size: int, progress: Callable[[int], None] | None
) -> WorkloadResult:
    payload = payload_block(total)
    view = memoryview(payload)
    rtts: list[float] = []
    start = time.perf_counter()
    for offset in range(0, total, size):
        message = view[offset : offset + size]
        sent_at = time.perf_counter()
        await session.write(message)
        echoed = await session.readexactly(len(message))
        rtts.append((time.perf_counter() - sent_at) * 1000)
        if echoed != message:
            raise WorkloadError(f"echo of the message at byte {offset} differs")
        if progress is not None:
            progress(offset + len(message))
    result = WorkloadResult("echo", total, time.perf_counter() - start, rtts_ms=rtts)
    result.extra["pingpong"] = True
    return result
