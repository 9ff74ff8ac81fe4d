"""Command line of the tunnel: ``pykcp tunnel client|server`` / ``python -m pykcp.tunnel``.

Flags, defaults and the ``-c`` JSON file behave as in today's kcptun (``kcptun-client`` /
``kcptun-server`` v20251205 and later), including Go's single-dash spelling of long flags
(``-mode fast``) and the hidden manual-mode flags; docs/tunnel.md lists where pykcp differs and
how to talk to kcptun 20210922 (``--smuxver 1``). Exit status: 0 after SIGINT/SIGTERM, 2 for
bad flags or settings, 1 when the tunnel cannot start (address in use...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pykcp.core.errors import ConfigError
from pykcp.tunnel.cli_metrics import add_metrics_flag, metrics_address, start_metrics
from pykcp.tunnel.client import TunnelClient
from pykcp.tunnel.common import configure_logging, snmp_struct_text
from pykcp.tunnel.config import (
    DEFAULT_KEY,
    KCPTUN_CIPHERS,
    ClientConfig,
    ServerConfig,
    env_key,
)
from pykcp.tunnel.server import TunnelServer

__all__ = ["add_subcommands", "build_config", "flag_table", "main", "parse_config", "run"]

logger = logging.getLogger("pykcp.tunnel")

KCPTUN_VERSION = "20251205"
"""The kcptun release whose flags and defaults these are (today's kcptun; the JSON keys and
the wire are the same in its later 2025 releases)."""
_CIPHER_HELP = ", ".join(KCPTUN_CIPHERS)

# (flag names, dest, type, help or None for kcptun's hidden flags); defaults come from the
# config dataclasses so the two cannot drift apart. The order is today's kcptun --help.
_Option = tuple[tuple[str, ...], str, type, str | None]

_CLIENT_FIRST: list[_Option] = [
    (("--localaddr", "-l"), "localaddr", str, "local listen address"),
    (("--remoteaddr", "-r"), "remoteaddr", str, "kcp server address"),
    (("--key",), "key", str, "pre-shared secret between client and server [$KCPTUN_KEY]"),
    (("--crypt",), "crypt", str, _CIPHER_HELP),
    (("--mode",), "mode", str, "profiles: fast3, fast2, fast, normal, manual"),
]
_SERVER_FIRST: list[_Option] = [
    (("--listen", "-l"), "listen", str, "kcp server listen address"),
    (("--target", "-t"), "target", str, "target server address, or path/to/unix_socket"),
    (("--key",), "key", str, "pre-shared secret between client and server [$KCPTUN_KEY]"),
    (("--crypt",), "crypt", str, _CIPHER_HELP),
]
_QPP: list[_Option] = [
    (
        ("--QPP",),
        "qpp",
        bool,
        "enable Quantum Permutation Pads (QPP) on every stream, seeded from --key",
    ),
    (
        ("--QPPCount",),
        "qppcount",
        int,
        "the prime number of pads to use for QPP: the more pads, the more secure the "
        "encryption; each pad takes 256 bytes",
    ),
]
_SERVER_MODE: list[_Option] = [
    (("--mode",), "mode", str, "profiles: fast3, fast2, fast, normal, manual"),
]
_CLIENT_CONN: list[_Option] = [
    (("--conn",), "conn", int, "set num of UDP connections to server"),
    (
        ("--autoexpire",),
        "autoexpire",
        int,
        "set auto expiration time(in seconds) for a single UDP connection, 0 to disable",
    ),
    (
        ("--scavengettl",),
        "scavengettl",
        int,
        "set how long an expired connection can live (in seconds)",
    ),
]
_COMMON_REST: list[_Option] = [
    (
        ("--mtu",),
        "mtu",
        int,
        "set maximum transmission unit for UDP packets (at least the cipher's and FEC's "
        "headers + 25)",
    ),
    (
        ("--ratelimit",),
        "ratelimit",
        int,
        "set maximum outgoing speed (in bytes per second, all headers included) for a single "
        "KCP connection, 0 to disable",
    ),
    (("--sndwnd",), "sndwnd", int, "set send window size(num of packets)"),
    (("--rcvwnd",), "rcvwnd", int, "set receive window size(num of packets)"),
    (("--datashard", "--ds"), "datashard", int, "set reed-solomon erasure coding - datashard"),
    (
        ("--parityshard", "--ps"),
        "parityshard",
        int,
        "set reed-solomon erasure coding - parityshard",
    ),
    (("--dscp",), "dscp", int, "set DSCP(6bit)"),
    (("--nocomp",), "nocomp", bool, "disable compression"),
    (("--acknodelay",), "acknodelay", bool, None),
    (("--nodelay",), "nodelay", int, None),
    (("--interval",), "interval", int, None),
    (("--resend",), "resend", int, None),
    (("--nc",), "nc", int, None),
    (("--sockbuf",), "sockbuf", int, "per-socket buffer in bytes"),
    (
        ("--smuxver",),
        "smuxver",
        int,
        "specify smux version, available 1,2; both ends must agree (kcptun v20251118 and "
        "older, Debian's 20210922 included, use 1)",
    ),
    (("--smuxbuf",), "smuxbuf", int, "the overall de-mux buffer in bytes"),
    (("--framesize",), "framesize", int, "smux max frame size"),
    (("--streambuf",), "streambuf", int, "per stream receive buffer in bytes, smux v2+"),
    (("--keepalive",), "keepalive", int, "seconds between heartbeats"),
    (
        ("--closewait",),
        "closewait",
        int,
        "the seconds to wait before tearing down a connection: once one direction of a "
        "tunnelled connection has ended, the other end is told only this much later",
    ),
    (
        ("--snmplog",),
        "snmplog",
        str,
        "collect snmp to file, aware of timeformat in golang, like: ./snmp-20060102.log",
    ),
    (("--snmpperiod",), "snmpperiod", int, "snmp collect period, in seconds"),
]
_PPROF: list[_Option] = [
    (("--pprof",), "pprof", bool, "accepted for compatibility; pykcp has no profiling server"),
]
_COMMON_TAIL: list[_Option] = [
    (("--log",), "log", str, "specify a log file to output, default goes to stderr"),
    (("--quiet",), "quiet", bool, "to suppress the 'stream open/close' messages"),
    (("--tcp",), "tcp", bool, "to emulate a TCP connection(linux); not supported by pykcp"),
    (
        ("-c",),
        "c",
        str,
        "config from json file, which will override the command from shell",
    ),
]


def _options(kind: str) -> list[_Option]:
    if kind == "client":
        return _CLIENT_FIRST + _QPP + _CLIENT_CONN + _COMMON_REST + _COMMON_TAIL + _PPROF
    return _SERVER_FIRST + _QPP + _SERVER_MODE + _COMMON_REST + _PPROF + _COMMON_TAIL


def flag_table() -> str:
    """Every flag of both sides with today's kcptun defaults (``pykcp tunnel --help``)."""
    client: Any = ClientConfig()
    server: Any = ServerConfig()

    def shown(config: Any, dest: str, kind_type: type) -> str:
        if not hasattr(config, dest):
            return "-"
        if kind_type is bool:
            return "off"
        value = getattr(config, dest)
        return repr(value) if isinstance(value, str) else str(value)

    rows = [("flag", "client", "server")]
    seen: set[str] = set()
    for names, dest, kind_type, help_text in _options("client") + _options("server"):
        if dest in seen or dest == "c":
            continue
        seen.add(dest)
        flag = ", ".join(names) + (" (hidden)" if help_text is None else "")
        rows.append((flag, shown(client, dest, kind_type), shown(server, dest, kind_type)))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"  {a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]
    return "\n".join(
        [
            f"Flags and defaults (kcptun {KCPTUN_VERSION}; -c FILE reads kcptun's JSON keys):",
            *lines,
            "",
            "Talking to kcptun v20251118 or older (Debian's 20210922): add --smuxver 1.",
            "Differences from kcptun: docs/tunnel.md.",
        ]
    )


