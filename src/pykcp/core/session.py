"""The sans-IO session: KCP + FEC + crypto joined into kcp-go's datagram pipeline.

Nothing here reads a clock, touches a socket or changes process-wide state. An adapter drives a
:class:`Session` the way aioquic drives a connection:

* inputs: :meth:`~Session.receive_datagram` / :meth:`~Session.receive_datagrams` for what the
  socket delivered, :meth:`~Session.handle_timer` when :meth:`~Session.get_timer` is due, and
  the API calls (:meth:`~Session.send`, :meth:`~Session.recv`, :meth:`~Session.close`, ...);
* outputs: :meth:`~Session.datagrams_to_send` (a batch for the socket, to :attr:`remote`),
  :meth:`~Session.get_timer` and :meth:`~Session.next_event` (see :mod:`pykcp.core.events`).

Every ``now`` is a monotonic time in milliseconds (any origin); the KCP core sees it modulo
2**32. Transmit (protocol.md §6.2): KCP output -> [FEC header; parity after every group] ->
[crypto] -> datagram. Receive (§6.3): crypto open -> type at offset 4 (F1/F2 FEC, F3
out-of-band, else plain KCP) -> KCP input. Bad input never raises: it is dropped and counted
in :attr:`Session.snmp`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from pykcp.core.config import Config
from pykcp.core.errors import ConfigError, KCPError, PeerGoneError, SessionClosedError
from pykcp.core.events import (
    DataReadable,
    Event,
    OOBReceived,
    PeerGone,
    SessionClosed,
    SessionReplaced,
    Writable,
)
from pykcp.core.fec import FECDecoder, FECEncoder, encode_oob
from pykcp.core.kcp import KCP
from pykcp.core.packet import CryptoCodec
from pykcp.core.snmp import Snmp
from pykcp.core.stats import SessionStats
from pykcp.core.trace import LIVENESS_EXPIRED, REPLACED, WINDOW_FULL, Tracer
from pykcp.core.wire import (
    FEC_OVERHEAD,
    KCP_OVERHEAD,
    MIN_PAYLOAD,
    MTU_LIMIT,
    OOB_HEADER_SIZE,
    TYPE_DATA,
    TYPE_OOB,
    TYPE_PARITY,
)

if TYPE_CHECKING:
    from pykcp.core.crypt import AEADCrypt, BlockCrypt

__all__ = ["AMPLIFICATION_FACTOR", "Address", "Buffer", "Session", "address_key", "new_conv"]

Address = Any
"""A socket address as ``recvfrom`` returns it: ``(host, port)`` or ``(host, port, flow,
scope)``."""

Buffer = bytes | bytearray | memoryview

AMPLIFICATION_FACTOR: Final = 3
"""A listener's session sends at most this many times the bytes it received until its peer
proves that it receives what is sent to it (protocol.md §6.4), as QUIC does."""
RATE_BURST: Final = 64 * MTU_LIMIT
"""Bytes a rate-limited session may send at once after a pause (kcp-go: a batch of 64)."""


# Private copies of the wire constants for the code below: C constants in the compiled build
# (session.pxd), where imported names stay Python objects.
_FEC_OVERHEAD = FEC_OVERHEAD
_KCP_OVERHEAD = KCP_OVERHEAD
_MIN_PAYLOAD = MIN_PAYLOAD
_MTU_LIMIT = MTU_LIMIT
_OOB_HEADER_SIZE = OOB_HEADER_SIZE
_TYPE_DATA = TYPE_DATA
_TYPE_OOB = TYPE_OOB
_TYPE_PARITY = TYPE_PARITY


def new_conv() -> int:
    """A random conversation id, as kcp-go's Dial picks it (any u32, 0 included)."""
    return int.from_bytes(os.urandom(4), "little")


def address_key(addr: Address) -> tuple[Any, ...]:
    """The identity of a remote peer: host and port (plus the scope of a link-local IPv6).

    kcp-go keys sessions by the address string; flowinfo is not part of it (protocol.md §6.4).
    """
    if len(addr) >= 4 and addr[3]:
        return (addr[0], addr[1], addr[3])
    return (addr[0], addr[1])


