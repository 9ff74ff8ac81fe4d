"""Pieces shared by the tunnel client and server: piping, logging, the SNMP log file."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Self

from pykcp import smux
from pykcp.aio import KCPSession
from pykcp.core.config import Config
from pykcp.core.errors import KCPError
from pykcp.core.snmp import DEFAULT_SNMP, FIELDS_5_6_1
from pykcp.tunnel.compress import SnappyProtocol
from pykcp.tunnel.qpp import QPPPort, QuantumPermutationPad, qpp_warnings

if TYPE_CHECKING:
    from pykcp.tunnel.config import ClientConfig, ServerConfig

__all__ = [
    "SNMP_FIELDS",
    "TaskOwner",
    "Transform",
    "build_crypto",
    "configure_logging",
    "format_address",
    "go_time_format",
    "kcp_stream",
    "log_settings",
    "open_mux",
    "pipe",
    "qpp_transforms",
    "snmp_file_name",
    "snmp_logger",
    "snmp_struct_text",
    "write_snmp_row",
]

logger = logging.getLogger("pykcp.tunnel")

COPY_BUFFER = 65536
CLOSE_TIMEOUT = 30.0
"""Seconds a closing connection may take to hand over its last bytes before it is aborted."""
# kcp-go 5.6.1's Snmp.Header(), which kcptun 20210922 writes.
SNMP_FIELDS = FIELDS_5_6_1
# Field order of kcp-go 5.6.1's Snmp struct, which Go's %+v prints.
_SNMP_STRUCT_ORDER = (
    *SNMP_FIELDS[:20],
    "FECRecovered",
    "FECErrs",
    "FECParityShards",
    "FECShortShards",
)

_PIPE_ERRORS = (ConnectionError, OSError, EOFError, KCPError)


class TaskOwner:
    """Base of the tunnel ends: keeps a reference to every task it spawns (asyncio holds only
    weak ones) and runs ``start``/``close`` around ``async with``."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


# -- crypto -----------------------------------------------------------------------------------


def build_crypto(
    config: ClientConfig | ServerConfig,
) -> tuple[Config, QuantumPermutationPad | None]:
    """The session :class:`Config` with its cipher already derived, and the QPP pads when
    ``--QPP`` is on: the slow part of starting (PBKDF2, pad shuffles), for an executor."""
    kcp_config = config.kcp_config()
    kcp_config.make_crypt()
    pads = QuantumPermutationPad(config.key.encode(), config.qppcount) if config.qpp else None
    return kcp_config, pads


def qpp_transforms(
    pads: QuantumPermutationPad | None,
) -> tuple[Transform | None, Transform | None]:
    """(encrypt, decrypt) of a new stream's QPP port, or (None, None) without QPP."""
    if pads is None:
        return None, None
    port = QPPPort(pads)
    return port.encrypt, port.decrypt


def log_settings(config: ClientConfig | ServerConfig) -> None:
    """kcptun's start-up lines: every setting, then its warnings about weak QPP settings."""
    for name, value in config.describe():
        logger.info("%s: %s", name, value)
    if config.pprof:
        logger.info("pprof: not available in pykcp (ignored)")
    if config.qpp:
        for warning in qpp_warnings(config.qppcount, config.key):
            logger.warning("%s", warning)


# -- piping ---------------------------------------------------------------------------------


Transform = Callable[[bytes], bytes]
"""A byte-stream transform applied to one direction of a pipe (QPP's encrypt or decrypt)."""


async def pipe(
    reader_a: asyncio.StreamReader,
    writer_a: asyncio.StreamWriter,
    reader_b: asyncio.StreamReader,
    writer_b: asyncio.StreamWriter,
    *,
    close_wait: float = 0.0,
    a_to_b: Transform | None = None,
    b_to_a: Transform | None = None,
) -> None:
    """Copy both ways until both directions are over, then close both ends (today's kcptun
    ``std.Pipe``).

    A direction whose source ends (EOF or an error) waits *close_wait* seconds (kcptun's
    ``--closewait``), then stops writing to its destination: a TCP or Unix connection is
    half-closed, an smux stream is closed, as kcptun does (xtaci/smux streams have no
    half-close, so kcptun's ``Pipe`` falls back to ``Close``, which also ends the other
    direction). *a_to_b* / *b_to_a* transform the bytes of one direction (QPP).

    Closing flushes what was already written; a peer that does not take it within
    :data:`CLOSE_TIMEOUT` seconds gets its connection aborted.
    """
    writers = (writer_a, writer_b)

    async def copy(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, transform: Transform | None
    ) -> None:
        try:
            with contextlib.suppress(*_PIPE_ERRORS):
                while data := await src.read(COPY_BUFFER):
                    dst.write(data if transform is None else transform(data))
                    await dst.drain()
            if close_wait > 0:
                await asyncio.sleep(close_wait)
        finally:
            # Also after an unexpected error, so that the other direction ends as well.
            _end_writing(dst)

    tasks = [
        asyncio.ensure_future(copy(reader_a, writer_b, a_to_b)),
        asyncio.ensure_future(copy(reader_b, writer_a, b_to_a)),
    ]
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        _abort(writers)
        raise
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.close()
    closing = asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT)
    except TimeoutError:
        _abort(writers)
    except asyncio.CancelledError:
        _abort(writers)
        raise


