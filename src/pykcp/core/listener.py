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
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any, Final

from pykcp.core.config import Config
from pykcp.core.events import NewSession
from pykcp.core.packet import CryptoCodec
from pykcp.core.session import Address, Buffer, Session, address_key
from pykcp.core.snmp import Snmp
from pykcp.core.stats import ListenerStats
from pykcp.core.wire import (
    FEC_OVERHEAD,
    KCP_OVERHEAD,
    MIN_PAYLOAD,
    TYPE_DATA,
    TYPE_OOB,
    TYPE_PARITY,
)

__all__ = ["TIME_WAIT_MS", "ListenerCore"]

_unpack_u32 = struct.Struct("<I").unpack_from

TIME_WAIT_MS: Final = 30_000
"""How long a listener remembers a conversation it ended: datagrams of it from the same
address are dropped meanwhile (each one restarts the wait) instead of opening a phantom
session that the application would accept again (protocol.md §6.4)."""

# Private copies of the wire constants for the code below: C constants in the compiled build
# (listener.pxd), where imported names stay Python objects.
_FEC_OVERHEAD = FEC_OVERHEAD
_KCP_OVERHEAD = KCP_OVERHEAD
_MIN_PAYLOAD = MIN_PAYLOAD
_TYPE_DATA = TYPE_DATA
_TYPE_OOB = TYPE_OOB
_TYPE_PARITY = TYPE_PARITY


