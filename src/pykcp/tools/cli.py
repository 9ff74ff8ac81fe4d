"""The ``pykcp`` command line (console script and ``python -m pykcp``).

Subcommands:

``serve`` / ``client``
    A KCP server and client running the ``echo`` or ``sink`` workload (:mod:`pykcp.tools.workload`)
    with kcptun's session flags; the client prints one JSON line with what it measured. The
    project's Go peer has the same commands (``wl-serve`` / ``wl-client``) built on kcp-go, so
    either end can be kcp-go.
``demo``
    Server, client and a seeded lossy relay on 127.0.0.1 in one process: throughput and
    latency with and without FEC.
``bench``
    kcp-go's benchmark table (ciphers, CRC32, FEC, flush, echo and sink speeds).
``relay``
    The demo's lossy, reordering UDP relay on its own, for experiments between any two peers.
``tunnel``
    kcptun-compatible tunnel (from :mod:`pykcp.tunnel`, when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

import pykcp
from pykcp.aio import KCPSession, dial, listen
from pykcp.core.config import Config, kcptun_fec
from pykcp.core.crypt import CIPHER_NAMES
from pykcp.core.errors import ConfigError
from pykcp.tools.bench import add_bench_arguments, run_bench_command
from pykcp.tools.demo import add_demo_arguments, run_demo_command
from pykcp.tools.relay import LossyRelay
from pykcp.tools.tracefile import TraceFile
from pykcp.tools.workload import run_client, serve_session
from pykcp.tunnel import cli as tunnel_cli

__all__ = ["build_parser", "config_from_args", "main", "parse_hostport"]

# kcptun's defaults (client and server share them here, with the server's larger windows).
DEFAULT_KEY = "it's a secrect"  # sic: kcptun's default password
MODES = ("normal", "fast", "fast2", "fast3", "manual")


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); argparse type for addresses."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    port = int(port_text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "0.0.0.0", port


def _format_hostport(addr: Any) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _add_trace_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="write every session's trace events (segments sent, retransmitted, acknowledged, "
        "RTO changes, FEC recoveries, liveness) to FILE as JSON lines",
    )


def _add_session_flags(parser: argparse.ArgumentParser) -> None:
    """kcptun's session flags (same names, same defaults apart from the windows)."""

    group = parser.add_argument_group("KCP session (kcptun's flags)")
    group.add_argument(
        "--crypt",
        default="aes",
        choices=CIPHER_NAMES,
        metavar="NAME",
        help="cipher, kcptun names: " + ", ".join(CIPHER_NAMES) + " (default aes; "
        "null = no crypto layer, none = framing without encryption)",
    )
    group.add_argument(
        "--key",
        default=DEFAULT_KEY,
        help="pre-shared secret; the cipher key is derived from it as kcptun does "
        "(PBKDF2-SHA1, salt kcp-go, 4096 rounds)",
    )
    group.add_argument(
        "--datashard", type=_non_negative, default=10, help="FEC data shards (default 10)"
    )
    group.add_argument(
        "--parityshard", type=_non_negative, default=3, help="FEC parity shards (default 3)"
    )
    group.add_argument(
        "--mode",
        default="fast",
        choices=MODES,
        help="timing preset: normal, fast, fast2, fast3, or manual to use --nodelay "
        "--interval --resend --nc (default fast)",
    )
    group.add_argument(
        "--nodelay", type=int, default=0, help="manual mode: nodelay 0/1 (default 0)"
    )
    group.add_argument(
        "--interval", type=int, default=50, help="manual mode: flush interval in ms (default 50)"
    )
    group.add_argument(
        "--resend", type=int, default=0, help="manual mode: fast resend after N dup ACKs (0)"
    )
    group.add_argument(
        "--nc", type=int, default=0, help="manual mode: 1 turns congestion control off (0)"
    )
    group.add_argument(
        "--sndwnd", type=_positive, default=1024, help="send window in packets (1024)"
    )
    group.add_argument(
        "--rcvwnd", type=_positive, default=1024, help="receive window in packets (1024)"
    )
    group.add_argument(
        "--mtu", type=_positive, default=1350, help="largest UDP payload in bytes (1350)"
    )
    group.add_argument(
        "--ratelimit",
        type=_non_negative,
        default=0,
        help="most bytes per second a session sends, all headers included (kcptun's "
        "--ratelimit, kcp-go's SetRateLimit); 0 = no limit (default 0)",
    )
    group.add_argument(
        "--acknodelay", action="store_true", help="send ACKs at once instead of per flush"
    )
    group.add_argument(
        "--sockbuf",
        type=_non_negative,
        default=4194304,
        help="UDP socket send and receive buffer in bytes (4194304)",
    )
    group.add_argument(
        "--dscp", type=_non_negative, default=0, help="DSCP value of sent datagrams, 0-63 (0)"
    )


