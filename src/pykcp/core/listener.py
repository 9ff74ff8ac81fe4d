"""kcp-go's listener demultiplexer, sans-IO (protocol.md §6.4).

One UDP socket serves many peers. Sessions are keyed by the remote address, not by conv: a
datagram from a known address goes to that address's session when its conv matches; from an
unknown address it creates a session; a new conv from a known address replaces the old session
only when it starts a conversation (sn 0). Everything else is dropped and counted.

Like :class:`~pykcp.core.session.Session`, the listener takes datagrams and a clock and gives
back events (:class:`~pykcp.core.events.NewSession`); it never touches a socket.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from pykcp.core.config import Config
from pykcp.core.events import NewSession
from pykcp.core.packet import CryptoCodec
from pykcp.core.session import Address, Buffer, Session, address_key
from pykcp.core.snmp import Snmp
from pykcp.core.wire import (
    FEC_OVERHEAD,
    KCP_OVERHEAD,
    MIN_PAYLOAD,
    TYPE_DATA,
    TYPE_OOB,
    TYPE_PARITY,
)

__all__ = ["ListenerCore"]

_unpack_u32 = struct.Struct("<I").unpack_from


class ListenerCore:
    """Routes datagrams from many peers to their sessions, creating sessions for new peers.

    Drops are counted in :attr:`snmp` (InErrs; with a cipher, junk fails its check first and
    counts as InCsumErrors). At most ``config.accept_backlog`` new sessions wait to be
    accepted (:meth:`accepted` frees a place); further new peers are dropped until then.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.snmp = Snmp()
        """Datagrams the listener itself dropped (each session counts its own)."""
        self.crypt = config.make_crypt()
        self._codec = CryptoCodec(self.crypt, snmp=self.snmp)
        self._open: Callable[[Buffer], bytes | None] | None = (
            self._codec.open if self.crypt is not None else None
        )
        self.sessions: dict[tuple[Any, ...], Session] = {}
        """Live sessions by :func:`~pykcp.core.session.address_key` of their peer."""
        self._unaccepted: set[Session] = set()
        self._events: deque[NewSession] = deque()
        self.closed = False

    def receive_datagrams(self, batch: Iterable[tuple[Buffer, Address]], now: int) -> list[Session]:
        """Route a batch of ``(datagram, address)`` pairs; the sessions it touched, in order.

        Touched sessions include new ones (also announced by :class:`NewSession` events) and
        replaced ones (their :class:`~pykcp.core.events.SessionReplaced` event waits in them).
        """
        touched: dict[int, Session] = {}
        receive = self.receive_datagram
        for data, addr in batch:
            session = receive(data, addr, now, touched)
            if session is not None:
                touched[id(session)] = session
        return list(touched.values())

    def receive_datagram(
        self,
        data: Buffer,
        addr: Address,
        now: int,
        touched: dict[int, Session] | None = None,
    ) -> Session | None:
        """Route one datagram; the session that took it, or None if it was dropped."""
        if self._open is not None:
            payload = self._open(data)
            if payload is None:
                return None
        else:
            payload = bytes(data)
        size = len(payload)
        if size < MIN_PAYLOAD:
            self.snmp.KCPInErrors += 1
            return None
        flag = payload[4] | payload[5] << 8
        key = (addr[0], addr[1], addr[3]) if len(addr) >= 4 and addr[3] else addr[:2]
        session = self.sessions.get(key)
        # Conv and sn as §6.4 reads them: plain KCP at offset 0, an F1 data shard at offset 8.
        conv: int | None
        if flag == TYPE_PARITY:
            conv = None
        elif flag == TYPE_DATA:
            conv = _unpack_u32(payload, 8)[0] if size >= FEC_OVERHEAD + KCP_OVERHEAD else None
        elif flag == TYPE_OOB:
            conv = _unpack_u32(payload, 8)[0]
        elif size >= KCP_OVERHEAD:
            conv = _unpack_u32(payload, 0)[0]
        else:
            self.snmp.InErrs += 1
            return None

        if session is not None:
            if conv is None or conv == session.conv:
                session.receive_payload(payload, now)
                return session
            # sn of the first segment; an OOB datagram counts as sn 0 (latest kcp-go).
            if flag == TYPE_DATA:
                sn = _unpack_u32(payload, 20)[0]
            elif flag == TYPE_OOB:
                sn = 0
            else:
                sn = _unpack_u32(payload, 12)[0]
            if sn != 0:
                self.snmp.InErrs += 1
                return None
            # The peer restarted from the same address with a new conversation.
            session.replace(now)
            self.remove(session)
            if touched is not None:
                touched[id(session)] = session
        if conv is None or self.closed:
            self.snmp.InErrs += 1
            return None
        if len(self._unaccepted) >= self.config.accept_backlog:
            self.snmp.InErrs += 1
            return None
        session = Session(conv, self.config, now, remote=addr, crypt=self.crypt, passive=True)
        session.receive_payload(payload, now)
        self.sessions[key] = session
        self._unaccepted.add(session)
        self._events.append(NewSession(session))
        return session

    def next_event(self) -> NewSession | None:
        """The oldest listener event not yet taken, or None."""
        events = self._events
        return events.popleft() if events else None

    def accepted(self, session: Session) -> None:
        """*session* left the accept queue: its backlog place is free again."""
        self._unaccepted.discard(session)

    def remove(self, session: Session) -> None:
        """Forget *session* (it ended); a later datagram from its peer makes a new one."""
        self._unaccepted.discard(session)
        key = address_key(session.remote)
        if self.sessions.get(key) is session:
            del self.sessions[key]

    @property
    def pending_accept(self) -> int:
        """New sessions not yet accepted."""
        return len(self._unaccepted)

    def close(self) -> None:
        """Stop creating sessions; existing sessions stay open (kcp-go semantics)."""
        self.closed = True
