"""Prometheus metrics: pykcp's counters and gauges in Prometheus' text format.

Needs the optional ``prometheus_client`` package: ``pip install 'pykcp[metrics]'``. Nothing
else in pykcp imports this module.

Three sources, each optional:

* the process-wide totals, :data:`pykcp.DEFAULT_SNMP` (kcp-go's ``DefaultSnmp``: every
  session of the process, live and ended), as ``pykcp_snmp_*`` with kcp-go's counter names
  in snake case (``InCsumErrors`` -> ``pykcp_snmp_in_csum_errors_total``);
* listeners (anything with ``stats() -> ListenerStats``, such as
  :class:`~pykcp.aio.KCPListener`), as ``pykcp_listener_*{listener="HOST:PORT"}``;
* sessions (anything with ``stats() -> SessionStats``, such as
  :class:`~pykcp.aio.KCPSession`), as ``pykcp_session_*{conv="...", remote="HOST:PORT"}``.

The listener and session metrics are the fields of :class:`~pykcp.core.stats.ListenerStats`
and :class:`~pykcp.core.stats.SessionStats`, under the same names, so the metrics, the CLI's
JSON and ``stats()`` in code say the same thing. Milliseconds become seconds
(``srtt`` -> ``pykcp_session_srtt_seconds``), as Prometheus wants base units.

An asyncio application serves them with :func:`serve_metrics`, which answers scrapes on the
event loop that runs the sessions, so every read sees a consistent state::

    server = await pykcp.metrics.serve_metrics("127.0.0.1", 9100, listeners=[listener])
    ...
    server.close()

An application that already exposes a ``prometheus_client`` registry registers a
:class:`KCPCollector` there instead. Collecting listeners and sessions must then happen on
their event loop's thread; the process totals alone (the default) may be read from any
thread.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import inspect
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Protocol

from pykcp.core.snmp import DEFAULT_SNMP, FIELDS, GAUGES, Snmp, SnmpTotals
from pykcp.core.stats import ListenerStats, SessionStats

MISSING_EXTRA: Final = (
    "pykcp.metrics needs the prometheus_client package: pip install 'pykcp[metrics]'"
)

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as exc:  # an optional extra: say which one to install
    raise ImportError(MISSING_EXTRA, name=exc.name) from exc

__all__ = [
    "LISTENER_GAUGES",
    "MISSING_EXTRA",
    "SESSION_GAUGES",
    "KCPCollector",
    "MetricsServer",
    "serve_metrics",
    "snake_case",
]

LISTENER_GAUGES: Final = frozenset({"sessions", "backlog", "pending_accept"})
""":class:`~pykcp.core.stats.ListenerStats` fields that are levels; the others only grow."""

SESSION_GAUGES: Final = frozenset(
    {
        "srtt",
        "rttvar",
        "rto",
        "snd_wnd",
        "rcv_wnd",
        "remote_wnd",
        "cwnd",
        "mss",
        "in_flight",
        "send_queue",
        "recv_queue",
        "recv_buffer",
        "last_heard",
    }
)
""":class:`~pykcp.core.stats.SessionStats` fields that are levels; the others only grow
(``conv`` is a label, not a value)."""

_MILLISECONDS: Final = frozenset({"srtt", "rttvar", "rto", "last_heard"})
_SESSION_LABELS: Final = frozenset({"conv"})
_REQUEST_TIMEOUT: Final = 5.0
_REQUEST_LIMIT: Final = 8192


class _HasListenerStats(Protocol):
    def stats(self) -> ListenerStats: ...


class _HasSessionStats(Protocol):
    def stats(self) -> SessionStats: ...


Listeners = Iterable[_HasListenerStats] | Callable[[], Iterable[_HasListenerStats]]
"""Listeners to report: a collection, or a callable returning the current ones."""
Sessions = Iterable[_HasSessionStats] | Callable[[], Iterable[_HasSessionStats]]
"""Sessions to report: a collection, or a callable returning the current ones."""


def snake_case(name: str) -> str:
    """kcp-go's counter name in Prometheus' style: ``InCsumErrors`` -> ``in_csum_errors``,
    ``FECRecovered`` -> ``fec_recovered``, ``OOBPackets`` -> ``oob_packets``."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z][a-z]*|[a-z]+|\d+", name)
    return "_".join(word.lower() for word in words)


def _field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass (the one description of each stats field)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a compiled build): the names alone remain
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


_LISTENER_DOCS = _field_docs(ListenerStats)
_SESSION_DOCS = _field_docs(SessionStats)


def _format_address(address: Any) -> str:
    if not isinstance(address, tuple) or len(address) < 2:
        return str(address)
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _current(source: Any) -> list[Any]:
    items = source() if callable(source) else source
    return list(items)


