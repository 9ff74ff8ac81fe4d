"""The tunnel's ``--metrics HOST:PORT`` flag (pykcp's own, not kcptun's): Prometheus metrics
from :mod:`pykcp.metrics`, an optional extra imported only when the flag is given.

The server reports its KCP listener (its sessions summed, ended ones included), the client its
live KCP sessions; both report the process totals (``pykcp.DEFAULT_SNMP``).
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from pykcp.tunnel.client import TunnelClient
from pykcp.tunnel.common import format_address
from pykcp.tunnel.config import parse_address
from pykcp.tunnel.server import TunnelServer

if TYPE_CHECKING:
    from pykcp.aio import KCPSession
    from pykcp.metrics import MetricsServer

__all__ = ["add_metrics_flag", "metrics_address", "start_metrics"]

logger = logging.getLogger("pykcp.tunnel")

_HELP = (
    "pykcp only: serve Prometheus metrics at http://HOST:PORT/metrics (':PORT' = every "
    "address; needs pykcp[metrics])"
)


def add_metrics_flag(parser: argparse.ArgumentParser) -> None:
    """``--metrics HOST:PORT`` (and Go's ``-metrics``), empty by default."""
    parser.add_argument("--metrics", dest="metrics", default="", metavar="HOST:PORT", help=_HELP)
    parser.add_argument(
        "-metrics", dest="metrics", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def metrics_address(args: argparse.Namespace) -> tuple[str | None, int] | None:
    """The address ``--metrics`` asks for, or None. Raises ConfigError for a bad address and
    ImportError (naming the extra) without prometheus_client, before anything starts."""
    text = getattr(args, "metrics", "")
    if not text:
        return None
    address = parse_address(text)
    import pykcp.metrics  # noqa: F401  (the optional extra)

    return address


def _kcp_sessions(app: TunnelClient) -> list[KCPSession]:
    sessions = (mux.get_extra_info("kcp_session") for mux in app.sessions)
    return [session for session in sessions if session is not None and not session.closed]


async def start_metrics(
    app: TunnelClient | TunnelServer, address: tuple[str | None, int]
) -> MetricsServer:
    """Serve *app*'s metrics at *address* (after ``app.start()``); OSError if it cannot bind."""
    from pykcp.metrics import serve_metrics

    host, port = address
    if isinstance(app, TunnelServer):
        server = await serve_metrics(host, port, listeners=[app.listener])
    else:
        server = await serve_metrics(host, port, sessions=lambda: _kcp_sessions(app))
    logger.info("metrics on: http://%s/metrics", format_address(server.address))
    return server
