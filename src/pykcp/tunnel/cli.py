"""Command line of the tunnel: ``pykcp tunnel client|server`` / ``python -m pykcp.tunnel``.

Flags, defaults and the ``-c`` JSON file behave as in kcptun 20210922 (``kcptun-client`` /
``kcptun-server``), including Go's single-dash spelling of long flags (``-mode fast``) and the
hidden manual-mode flags. Exit status: 0 after SIGINT/SIGTERM, 2 for bad flags or settings,
1 when the tunnel cannot start (address in use...).
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
from pykcp.tunnel.config import DEFAULT_KEY, ClientConfig, ServerConfig, env_key
from pykcp.tunnel.server import TunnelServer

__all__ = ["add_subcommands", "build_config", "main", "parse_config", "run"]

logger = logging.getLogger("pykcp.tunnel")

KCPTUN_VERSION = "20210922"
_CIPHER_HELP = (
    "aes, aes-128, aes-192, salsa20, blowfish, twofish, cast5, 3des, tea, xtea, xor, sm4, none"
)

# (flag names, dest, type, help or None for kcptun's hidden flags); defaults come from the
# config dataclasses so the two cannot drift apart.
_Option = tuple[tuple[str, ...], str, type, str | None]

_CLIENT_FIRST: list[_Option] = [
    (("--localaddr", "-l"), "localaddr", str, "local listen address"),
    (("--remoteaddr", "-r"), "remoteaddr", str, "kcp server address"),
]
_SERVER_FIRST: list[_Option] = [
    (("--listen", "-l"), "listen", str, "kcp server listen address"),
    (("--target", "-t"), "target", str, "target server address, or path/to/unix_socket"),
]
_COMMON_CRYPTO: list[_Option] = [
    (("--key",), "key", str, "pre-shared secret between client and server [$KCPTUN_KEY]"),
    (("--crypt",), "crypt", str, _CIPHER_HELP),
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
    (("--mtu",), "mtu", int, "set maximum transmission unit for UDP packets"),
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
    (("--smuxver",), "smuxver", int, "specify smux version, available 1,2"),
    (("--smuxbuf",), "smuxbuf", int, "the overall de-mux buffer in bytes"),
    (("--streambuf",), "streambuf", int, "per stream receive buffer in bytes, smux v2+"),
    (("--keepalive",), "keepalive", int, "seconds between heartbeats"),
    (
        ("--snmplog",),
        "snmplog",
        str,
        "collect snmp to file, aware of timeformat in golang, like: ./snmp-20060102.log",
    ),
    (("--snmpperiod",), "snmpperiod", int, "snmp collect period, in seconds"),
]
_SERVER_ONLY: list[_Option] = [
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
        return _CLIENT_FIRST + _COMMON_CRYPTO + _CLIENT_CONN + _COMMON_REST + _COMMON_TAIL
    return _SERVER_FIRST + _COMMON_CRYPTO + _COMMON_REST + _SERVER_ONLY + _COMMON_TAIL


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