class KCPCollector(Collector):
    """A ``prometheus_client`` collector of pykcp's counters.

    *totals* is usually :data:`pykcp.DEFAULT_SNMP` (None leaves the ``pykcp_snmp_*`` metrics
    out); *listeners* and *sessions* are collections or callables returning the current ones
    (a session's metrics disappear with it; use the totals or a listener for counts that
    outlive sessions). Each listener is labelled by its ``local_address`` and each session
    by its conv and ``remote_address`` when they have one.
    """

    def __init__(
        self,
        *,
        totals: SnmpTotals | Snmp | None = DEFAULT_SNMP,
        listeners: Listeners = (),
        sessions: Sessions = (),
        namespace: str = "pykcp",
    ) -> None:
        self.totals = totals
        self.listeners = listeners
        self.sessions = sessions
        self.namespace = namespace

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the metrics are known only once collected (keeps registration
        from reading live objects)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every metric, read now."""
        if self.totals is not None:
            yield from self._collect_totals(self.totals.copy())
        listeners = _current(self.listeners)
        if listeners:
            yield from self._collect_listeners(listeners)
        sessions = _current(self.sessions)
        if sessions:
            yield from self._collect_sessions(sessions)

    def _collect_totals(self, snmp: Snmp) -> Iterator[Metric]:
        prefix = f"{self.namespace}_snmp_"
        for name in FIELDS:
            help_text = f"kcp-go DefaultSnmp.{name}: every session of the process, live and ended"
            metric: Metric
            if name in GAUGES:
                metric = GaugeMetricFamily(prefix + snake_case(name), help_text)
            else:
                metric = CounterMetricFamily(prefix + snake_case(name), help_text)
            metric.add_metric([], getattr(snmp, name))
            yield metric

    def _collect_listeners(self, listeners: list[_HasListenerStats]) -> Iterator[Metric]:
        rows = [
            ([_format_address(getattr(listener, "local_address", index))], listener.stats())
            for index, listener in enumerate(listeners)
        ]
        prefix = f"{self.namespace}_listener_"
        for field in dataclasses.fields(ListenerStats):
            name = field.name
            help_text = _LISTENER_DOCS.get(name, name)
            metric: Metric
            if name in LISTENER_GAUGES:
                metric = GaugeMetricFamily(prefix + name, help_text, labels=["listener"])
            else:
                metric = CounterMetricFamily(prefix + name, help_text, labels=["listener"])
            for labels, stats in rows:
                metric.add_metric(labels, getattr(stats, name))
            yield metric

    def _collect_sessions(self, sessions: list[_HasSessionStats]) -> Iterator[Metric]:
        rows = []
        for session in sessions:
            stats = session.stats()
            remote = _format_address(getattr(session, "remote_address", ""))
            rows.append(([str(stats.conv), remote], stats))
        prefix = f"{self.namespace}_session_"
        labels = ["conv", "remote"]
        for field in dataclasses.fields(SessionStats):
            name = field.name
            if name in _SESSION_LABELS:
                continue
            help_text = _SESSION_DOCS.get(name, name)
            scale = 1.0
            metric_name = prefix + name
            if name in _MILLISECONDS:
                scale, metric_name = 0.001, metric_name + "_seconds"
                help_text = help_text.replace("Milliseconds", "Seconds")
            metric: Metric
            if name in SESSION_GAUGES:
                metric = GaugeMetricFamily(metric_name, help_text, labels=labels)
            else:
                metric = CounterMetricFamily(metric_name, help_text, labels=labels)
            for row_labels, stats in rows:
                value = getattr(stats, name)
                metric.add_metric(row_labels, value * scale if scale != 1.0 else value)
            yield metric


class MetricsServer:
    """The HTTP endpoint :func:`serve_metrics` started; ``GET /metrics`` (or ``/``) answers.

    Also an async context manager (``async with await serve_metrics(...)``).
    """

    def __init__(self, server: asyncio.Server, registry: CollectorRegistry) -> None:
        self._server = server
        self.registry = registry
        """The registry it exposes (register more collectors here if you like)."""

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (port 0 asked: the port the system chose)."""
        sockname = self._server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    @property
    def url(self) -> str:
        """``http://HOST:PORT/metrics``."""
        return f"http://{_format_address(self.address)}/metrics"

    def close(self) -> None:
        """Stop accepting scrapes."""
        self._server.close()

    async def wait_closed(self) -> None:
        """Wait until the server is closed."""
        await self._server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


async def serve_metrics(
    host: str | None,
    port: int,
    *,
    listeners: Listeners = (),
    sessions: Sessions = (),
    totals: SnmpTotals | Snmp | None = DEFAULT_SNMP,
    registry: CollectorRegistry | None = None,
) -> MetricsServer:
    """Serve pykcp's metrics over HTTP on *host*:*port* from the running event loop.

    *host* None (or ``""``) listens on every address; *port* 0 picks a free port
    (:attr:`MetricsServer.address` tells which).

    Scrapes are answered on this loop (the one running the listeners and sessions), so
    every value is read between two of their events. *listeners*, *sessions* and *totals*
    are :class:`KCPCollector`'s; *registry* (a new one by default) gets the collector, and
    everything registered in it is exposed. Raises ``OSError`` if the address cannot be bound.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"metrics port must be an integer in [0, 65535], got {port!r}")
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
    registry.register(KCPCollector(totals=totals, listeners=listeners, sessions=sessions))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(reader, writer, registry)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a scraper that hung up or never finished its request
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port, limit=_REQUEST_LIMIT)
    return MetricsServer(server, registry)


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, registry: CollectorRegistry
) -> None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _REQUEST_TIMEOUT)
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        status, body, content_type = "400 Bad Request", b"bad request\n", "text/plain"
    elif parts[0] not in ("GET", "HEAD"):
        status, body, content_type = "405 Method Not Allowed", b"GET only\n", "text/plain"
    elif parts[1].split("?", 1)[0] not in ("/metrics", "/"):
        status, body, content_type = "404 Not Found", b"see /metrics\n", "text/plain"
    else:
        status, body, content_type = "200 OK", generate_latest(registry), CONTENT_TYPE_LATEST
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    writer.write(header if parts and parts[0] == "HEAD" else header + body)
    await writer.drain()
