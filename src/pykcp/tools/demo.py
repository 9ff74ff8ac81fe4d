"""``pykcp demo``: a KCP server and client on 127.0.0.1 talking through a seeded lossy,
delaying, reordering relay, in one process; throughput (sink) and latency (ping-pong echo),
without and with FEC.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pykcp.aio import KCPListener, KCPSession, dial, listen
from pykcp.core.config import PRESETS, Config
from pykcp.core.crypt import CIPHER_NAMES
from pykcp.tools.relay import LossyRelay
from pykcp.tools.workload import WorkloadResult, rtt_stats, run_client, serve_session

__all__ = ["DemoRow", "add_demo_arguments", "run_demo", "run_demo_command"]


@dataclass
class DemoRow:
    """One FEC setting's results."""

    fec: tuple[int, int]
    sink: WorkloadResult
    pingpong: WorkloadResult
    retrans: int
    fec_recovered: int
    relay_dropped: int
    relay_forwarded: int
    sink_samples: list[tuple[float, int]] = field(default_factory=list)
    """``(seconds since the sink started, bytes written so far)`` after each write."""

    @property
    def fec_label(self) -> str:
        return "off" if self.fec == (0, 0) else f"{self.fec[0]}/{self.fec[1]}"


class _Progress:
    """A one-line progress bar on a terminal; a few plain lines otherwise."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.label = ""
        self.total = 1
        self.start = 0.0
        self._last_draw = 0.0
        self._next_mark = 0.0

    def begin(self, label: str, total: int) -> None:
        self.label, self.total = label, max(1, total)
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._next_mark = 0.5
        if not self.tty:
            print(f"  {label}: started", file=self.out, flush=True)

    def update(self, done: int) -> None:
        now = time.perf_counter()
        fraction = min(1.0, done / self.total)
        if self.tty:
            if now - self._last_draw < 0.1 and fraction < 1.0:
                return
            self._last_draw = now
            width = 30
            filled = int(fraction * width)
            elapsed = max(now - self.start, 1e-9)
            bar = "#" * filled + "-" * (width - filled)
            print(
                f"\r  {self.label:<26} [{bar}] {fraction:4.0%}  {done / elapsed / 1e6:6.2f} MB/s",
                end="",
                file=self.out,
                flush=True,
            )
        elif fraction >= self._next_mark and fraction < 1.0:
            self._next_mark += 0.5
            print(f"  {self.label}: {fraction:.0%}", file=self.out, flush=True)

    def end(self, summary: str) -> None:
        if self.tty:
            print("\r\x1b[2K", end="", file=self.out)
        print(f"  {self.label}: {summary}", file=self.out, flush=True)


async def _with_server(
    config: Config,
    workload: str,
    relay_options: dict[str, Any],
    client: Callable[[KCPSession, LossyRelay], Any],
) -> Any:
    """Listener running *workload* behind a fresh relay; *client(session, relay)* drives it."""
    listener: KCPListener = await listen(("127.0.0.1", 0), config)
    tasks: set[asyncio.Task[int]] = set()

    async def accept_loop() -> None:
        while True:
            session = await listener.accept()
            task = asyncio.ensure_future(serve_session(session, workload))
            tasks.add(task)

    acceptor = asyncio.ensure_future(accept_loop())
    relay = await LossyRelay.start(listener.local_address, **relay_options)
    session = await dial(relay.address, config)
    try:
        return await client(session, relay)
    finally:
        session.close()
        relay.close()
        acceptor.cancel()
        for task in tasks:
            task.cancel()
        listener.close()


async def run_demo(
    *,
    total: int,
    messages: int,
    message_size: int,
    loss: float,
    delay_ms: float,
    jitter_ms: float,
    seed: int,
    crypt: str,
    mode: str,
    fec_settings: list[tuple[int, int]],
    timeout: float,
    progress: _Progress | None = None,
) -> list[DemoRow]:
    """Measure each FEC setting: a sink of *total* bytes, then *messages* ping-pongs."""
    rows = []
    for index, fec in enumerate(fec_settings):
        rows.append(
            await _measure_setting(
                fec,
                seed=seed + index,
                total=total,
                messages=messages,
                message_size=message_size,
                relay_options={"loss": loss, "delay_ms": delay_ms, "jitter_ms": jitter_ms},
                crypt=crypt,
                mode=mode,
                timeout=timeout,
                progress=progress,
            )
        )
    return rows


async def _measure_setting(
    fec: tuple[int, int],
    *,
    seed: int,
    total: int,
    messages: int,
    message_size: int,
    relay_options: dict[str, Any],
    crypt: str,
    mode: str,
    timeout: float,
    progress: _Progress | None,
) -> DemoRow:
    ds, ps = fec
    config = Config(
        crypt=crypt,
        key="pykcp demo",
        data_shards=ds,
        parity_shards=ps,
        mode=mode,
        sndwnd=1024,
        rcvwnd=1024,
        mtu=1350,
        stream=True,
    )
    label = "FEC off" if fec == (0, 0) else f"FEC {ds}/{ps}"
    stats: dict[str, int] = {"retrans": 0, "recovered": 0, "dropped": 0, "forwarded": 0}

    def account(session: KCPSession, relay: LossyRelay) -> None:
        session_stats = session.stats()
        stats["retrans"] += session_stats.retransmitted
        stats["recovered"] += session_stats.fec_recovered
        stats["dropped"] += relay.dropped
        stats["forwarded"] += relay.forwarded

    samples: list[tuple[float, int]] = []

    async def sink(session: KCPSession, relay: LossyRelay) -> WorkloadResult:
        session.set_deadline(asyncio.get_running_loop().time() + timeout)
        if progress is not None:
            progress.begin(f"{label}: sink", total)
        start = time.perf_counter()

        def on_progress(done: int) -> None:
            samples.append((time.perf_counter() - start, done))
            if progress is not None:
                progress.update(done)

        result = await run_client(session, "sink", total, 64 * 1024, progress=on_progress)
        account(session, relay)
        if progress is not None:
            progress.end(f"{result.mbps:.2f} MB/s in {result.seconds:.1f} s")
        return result

    async def pingpong(session: KCPSession, relay: LossyRelay) -> WorkloadResult:
        session.set_deadline(asyncio.get_running_loop().time() + timeout)
        size = messages * message_size
        if progress is not None:
            progress.begin(f"{label}: ping-pong", size)
        result = await run_client(
            session,
            "echo",
            size,
            message_size,
            pingpong=True,
            progress=None if progress is None else progress.update,
        )
        account(session, relay)
        if progress is not None:
            rtt = rtt_stats(result.rtts_ms)
            progress.end(
                f"rtt median {rtt['rtt_median_ms']:.1f} ms, p99 {rtt['rtt_p99_ms']:.1f} ms"
            )
        return result

    sink_result = await _with_server(config, "sink", {**relay_options, "seed": seed}, sink)
    pingpong_result = await _with_server(
        config, "echo", {**relay_options, "seed": seed + 1000}, pingpong
    )
    return DemoRow(
        fec=fec,
        sink=sink_result,
        pingpong=pingpong_result,
        retrans=stats["retrans"],
        fec_recovered=stats["recovered"],
        relay_dropped=stats["dropped"],
        relay_forwarded=stats["forwarded"],
        sink_samples=samples,
    )


def print_table(rows: list[DemoRow], out: TextIO) -> None:
    """The demo's result table."""
    print(
        f"{'FEC':<6} {'sink MB/s':>9} {'time s':>7} {'rtt med ms':>10} {'rtt p99 ms':>10} "
        f"{'rtt max ms':>10} {'retrans':>8} {'FEC fixed':>9} {'relay drop':>10}",
        file=out,
    )
    for row in rows:
        rtt = rtt_stats(row.pingpong.rtts_ms) if row.pingpong.rtts_ms else {}
        print(
            f"{row.fec_label:<6} {row.sink.mbps:>9.2f} {row.sink.seconds:>7.2f} "
            f"{rtt.get('rtt_median_ms', 0.0):>10.1f} {rtt.get('rtt_p99_ms', 0.0):>10.1f} "
            f"{rtt.get('rtt_max_ms', 0.0):>10.1f} {row.retrans:>8} {row.fec_recovered:>9} "
            f"{row.relay_dropped:>10}",
            file=out,
        )