def config_from_args(args: argparse.Namespace, **extra: Any) -> Config:
    """The session :class:`Config` the kcptun-style flags describe (ConfigError if invalid)."""
    timing: dict[str, Any]
    if args.mode == "manual":
        timing = {
            "nodelay": args.nodelay,
            "interval": args.interval,
            "resend": args.resend,
            "nc": args.nc,
        }
    else:
        timing = {"mode": args.mode}
    data_shards, parity_shards = kcptun_fec(args.datashard, args.parityshard)
    return Config(
        crypt=args.crypt,
        key=args.key,
        data_shards=data_shards,
        parity_shards=parity_shards,
        sndwnd=args.sndwnd,
        rcvwnd=args.rcvwnd,
        mtu=args.mtu,
        stream=True,  # kcptun runs every session in stream mode
        ack_nodelay=args.acknodelay,
        rate_limit=args.ratelimit,
        dscp=args.dscp or None,
        read_buffer=args.sockbuf,
        write_buffer=args.sockbuf,
        **timing,
        **extra,
    )


# -- serve / client ------------------------------------------------------------------------


async def _serve(args: argparse.Namespace, config: Config | None) -> int:

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    listener = await listen(args.listen, config)
    print("LISTEN", _format_hostport(listener.local_address), flush=True)
    metrics = None
    if args.metrics is not None:
        from pykcp.metrics import serve_metrics  # an optional extra, checked in main()

        try:
            metrics = await serve_metrics(*args.metrics, listeners=[listener])
        except OSError as exc:
            listener.close()
            print(
                f"pykcp serve: --metrics {_format_hostport(args.metrics)}: {exc}", file=sys.stderr
            )
            return 1
        print("METRICS", _format_hostport(metrics.address), flush=True)
    tasks: set[asyncio.Task[int]] = set()
    trace = TraceFile(args.trace) if args.trace else None

    async def handle(session: KCPSession) -> int:
        if trace is not None:
            trace.attach(session)
        async with session:
            return await serve_session(session, args.workload)

    async def accept_loop() -> None:
        while True:
            session = await listener.accept()
            task = loop.create_task(handle(session))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    acceptor = loop.create_task(accept_loop())
    stopper = loop.create_task(stop.wait())
    try:
        await asyncio.wait({acceptor, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if acceptor.done() and not acceptor.cancelled() and acceptor.exception() is not None:
            print(f"pykcp serve: {acceptor.exception()}", file=sys.stderr)
            return 1
        return 0
    finally:
        for task in (acceptor, stopper, *tasks):
            task.cancel()
        if metrics is not None:
            metrics.close()
        if not listener.closed:
            listener.close()
        if trace is not None:
            trace.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _client(args: argparse.Namespace, config: Config) -> dict[str, Any]:

    loop = asyncio.get_running_loop()
    session = await dial(args.remote, config)
    trace = TraceFile(args.trace) if args.trace else None
    if trace is not None:
        trace.attach(session)
    try:
        session.set_deadline(loop.time() + args.timeout)
        result = await run_client(
            session, args.workload, args.bytes, args.size, pingpong=args.pingpong
        )
        out = result.as_json()
        stats = session.stats()
        out.update(
            impl="pykcp",
            crypt=args.crypt,
            datashard=args.datashard,
            parityshard=args.parityshard,
            mode=args.mode,
            retrans=stats.retransmitted,
            fec_recovered=stats.fec_recovered,
            stats=stats.as_dict(),
        )
        if trace is not None:
            out["trace_events"] = trace.events
        return out
    finally:
        if not session.closed:
            session.close()
        if trace is not None:
            trace.close()


def _cmd_serve(args: argparse.Namespace, config: Config | None) -> int:
    assert config is not None
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(args, config))
    return 0


def _cmd_client(args: argparse.Namespace, config: Config | None) -> int:
    assert config is not None
    try:
        out = asyncio.run(_client(args, config))
    except KeyboardInterrupt:
        out = {"ok": False, "error": "interrupted"}
    except Exception as exc:  # any failure is reported as the JSON line, not a traceback
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out), flush=True)
    return 0 if out.get("ok") else 1


# -- demo / bench / relay ------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace, config: Config | None) -> int:

    return run_demo_command(args)


def _cmd_bench(args: argparse.Namespace, config: Config | None) -> int:

    return run_bench_command(args)


