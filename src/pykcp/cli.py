"""The ``pykcp`` command line (console script and ``python -m pykcp``).

Subcommands:

``demo``
    Two KCP cores move data over real UDP sockets on 127.0.0.1 through a small in-process
    relay that drops and delays datagrams (seeded), once per mode, and print throughput,
    retransmissions and RTT for each.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import random
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from pykcp.kcp import KCP

__all__ = ["PRESETS", "DemoResult", "main", "run_demo"]

# kcptun's mode names -> KCP.nodelay(nodelay, interval, resend, nc)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "default": (0, 100, 0, 0),
    "normal": (0, 40, 2, 1),
    "fast": (0, 30, 2, 1),
    "fast2": (1, 20, 2, 1),
    "fast3": (1, 10, 2, 1),
}

_M32 = 0xFFFFFFFF


@dataclass
class DemoResult:
    """What one demo run measured (sender side unless noted)."""

    mode: str
    size: int
    delivered: int
    intact: bool
    seconds: float
    out_segs: int
    retrans: int
    lost: int
    fast_retrans: int
    early_retrans: int
    srtt: int
    rto: int
    relay_dropped: int

    @property
    def complete(self) -> bool:
        return self.delivered == self.size and self.intact

    @property
    def kib_per_s(self) -> float:
        return self.delivered / 1024 / self.seconds if self.seconds > 0 else 0.0


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


class _LossyRelay:
    """Forwards datagrams between two ports, dropping and delaying them (seeded)."""

    def __init__(self, rng: random.Random, loss: float, delay_ms: int) -> None:
        self.rng = rng
        self.loss = loss
        self.delay_ms = delay_ms
        self.dropped = 0
        self.forwarded = 0
        self._pending: list[tuple[int, int, socket.socket, bytes, tuple[str, int]]] = []
        self._seq = 0

    def accept(
        self, now: int, data: bytes, out: socket.socket, destination: tuple[str, int]
    ) -> None:
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        jitter = self.rng.randint(0, self.delay_ms // 2) if self.delay_ms else 0
        self._seq += 1
        heapq.heappush(
            self._pending, (now + self.delay_ms + jitter, self._seq, out, data, destination)
        )

    def deliver_due(self, now: int) -> None:
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, _, out, data, destination = heapq.heappop(pending)
            try:
                out.sendto(data, destination)
                self.forwarded += 1
            except BlockingIOError:
                self.dropped += 1  # a full socket buffer is just more loss

    def next_time(self) -> int | None:
        return self._pending[0][0] if self._pending else None


def _drain(sock: socket.socket) -> list[bytes]:
    datagrams = []
    while True:
        try:
            datagrams.append(sock.recv(2048))
        except (BlockingIOError, InterruptedError):
            return datagrams


def _send_all(kcp: KCP, sock: socket.socket, destination: tuple[str, int]) -> None:
    for datagram in kcp.take_output():
        # A full socket buffer drops the datagram like any loss; KCP retransmits it.
        with contextlib.suppress(BlockingIOError):
            sock.sendto(datagram, destination)


def run_demo(
    mode: str,
    *,
    size: int,
    loss: float,
    delay_ms: int,
    seed: int,
    timeout_s: float,
    window: int = 128,
) -> DemoResult:
    """Send ``size`` bytes from one KCP core to another through a lossy UDP relay."""
    rng = random.Random(seed)
    payload = rng.randbytes(size)
    conv = rng.getrandbits(32)
    sender, receiver = KCP(conv), KCP(conv)
    for kcp in (sender, receiver):
        kcp.nodelay(*PRESETS[mode])
        kcp.wndsize(window, window)
    relay = _LossyRelay(random.Random(rng.getrandbits(64)), loss, delay_ms)
    sock_a, sock_b, relay_a, relay_b = (_udp_socket() for _ in range(4))
    addr_a, addr_b = sock_a.getsockname(), sock_b.getsockname()
    addr_relay_a, addr_relay_b = relay_a.getsockname(), relay_b.getsockname()
    selector = selectors.DefaultSelector()
    for sock in (sock_a, sock_b, relay_a, relay_b):
        selector.register(sock, selectors.EVENT_READ)
    received = bytearray()
    written = 0
    start = _now_ms()
    deadline = start + int(timeout_s * 1000)
    flush_at = [start, start]
    try:
        while len(received) < size:
            now = _now_ms()
            if now >= deadline:
                break
            # Write like kcp-go's Write: mss-sized messages, blocking once the window is full.
            wrote = False
            while written < size and sender.waitsnd() < 2 * sender.snd_wnd:
                sender.send(payload[written : written + sender.mss])
                written = min(size, written + sender.mss)
                wrote = True
            if wrote:
                flush_at[0] = now
            for side, (kcp, sock, peer) in enumerate(
                ((sender, sock_a, addr_relay_a), (receiver, sock_b, addr_relay_b))
            ):
                if now >= flush_at[side]:
                    flush_at[side] = now + kcp.flush(now & _M32)
                    _send_all(kcp, sock, peer)
            relay.deliver_due(now)
            wake = min(flush_at)
            relay_next = relay.next_time()
            if relay_next is not None:
                wake = min(wake, relay_next)
            for key, _ in selector.select(max(0, wake - _now_ms()) / 1000):
                sock = key.fileobj  # type: ignore[assignment]
                now = _now_ms()
                for datagram in _drain(sock):
                    if sock is relay_a:
                        relay.accept(now, datagram, relay_b, addr_b)
                    elif sock is relay_b:
                        relay.accept(now, datagram, relay_a, addr_a)
                    elif sock is sock_a:
                        sender.input(datagram, now & _M32)
                    else:
                        receiver.input(datagram, now & _M32)
                _send_all(sender, sock_a, addr_relay_a)
                _send_all(receiver, sock_b, addr_relay_b)
                while (message := receiver.recv()) is not None:
                    received += message
        elapsed = (_now_ms() - start) / 1000
    finally:
        selector.close()
        for sock in (sock_a, sock_b, relay_a, relay_b):
            sock.close()
    snmp = sender.snmp
    return DemoResult(
        mode=mode,
        size=size,
        delivered=len(received),
        intact=bytes(received) == payload[: len(received)],
        seconds=elapsed,
        out_segs=snmp.OutSegs,
        retrans=snmp.RetransSegs,
        lost=snmp.LostSegs,
        fast_retrans=snmp.FastRetransSegs,
        early_retrans=snmp.EarlyRetransSegs,
        srtt=sender.rx_srtt,
        rto=sender.rx_rto,
        relay_dropped=relay.dropped,
    )


def _print_results(results: list[DemoResult], out: TextIO) -> None:
    header = (
        f"{'mode':<8} {'bytes':>9} {'time s':>7} {'KiB/s':>9} {'sent':>6} {'retrans':>7} "
        f"{'timeout':>7} {'fast':>5} {'early':>5} {'srtt ms':>7} {'rto ms':>6} {'dropped':>7}"
        "  result"
    )
    print(header, file=out)
    for r in results:
        verdict = "ok" if r.complete else ("CORRUPT" if not r.intact else "partial (timeout)")
        print(
            f"{r.mode:<8} {r.delivered:>9} {r.seconds:>7.2f} {r.kib_per_s:>9.1f} "
            f"{r.out_segs:>6} {r.retrans:>7} {r.lost:>7} {r.fast_retrans:>5} "
            f"{r.early_retrans:>5} {r.srtt:>7} {r.rto:>6} {r.relay_dropped:>7}  {verdict}",
            file=out,
        )


def _cmd_demo(args: argparse.Namespace) -> int:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in PRESETS]
    if unknown:
        print(
            f"pykcp demo: unknown mode(s) {', '.join(unknown)}; choose from {', '.join(PRESETS)}",
            file=sys.stderr,
        )
        return 2
    size = args.size * 1024
    print(
        f"pykcp demo: {args.size} KiB over UDP 127.0.0.1 via a relay dropping "
        f"{args.loss:.0%} each way, one-way delay {args.delay}-{args.delay + args.delay // 2} ms, "
        f"seed {args.seed}"
    )
    results = [
        run_demo(
            mode,
            size=size,
            loss=args.loss,
            delay_ms=args.delay,
            seed=args.seed,
            timeout_s=args.timeout,
        )
        for mode in modes
    ]
    _print_results(results, sys.stdout)
    # A slow mode running out of time is a result worth showing; corrupt data is a failure.
    return 0 if all(r.intact for r in results) else 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pykcp", description="Reliable UDP (KCP), wire-compatible with kcp-go."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    demo = sub.add_parser(
        "demo",
        help="loopback demo: KCP over a lossy UDP relay, default vs fast mode",
        description="Move data between two KCP cores over UDP on 127.0.0.1 through a "
        "seeded lossy relay and compare modes.",
    )
    demo.add_argument("--size", type=int, default=256, help="KiB to send per mode (256)")
    demo.add_argument("--loss", type=float, default=0.05, help="drop rate each way (0.05)")
    demo.add_argument("--delay", type=int, default=15, help="one-way delay in ms (15)")
    demo.add_argument("--seed", type=int, default=1, help="random seed (1)")
    demo.add_argument(
        "--modes", default="default,fast", help="comma-separated: " + ", ".join(PRESETS)
    )
    demo.add_argument("--timeout", type=float, default=5.0, help="seconds per mode at most (5)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pykcp`` command line; returns the process exit status."""
    args = _build_parser().parse_args(argv)
    status: int = args.func(args)
    return status