def _fec_list(text: str) -> list[tuple[int, int]]:
    settings = []
    for item in text.split(","):
        item = item.strip()
        if item in ("off", "0/0", "none"):
            settings.append((0, 0))
            continue
        ds, sep, ps = item.partition("/")
        if not sep or not ds.isdigit() or not ps.isdigit() or int(ds) < 1 or int(ps) < 1:
            raise argparse.ArgumentTypeError(f"expected 'off' or DATA/PARITY, got {item!r}")
        settings.append((int(ds), int(ps)))
    return settings


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` subcommand's flags."""
    parser.add_argument(
        "--bytes", type=_positive, default=8 << 20, help="bytes the sink phase sends (8 MiB)"
    )
    parser.add_argument("--messages", type=_positive, default=60, help="ping-pong messages (60)")
    parser.add_argument(
        "--message-size",
        type=_positive,
        default=16000,
        help="bytes per ping-pong message (16000: about one FEC group of 10 segments, so "
        "parity can rebuild a lost segment within the message)",
    )
    parser.add_argument(
        "--loss", type=_probability, default=0.05, help="relay drop rate each way (0.05)"
    )
    parser.add_argument("--delay", type=float, default=10.0, help="one-way delay in ms (10)")
    parser.add_argument(
        "--jitter",
        type=float,
        default=2.0,
        help="extra random delay 0..JITTER ms per datagram; reorders bursts (2)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--crypt", default="aes", choices=CIPHER_NAMES, metavar="NAME", help="cipher (aes)"
    )
    parser.add_argument("--mode", default="fast", choices=sorted(PRESETS), help="(fast)")
    parser.add_argument(
        "--fec",
        type=_fec_list,
        default=[(0, 0), (10, 3)],
        help="comma-separated FEC settings to compare, 'off' or DATA/PARITY (off,10/3)",
    )
    parser.add_argument(
        "--timeout", type=float, default=25.0, help="seconds per phase at most (25)"
    )
    parser.add_argument(
        "--plot",
        type=_png_path,
        default=None,
        metavar="FILE.png",
        help="also draw the round-trip-time distributions and the throughput over time into "
        "this PNG file (needs pykcp[plot])",
    )


def _png_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"expected a .png file name, got {text!r}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {str(path.parent)!r}")
    return path


def run_demo_command(args: argparse.Namespace) -> int:
    """``pykcp demo``: run, print the table (and draw it with ``--plot``); 1 if a phase
    failed, 2 if ``--plot`` cannot work."""
    out = sys.stdout
    plot_path: Path | None = getattr(args, "plot", None)
    if plot_path is not None:
        try:  # before the measurement, not after a minute of it
            from pykcp.tools.plot import plot_demo
        except ImportError as exc:
            print(f"pykcp demo: --plot: {exc}", file=sys.stderr)
            return 2
    print(
        f"pykcp demo: KCP server and client on 127.0.0.1 through a relay dropping "
        f"{args.loss:.0%} of datagrams each way, delay {args.delay:g}-"
        f"{args.delay + args.jitter:g} ms (reordering), seed {args.seed}; "
        f"mode {args.mode}, cipher {args.crypt}, windows 1024, MTU 1350",
        file=out,
        flush=True,
    )
    progress = _Progress(out, out.isatty())
    try:
        rows = asyncio.run(
            run_demo(
                total=args.bytes,
                messages=args.messages,
                message_size=args.message_size,
                loss=args.loss,
                delay_ms=args.delay,
                jitter_ms=args.jitter,
                seed=args.seed,
                crypt=args.crypt,
                mode=args.mode,
                fec_settings=args.fec,
                timeout=args.timeout,
                progress=progress,
            )
        )
    except (ConnectionError, TimeoutError) as exc:
        print(f"\npykcp demo: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(file=out)
    print_table(rows, out)
    if plot_path is not None:
        title = (
            f"pykcp demo: {args.loss:.0%} loss each way, {args.delay:g}-"
            f"{args.delay + args.jitter:g} ms one way, mode {args.mode}, cipher {args.crypt}"
        )
        try:
            plot_demo(rows, plot_path, title=title)
        except OSError as exc:
            print(f"pykcp demo: --plot: {exc}", file=sys.stderr)
            return 1
        print(f"plot written to {plot_path}", file=out)
    return 0
