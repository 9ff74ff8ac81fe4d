"""The KCP ARQ core: kcp-go's ``kcp.go`` (latest behaviour, wire-identical to 5.6.1), sans-IO.

The core never reads a clock and never touches a socket: every entry point that needs the time
takes ``now`` (milliseconds, a wrapping u32 clock), and datagrams are collected for the caller,
who fetches them with :meth:`KCP.take_output`. Sequence numbers and timestamps are u32 values
that wrap; every ordering test is the signed 32-bit difference, written inline in the hot paths
as ``(a - b) & 0xFFFFFFFF < 0x80000000`` ("a is not before b").

Bad wire input never raises: :meth:`KCP.input` returns a negative kcp-go error code and leaves
the state as consistent as kcp-go does (segments before the bad one keep their effects).
"""

from __future__ import annotations

import struct
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from itertools import islice

from pykcp.core.snmp import Snmp
from pykcp.core.trace import ACKED, RETRANSMIT, RTO, SENT, WINDOW_FULL, Tracer
from pykcp.core.wire import KCP_OVERHEAD, diff32

__all__ = [
    "ASK_SEND",
    "ASK_TELL",
    "CMD_ACK",
    "CMD_PUSH",
    "CMD_WASK",
    "CMD_WINS",
    "ERR_BAD_CMD",
    "ERR_BAD_CONV",
    "ERR_BAD_FRAGMENT",
    "ERR_BAD_LENGTH",
    "HEADER",
    "KCP",
    "OVERHEAD",
    "Segment",
]

RTO_NDL = 30
RTO_MIN = 100
RTO_DEF = 200
RTO_MAX = 60000
CMD_PUSH = 81
CMD_ACK = 82
CMD_WASK = 83
CMD_WINS = 84
ASK_SEND = 1
ASK_TELL = 2
WND_SND = 32
WND_RCV = 32
MTU_DEF = 1400
INTERVAL = 100
OVERHEAD = KCP_OVERHEAD
DEADLINK = 20
THRESH_INIT = 2
THRESH_MIN = 2
PROBE_INIT = 500  # latest kcp-go; 5.6.1 waits 7000 ms
PROBE_LIMIT = 120000
FRAGMENT_LIMIT = 255  # kcp-go's Send refuses messages of more fragments

# input() return codes (kcp-go's, plus ERR_BAD_FRAGMENT of our own)
ERR_BAD_CONV = -1  # also: datagram shorter than one header
ERR_BAD_LENGTH = -2
ERR_BAD_CMD = -3
ERR_BAD_FRAGMENT = -4

# Private copies of the constants above for the code below: in the compiled build they are C
# constants (kcp.pxd), where the public names must stay Python objects for importers.
_RTO_NDL = RTO_NDL
_RTO_MIN = RTO_MIN
_RTO_DEF = RTO_DEF
_RTO_MAX = RTO_MAX
_CMD_PUSH = CMD_PUSH
_CMD_ACK = CMD_ACK
_CMD_WASK = CMD_WASK
_CMD_WINS = CMD_WINS
_ASK_SEND = ASK_SEND
_ASK_TELL = ASK_TELL
_WND_SND = WND_SND
_WND_RCV = WND_RCV
_MTU_DEF = MTU_DEF
_INTERVAL = INTERVAL
_OVERHEAD = OVERHEAD
_DEADLINK = DEADLINK
_THRESH_INIT = THRESH_INIT
_THRESH_MIN = THRESH_MIN
_PROBE_INIT = PROBE_INIT
_PROBE_LIMIT = PROBE_LIMIT
_FRAGMENT_LIMIT = FRAGMENT_LIMIT
_ERR_BAD_CONV = ERR_BAD_CONV
_ERR_BAD_LENGTH = ERR_BAD_LENGTH
_ERR_BAD_CMD = ERR_BAD_CMD
_ERR_BAD_FRAGMENT = ERR_BAD_FRAGMENT

HEADER = struct.Struct("<IBBHIIII")  # conv cmd frg wnd ts sn una len

_M32 = 0xFFFFFFFF
_HALF = 0x80000000
_DEAD = 0xFFFFFFFF
_FASTACK_LOCKED = 0xFFFFFFFF  # latest kcp-go: no further fast/early retransmit until an RTO


class Segment:
    """One data segment waiting in snd_queue or in flight in snd_buf."""

    __slots__ = ("acked", "data", "fastack", "frg", "resendts", "rto", "sn", "ts", "xmit")

    def __init__(self, frg: int, data: bytes) -> None:
        self.frg = frg
        self.data = data
        self.sn = 0
        self.ts = 0
        self.xmit = 0
        self.rto = 0
        self.resendts = 0
        self.fastack = 0
        self.acked = False

    def __repr__(self) -> str:
        return (
            f"Segment(sn={self.sn}, frg={self.frg}, len={len(self.data)}, xmit={self.xmit}, "
            f"resendts={self.resendts}, fastack={self.fastack}, acked={self.acked})"
        )