def _cmd_relay(args: argparse.Namespace, config: Config | None) -> int:

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        relay = await LossyRelay.start(
            args.upstream,
            loss=args.loss,
            delay_ms=args.delay,
            jitter_ms=args.jitter,
            seed=args.seed,
            listen=args.listen,
        )
        print("LISTEN", _format_hostport(relay.address), flush=True)
        try:
            await stop.wait()
        finally:
            relay.close()
            print(json.dumps({"forwarded": relay.forwarded, "dropped": relay.dropped}), flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


# -- parser --------------------------------------------------------------------------------


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The full ``pykcp`` argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="pykcp", description="Reliable UDP (KCP), wire-compatible with kcp-go."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"pykcp {pykcp.__version__} ({pykcp.implementation})",
        help="print the version",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser(
        "serve",
        help="KCP server running the echo or sink workload",
        description="Listen for KCP sessions and run the echo or sink workload on each, until "
        "SIGINT/SIGTERM. Prints 'LISTEN HOST:PORT' once bound (port 0 picks a free port).",
    )
    serve.add_argument(
        "--listen", type=parse_hostport, default=("0.0.0.0", 29900), help="HOST:PORT to bind"
    )
    serve.add_argument("--workload", choices=("echo", "sink"), default="echo", help="(echo)")
    serve.add_argument(
        "--idle",
        type=_non_negative_float,
        default=30.0,
        help="end a session after this many seconds without a datagram from its peer "
        "(KCP has no FIN); 0 = never (default 30)",
    )
    serve.add_argument(
        "--metrics",
        type=parse_hostport,
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (needs pykcp[metrics]); "
        "prints 'METRICS HOST:PORT' once bound",
    )
    _add_session_flags(serve)
    _add_trace_flag(serve)
    serve.set_defaults(func=_cmd_serve, needs_config=True)

    client = sub.add_parser(
        "client",
        help="KCP client running the echo or sink workload; prints one JSON line",
        description="Dial a KCP server, run the workload and print one JSON line: "
        '{"ok": true, "bytes": N, "seconds": S, "MBps": X, ...} (MB = 10^6 bytes), or '
        '{"ok": false, "error": ...} with exit status 1. Sink: an 8-byte big-endian length, '
        "then that many bytes; the server answers with the same 8 bytes. Echo: the server "
        "returns every byte and the client verifies it.",
    )
    client.add_argument(
        "--remote", type=parse_hostport, required=True, help="HOST:PORT of the server"
    )
    client.add_argument("--workload", choices=("echo", "sink"), default="echo", help="(echo)")
    client.add_argument(
        "--bytes", type=_non_negative, default=16 << 20, help="bytes to move (16 MiB)"
    )
    client.add_argument(
        "--size", type=_positive, default=1 << 20, help="bytes per write / message (1 MiB)"
    )
    client.add_argument(
        "--pingpong",
        action="store_true",
        help="echo only: one --size message at a time, waiting for its echo; reports "
        "per-message round-trip times",
    )
    client.add_argument(
        "--timeout",
        type=_non_negative_float,
        default=120.0,
        help="give up after this many seconds (120)",
    )
    _add_session_flags(client)
    _add_trace_flag(client)
    client.set_defaults(func=_cmd_client, needs_config=True)

    demo = sub.add_parser(
        "demo",
        help="loopback demo: server and client through a lossy relay, with and without FEC",
        description="Run a server, a client and a seeded lossy, reordering UDP relay on "
        "127.0.0.1 and show throughput and latency with and without FEC.",
    )
    add_demo_arguments(demo)
    demo.set_defaults(func=_cmd_demo, needs_config=False)

    bench = sub.add_parser(
        "bench",
        help="kcp-go style benchmark table (ciphers, CRC32, FEC, flush, echo, sink)",
        description="Measure what kcp-go's benchmarks measure, in one run, and print a table.",
    )
    add_bench_arguments(bench)
    bench.set_defaults(func=_cmd_bench, needs_config=False)

    relay = sub.add_parser(
        "relay",
        help="seeded lossy, delaying, reordering UDP relay",
        description="Forward datagrams between clients and --upstream, dropping and delaying "
        "them (seeded). Prints 'LISTEN HOST:PORT'; runs until SIGINT/SIGTERM.",
    )
    relay.add_argument(
        "--listen", type=parse_hostport, default=("127.0.0.1", 0), help="HOST:PORT to bind"
    )
    relay.add_argument(
        "--upstream", type=parse_hostport, required=True, help="HOST:PORT to forward to"
    )
    relay.add_argument("--loss", type=_probability, default=0.05, help="drop rate each way (0.05)")
    relay.add_argument(
        "--delay", type=_non_negative_float, default=0.0, help="one-way delay in ms (0)"
    )
    relay.add_argument(
        "--jitter",
        type=_non_negative_float,
        default=0.0,
        help="extra random delay 0..JITTER ms per datagram; reorders the link (0)",
    )
    relay.add_argument("--seed", type=int, default=1, help="random seed (1)")
    relay.set_defaults(func=_cmd_relay, needs_config=False)

    tunnel = sub.add_parser(
        "tunnel",
        help="kcptun-compatible tunnel: 'tunnel client' / 'tunnel server'",
        description="kcptun-compatible TCP tunnel over KCP (with SMUX).",
        epilog=tunnel_cli.flag_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tunnel_sub = tunnel.add_subparsers(dest="tunnel_command", metavar="KIND")
    tunnel_sub.required = True
    tunnel_cli.add_subcommands(tunnel_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pykcp`` command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if "needs_config" not in vars(args):
        # The tunnel's subcommands take only their own arguments.
        foreign: int = args.func(args)
        return foreign
    if getattr(args, "metrics", None) is not None:
        try:
            import pykcp.metrics  # noqa: F401  (fail before any socket is opened)
        except ImportError as exc:
            parser.error(f"{args.command} --metrics: {exc}")
    config: Config | None = None
    if args.needs_config:
        extra: dict[str, Any] = {}
        if args.command == "serve":
            extra["idle_timeout"] = args.idle or None
        try:
            config = config_from_args(args, **extra)
        except ConfigError as exc:
            parser.error(f"{args.command}: {exc}")
    status: int = args.func(args, config)
    return status
