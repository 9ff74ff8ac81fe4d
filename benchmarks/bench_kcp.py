"""KCP core micro-benchmarks: idle flush cost and input() throughput.

Run: ``.venv/bin/python benchmarks/bench_kcp.py``. Each measurement is a function returning
one number, so a later ``pykcp bench`` can call them; the script prints medians of a few runs.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from pykcp.core.kcp import KCP
from pykcp.tools.bench import flush_idle_us, loaded_sender

CONV = 0x11223344


def flush_full_scan_us(in_flight: int = 1024, calls: int = 500) -> float:
    """Microseconds per flush() that must walk the whole send buffer (something changed)."""
    kcp, now = loaded_sender(in_flight)
    flush = kcp.flush
    total = 0
    for _ in range(calls):
        kcp._min_stale = True  # as after an ACK removed the segment holding the earliest timer
        start = time.perf_counter_ns()
        flush(now)
        total += time.perf_counter_ns() - start
    return total / calls / 1000


def _full_mss_datagrams(count: int, mtu: int = 1400) -> list[bytes]:
    sender = KCP(CONV)
    sender.setmtu(mtu)
    sender.nodelay(1, 10, 2, 1)
    sender.wndsize(count, count)
    sender.rmt_wnd = count
    payload = bytes(range(256)) * (sender.mss // 256 + 1)
    for _ in range(count):
        sender.send(payload[: sender.mss])
    sender.flush(0)
    datagrams = sender.take_output()
    assert len(datagrams) == count
    return datagrams


def input_segments_per_s(count: int = 4096, with_recv: bool = False) -> float:
    """Full-MSS PUSH datagrams (one segment each, mtu 1400) ingested per second by input().

    The receiver's window holds the whole batch, so recv() is not needed to make room; with
    ``with_recv`` the application reads each message right after its input() call.
    """
    datagrams = _full_mss_datagrams(count)
    receiver = KCP(CONV)
    receiver.wndsize(count, count)
    inp = receiver.input
    recv = receiver.recv
    start = time.perf_counter_ns()
    if with_recv:
        for d in datagrams:
            inp(d, 5)
            recv()
    else:
        for d in datagrams:
            inp(d, 5)
    elapsed = time.perf_counter_ns() - start
    assert receiver.rcv_nxt == count
    return count / (elapsed / 1e9)


def acks_per_s(count: int = 1024, lose_first: bool = False) -> float:
    """ACK datagrams per second processed by a sender with ``count`` segments in flight.

    The receiver ACKs every datagram at once (ack_nodelay). In order, each ACK's una releases
    one segment; with ``lose_first`` every ACK is selective and, as in kcp-go, counts a
    duplicate for every earlier segment (the cost grows with the window).
    """
    datagrams = _full_mss_datagrams(count)
    receiver = KCP(CONV)
    receiver.wndsize(count, count)
    receiver.ack_nodelay = True
    acks = []
    for d in datagrams[1:] if lose_first else datagrams:
        receiver.input(d, 5)
        acks += receiver.take_output()
    sender = KCP(CONV)
    sender.nodelay(1, 10, 2, 1)
    sender.wndsize(count, count)
    sender.rmt_wnd = count
    for _ in range(count):
        sender.send(b"x")
    sender.flush(0)
    sender.take_output()
    inp = sender.input
    start = time.perf_counter_ns()
    for d in acks:
        inp(d, 10)
    elapsed = time.perf_counter_ns() - start
    return len(acks) / (elapsed / 1e9)


def _median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def main(runs: int = 7) -> int:
    rows = [
        ("flush(), 1024 in flight, none due", "us", lambda: flush_idle_us(calls=20_000)),
        ("flush(), 1024 in flight, full scan", "us", lambda: flush_full_scan_us()),
        ("input(), full-MSS PUSH", "seg/s", lambda: input_segments_per_s()),
        ("input() + recv(), full-MSS PUSH", "seg/s", lambda: input_segments_per_s(with_recv=True)),
        ("input(), in-order ACKs, 1024 in flight", "ack/s", lambda: acks_per_s()),
        ("input(), selective ACKs, 1024 in flight", "ack/s", lambda: acks_per_s(lose_first=True)),
    ]
    print(f"KCP core, median of {runs} runs (Python {sys.version.split()[0]})")
    print(f"{'measurement':<42} {'median':>12}  unit")
    for name, unit, fn in rows:
        value = _median(fn, runs)
        shown = f"{value:,.2f}" if unit == "us" else f"{value:,.0f}"
        print(f"{name:<42} {shown:>12}  {unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
