"""The tunnel client (kcptun-client): local TCP connections -> smux streams over KCP.

Each accepted TCP connection goes to the next of ``conn`` KCP sessions in turn (round robin,
as kcptun); a slot whose session is missing, closed or past ``autoexpire`` gets a new one
first. Expired sessions keep serving their streams until ``scavengettl`` seconds after
expiry, when the scavenger closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from pykcp import smux
from pykcp.aio import dial
from pykcp.core.config import Config
from pykcp.tunnel.common import (
    TaskOwner,
    build_crypto,
    format_address,
    log_settings,
    open_mux,
    pipe,
    qpp_transforms,
    snmp_logger,
)
from pykcp.tunnel.config import ClientConfig, parse_address
from pykcp.tunnel.qpp import QuantumPermutationPad

__all__ = ["TunnelClient"]

logger = logging.getLogger("pykcp.tunnel")

RECONNECT_DELAY = 1.0  # kcptun's waitConn sleeps one second between attempts
SCAVENGE_PERIOD = 1.0


@dataclass
class _TimedSession:
    session: smux.MuxSession
    expiry: float  # time.monotonic()


class TunnelClient(TaskOwner):
    """Listens on ``config.localaddr`` and forwards every connection to the tunnel server.

    Use ``await client.start()``, then ``await client.close()`` (or ``async with``).
    """

    def __init__(self, config: ClientConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self._kcp_config: Config | None = None
        self._qpp: QuantumPermutationPad | None = None
        self._smux_config = config.smux_config()
        self._server: asyncio.Server | None = None
        self._slots: list[_TimedSession | None] = [None] * config.conn
        self._slot_locks = [asyncio.Lock() for _ in range(config.conn)]
        self._rr = 0
        self._expiring: list[_TimedSession] = []
        self._all_sessions: set[smux.MuxSession] = set()
        self._closed = False

    @property
    def local_address(self) -> tuple[str, int]:
        """Where the client accepts TCP connections (the first listening socket)."""
        assert self._server is not None, "not started"
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    @property
    def sessions(self) -> list[smux.MuxSession]:
        """The smux sessions currently in the round-robin slots."""
        return [slot.session for slot in self._slots if slot is not None]

    async def start(self) -> None:
        """Derive the key (and the QPP pads) and start listening (sessions are made on the
        first connections)."""
        config = self.config
        loop = asyncio.get_running_loop()
        self._kcp_config, self._qpp = await loop.run_in_executor(None, build_crypto, config)
        host, port = parse_address(config.localaddr)
        self._server = await asyncio.start_server(self._on_connection, host, port)
        logger.info("listening on: %s", format_address(self.local_address))
        log_settings(config)
        self._spawn(snmp_logger(config.snmplog, config.snmpperiod))
        if config.autoexpire > 0:
            self._spawn(self._scavenger())

    async def close(self) -> None:
        """Stop listening and close every session and connection."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        sessions = list(self._all_sessions)
        for session in sessions:
            session.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.wait_closed()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    # -- internals ----------------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._closed:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        index = self._rr % self.config.conn
        self._rr += 1
        try:
            session = await self._session_for(index)
            await self._handle(session, reader, writer)
        except asyncio.CancelledError:
            pass  # shutting down; asyncio's server would log a cancelled handler as an error
        finally:
            writer.close()

    async def _session_for(self, index: int) -> smux.MuxSession:
        async with self._slot_locks[index]:
            slot = self._slots[index]
            autoexpire = self.config.autoexpire
            if (
                slot is None
                or slot.session.is_closed
                or (autoexpire > 0 and time.monotonic() > slot.expiry)
            ):
                session = await self._wait_session()
                slot = _TimedSession(session, time.monotonic() + autoexpire)
                self._slots[index] = slot
                if autoexpire > 0:
                    self._expiring.append(
                        _TimedSession(session, slot.expiry + self.config.scavengettl)
                    )
            return slot.session

    async def _wait_session(self) -> smux.MuxSession:
        while True:
            try:
                return await self._create_session()
            except Exception as exc:  # kcptun retries whatever dial() reported
                logger.info("re-connecting: %s", exc)
                await asyncio.sleep(RECONNECT_DELAY)

    async def _create_session(self) -> smux.MuxSession:
        config = self.config
        kcp_session = await dial(config.remoteaddr, self._kcp_config)
        session = open_mux(kcp_session, config, self._smux_config, client=True)
        self._all_sessions.add(session)
        self._spawn(self._forget_when_closed(session))
        return session

    async def _forget_when_closed(self, session: smux.MuxSession) -> None:
        try:
            await session.wait_closed()
        finally:
            self._all_sessions.discard(session)

    async def _handle(
        self,
        session: smux.MuxSession,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        quiet = self.config.quiet
        peer = format_address(writer.get_extra_info("peername"))
        try:
            stream_reader, stream_writer = await session.open_stream()
        except (OSError, ConnectionError) as exc:
            logger.info("%s", exc)
            return
        out = (
            f"{format_address(session.get_extra_info('peername'))}"
            f"({stream_writer.get_extra_info('stream_id')})"
        )
        if not quiet:
            logger.info("stream opened in: %s out: %s", peer, out)
        encrypt, decrypt = qpp_transforms(self._qpp)
        try:
            await pipe(
                reader,
                writer,
                stream_reader,
                stream_writer,
                close_wait=self.config.closewait,
                a_to_b=encrypt,
                b_to_a=decrypt,
            )
        finally:
            if not quiet:
                logger.info("stream closed in: %s out: %s", peer, out)

    async def _scavenger(self) -> None:
        while True:
            await asyncio.sleep(SCAVENGE_PERIOD)
            keep = []
            now = time.monotonic()
            for item in self._expiring:
                local = format_address(item.session.get_extra_info("sockname"))
                if item.session.is_closed:
                    logger.info("scavenger: session normally closed: %s", local)
                elif now > item.expiry:
                    item.session.close()
                    logger.info("scavenger: session closed due to ttl: %s", local)
                else:
                    keep.append(item)
            self._expiring = keep