def _populate(parser: argparse.ArgumentParser, kind: str) -> None:
    defaults: Any = ClientConfig() if kind == "client" else ServerConfig()
    for names, dest, kind_type, help_text in _options(kind):
        default = getattr(defaults, dest, "")
        if help_text is None:
            shown = argparse.SUPPRESS
        elif kind_type is bool:
            shown = help_text
        elif dest == "key":
            shown = f"{help_text} (default: {DEFAULT_KEY!r})"
        else:
            shown = f"{help_text} (default: {default!r})"
        if kind_type is bool:
            parser.add_argument(*names, dest=dest, action="store_true", help=shown)
        else:
            metavar = "VALUE"
            parser.add_argument(
                *names,
                dest=dest,
                type=kind_type,
                default=None if dest == "key" else default,
                metavar=metavar,
                help=shown,
            )
        # Go's flag syntax: every long flag also works with one dash (-mode fast).
        for name in names:
            if name.startswith("--") and len(name) > 3:
                alias = name[1:]
                if kind_type is bool:
                    parser.add_argument(
                        alias,
                        dest=dest,
                        action="store_true",
                        default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS,
                    )
                else:
                    parser.add_argument(
                        alias,
                        dest=dest,
                        type=kind_type,
                        default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS,
                    )
    add_metrics_flag(parser)
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=f"pykcp tunnel {kind} (kcptun {KCPTUN_VERSION} compatible)",
        help="print the version",
    )
    parser.set_defaults(tunnel_kind=kind)