class KCP:
    """One KCP conversation's ARQ state machine (kcp-go semantics, no I/O, no clock).

    Feed received datagrams to :meth:`input`, queue application data with :meth:`send`, call
    :meth:`flush` when its previous return value (ms) has elapsed, collect datagrams with
    :meth:`take_output` and read messages with :meth:`recv`.
    """

    __slots__ = (
        "_fastack_pending",
        "_min_count",
        "_min_resendts",
        "_min_stale",
        "_output",
        "_unsent",
        "ack_nodelay",
        "acklist",
        "conv",
        "cwnd",
        "dead_link",
        "fastresend",
        "fragment_limit",
        "hold",
        "incr",
        "interval",
        "mss",
        "mtu",
        "nocwnd",
        "nodelay_mode",
        "probe",
        "probe_wait",
        "rcv_buf",
        "rcv_nxt",
        "rcv_queue",
        "rcv_wnd",
        "reserve",
        "rmt_wnd",
        "rx_minrto",
        "rx_rto",
        "rx_rttvar",
        "rx_srtt",
        "snd_buf",
        "snd_nxt",
        "snd_queue",
        "snd_una",
        "snd_wnd",
        "snmp",
        "ssthresh",
        "state",
        "stream",
        "trace",
        "ts_flush",
        "ts_probe",
        "updated",
    )

    def __init__(self, conv: int, *, snmp: Snmp | None = None) -> None:
        self.conv = conv & _M32
        self.snmp = snmp if snmp is not None else Snmp()
        self.mtu = _MTU_DEF
        self.mss = _MTU_DEF - _OVERHEAD
        self.state = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self.rcv_nxt = 0
        self.ssthresh = _THRESH_INIT
        self.rx_srtt = 0
        self.rx_rttvar = 0
        self.rx_rto = _RTO_DEF
        self.rx_minrto = _RTO_MIN
        self.snd_wnd = _WND_SND
        self.rcv_wnd = _WND_RCV
        self.rmt_wnd = _WND_RCV
        self.cwnd = 0
        self.incr = 0
        self.probe = 0
        self.ts_probe = 0
        self.probe_wait = 0
        self.interval = _INTERVAL
        self.ts_flush = _INTERVAL
        self.nodelay_mode = 0
        self.updated = False
        self.dead_link = _DEADLINK
        self.fastresend = 0
        self.nocwnd = 0
        self.stream = False
        self.ack_nodelay = False
        self.fragment_limit = _FRAGMENT_LIMIT
        self.snd_queue: deque[Segment] = deque()
        self.snd_buf: deque[Segment] = deque()  # contiguous sn from snd_una to snd_nxt - 1
        self.rcv_queue: deque[tuple[int, bytes]] = deque()  # (frg, payload), in order
        self.rcv_buf: dict[int, tuple[int, bytes]] = {}  # sn -> (frg, payload), out of order
        self.acklist: list[tuple[int, int]] = []  # (sn, ts) in arrival order
        self._output: list[bytearray] = []
        self.hold = False
        """While set, every flush is ACK-only: the layer below is still holding earlier output
        (a rate limit), and data handed over now would only wait there, its retransmission
        timer running."""
        self.trace: Tracer | None = None
        """Called with every trace event (see :mod:`pykcp.core.trace`); None: no tracing,
        which costs one comparison where an event would be."""
        self.reserve = 0
        """Bytes of headroom at the front of every output datagram, for the layers below (FEC
        and crypto headers) to write in place (protocol.md §6.2)."""
        # Bookkeeping that lets flush() skip the snd_buf scan when nothing can be due; the
        # datagrams and the returned delay are exactly those of the full scan.
        self._unsent = 0  # snd_buf segments never transmitted (xmit == 0)
        self._fastack_pending = False  # some segment may qualify for fast/early retransmit
        self._min_resendts = 0  # earliest resendts among unacked segments at the last scan
        self._min_count = 0  # unacked segments whose resendts is _min_resendts
        self._min_stale = False  # every segment holding _min_resendts left since the scan

    def __repr__(self) -> str:
        return (
            f"KCP(conv={self.conv:#010x}, snd_una={self.snd_una}, snd_nxt={self.snd_nxt}, "
            f"rcv_nxt={self.rcv_nxt}, cwnd={self.cwnd}, rmt_wnd={self.rmt_wnd}, "
            f"rto={self.rx_rto}, srtt={self.rx_srtt}, waitsnd={self.waitsnd()}, "
            f"rcv_queue={len(self.rcv_queue)}, dead={self.dead})"
        )

    # ----------------------------------------------------------------- configuration

    def nodelay(self, nodelay: int, interval: int, resend: int, nc: int) -> None:
        """kcp-go's ``NoDelay``; a negative argument leaves that setting unchanged.

        ``nodelay`` != 0 lowers the minimum RTO to 30 ms and halves the RTO backoff step,
        ``interval`` (clamped to 10..5000 ms) is the flush period, ``resend`` is the number of
        duplicate ACKs that triggers a fast retransmit (0 = off), ``nc`` = 1 disables
        congestion control.
        """
        if nodelay >= 0:
            self.nodelay_mode = nodelay
            self.rx_minrto = _RTO_NDL if nodelay else _RTO_MIN
        if interval >= 0:
            self.interval = min(max(interval, 10), 5000)
        if resend >= 0:
            self.fastresend = resend
        if nc >= 0:
            self.nocwnd = nc

    def wndsize(self, snd: int, rcv: int) -> None:
        """Set the send and receive windows in segments; values <= 0 leave them unchanged."""
        if snd > 0:
            self.snd_wnd = snd
        if rcv > 0:
            self.rcv_wnd = rcv

    def setmtu(self, mtu: int) -> bool:
        """Set the largest datagram flush() emits (KCP bytes only); False if mtu <= 24."""
        if mtu <= _OVERHEAD:
            return False
        self.mtu = mtu
        self.mss = mtu - _OVERHEAD
        return True

    @property
    def dead(self) -> bool:
        """True once a segment reached ``dead_link`` transmissions (kcp-go state 0xFFFFFFFF)."""
        return self.state == _DEAD

    # ----------------------------------------------------------------- gauges

    @property
    def snd_queue_size(self) -> int:
        """Segments queued by send() that have not entered the send window yet."""
        return len(self.snd_queue)

    @property
    def snd_buf_size(self) -> int:
        """Segments in the send window (in flight, or acked but above snd_una)."""
        return len(self.snd_buf)

    @property
    def rcv_queue_size(self) -> int:
        """In-order segments waiting for recv()."""
        return len(self.rcv_queue)

    @property
    def rcv_buf_size(self) -> int:
        """Out-of-order segments waiting for a gap to fill."""
        return len(self.rcv_buf)

    def waitsnd(self) -> int:
        """Segments not yet acknowledged by una: ``len(snd_buf) + len(snd_queue)``."""
        return len(self.snd_buf) + len(self.snd_queue)

    def wnd_unused(self) -> int:
        """The free receive window advertised in every segment's ``wnd`` field."""
        free = self.rcv_wnd - len(self.rcv_queue)
        return free & 0xFFFF if free > 0 else 0

    # ----------------------------------------------------------------- application side

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Queue one message (or, in stream mode, more stream bytes).

        Returns 0, -1 for empty data, or -2 when the message would need more than
        ``fragment_limit`` fragments (kcp-go: 255). A message is only deliverable if its
        fragment count also fits the *peer's* receive window (kcp-go default 32); kcp-go
        sessions sidestep this by sending each mss-sized chunk as its own message, and so
        should callers, or lower ``fragment_limit`` to the peer's window.
        """
        if not isinstance(data, bytes):
            data = bytes(data)
        size = len(data)
        if size == 0:
            return -1
        mss = self.mss
        queue = self.snd_queue
        room = 0
        if self.stream and queue:
            room = mss - len(queue[-1].data)
            room = min(room, size) if room > 0 else 0
        rest = size - room
        count = 1 if rest <= mss else (rest + mss - 1) // mss
        # Checked before touching the queue: kcp-go appends the stream-mode head first and
        # may then fail, leaving part of the write queued behind an error.
        if rest and count > self.fragment_limit:
            return -2
        if room:
            last = queue[-1]
            last.data += data[:room]
        if not rest:
            return 0
        stream = self.stream
        pos = room
        for i in range(count - 1, -1, -1):
            queue.append(Segment(0 if stream else i, data[pos : pos + mss]))
            pos += mss
        return 0

    def peeksize(self) -> int:
        """Length of the next complete message, or -1 if none is complete."""
        queue = self.rcv_queue
        if not queue:
            return -1
        frg, payload = queue[0]
        if frg == 0:
            return len(payload)
        if len(queue) < frg + 1:
            return -1
        total = 0
        for frg, payload in queue:
            total += len(payload)
            if frg == 0:
                break
        return total

    def recv(self) -> bytes | None:
        """Pop the next complete message (stream mode: the next segment's bytes), or None."""
        queue = self.rcv_queue
        if not queue:
            return None
        frg, payload = queue[0]
        if frg == 0:
            queue.popleft()
            message = payload
            recover = len(queue) + 1 >= self.rcv_wnd
        else:
            if len(queue) < frg + 1:
                return None
            recover = len(queue) >= self.rcv_wnd
            parts = []
            while True:
                frg, payload = queue.popleft()
                parts.append(payload)
                if frg == 0:
                    break
            message = b"".join(parts)
        rcv_buf = self.rcv_buf
        if rcv_buf:
            self._move_ready()
        if recover and len(queue) < self.rcv_wnd:
            # The window just reopened: tell the peer (WINS) without waiting for its probe.
            self.probe |= _ASK_TELL
        return message

    def _move_ready(self) -> None:
        rcv_buf = self.rcv_buf
        queue = self.rcv_queue
        rcv_wnd = self.rcv_wnd
        rcv_nxt = self.rcv_nxt
        while rcv_nxt in rcv_buf and len(queue) < rcv_wnd:
            queue.append(rcv_buf.pop(rcv_nxt))
            rcv_nxt = (rcv_nxt + 1) & _M32
        self.rcv_nxt = rcv_nxt

    def ask_window(self) -> None:
        """Send a window probe (WASK) at the next flush: every KCP peer answers it with WINS,
        which makes it a keepalive that needs nothing from the peer's application."""
        self.probe |= _ASK_SEND

    def has_output(self) -> bool:
        """True when datagrams wait for :meth:`take_output`."""
        return bool(self._output)

    def take_output(self) -> list[bytearray]:
        """Datagrams produced since the last call, oldest first: each is ``reserve`` bytes of
        headroom followed by at most ``mtu`` bytes of KCP segments."""
        out = self._output
        if not out:
            return []
        self._output = []
        return out

    # ----------------------------------------------------------------- wire input

    def input(self, data: bytes | bytearray | memoryview, now: int, regular: bool = True) -> int:
        """Process one datagram of concatenated segments.

        ``regular`` is False for a datagram rebuilt by FEC: it then neither updates the remote
        window nor yields an RTT sample. Returns 0, or a negative code: -1 short datagram or
        wrong conv, -2 ``len`` beyond the datagram, -3 unknown cmd, -4 a PUSH whose fragment
        count can never fit the receive window. On error, the segments before the bad one
        keep their effects and the rest of the datagram is ignored. May flush (kcp-go does
        so when data was acknowledged, a fast retransmit is due, or ACKs fill an mtu).
        """
        # Payloads are sliced straight out of *data*; from a reused receive buffer (a view)
        # each is copied once, the datagram as a whole never.
        end = len(data)
        if end < _OVERHEAD:
            return _ERR_BAD_CONV
        now &= _M32
        unpack = HEADER.unpack_from
        my_conv = self.conv
        snd_buf = self.snd_buf
        rcv_buf = self.rcv_buf
        rcv_queue = self.rcv_queue
        acklist = self.acklist
        snmp = self.snmp
        prev_una = self.snd_una
        want_flush = False
        retransmit = False
        has_ack = False
        latest_ts = 0
        in_segs = 0
        off = 0
        error = 0
        fastacks: list[tuple[int, int]] = []
        while end - off >= _OVERHEAD:
            conv, cmd, frg, wnd, ts, sn, una, length = unpack(data, off)
            off += _OVERHEAD
            if conv != my_conv:
                error = _ERR_BAD_CONV
                break
            if end - off < length:
                error = _ERR_BAD_LENGTH
                break
            if cmd == _CMD_PUSH:
                if frg >= self.rcv_wnd:
                    error = _ERR_BAD_FRAGMENT
                    break
            elif cmd != _CMD_ACK and cmd != _CMD_WASK and cmd != _CMD_WINS:
                error = _ERR_BAD_CMD
                break
            if regular:
                self.rmt_wnd = wnd
            # una beyond snd_nxt acknowledges data never sent: bogus, and kcp-go would
            # discard the whole window on it, so it is ignored here.
            if (
                snd_buf
                and (una - snd_buf[0].sn - 1) & _M32 < 0x7FFFFFFF
                and (self.snd_nxt - una) & _M32 < _HALF
                and self._parse_una(una)
            ):
                want_flush = True
            # kcp-go's shrink_buf
            self.snd_una = snd_buf[0].sn if snd_buf else self.snd_nxt

            if cmd == _CMD_PUSH:
                rcv_nxt = self.rcv_nxt
                repeat = True
                if (sn - rcv_nxt - self.rcv_wnd) & _M32 >= _HALF:
                    # Inside the window, duplicates below rcv_nxt included: always ACK.
                    acklist.append((sn, ts))
                    if (sn - rcv_nxt) & _M32 < _HALF:
                        if isinstance(data, bytes):
                            payload = data[off : off + length]
                        else:
                            payload = bytes(data[off : off + length])
                        if sn == rcv_nxt and not rcv_buf and len(rcv_queue) < self.rcv_wnd:
                            rcv_queue.append((frg, payload))
                            self.rcv_nxt = (rcv_nxt + 1) & _M32
                            repeat = False
                        elif sn not in rcv_buf:
                            rcv_buf[sn] = (frg, payload)
                            repeat = False
                            if sn == rcv_nxt:
                                self._move_ready()
                if repeat and regular:
                    snmp.RepeatSegs += 1
            elif cmd == _CMD_ACK:
                if snd_buf and (sn - self.snd_una) & _M32 < (self.snd_nxt - self.snd_una) & _M32:
                    self._parse_ack(sn)
                    fastacks.append((sn, ts))
                has_ack = True
                latest_ts = ts
            elif cmd == _CMD_WASK:
                self.probe |= _ASK_TELL
            in_segs += 1
            off += length
        # Duplicate-ACK counting is deferred to the end of the datagram and done in one pass;
        # nothing in between reads the counters, so the result is kcp-go's per-ACK counting.
        if fastacks and snd_buf and self._count_fastacks(fastacks, now):
            retransmit = True
        if error:
            return error
        snmp.InSegs += in_segs

        if has_ack and regular:
            rtt = (now - latest_ts) & _M32
            if rtt < _HALF:
                self._update_rtt(rtt)

        if not self.nocwnd and (self.snd_una - prev_una - 1) & _M32 < 0x7FFFFFFF:
            self._grow_cwnd()

        # kcp-go flushes when ACKs moved una (the window opened) or a fast retransmit is due.
        # A flush that could only find nothing to send (no queued data, ACK or probe) is
        # skipped: the datagrams are the same, and the session's timer still runs.
        if retransmit or (want_flush and (self.snd_queue or acklist or self.probe)):
            self.flush(now)
        elif len(acklist) >= self.mtu // _OVERHEAD:
            # ACK clocking: on a link faster than the interval, don't sit on a full mtu of ACKs.
            self.flush(now, ack_only=True)
        elif self.ack_nodelay and acklist:
            self.flush(now, ack_only=True)
        return 0

    def _parse_una(self, una: int) -> int:
        """Drop snd_buf segments before ``una``; returns how many were dropped."""
        snd_buf = self.snd_buf
        removed = 0
        min_rs = self._min_resendts
        stale = False
        trace = self.trace
        while snd_buf and (una - snd_buf[0].sn - 1) & _M32 < 0x7FFFFFFF:
            seg = snd_buf.popleft()
            removed += 1
            if seg.acked:
                continue  # its bookkeeping was done when it was marked
            if trace is not None:
                trace(ACKED, {"sn": seg.sn, "xmit": seg.xmit, "by": "una"})
            if seg.xmit == 0:
                self._unsent -= 1
            elif seg.resendts == min_rs:
                self._min_count -= 1
                if self._min_count <= 0:
                    stale = True
        if stale:
            self._min_stale = True
        return removed

    def _parse_ack(self, sn: int) -> None:
        # snd_buf holds consecutive sn starting at snd_una, so the ACKed one is found by index.
        seg = self.snd_buf[(sn - self.snd_una) & _M32]
        if not seg.acked:
            # Only marked: leaving it in place keeps snd_buf contiguous; una removes it.
            seg.acked = True
            seg.data = b""
            if self.trace is not None:
                self.trace(ACKED, {"sn": seg.sn, "xmit": seg.xmit, "by": "ack"})
            if seg.xmit == 0:
                self._unsent -= 1
            elif seg.resendts == self._min_resendts:
                self._min_count -= 1
                if self._min_count <= 0:
                    self._min_stale = True

    def _count_fastacks(self, acks: list[tuple[int, int]], now: int) -> bool:
        """Count duplicate ACKs: each (sn, ts) ACK counts one for every segment before sn
        that was sent no later than ts (kcp-go's parse_fastack, conservative about ts).

        Returns True when some counter reached ``fastresend`` (kcp-go then flushes at once).
        Acked segments are counted too, as kcp-go does; their counters only matter for that
        trigger, so only unacked ones mark a retransmission as possibly pending.
        """
        snd_buf = self.snd_buf
        una = snd_buf[0].sn
        fastresend = self.fastresend
        trigger = False
        pending = False
        if len(acks) == 1:
            sn, ts = acks[0]
            count = (sn - una) & _M32
            if count >= _HALF:
                return False  # una has since moved past this sn: its segments are gone
            for seg in islice(snd_buf, count):
                if (seg.ts - ts - 1) & _M32 >= 0x7FFFFFFF:  # seg.ts not after ts
                    fastack = seg.fastack
                    if fastack != _FASTACK_LOCKED:
                        fastack += 1
                        seg.fastack = fastack
                        if not seg.acked:
                            pending = True
                        if fastack >= fastresend:
                            trigger = True
            if pending:
                self._fastack_pending = True
            return trigger
        # Several ACKs: one walk down the buffer, keeping the ts of the ACKs whose sn is above
        # the current segment in a sorted list. Timestamps are keyed relative to now, which
        # orders them as the signed difference does for any ts within 2**31 ms of now.
        bounds = []
        for sn, ts in acks:
            count = (sn - una) & _M32
            if count < _HALF and count:
                bounds.append((count, (ts - now + _HALF) & _M32))
        if not bounds:
            return False
        bounds.sort()
        limit = bounds[-1][0]
        segs = list(islice(snd_buf, limit))
        active: list[int] = []
        nxt = len(bounds) - 1
        for index in range(limit - 1, -1, -1):
            while nxt >= 0 and bounds[nxt][0] > index:
                insort(active, bounds[nxt][1])
                nxt -= 1
            seg = segs[index]
            fastack = seg.fastack
            if fastack == _FASTACK_LOCKED:
                continue
            # ACKs with ts at or after this segment's ts (same relative, wrap-safe key).
            hits = len(active) - bisect_left(active, (seg.ts - now + _HALF) & _M32)
            if hits:
                fastack += hits
                seg.fastack = fastack
                if not seg.acked:
                    pending = True
                if fastack >= fastresend:
                    trigger = True
        if pending:
            self._fastack_pending = True
        return trigger

    def _update_rtt(self, rtt: int) -> None:
        # kcp-go's RFC 6298-style estimator (not ikcp.c's); >> is an arithmetic shift as in Go.
        if self.rx_srtt == 0:
            self.rx_srtt = rtt
            self.rx_rttvar = rtt >> 1
        else:
            delta = rtt - self.rx_srtt
            self.rx_srtt += delta >> 3
            delta = abs(delta)
            if rtt < self.rx_srtt - self.rx_rttvar:
                # A sample below the expected range gets an 8x smaller weight.
                self.rx_rttvar += (delta - self.rx_rttvar) >> 5
            else:
                self.rx_rttvar += (delta - self.rx_rttvar) >> 2
        rto = self.rx_srtt + max(self.interval, self.rx_rttvar << 2)
        rto = min(max(self.rx_minrto, rto), _RTO_MAX)
        if self.trace is not None and rto != self.rx_rto:
            self.trace(
                RTO, {"rtt": rtt, "srtt": self.rx_srtt, "rttvar": self.rx_rttvar, "rto": rto}
            )
        self.rx_rto = rto

    def _grow_cwnd(self) -> None:
        rmt_wnd = self.rmt_wnd
        if self.cwnd >= rmt_wnd:
            return
        mss = self.mss
        if self.cwnd < self.ssthresh:
            self.cwnd += 1
            self.incr += mss
        else:
            if self.incr < mss:
                self.incr = mss
            self.incr += (mss * mss) // self.incr + mss // 16
            if (self.cwnd + 1) * mss <= self.incr:
                self.cwnd = (self.incr + mss - 1) // mss
        if self.cwnd > rmt_wnd:
            self.cwnd = rmt_wnd
            self.incr = rmt_wnd * mss

    # ----------------------------------------------------------------- wire output

    def flush(self, now: int, ack_only: bool = False) -> int:
        """Emit pending ACKs, window probes and due data; returns ms until the next useful flush.

        ``ack_only`` is kcp-go's ACK-only flush: ACKs and probes go out and queued data enters
        the window, but no data segment is (re)transmitted.
        """
        now &= _M32
        if self.hold:
            ack_only = True
        conv = self.conv
        mtu = self.mtu
        pack = HEADER.pack
        out = self._output
        reserve = self.reserve
        full = reserve + mtu  # a datagram's KCP bytes may not exceed mtu
        buf = bytearray(reserve)
        wnd = self.rcv_wnd - len(self.rcv_queue)
        wnd = wnd & 0xFFFF if wnd > 0 else 0
        una = self.rcv_nxt
        out_segs = 0

        # 1. ACKs. An ACK below rcv_nxt is redundant with una, except the last one, which
        #    carries the freshest ts echo (kcp-go's jitter filter).
        ack_sn = ack_ts = 0
        acklist = self.acklist
        if acklist:
            last = len(acklist) - 1
            for i, (sn, ts) in enumerate(acklist):
                if (sn - una) & _M32 < _HALF or i == last:
                    if len(buf) + _OVERHEAD > full:
                        out.append(buf)
                        buf = bytearray(reserve)
                    buf += pack(conv, _CMD_ACK, 0, wnd, ts, sn, una, 0)
                    out_segs += 1
                    ack_sn, ack_ts = sn, ts
            acklist.clear()

        # 2. Window probe timer while the peer advertises a zero window.
        if self.rmt_wnd == 0:
            if self.probe_wait == 0:
                self.probe_wait = _PROBE_INIT
                self.ts_probe = (now + _PROBE_INIT) & _M32
            elif (now - self.ts_probe) & _M32 < _HALF:
                wait = max(self.probe_wait, _PROBE_INIT)
                wait = min(wait + wait // 2, _PROBE_LIMIT)
                self.probe_wait = wait
                self.ts_probe = (now + wait) & _M32
                self.probe |= _ASK_SEND
                if self.trace is not None:
                    self.trace(WINDOW_FULL, {"remote_wnd": 0, "probe_wait": wait, "now": now})
        else:
            self.ts_probe = 0
            self.probe_wait = 0

        # 3. Probe commands; they reuse the last ACK's ts and sn, as kcp-go does.
        probe = self.probe
        if probe:
            if probe & _ASK_SEND:
                if len(buf) + _OVERHEAD > full:
                    out.append(buf)
                    buf = bytearray(reserve)
                buf += pack(conv, _CMD_WASK, 0, wnd, ack_ts, ack_sn, una, 0)
                out_segs += 1
            if probe & _ASK_TELL:
                if len(buf) + _OVERHEAD > full:
                    out.append(buf)
                    buf = bytearray(reserve)
                buf += pack(conv, _CMD_WINS, 0, wnd, ack_ts, ack_sn, una, 0)
                out_segs += 1
            self.probe = 0

        # 4. Move queued segments into the window.
        eff_wnd = min(self.snd_wnd, self.rmt_wnd)
        if not self.nocwnd:
            eff_wnd = min(self.cwnd, eff_wnd)
        new_count = 0
        snd_queue = self.snd_queue
        snd_buf = self.snd_buf
        if snd_queue:
            snd_nxt = self.snd_nxt
            limit = (self.snd_una + eff_wnd) & _M32
            while snd_queue and (snd_nxt - limit) & _M32 >= _HALF:
                seg = snd_queue.popleft()
                seg.sn = snd_nxt
                snd_buf.append(seg)
                snd_nxt = (snd_nxt + 1) & _M32
                new_count += 1
            self.snd_nxt = snd_nxt
            self._unsent += new_count

        # 5. (Re)transmit data.
        resent = self.fastresend if self.fastresend > 0 else _M32
        trace = self.trace
        next_flush = self.interval
        lost = fast = early = 0
        if not ack_only and snd_buf:
            timers_quiet = (
                not self._fastack_pending
                and not self._min_stale
                and (self._min_resendts - now - 1) & _M32 < 0x7FFFFFFF
            )
            if timers_quiet and self._unsent == 0:
                # Nothing is new, nothing has duplicate ACKs and the earliest timer is in the
                # future: the scan below would send nothing, so only its delay is needed.
                next_flush = min(next_flush, (self._min_resendts - now) & _M32)
            else:
                rx_rto = self.rx_rto
                rto_step = rx_rto // 2 if self.nodelay_mode else rx_rto
                dead_link = self.dead_link
                pending = False
                segments: Iterable[Segment]
                if timers_quiet:
                    # Only never-sent segments can go out, and they are always the tail of
                    # snd_buf (first transmissions happen in sn order), so a write into a
                    # full window costs O(new segments), not O(window). The known timers
                    # seed the minimum the scan would otherwise recompute.
                    tail: list[Segment] = []
                    for seg in reversed(snd_buf):
                        if seg.xmit:
                            break
                        tail.append(seg)
                    tail.reverse()
                    segments = tail
                    min_delay = (self._min_resendts - now) & _M32
                    min_count = self._min_count
                else:
                    segments = snd_buf
                    min_delay = _HALF
                    min_count = 0
                for seg in segments:
                    if seg.acked:
                        continue
                    if seg.xmit:
                        fastack = seg.fastack
                        if (
                            fastack
                            and fastack != _FASTACK_LOCKED
                            and (fastack >= resent or new_count == 0)
                        ):
                            # fast retransmit, or early retransmit when no new data flows
                            seg.fastack = _FASTACK_LOCKED
                            seg.rto = rx_rto
                            if fastack >= resent:
                                fast += 1
                                if trace is not None:
                                    trace(RETRANSMIT, {"sn": seg.sn, "why": "fast", "now": now})
                            else:
                                early += 1
                                if trace is not None:
                                    trace(RETRANSMIT, {"sn": seg.sn, "why": "early", "now": now})
                        else:
                            delay = (seg.resendts - now) & _M32
                            if 0 < delay <= _HALF:  # not due: the common case
                                if delay <= min_delay:
                                    if delay < min_delay:
                                        min_delay = delay
                                        min_count = 1
                                    else:
                                        min_count += 1
                                if fastack and fastack != _FASTACK_LOCKED:
                                    pending = True
                                continue
                            seg.rto += rto_step
                            seg.fastack = 0
                            lost += 1
                            if trace is not None:
                                trace(RETRANSMIT, {"sn": seg.sn, "why": "rto", "now": now})
                    else:
                        seg.rto = rx_rto
                        if trace is not None:
                            trace(SENT, {"sn": seg.sn, "size": len(seg.data), "now": now})
                    seg.resendts = (now + seg.rto) & _M32
                    seg.xmit += 1
                    seg.ts = now
                    payload = seg.data
                    if len(buf) + _OVERHEAD + len(payload) > full:
                        out.append(buf)
                        buf = bytearray(reserve)
                    buf += pack(conv, _CMD_PUSH, seg.frg, wnd, now, seg.sn, una, len(payload))
                    buf += payload
                    out_segs += 1
                    if seg.xmit >= dead_link:
                        self.state = _DEAD
                    delay = seg.rto & _M32
                    if delay <= min_delay:
                        if delay < min_delay:
                            min_delay = delay
                            min_count = 1
                        else:
                            min_count += 1
                self._unsent = 0
                self._min_count = min_count
                self._fastack_pending = pending
                self._min_stale = False
                if min_delay < _HALF:
                    self._min_resendts = (now + min_delay) & _M32
                    if 0 < min_delay < next_flush:
                        next_flush = min_delay
                else:
                    self._min_resendts = now  # nothing unacked: no timer to wait for

        if len(buf) > reserve:
            out.append(buf)

        # 6. Counters and congestion window.
        snmp = self.snmp
        snmp.OutSegs += out_segs
        if lost or fast or early:
            snmp.LostSegs += lost
            snmp.FastRetransSegs += fast
            snmp.EarlyRetransSegs += early
            snmp.RetransSegs += lost + fast + early
        snmp.RingBufferSndQueue = len(snd_queue)
        snmp.RingBufferRcvQueue = len(self.rcv_queue)
        snmp.RingBufferSndBuffer = len(snd_buf)
        if not self.nocwnd:
            if fast or early:
                inflight = (self.snd_nxt - self.snd_una) & _M32
                self.ssthresh = max(inflight // 2, _THRESH_MIN)
                # With fast resend off, resent is 0xFFFFFFFF and this wraps to ssthresh - 1,
                # exactly as kcp-go's u32 arithmetic does.
                self.cwnd = (self.ssthresh + resent) & _M32
                self.incr = (self.cwnd * self.mss) & _M32
            if lost:
                self.ssthresh = max(eff_wnd // 2, _THRESH_MIN)
                self.cwnd = 1
                self.incr = self.mss
            if self.cwnd < 1:
                self.cwnd = 1
                self.incr = self.mss
        return next_flush

    # ----------------------------------------------------------------- C-style scheduling

    def update(self, now: int) -> None:
        """ikcp_update: flush if the interval timer (``ts_flush``) is due."""
        now &= _M32
        if not self.updated:
            self.updated = True
            self.ts_flush = now
        slap = diff32(now, self.ts_flush)
        if slap >= 10000 or slap < -10000:
            self.ts_flush = now
            slap = 0
        if slap >= 0:
            self.ts_flush = (self.ts_flush + self.interval) & _M32
            if diff32(now, self.ts_flush) >= 0:
                self.ts_flush = (now + self.interval) & _M32
            self.flush(now)

    def check(self, now: int) -> int:
        """ikcp_check: the (u32) time at which :meth:`update` should next be called."""
        now &= _M32
        if not self.updated:
            return now
        ts_flush = self.ts_flush
        slap = diff32(now, ts_flush)
        if slap >= 10000 or slap < -10000:
            ts_flush = now
        if diff32(now, ts_flush) >= 0:
            return now
        tm_flush = diff32(ts_flush, now)
        tm_packet = 0x7FFFFFFF
        for seg in self.snd_buf:
            delay = diff32(seg.resendts, now)
            if delay <= 0:
                return now
            tm_packet = min(tm_packet, delay)
        minimal = min(tm_packet, tm_flush, self.interval)
        return (now + minimal) & _M32