def _end_writing(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        if writer.get_extra_info("stream_id") is None and writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()


def _abort(writers: tuple[asyncio.StreamWriter, ...]) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.transport.abort()


# -- logging --------------------------------------------------------------------------------


class _GoLogFormatter(logging.Formatter):
    """Go's log.LstdFlags look: ``2006/01/02 15:04:05 message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", "%Y/%m/%d %H:%M:%S")


def configure_logging(path: str = "") -> logging.Handler:
    """Send ``pykcp.tunnel`` log lines to stderr, or appended to *path* (kcptun's --log)."""
    handler: logging.Handler
    if path:
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_GoLogFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


# -- SNMP -----------------------------------------------------------------------------------

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _zone(moment: datetime.datetime, sep: str, seconds: bool, short: bool, z: bool) -> str:
    offset = moment.utcoffset() or datetime.timedelta(0)
    total = int(offset.total_seconds())
    if z and total == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hours, minutes, secs = total // 3600, total // 60 % 60, total % 60
    text = f"{sign}{hours:02d}"
    if not short:
        text += f"{sep}{minutes:02d}"
        if seconds:
            text += f"{sep}{secs:02d}"
    return text


# Go layout elements, longest first where one is a prefix of another.
_ZONE_ELEMENTS = (
    ("-07:00:00", ":", True, False, False),
    ("-070000", "", True, False, False),
    ("-07:00", ":", False, False, False),
    ("-0700", "", False, False, False),
    ("-07", "", False, True, False),
    ("Z07:00:00", ":", True, False, True),
    ("Z070000", "", True, False, True),
    ("Z07:00", ":", False, False, True),
    ("Z0700", "", False, False, True),
    ("Z07", "", False, True, True),
)


def go_time_format(layout: str, moment: datetime.datetime | None = None) -> str:
    """Go's ``time.Time.Format(layout)`` for the reference-time elements (Mon Jan 2
    15:04:05 MST 2006); kcptun formats the SNMP log file name this way."""
    if moment is None:
        moment = datetime.datetime.now().astimezone()
    out: list[str] = []
    i = 0
    n = len(layout)
    while i < n:
        rest = layout[i:]
        c = rest[0]
        hour12 = moment.hour % 12 or 12
        for element, value in (
            ("January", _MONTHS[moment.month - 1]),
            ("Jan", _MONTHS[moment.month - 1][:3]),
            ("Monday", _DAYS[moment.weekday()]),
            ("Mon", _DAYS[moment.weekday()][:3]),
            ("MST", moment.tzname() or "UTC"),
            ("2006", f"{moment.year:04d}"),
            ("002", f"{moment.timetuple().tm_yday:03d}"),
            ("01", f"{moment.month:02d}"),
            ("02", f"{moment.day:02d}"),
            ("03", f"{hour12:02d}"),
            ("04", f"{moment.minute:02d}"),
            ("05", f"{moment.second:02d}"),
            ("06", f"{moment.year % 100:02d}"),
            ("15", f"{moment.hour:02d}"),
            ("__2", f"{moment.timetuple().tm_yday:>3d}"),
            ("_2", f"{moment.day:>2d}"),
            ("1", str(moment.month)),
            ("2", str(moment.day)),
            ("3", str(hour12)),
            ("4", str(moment.minute)),
            ("5", str(moment.second)),
            ("PM", "PM" if moment.hour >= 12 else "AM"),
            ("pm", "pm" if moment.hour >= 12 else "am"),
        ):
            if rest.startswith(element):
                if element == "_2" and rest.startswith("_2006"):
                    continue  # Go reads "_2006" as "_" then the year
                if element == "Jan" and rest.startswith("January"):
                    continue
                if element == "Mon" and rest.startswith("Monday"):
                    continue
                out.append(value)
                i += len(element)
                break
        else:
            if c in "-Z":
                for element, sep, seconds, short, z in _ZONE_ELEMENTS:
                    if rest.startswith(element):
                        out.append(_zone(moment, sep, seconds, short, z))
                        i += len(element)
                        break
                else:
                    out.append(c)
                    i += 1
                continue
            if c in ".," and len(rest) > 1 and rest[1] in "09":
                digit = rest[1]
                j = 1
                while j < len(rest) and rest[j] == digit:
                    j += 1
                if not (j < len(rest) and rest[j].isdigit()):
                    digits = f"{moment.microsecond:06d}000"[: j - 1]
                    if digit == "9":
                        digits = digits.rstrip("0")
                        out.append(c + digits if digits else "")
                    else:
                        out.append(c + digits)
                    i += j
                    continue
            out.append(c)
            i += 1
    return "".join(out)


def snmp_file_name(path: str, moment: datetime.datetime | None = None) -> str:
    """kcptun's log file name: the directory as given, the file name as a Go time layout."""
    directory, name = os.path.split(path)
    formatted = go_time_format(name, moment)
    return os.path.join(directory, formatted) if directory else formatted


def write_snmp_row(path: str, now: float | None = None) -> str:
    """Append one CSV row of :data:`pykcp.DEFAULT_SNMP` (header first in a new file), as
    kcptun's ``SnmpLogger`` does; returns the file written."""
    now = time.time() if now is None else now
    moment = datetime.datetime.fromtimestamp(now).astimezone()
    name = snmp_file_name(path, moment)
    with open(name, "a", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        if file.tell() == 0:
            writer.writerow(["Unix", *SNMP_FIELDS])
        writer.writerow([str(int(now)), *(str(getattr(DEFAULT_SNMP, f)) for f in SNMP_FIELDS)])
    return name


async def snmp_logger(path: str, period: int) -> None:
    """Every *period* seconds append a row to the log at *path* (off if either is empty)."""
    if not path or period <= 0:
        return
    while True:
        await asyncio.sleep(period)
        try:
            write_snmp_row(path)
        except OSError as exc:
            logger.info("%s", exc)
            return  # kcptun's logger stops on an unwritable file


def snmp_struct_text() -> str:
    """DEFAULT_SNMP as Go prints ``%+v`` of kcp-go's ``*Snmp`` (kcptun's SIGUSR1 dump)."""
    inner = " ".join(f"{f}:{getattr(DEFAULT_SNMP, f)}" for f in _SNMP_STRUCT_ORDER)
    return "&{" + inner + "}"


# -- KCP session -> smux connection ----------------------------------------------------------

KCP_READ_LIMIT = 256 * 1024
"""StreamReader limit over a KCP session: past twice this, KCP stops being read and its
receive window closes toward the peer."""


def kcp_stream(
    session: KCPSession, *, compress: bool, limit: int = KCP_READ_LIMIT
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A StreamReader/StreamWriter pair over *session*, through kcptun's snappy framing when
    *compress* is true (what kcptun hands to smux)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport: asyncio.Transport
    if compress:
        snappy = SnappyProtocol(protocol)
        session.attach_protocol(snappy)
        assert snappy.transport is not None
        transport = snappy.transport
    else:
        transport = session.attach_protocol(protocol)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


def open_mux(
    kcp_session: KCPSession,
    config: ClientConfig | ServerConfig,
    smux_config: smux.SmuxConfig,
    *,
    client: bool,
) -> smux.MuxSession:
    """kcptun's layering on one KCP session: snappy framing (unless ``nocomp``), then smux as
    the client or the server end; logged the way kcptun logs it."""
    logger.info(
        "smux version: %d on connection: %s -> %s",
        config.smuxver,
        format_address(kcp_session.local_address),
        format_address(kcp_session.remote_address),
    )
    reader, writer = kcp_stream(kcp_session, compress=not config.nocomp)
    make = smux.MuxSession.client if client else smux.MuxSession.server
    return make(reader, writer, smux_config)


def format_address(address: object) -> str:
    """``host:port`` / ``[v6host]:port`` as Go prints a net.Addr."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)