class ListenerCore:
    """Routes datagrams from many peers to their sessions, creating sessions for new peers.

    Drops are counted in :attr:`snmp` (InErrs; with a cipher, junk fails its check first and
    counts as InCsumErrors). Bounds (protocol.md §6.4): at most ``config.max_sessions`` live
    sessions, and at most ``config.accept_backlog`` new ones that are not yet accepted
    (:meth:`accepted`) or not yet established (the peer sent a second datagram or
    acknowledged ours); further new peers are dropped until a place frees up.
    """

    def __init__(
        self, config: Config, *, nonce_source: Callable[[int], bytes] | None = None
    ) -> None:
        """*nonce_source* is passed to every session (reproducible datagrams, for tests)."""
        self._nonce_source = nonce_source
        self.config = config
        self.snmp = Snmp()
        """Datagrams the listener itself dropped (each session counts its own)."""
        self.crypt = config.make_crypt()
        self._codec = CryptoCodec(self.crypt, snmp=self.snmp, nonce_source=nonce_source)
        self._crypto = self.crypt is not None
        self.sessions: dict[tuple[Any, ...], Session] = {}
        """Live sessions by :func:`~pykcp.core.session.address_key` of their peer."""
        self._unaccepted: set[Session] = set()
        self._pending: set[Session] = set()  # unaccepted or not established: the backlog
        self._ended: OrderedDict[tuple[Any, ...], int] = OrderedDict()  # (peer, conv) -> expiry
        self._events: deque[NewSession] = deque()
        self.closed = False
        self.dropped_full = 0
        """New peers turned away because the backlog or max_sessions was full."""
        # What ended sessions counted: the listener's totals must never go back when a
        # session ends (a Prometheus counter that drops reads as a restart).
        self._ended_snmp = Snmp()

    def receive_datagrams(self, batch: Iterable[tuple[Buffer, Address]], now: int) -> list[Session]:
        """Route a batch of ``(datagram, address)`` pairs; the sessions it touched, in order.

        Touched sessions include new ones (also announced by :class:`NewSession` events) and
        replaced ones (their :class:`~pykcp.core.events.SessionReplaced` event waits in them).
        """
        touched: dict[int, Session] = {}
        for data, addr in batch:
            session = self.receive_datagram(data, addr, now, touched)
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
        payload: Buffer = data
        if self._crypto:
            opened = self._codec.open(data)
            if opened is None:
                return None
            payload = opened
        size = len(payload)
        if size < _MIN_PAYLOAD:
            self.snmp.KCPInErrors += 1
            return None
        flag = payload[4] | payload[5] << 8
        key = (addr[0], addr[1], addr[3]) if len(addr) >= 4 and addr[3] else addr[:2]
        session = self.sessions.get(key)
        # Conv and sn as §6.4 reads them: plain KCP at offset 0, an F1 data shard at offset 8.
        conv: int | None
        if flag == _TYPE_PARITY:
            conv = None
        elif flag == _TYPE_DATA:
            conv = _unpack_u32(payload, 8)[0] if size >= _FEC_OVERHEAD + _KCP_OVERHEAD else None
        elif flag == _TYPE_OOB:
            conv = _unpack_u32(payload, 8)[0]
        elif size >= _KCP_OVERHEAD:
            conv = _unpack_u32(payload, 0)[0]
        else:
            self.snmp.InErrs += 1
            return None

        if session is not None:
            if conv is None or conv == session.conv:
                session.receive_payload(payload, now)
                pending = self._pending
                if pending and session.established and session not in self._unaccepted:
                    pending.discard(session)
                return session
            # sn of the first segment; an OOB datagram counts as sn 0 (latest kcp-go).
            if flag == _TYPE_DATA:
                sn = _unpack_u32(payload, 20)[0]
            elif flag == _TYPE_OOB:
                sn = 0
            else:
                sn = _unpack_u32(payload, 12)[0]
            if sn != 0:
                self.snmp.InErrs += 1
                return None
            # The peer restarted from the same address with a new conversation.
            session.replace(now)
            self.remove(session, now)
            if touched is not None:
                touched[id(session)] = session
        if conv is None or self.closed:
            self.snmp.InErrs += 1
            return None
        if self._ended and self._recently_ended((key, conv), now):
            self.snmp.InErrs += 1  # a straggler of a conversation that ended here
            return None
        config = self.config
        if len(self._pending) >= config.accept_backlog or len(self.sessions) >= config.max_sessions:
            self.snmp.InErrs += 1
            self.dropped_full += 1
            return None
        session = Session(
            conv,
            config,
            now,
            remote=addr,
            crypt=self.crypt,
            passive=True,
            nonce_source=self._nonce_source,
        )
        session.receive_payload(payload, now)
        self.sessions[key] = session
        self._unaccepted.add(session)
        self._pending.add(session)
        self._events.append(NewSession(session))
        return session

    def _recently_ended(self, conversation: tuple[Any, ...], now: int) -> bool:
        ended = self._ended
        while ended:  # forget what expired (the oldest first)
            oldest, expiry = next(iter(ended.items()))
            if expiry > now:
                break
            del ended[oldest]
        if conversation not in ended:
            return False
        ended[conversation] = now + TIME_WAIT_MS
        ended.move_to_end(conversation)
        return True

    def next_event(self) -> NewSession | None:
        """The oldest listener event not yet taken, or None."""
        events = self._events
        return events.popleft() if events else None

    def accepted(self, session: Session) -> None:
        """*session* left the accept queue: once established it leaves the backlog too."""
        self._unaccepted.discard(session)
        if session.established:
            self._pending.discard(session)

    def remove(self, session: Session, now: int) -> None:
        """Forget *session* (it ended). Its peer's datagrams of that conversation are dropped
        for :data:`TIME_WAIT_MS` after the last one; a new conversation opens a new session."""
        self._unaccepted.discard(session)
        self._pending.discard(session)
        key = address_key(session.remote)
        if self.sessions.get(key) is session:
            del self.sessions[key]
            self._ended_snmp.add(session.snmp)
        ended = self._ended
        ended[(key, session.conv)] = now + TIME_WAIT_MS
        ended.move_to_end((key, session.conv))
        while len(ended) > self.config.max_sessions:
            ended.popitem(last=False)

    @property
    def pending_accept(self) -> int:
        """New sessions not yet accepted."""
        return len(self._unaccepted)

    @property
    def backlog(self) -> int:
        """New sessions not yet accepted or not yet established."""
        return len(self._pending)

    def stats(self) -> ListenerStats:
        """The listener's bounds and drops, and its sessions' counters (live and ended) summed."""
        live = [self._ended_snmp, *(session.snmp for session in self.sessions.values())]
        snmp = self.snmp
        return ListenerStats(
            sessions=len(self.sessions),
            backlog=len(self._pending),
            pending_accept=len(self._unaccepted),
            sessions_created=sum(s.PassiveOpens for s in live),
            dropped_full=self.dropped_full,
            dropped_invalid=snmp.InErrs + snmp.KCPInErrors,
            crypto_failures=snmp.InCsumErrors,
            bytes_sent=sum(s.BytesSent for s in live),
            bytes_received=sum(s.BytesReceived for s in live),
            datagrams_sent=snmp.OutPkts + sum(s.OutPkts for s in live),
            datagrams_received=sum(s.InPkts for s in live),
            retransmitted=sum(s.RetransSegs for s in live),
            fec_recovered=sum(s.FECRecovered for s in live),
        )

    def close(self) -> None:
        """Stop creating sessions (the asyncio listener closes the live ones as well)."""
        self.closed = True