_DESCRIPTIONS = {
    "client": "kcptun-compatible client (with SMUX): local TCP -> KCP tunnel",
    "server": "kcptun-compatible server (with SMUX): KCP tunnel -> target TCP",
}


def add_subcommands(subparsers: Any) -> None:
    """Add ``client`` and ``server`` to an argparse subparsers object; the parsed namespace
    runs with :func:`run` (``args.func(args)`` also works)."""
    for kind in ("client", "server"):
        parser = subparsers.add_parser(
            kind, help=_DESCRIPTIONS[kind], description=_DESCRIPTIONS[kind], allow_abbrev=False
        )
        _populate(parser, kind)
        parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> ClientConfig | ServerConfig:
    """The settings a parsed command line means: flags, then ``$KCPTUN_KEY`` for an unset
    key, then the ``-c`` JSON file over both (kcptun's order). Raises ConfigError."""
    kind = args.tunnel_kind
    config: ClientConfig | ServerConfig = ClientConfig() if kind == "client" else ServerConfig()
    for _, dest, _, _ in _options(kind):
        if dest in ("c",):
            continue
        value = getattr(args, dest)
        if dest == "key" and value is None:
            value = env_key()
        setattr(config, dest, value)
    if args.c:
        config.from_json_file(args.c, base=config)
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    """Run the tunnel a parsed command line describes until SIGINT/SIGTERM; exit status."""
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"pykcp tunnel {args.tunnel_kind}: error: {exc}", file=sys.stderr)
        return 2
    try:
        metrics = metrics_address(args)
    except (ConfigError, ImportError) as exc:
        print(f"pykcp tunnel {args.tunnel_kind}: error: --metrics: {exc}", file=sys.stderr)
        return 2
    try:
        configure_logging(config.log)
    except OSError as exc:
        print(f"pykcp tunnel: cannot open log file: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_serve(config, metrics))


async def _serve(
    config: ClientConfig | ServerConfig, metrics_at: tuple[str | None, int] | None = None
) -> int:
    app: TunnelClient | TunnelServer
    try:
        app = TunnelClient(config) if isinstance(config, ClientConfig) else TunnelServer(config)
    except ConfigError as exc:
        logger.error("%s", exc)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[int] = []
    metrics = None

    def on_signal(signum: int) -> None:
        logger.info("%s received, shutting down", signal.Signals(signum).name)
        stop.set()

    handlers: list[tuple[int, Callable[..., object], tuple[Any, ...]]] = [
        (signal.SIGINT, on_signal, (signal.SIGINT,)),
        (signal.SIGTERM, on_signal, (signal.SIGTERM,)),
    ]
    if hasattr(signal, "SIGUSR1"):
        handlers.append(
            (signal.SIGUSR1, lambda: logger.info("KCP SNMP:%s", snmp_struct_text()), ())
        )
    for signum, handler, handler_args in handlers:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, handler, *handler_args)
            installed.append(signum)
    try:
        logger.info("version: pykcp (kcptun %s compatible)", KCPTUN_VERSION)
        try:
            await app.start()
            if metrics_at is not None:
                metrics = await start_metrics(app, metrics_at)
        except OSError as exc:
            logger.error("%s", exc)
            return 1
        await stop.wait()
        return 0
    finally:
        if metrics is not None:
            metrics.close()
        await app.close()
        for signum in installed:
            loop.remove_signal_handler(signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pykcp.tunnel",
        description="kcptun-compatible tunnel over pykcp (client or server)",
        epilog=flag_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="{client,server}", required=True)
    add_subcommands(subparsers)
    return parser


def parse_config(argv: Sequence[str]) -> ClientConfig | ServerConfig:
    """The settings ``client|server [flags]`` means (SystemExit on a bad flag, ConfigError on
    a bad value), without running anything."""
    return build_config(_parser().parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pykcp.tunnel client|server [flags]``; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return run(args)