class Session:
    """One KCP conversation with one peer: the sans-IO heart of kcp-go's ``UDPSession``."""

    def __init__(
        self,
        conv: int,
        config: Config,
        now: int,
        *,
        remote: Address = None,
        crypt: BlockCrypt | AEADCrypt | None = None,
        passive: bool = False,
        nonce_source: Callable[[int], bytes] | None = None,
    ) -> None:
        """*nonce_source* (n -> n bytes) replaces the random nonces, which makes every datagram
        reproducible and exactly what kcp-go would send with those nonces: for tests only."""
        self.conv = conv & 0xFFFFFFFF
        self.config = config
        self.remote = remote
        """The peer's address (datagrams from :meth:`datagrams_to_send` go there)."""
        self.passive = passive
        """True for a session a listener created."""
        self.snmp = Snmp()
        """This session's counters (the adapter may attach them to ``DEFAULT_SNMP``)."""

        self._codec = CryptoCodec(crypt, snmp=self.snmp, nonce_source=nonce_source)
        self._crypto = crypt is not None
        self._overhead = self._codec.overhead
        self._fec_encoder: FECEncoder | None = None
        self._fec_decoder: FECDecoder | None = None
        if config.fec_enabled:
            self._fec_encoder = FECEncoder(config.data_shards, config.parity_shards, snmp=self.snmp)
            self._fec_decoder = FECDecoder(config.data_shards, config.parity_shards, snmp=self.snmp)

        kcp = KCP(self.conv, snmp=self.snmp)
        self._kcp = kcp
        # Each datagram is one buffer: KCP leaves room for the FEC header and the crypto
        # header in front, and the layers below write into it in place (protocol.md §6.2).
        self._crypto_head = self._codec.header_size
        kcp.reserve = self._crypto_head + (_FEC_OVERHEAD if self._fec_encoder is not None else 0)
        if not self.set_mtu(config.mtu):
            raise ConfigError(f"mtu {config.mtu} leaves no room for a KCP segment")
        kcp.nodelay(*config.timing())
        kcp.wndsize(config.sndwnd, config.rcvwnd)
        kcp.stream = config.stream
        kcp.ack_nodelay = config.ack_nodelay
        # kcp-go updates a session as soon as it exists; that first flush opens the congestion
        # window (cwnd 0 -> 1), without which the first write would wait for the timer.
        kcp.flush(now & 0xFFFFFFFF)
        self.write_delay = config.write_delay
        """[SetWriteDelay]: a send waits for the timer (or a full window) instead of flushing."""

        self._outbox: list[bytearray] = []  # sealed out-of-band datagrams
        # Sealed datagrams held back by the amplification limit or the rate limit.
        self._held: deque[bytearray] = deque()
        self._received_bytes = 0
        self._sent_bytes = 0
        self._rate = config.rate_limit
        self._tokens = float(RATE_BURST)
        self._tokens_at = now
        self._events: deque[Event] = deque()
        self._trace: Tracer | None = None
        self._read_signalled = False
        self._write_blocked = False
        self._write_threshold: int | None = None
        self._idle_ms = _seconds_to_ms(config.idle_timeout)
        self._dead_link_ms = _seconds_to_ms(config.dead_link_timeout)
        self._keepalive_ms = _seconds_to_ms(config.keepalive)
        self._last_probe = now
        self.last_heard = now
        """When the peer was last heard from: a datagram KCP accepted (protocol.md §6.5)."""
        self._accepted = 0
        # Liveness rules start with the first exchange: a client that never wrote is silent.
        self._started = passive
        self._created = now
        self._establish_ms = _seconds_to_ms(config.establish_timeout) if passive else 0
        self.established = not passive
        """A listener's session is established once its peer sent a second datagram or
        acknowledged ours; until then it holds a place in the listener's backlog."""
        self.validated = not passive
        """The peer acknowledged data this session sent, so it does receive at its address:
        until then a listener's session sends at most AMPLIFICATION_FACTOR times what it
        received."""
        self.closed = False
        self.error: KCPError | None = None
        """Why the session ended (None while open, and after a local close)."""
        # The flush timer: None = quiescent (nothing to send, nothing in flight).
        self._deadline: int | None = now + kcp.interval
        if passive:
            self.snmp.PassiveOpens += 1
        else:
            self.snmp.ActiveOpens += 1

    # -- state an adapter reads ------------------------------------------------------------

    @property
    def rto(self) -> int:
        """Current retransmission timeout in ms [GetRTO]."""
        return int(self._kcp.rx_rto)

    @property
    def srtt(self) -> int:
        """Smoothed round-trip time in ms [GetSRTT]."""
        return int(self._kcp.rx_srtt)

    @property
    def rttvar(self) -> int:
        """Round-trip time variation in ms [GetSRTTVar]."""
        return int(self._kcp.rx_rttvar)

    @property
    def mss(self) -> int:
        """Largest payload of one KCP segment."""
        return int(self._kcp.mss)

    @property
    def mtu(self) -> int:
        """Largest datagram, all headers included."""
        return int(self._kcp.mtu) + self.header_size

    @property
    def snd_wnd(self) -> int:
        return int(self._kcp.snd_wnd)

    @property
    def rcv_wnd(self) -> int:
        return int(self._kcp.rcv_wnd)

    @property
    def waitsnd(self) -> int:
        """Segments queued or in flight, not yet acknowledged [GetWaitSnd-like]."""
        return int(self._kcp.waitsnd())

    @property
    def write_threshold(self) -> int:
        """:attr:`writable` means fewer than this many segments wait (default: ``snd_wnd``)."""
        threshold = self._write_threshold
        return int(self._kcp.snd_wnd) if threshold is None else threshold

    @write_threshold.setter
    def write_threshold(self, segments: int | None) -> None:
        self._write_threshold = segments
        self._check_writable()

    @property
    def writable(self) -> bool:
        """A write may go in: fewer than :attr:`write_threshold` segments wait.

        With the default threshold this is kcp-go's Write rule (a write blocks while
        ``snd_wnd`` segments wait).
        """
        return self._kcp.waitsnd() < self.write_threshold

    @property
    def readable(self) -> bool:
        """A complete message waits for :meth:`recv`."""
        return self._kcp.peeksize() >= 0

    @property
    def header_size(self) -> int:
        """Bytes every datagram carries besides its KCP segments (crypto and FEC headers)."""
        fec = _FEC_OVERHEAD if self._fec_encoder is not None else 0
        return self._codec.overhead + fec

    def stats(self, now: int) -> SessionStats:
        """A snapshot of this session's state and counters at *now*."""
        kcp = self._kcp
        snmp = self.snmp
        return SessionStats(
            conv=self.conv,
            srtt=int(kcp.rx_srtt),
            rttvar=int(kcp.rx_rttvar),
            rto=int(kcp.rx_rto),
            snd_wnd=int(kcp.snd_wnd),
            rcv_wnd=int(kcp.rcv_wnd),
            remote_wnd=int(kcp.rmt_wnd),
            cwnd=int(kcp.cwnd),
            mss=int(kcp.mss),
            in_flight=kcp.snd_buf_size,
            send_queue=kcp.snd_queue_size,
            recv_queue=kcp.rcv_queue_size,
            recv_buffer=kcp.rcv_buf_size,
            bytes_sent=snmp.BytesSent,
            bytes_received=snmp.BytesReceived,
            segments_sent=snmp.OutSegs,
            segments_received=snmp.InSegs,
            datagrams_sent=snmp.OutPkts,
            datagrams_received=snmp.InPkts,
            retransmitted=snmp.RetransSegs,
            retransmitted_rto=snmp.LostSegs,
            retransmitted_fast=snmp.FastRetransSegs,
            retransmitted_early=snmp.EarlyRetransSegs,
            duplicate_segments=snmp.RepeatSegs,
            fec_recovered=snmp.FECRecovered,
            fec_unrecoverable=snmp.FECShortShards,
            fec_errors=snmp.FECErrs,
            crypto_failures=snmp.InCsumErrors,
            input_errors=snmp.KCPInErrors + snmp.InErrs,
            last_heard=max(0, now - self.last_heard),
        )

    @property
    def kcp(self) -> KCP:
        """The ARQ core (for tests and tools that inspect it; adapters use the above)."""
        return self._kcp

    # -- options (kcp-go setters) ----------------------------------------------------------

    def set_mtu(self, mtu: int) -> bool:
        """Largest UDP payload, headers included [SetMtu]; False if no segment would fit."""
        kcp_mtu = min(mtu, _MTU_LIMIT) - self.header_size
        if kcp_mtu <= _KCP_OVERHEAD:
            return False
        return bool(self._kcp.setmtu(kcp_mtu))

    def set_nodelay(self, nodelay: int, interval: int, resend: int, nc: int) -> None:
        """[SetNoDelay]; negative values leave a setting unchanged."""
        self._kcp.nodelay(nodelay, interval, resend, nc)

    def set_window_size(self, sndwnd: int, rcvwnd: int) -> None:
        """[SetWindowSize]; values <= 0 leave a window unchanged."""
        self._kcp.wndsize(sndwnd, rcvwnd)
        self._check_writable()

    def set_stream_mode(self, enable: bool) -> None:
        """[SetStreamMode]"""
        self._kcp.stream = enable

    def set_ack_nodelay(self, enable: bool) -> None:
        """[SetACKNoDelay]"""
        self._kcp.ack_nodelay = enable

    def set_trace(self, tracer: Tracer | None) -> None:
        """Send this session's trace events to *tracer* (see :mod:`pykcp.core.trace`); None
        stops tracing [SetLogger]."""
        self._trace = tracer
        self._kcp.trace = tracer
        if self._fec_decoder is not None:
            self._fec_decoder.trace = tracer

    # -- application data ------------------------------------------------------------------

    def send(self, data: Buffer, now: int) -> int:
        """Queue all of *data*, cut at mss so every fragment id is 0 [Write]; its length.

        Raises the session's error (or :class:`SessionClosedError`) once closed.
        """
        if self.closed:
            raise self.error or SessionClosedError("session is closed")
        size = len(data)
        if not size:
            return 0
        kcp = self._kcp
        if kcp.waitsnd() == 0:
            # Silence before this write was not the peer's fault: restart the dead-link clock.
            self.last_heard = max(self.last_heard, now)
            self._started = True
        mss = kcp.mss
        if size <= mss:
            kcp.send(bytes(data))
        else:
            # Slicing bytes copies once; other buffers go through a memoryview.
            source = data if isinstance(data, bytes) else memoryview(data)
            for start in range(0, size, mss):
                kcp.send(bytes(source[start : start + mss]))
        self.snmp.BytesSent += size
        waiting = kcp.waitsnd()
        if waiting >= self.write_threshold:
            if self._trace is not None and not self._write_blocked:
                self._trace(WINDOW_FULL, {"waiting": waiting, "snd_wnd": kcp.snd_wnd, "now": now})
            self._write_blocked = True
        if not self.write_delay or waiting >= kcp.snd_wnd:
            self._flush(now)
        else:
            self._wake(now + kcp.interval)
        return size

    def recv(self, now: int) -> bytes | None:
        """The next message from the peer, or None when none is complete [Read]."""
        data = self._kcp.recv()
        if data is None:
            self._read_signalled = False
            return None
        self.snmp.BytesReceived += len(data)
        # Reading may reopen our receive window: the next flush tells the peer.
        self._wake(now + self._kcp.interval)
        return data

    def send_oob(self, payload: bytes, now: int) -> None:
        """An unreliable out-of-band datagram (latest kcp-go; needs FEC) [SendOOB]."""
        del now  # OOB datagrams skip the FEC encoder, so they need no time
        if self._fec_encoder is None:
            raise ConfigError("OOB requires FEC to be enabled")
        if len(payload) > self._kcp.mtu - 4:
            raise ConfigError("OOB payload too large")
        if self.closed:
            raise self.error or SessionClosedError("session is closed")
        packet = bytearray(self._crypto_head)
        packet += encode_oob(self.conv, payload)
        self._outbox.append(self._codec.seal_into(packet))

    # -- datagrams in ----------------------------------------------------------------------

    def receive_datagram(self, data: Buffer, now: int) -> bool:
        """A datagram from the peer, crypto included. True if the session accepted it."""
        if self._crypto:
            payload = self._codec.open(data)
            if payload is None:
                return False
            return self.receive_payload(payload, now)
        return self.receive_payload(data, now)

    def receive_datagrams(self, datagrams: Iterable[Buffer], now: int) -> None:
        """A batch of datagrams from the peer, in arrival order."""
        for data in datagrams:
            self.receive_datagram(data, now)

    def receive_payload(self, payload: Buffer, now: int) -> bool:
        """A datagram whose crypto layer is already open (the listener opens it to route it).

        True if the session accepted it: only then is the peer considered alive (a datagram
        with another conv, or one KCP rejects, does not count, protocol.md §6.5).
        """
        snmp = self.snmp
        size = len(payload)
        if size < _MIN_PAYLOAD:
            snmp.KCPInErrors += 1
            return False
        if self.closed:
            return False
        snmp.InPkts += 1
        snmp.InBytes += size
        kcp = self._kcp
        flag = payload[4] | payload[5] << 8
        kcp_now = now & 0xFFFFFFFF
        accepted = False
        if flag == _TYPE_DATA or flag == _TYPE_PARITY:  # noqa: SIM109 - faster than a tuple
            decoder = self._fec_decoder
            if decoder is None:
                # A peer with FEC talking to a side without it: decode with a tuner that
                # learns the peer's shard counts (protocol.md §3.6).
                decoder = self._fec_decoder = FECDecoder(1, 1, snmp=snmp)
                decoder.trace = self._trace
            if flag == _TYPE_DATA:
                if kcp.input(payload[_FEC_OVERHEAD:], kcp_now, True):
                    snmp.KCPInErrors += 1
                else:
                    accepted = True
            for shard in decoder.decode(payload):
                if kcp.input(shard, kcp_now, False):
                    snmp.KCPInErrors += 1
                else:
                    accepted = True
        elif flag == _TYPE_OOB:
            if int.from_bytes(payload[8:12], "little") != self.conv:
                snmp.KCPInErrors += 1
                return False
            snmp.OOBPackets += 1
            accepted = True
            self._events.append(OOBReceived(bytes(payload[_OOB_HEADER_SIZE:])))
        elif kcp.input(payload, kcp_now, True):
            snmp.KCPInErrors += 1
        else:
            accepted = True
        if accepted:
            self.last_heard = now
            if not self.validated:
                self._confirm(size)
            self._started = True
            # ACKs this datagram queued leave within one interval, as in kcp-go (ACK no-delay
            # sent them from inside KCP input already, and KCP flushes by itself when ACKs
            # open the window). A datagram that left nothing to answer (an ACK) needs no timer.
            if kcp.acklist or kcp.probe or kcp.has_output():
                at = now + kcp.interval
                deadline = self._deadline
                if deadline is None or at < deadline:
                    self._deadline = at
            if not self._read_signalled and kcp.peeksize() >= 0:
                self._read_signalled = True
                self._events.append(DataReadable())
            if self._write_blocked:
                self._check_writable()
        return accepted

    def _confirm(self, size: int) -> None:
        """An accepted datagram of a session whose peer is not validated yet."""
        self._accepted += 1
        self._received_bytes += size + self._overhead
        if self._kcp.snd_una:  # the peer acknowledged our data: it receives at its address
            self.validated = self.established = True
        elif self._accepted >= 2:
            self.established = True

    # -- datagrams out ---------------------------------------------------------------------

    def datagrams_to_send(self, now: int) -> list[bytearray]:
        """Every datagram that may leave now, in order, sealed for the wire.

        Without a rate limit and once the peer is validated that is everything produced since
        the last call; otherwise datagrams wait for their budget (protocol.md §6.4, §6.2) and
        :meth:`get_timer` says when the rate limit frees more.
        """
        payloads = self._kcp.take_output()
        outbox = self._outbox
        if outbox:
            self._outbox = []
            out = outbox
        elif not payloads:
            return self._release(now) if self._held else []
        else:
            out = []
        encoder = self._fec_encoder
        if encoder is not None:
            packets: list[bytearray] = []
            head = self._crypto_head
            for payload in payloads:
                packets += encoder.encode_into(payload, head, now)
            payloads = packets
        if self._crypto:
            codec = self._codec
            for payload in payloads:
                codec.seal_into(payload)
        out += payloads
        if self.validated and not self._rate and not self._held:
            return out
        self._held.extend(out)
        return self._release(now)

    def _release(self, now: int) -> list[bytearray]:
        """Datagrams of the held queue that the amplification and rate budgets allow."""
        held = self._held
        budget = float("inf")
        if not self.validated:
            budget = AMPLIFICATION_FACTOR * self._received_bytes - self._sent_bytes
            # While blocked, retransmissions pile up behind the first copies: keep the newest.
            excess = len(held) - max(64, 2 * self._kcp.snd_wnd)
            for _ in range(excess):
                held.popleft()
        rate = self._rate
        if rate:
            elapsed = max(0, now - self._tokens_at)
            self._tokens = min(float(RATE_BURST), self._tokens + elapsed * rate / 1000.0)
            self._tokens_at = now
            budget = min(budget, self._tokens)
        out: list[bytearray] = []
        spent = 0
        while held and len(held[0]) <= budget - spent:
            datagram = held.popleft()
            spent += len(datagram)
            out.append(datagram)
        self._sent_bytes += spent
        if rate:
            self._tokens -= spent
            # Data KCP sent now would only queue behind what waits for tokens, and its
            # retransmission timer would run meanwhile: hold KCP back until the queue drains.
            self._kcp.hold = bool(held)
            if held:
                # Wake when the bucket holds the next datagram.
                missing = len(held[0]) - self._tokens
                self._wake(now + max(1, int(missing * 1000 / rate) + 1))
        elif self._kcp.hold:
            self._kcp.hold = False
        return out

    def set_rate_limit(self, bytes_per_second: int) -> None:
        """[SetRateLimit]: pace this session's datagrams; 0 lifts the limit."""
        if isinstance(bytes_per_second, bool) or not isinstance(bytes_per_second, int):
            raise TypeError("the rate limit is a number of bytes per second")
        if bytes_per_second < 0:
            raise ConfigError("the rate limit must not be negative")
        self._rate = bytes_per_second
        if not bytes_per_second:
            self._kcp.hold = False

    # -- timer -----------------------------------------------------------------------------

    def get_timer(self) -> int | None:
        """When :meth:`handle_timer` wants to run next (ms), or None when nothing is pending."""
        return self._deadline

    def handle_timer(self, now: int) -> None:
        """Flush (retransmissions, ACKs, window probes) and check liveness."""
        self._deadline = None
        if self.closed:
            return
        kcp = self._kcp
        if not self._started:
            self._kcp.flush(now & 0xFFFFFFFF)
            return
        silent_for = now - self.last_heard
        keepalive = self._probe_interval()
        if keepalive and now - max(self.last_heard, self._last_probe) >= keepalive:
            kcp.ask_window()  # a WASK: the peer answers WINS, and so is heard from again
            self._last_probe = now
        delay = int(kcp.flush(now & 0xFFFFFFFF))
        waiting = kcp.waitsnd()
        # KCP's own dead flag (a segment sent dead_link = 20 times) is not used: with nodelay
        # the RTO grows linearly from 30 ms, so a peer that merely stalls for ~3.5 s (GC,
        # CPU contention, a full socket buffer) would trip it. kcp-go ignores it too.
        if waiting and self._dead_link_ms and silent_for >= self._dead_link_ms:
            self._die(
                f"nothing heard from the peer for {silent_for / 1000:.1f} s while data waits",
                silent_for,
            )
            return
        if self._idle_ms and silent_for >= self._idle_ms:
            self._die(f"nothing heard from the peer for {silent_for / 1000:.1f} s", silent_for)
            return
        unconfirmed = not self.established and self._establish_ms
        if unconfirmed and now - self._created >= self._establish_ms:
            self._die(
                "the peer never confirmed the session (one datagram, then silence)", silent_for
            )
            return
        self._rearm(now, delay)
        if self._write_blocked:
            self._check_writable()

    # -- events ----------------------------------------------------------------------------

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or None."""
        events = self._events
        return events.popleft() if events else None

    # -- close -----------------------------------------------------------------------------

    def close(self, now: int) -> bool:
        """[Close]: one last full flush so pending ACKs and data leave; False if already closed.

        The flushed datagrams are still returned by :meth:`datagrams_to_send`.
        """
        if self.closed:
            return False
        self._kcp.flush(now & 0xFFFFFFFF)
        self._end(SessionClosed(None))
        return True

    def replace(self, now: int) -> None:
        """The listener saw this peer start a new conversation: end this one (§6.4)."""
        if self.closed:
            return
        self._kcp.flush(now & 0xFFFFFFFF)
        self.error = SessionClosedError("the peer started a new conversation from its address")
        if self._trace is not None:
            self._trace(REPLACED, {"conv": self.conv, "now": now})
        self._end(SessionReplaced(self.error))

    def abort(self, error: KCPError) -> None:
        """End the session at once with *error* (an I/O failure the adapter saw)."""
        if self.closed:
            return
        self.error = error
        self._end(SessionClosed(error))

    def _die(self, reason: str, silent_ms: int) -> None:
        self.error = PeerGoneError(reason)
        if self._trace is not None:
            self._trace(LIVENESS_EXPIRED, {"silent_ms": silent_ms, "reason": reason})
        self._end(PeerGone(self.error))

    def _end(self, event: SessionClosed) -> None:
        self.closed = True
        self._deadline = None
        self._events.append(event)

    # -- internals -------------------------------------------------------------------------

    def _flush(self, now: int) -> None:
        delay = int(self._kcp.flush(now & 0xFFFFFFFF))
        self._deadline = None
        self._rearm(now, delay)

    def _rearm(self, now: int, delay: int) -> None:
        """After a full flush: the deadline the session's state asks for, and no other (a
        flush sends pending ACKs and probes, so an earlier ACK-delay wake-up is moot)."""
        kcp = self._kcp
        if kcp.waitsnd() or kcp.has_output() or kcp.acklist or kcp.probe:
            self._wake(now + max(delay, 1))
        elif self._started:
            # Quiescent sessions only wake for liveness checks; I/O re-arms the timer.
            if self._idle_ms:
                self._wake(self.last_heard + self._idle_ms)
            if not self.established and self._establish_ms:
                self._wake(self._created + self._establish_ms)
            keepalive = self._probe_interval()
            if keepalive:
                self._wake(max(self.last_heard, self._last_probe) + keepalive)

    def _probe_interval(self) -> int:
        """Milliseconds of silence before a WASK probe (0: never)."""
        keepalive = self._keepalive_ms
        if not self.established and self._establish_ms:
            # An unconfirmed session asks its peer for a sign of life before it gives up on it
            # (a real peer's KCP answers; a spoofed address cannot).
            third = max(1, self._establish_ms // 3)
            keepalive = min(keepalive, third) if keepalive else third
        return keepalive

    def _wake(self, at: int) -> None:
        deadline = self._deadline
        if (deadline is None or at < deadline) and not self.closed:
            self._deadline = at

    def _check_writable(self) -> None:
        if self._kcp.waitsnd() < self.write_threshold:
            if self._write_blocked:
                self._write_blocked = False
                self._events.append(Writable())
        else:
            self._write_blocked = True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Session conv={self.conv:#010x} remote={self.remote!r} {state}>"


def _seconds_to_ms(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))
