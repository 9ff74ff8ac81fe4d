"""The tunnel server (kcptun-server): KCP sessions carrying smux -> one TCP (or Unix socket)
connection to the target per stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pykcp import smux
from pykcp.aio import KCPListener, KCPSession, listen
from pykcp.tunnel.common import TaskOwner, format_address, open_mux, pipe, snmp_logger
from pykcp.tunnel.config import ServerConfig, parse_address, split_host_port

__all__ = ["TunnelServer"]

logger = logging.getLogger("pykcp.tunnel")


class TunnelServer(TaskOwner):
    """Accepts KCP sessions on ``config.listen`` and forwards their streams to
    ``config.target``. Use ``await server.start()``, then ``await server.close()``."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self._smux_config = config.smux_config()
        self._listener: KCPListener | None = None
        self._sessions: set[smux.MuxSession] = set()
        self._closed = False

    @property
    def local_address(self) -> tuple[str, int]:
        """The UDP address the server listens on."""
        assert self._listener is not None, "not started"
        address = self._listener.local_address
        return address[0], address[1]

    @property
    def listener(self) -> KCPListener:
        """The KCP listener (its ``stats()`` and ``snmp`` count what it dropped, crypto
        failures included)."""
        assert self._listener is not None, "not started"
        return self._listener

    @property
    def sessions(self) -> frozenset[smux.MuxSession]:
        """The smux sessions currently served."""
        return frozenset(self._sessions)

    async def start(self) -> None:
        """Derive the key and start listening."""
        config = self.config
        loop = asyncio.get_running_loop()
        crypt = await loop.run_in_executor(None, config.make_crypt)
        host, port = parse_address(config.listen)
        kcp_config = config.kcp_config(crypt)
        if host is None:
            # Go's ":port" is every address of both families.
            try:
                self._listener = await listen(("::", port), kcp_config)
            except OSError:
                self._listener = await listen(("0.0.0.0", port), kcp_config)
        else:
            self._listener = await listen((host, port), kcp_config)
        logger.info("listening on: %s", format_address(self.local_address))
        if config.cipher != config.crypt:
            logger.info("unknown cipher %r: using aes, as kcptun does", config.crypt)
        for name, value in config.describe():
            logger.info("%s: %s", name, value)
        if config.pprof:
            logger.info("pprof: not available in pykcp (ignored)")
        self._spawn(snmp_logger(config.snmplog, config.snmpperiod))
        self._spawn(self._accept_loop())

    async def close(self) -> None:
        """Stop listening and close every session and connection."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):
            session.close()
        if self._listener is not None and not self._listener.closed:
            self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- internals ----------------------------------------------------------------------------

    async def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                kcp_session = await self._listener.accept()
            except (OSError, ConnectionError) as exc:
                logger.info("%s", exc)
                return
            logger.info("remote address: %s", format_address(kcp_session.remote_address))
            self._spawn(self._handle_mux(kcp_session))

    async def _handle_mux(self, kcp_session: KCPSession) -> None:
        session = open_mux(kcp_session, self.config, self._smux_config, client=False)
        self._sessions.add(session)
        try:
            while True:
                try:
                    stream = await session.accept_stream()
                except (OSError, ConnectionError) as exc:
                    logger.info("%s", exc)
                    return
                self._spawn(self._handle_stream(session, *stream))
        finally:
            self._sessions.discard(session)
            session.close()
            with contextlib.suppress(Exception):
                await session.wait_closed()

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        target = self.config.target
        if self.config.target_is_unix:
            return await asyncio.open_unix_connection(target)
        host, port = split_host_port(target)
        return await asyncio.open_connection(host or None, port)

    async def _handle_stream(
        self,
        session: smux.MuxSession,
        stream_reader: asyncio.StreamReader,
        stream_writer: asyncio.StreamWriter,
    ) -> None:
        try:
            reader, writer = await self._open_target()
        except OSError as exc:
            logger.info("%s", exc)
            stream_writer.close()
            return
        quiet = self.config.quiet
        inbound = (
            f"{format_address(session.get_extra_info('peername'))}"
            f"({stream_writer.get_extra_info('stream_id')})"
        )
        out = format_address(writer.get_extra_info("peername"))
        if not quiet:
            logger.info("stream opened in: %s out: %s", inbound, out)
        try:
            await pipe(stream_reader, stream_writer, reader, writer)
        finally:
            if not quiet:
                logger.info("stream closed in: %s out: %s", inbound, out)
