"""Sans-IO sessions and listener: KCP + FEC + crypto joined into kcp-go's datagram pipeline.

Nothing here reads a clock or touches a socket. The I/O adapters (:mod:`pykcp.aio`,
:mod:`pykcp.blocking`) feed received datagrams in with the current time in milliseconds, send
what :meth:`Session.datagrams_to_send` returns, and call :meth:`Session.on_timer` at
:meth:`Session.next_deadline`.

Transmit (session.md §3): each KCP output buffer -> [FEC header, parity every data_shards
buffers] -> [crypto: nonce+CRC+cipher, or AEAD] -> datagram. Receive (§4): crypto open ->
demultiplex on the u16 at offset 4 (F1/F2 FEC, F3 out-of-band, else plain KCP) -> KCP input.
The listener (§6) demultiplexes by remote address exactly as kcp-go does.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from pykcp.core.config import MTU_LIMIT, Config
from pykcp.core.errors import ConfigError, KCPError, PeerGoneError, SessionClosedError
from pykcp.core.snmp import DEFAULT_SNMP, FIELDS, GAUGES, Snmp

if TYPE_CHECKING:
    from pykcp.core.crypt import AEADCrypt, BlockCrypt

__all__ = [
    "KCP_OVERHEAD",
    "Address",
    "ListenerCore",
    "Session",
    "address_key",
    "fold_snmp",
    "new_conv",
]

Address = Any
"""A socket address as ``recvfrom`` returns it: ``(host, port)`` or ``(host, port, flow,
scope)``."""

KCP_OVERHEAD: Final = 24  # one KCP segment header
FEC_OVERHEAD: Final = 8  # seqid u32, type u16, size u16
TYPE_DATA: Final = 0xF1
TYPE_PARITY: Final = 0xF2
TYPE_OOB: Final = 0xF3
# Smallest decrypted payload worth looking at: FEC header + conv (a tiny OOB datagram).
MIN_PAYLOAD: Final = 12

_U32 = struct.Struct("<I")
_unpack_u32 = _U32.unpack_from

# Counters a session folds into DEFAULT_SNMP; the connection gauges are kept there directly.
_FOLDED_COUNTERS: Final = tuple(f for f in FIELDS if f not in GAUGES)
_FOLDED_GAUGES: Final = tuple(
    f for f in FIELDS if f in GAUGES and f not in ("MaxConn", "CurrEstab")
)
_FOLD_EVERY_MS: Final = 1000


def new_conv() -> int:
    """A random conversation id, as kcp-go's Dial picks it (any u32, 0 included)."""
    return int.from_bytes(os.urandom(4), "little")


def address_key(addr: Address) -> tuple[Any, ...]:
    """The identity of a remote peer: host and port (plus the scope of a link-local IPv6).

    kcp-go keys sessions by the address string; flowinfo is not part of it.
    (ListenerCore.datagram_received inlines this.)
    """
    if len(addr) >= 4 and addr[3]:
        return (addr[0], addr[1], addr[3])
    return (addr[0], addr[1])


def fold_snmp(target: Snmp, current: Snmp, folded: Snmp) -> None:
    """Add what *current* counted since the *folded* snapshot to *target*; update the snapshot."""
    for name in _FOLDED_COUNTERS:
        now_value = getattr(current, name)
        delta = now_value - getattr(folded, name)
        if delta:
            setattr(target, name, getattr(target, name) + delta)
            setattr(folded, name, now_value)
    for name in _FOLDED_GAUGES:
        setattr(target, name, getattr(current, name))


class Session:
    """One KCP conversation with one peer: the sans-IO heart of ``UDPSession``.

    *now* arguments are monotonic milliseconds (any origin); the KCP core sees them modulo 2**32.
    """

    def __init__(
        self,
        conv: int,
        config: Config,
        now: int,
        *,
        remote: Address = None,
        crypt: BlockCrypt | AEADCrypt | None = None,
        passive: bool = False,
    ) -> None:
        from pykcp.core.kcp import KCP
        from pykcp.core.packet import CryptoCodec

        self.conv = conv & 0xFFFFFFFF
        self.config = config
        self.remote = remote
        self.passive = passive
        self.snmp = Snmp()
        self._folded = Snmp()
        self._last_fold = now

        self._crypt = crypt
        self._codec = CryptoCodec(crypt, snmp=self.snmp)
        self._seal: Callable[[bytes], bytes] | None = self._codec.seal if crypt else None
        self._crypto_overhead = self._codec.header_size + self._codec.trailer_size

        self._fec_encoder: Any = None
        self._fec_decoder: Any = None
        if config.fec_enabled:
            from pykcp.core.fec import FECDecoder, FECEncoder

            self._fec_encoder = FECEncoder(config.data_shards, config.parity_shards, snmp=self.snmp)
            self._fec_decoder = FECDecoder(config.data_shards, config.parity_shards, snmp=self.snmp)

        kcp = KCP(self.conv, snmp=self.snmp)
        self.kcp = kcp
        if not self.set_mtu(config.mtu):
            raise ConfigError(f"mtu {config.mtu} leaves no room for a KCP segment")
        kcp.nodelay(*config.timing())
        kcp.wndsize(config.sndwnd, config.rcvwnd)
        kcp.stream = config.stream
        kcp.ack_nodelay = config.ack_nodelay
        self.write_delay = config.write_delay
        self.oob_handler: Callable[[bytes], None] | None = None
        self.owner: Any = None
        """The I/O adapter driving this session (set by it)."""

        self._payloads: list[bytes] = []  # KCP output not yet wrapped
        self._outbox: list[bytes] = []  # sealed datagrams (out-of-band ones)
        self._idle_ms = _seconds_to_ms(config.idle_timeout)
        self._dead_link_ms = _seconds_to_ms(config.dead_link_timeout)
        self.last_heard = now
        self.closed = False
        self.error: KCPError | None = None
        # The flush timer: None = quiescent (nothing to send, nothing in flight).
        self._deadline: int | None = now + kcp.interval
        self._received = False
        self._now = now

        if passive:
            self.snmp.PassiveOpens += 1
        else:
            self.snmp.ActiveOpens += 1
        DEFAULT_SNMP.CurrEstab += 1
        DEFAULT_SNMP.MaxConn = max(DEFAULT_SNMP.MaxConn, DEFAULT_SNMP.CurrEstab)

    # -- options ---------------------------------------------------------------------------

    @property
    def header_size(self) -> int:
        """Bytes every datagram carries in front of (and, for AEAD, after) the KCP segments."""
        return self._crypto_overhead + (FEC_OVERHEAD if self._fec_encoder is not None else 0)

    def set_mtu(self, mtu: int) -> bool:
        """Largest UDP payload, headers included [SetMtu]; False if no segment would fit."""
        kcp_mtu = min(mtu, MTU_LIMIT) - self.header_size
        if kcp_mtu <= KCP_OVERHEAD:
            return False
        return bool(self.kcp.setmtu(kcp_mtu))

    def set_nodelay(self, nodelay: int, interval: int, resend: int, nc: int) -> None:
        """[SetNoDelay]; negative values leave a setting unchanged."""
        self.kcp.nodelay(nodelay, interval, resend, nc)

    def set_window_size(self, sndwnd: int, rcvwnd: int) -> None:
        """[SetWindowSize]; values <= 0 leave a window unchanged."""
        self.kcp.wndsize(sndwnd, rcvwnd)

    def set_stream_mode(self, enable: bool) -> None:
        self.kcp.stream = enable

    def set_ack_nodelay(self, enable: bool) -> None:
        self.kcp.ack_nodelay = enable

    # -- data ------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """kcp-go lets a Write through while fewer than snd_wnd segments wait."""
        return self.kcp.waitsnd() < self.kcp.snd_wnd

    @property
    def readable(self) -> bool:
        return self.kcp.peeksize() >= 0

    def send(self, data: bytes | bytearray | memoryview, now: int) -> int:
        """Queue *data* (the whole of it, cut at mss so every fragment id is 0) [Write]."""
        if self.closed:
            raise self.error or SessionClosedError("session is closed")
        size = len(data)
        if not size:
            return 0
        kcp = self.kcp
        if kcp.waitsnd() == 0:
            # Silence before this write was not the peer's fault: restart the dead-link clock.
            self.last_heard = max(self.last_heard, now)
        mss = kcp.mss
        if size <= mss:
            kcp.send(bytes(data))
        else:
            # Slicing bytes copies once; other buffers go through a memoryview.
            source = data if isinstance(data, bytes) else memoryview(data)
            send = kcp.send
            for start in range(0, size, mss):
                send(bytes(source[start : start + mss]))
        self.snmp.BytesSent += size
        if not self.write_delay or kcp.waitsnd() >= kcp.snd_wnd:
            self.flush(now)
        else:
            self._wake(now + kcp.interval)
        return size

    def recv(self, now: int) -> bytes | None:
        """The next message from the peer, or None when none is complete [Read]."""
        data = self.kcp.recv()
        if data is not None:
            self.snmp.BytesReceived += len(data)
            # Reading may reopen our receive window: the next flush tells the peer.
            self._wake(now + self.kcp.interval)
        return data

    def send_oob(self, payload: bytes) -> None:
        """An unreliable out-of-band datagram (latest kcp-go; needs FEC) [SendOOB]."""
        if self._fec_encoder is None:
            raise ConfigError("OOB requires FEC to be enabled")
        if len(payload) > self.kcp.mtu - 4:
            raise ConfigError("OOB payload too large")
        if self.closed:
            raise self.error or SessionClosedError("session is closed")
        from pykcp.core.fec import encode_oob

        packet = encode_oob(self.conv, payload)
        self._outbox.append(self._seal(packet) if self._seal else packet)

    # -- receive path ----------------------------------------------------------------------

    def datagram_received(self, data: bytes | bytearray | memoryview, now: int) -> None:
        """A datagram from the peer, crypto included (the client read path)."""
        if self._seal is not None:
            plain = self._codec.open(data)
            if plain is None:
                return
            self.payload_received(plain, now)
        else:
            self.payload_received(bytes(data), now)

    def payload_received(self, payload: bytes, now: int) -> None:
        """A decrypted datagram (§4 from step 2). Never raises on bad input; counts it."""
        snmp = self.snmp
        size = len(payload)
        if size < MIN_PAYLOAD:
            snmp.KCPInErrors += 1
            return
        if self.closed:
            return
        snmp.InPkts += 1
        snmp.InBytes += size
        self.last_heard = self._now = now
        self._received = True
        kcp = self.kcp
        flag = payload[4] | payload[5] << 8
        kcp_now = now & 0xFFFFFFFF
        if flag == TYPE_DATA or flag == TYPE_PARITY:  # noqa: SIM109 - constant tuple lookup is slower
            decoder = self._fec_decoder
            if decoder is None:
                from pykcp.core.fec import FECDecoder

                decoder = self._fec_decoder = FECDecoder(1, 1, snmp=snmp)
            # (kcp.input wants bytes: one slice copy beats a memoryview it would copy anyway.)
            if flag == TYPE_DATA and kcp.input(payload[FEC_OVERHEAD:], kcp_now, True):
                snmp.KCPInErrors += 1
            for shard in decoder.decode(payload):
                if kcp.input(shard, kcp_now, False):
                    snmp.KCPInErrors += 1
        elif flag == TYPE_OOB:
            snmp.OOBPackets += 1
            handler = self.oob_handler
            if handler is not None:
                try:
                    handler(payload[MIN_PAYLOAD:])
                except Exception:  # a user callback must not break the receive path
                    snmp.InErrs += 1
        elif kcp.input(payload, kcp_now, True):
            snmp.KCPInErrors += 1
        # Whatever KCP emitted meanwhile (ACK no-delay, flush on ACK) is wrapped when the
        # adapter asks for it, once per receive batch rather than once per datagram.

    def input_done(self, now: int) -> None:
        """End of a receive batch (one socket drain): the ACKs it queued leave within one
        interval, as in kcp-go (ACK no-delay sends them from inside KCP input instead; the KCP
        core also flushes by itself when ACKs open the window)."""
        if self._received:
            self._received = False
            self._wake(now + self.kcp.interval)

    # -- transmit path ---------------------------------------------------------------------

    def flush(self, now: int) -> int:
        """A full KCP flush; returns the delay in ms until the next one is useful."""
        delay = int(self.kcp.flush(now & 0xFFFFFFFF))
        self._collect(now)
        self._wake(now + max(delay, 1))
        return delay

    def _collect(self, now: int) -> bool:
        """Take what KCP produced; it is wrapped (FEC, crypto) as it is sent. True if any."""
        payloads = self.kcp.take_output()
        if not payloads:
            return False
        self._payloads += payloads
        self._now = now
        return True

    def datagrams_to_send(self) -> Iterator[bytes]:
        """Datagrams produced since the last call, in order (to be sent to :attr:`remote`).

        An iterator that does the FEC and crypto work lazily, so a sender can put each
        datagram on the wire as soon as it is sealed (the peer starts working on the first
        ones while the rest are being encrypted). Consume it fully before the next call.
        """
        self._collect(self._now)
        payloads = self._payloads
        ready = self._outbox
        if not payloads and not ready:
            return iter(())
        self._payloads = []
        self._outbox = []
        return self._wrap(payloads, ready, self._now)

    def _wrap(self, payloads: list[bytes], ready: list[bytes], now: int) -> Iterator[bytes]:
        yield from ready
        seal = self._seal
        encoder = self._fec_encoder
        if encoder is None:
            if seal is None:
                yield from payloads
            else:
                yield from map(seal, payloads)
            return
        encode = encoder.encode
        for payload in payloads:
            packets = encode(payload, now)
            if seal is None:
                yield from packets
            else:
                yield from map(seal, packets)

    # -- timer -----------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """When :meth:`on_timer` wants to run next (ms), or None when nothing is pending."""
        return self._deadline

    def _wake(self, at: int) -> None:
        deadline = self._deadline
        if deadline is None or at < deadline:
            self._deadline = at

    def on_timer(self, now: int) -> int | None:
        """Flush (retransmissions, ACKs, window probes) and check liveness; the next deadline."""
        if self.closed:
            self._deadline = None
            return None
        self._deadline = None
        kcp = self.kcp
        delay = int(kcp.flush(now & 0xFFFFFFFF))
        produced = self._collect(now)
        if now - self._last_fold >= _FOLD_EVERY_MS:
            self._last_fold = now
            fold_snmp(DEFAULT_SNMP, self.snmp, self._folded)
        waiting = kcp.waitsnd()
        silent_for = now - self.last_heard
        # KCP's own dead flag (a segment sent dead_link = 20 times) is not used: with nodelay
        # the RTO grows linearly from 30 ms, so a peer that merely stalls for ~3.5 s (GC,
        # CPU contention, a full socket buffer) would trip it. kcp-go ignores it too.
        if waiting and self._dead_link_ms and silent_for >= self._dead_link_ms:
            self._die(now, f"no acknowledgement from the peer for {silent_for / 1000:.1f} s")
            return None
        if self._idle_ms and silent_for >= self._idle_ms:
            self._die(now, f"nothing heard from the peer for {silent_for / 1000:.1f} s")
            return None
        if waiting or produced:
            self._wake(now + max(delay, 1))
        # Quiescent sessions only wake for liveness checks; I/O re-arms the timer.
        elif self._idle_ms:
            self._wake(self.last_heard + self._idle_ms)
        return self._deadline

    def _die(self, now: int, reason: str) -> None:
        self.error = PeerGoneError(reason)
        self._close(now, flush=False)

    # -- close -----------------------------------------------------------------------------

    def close(self, now: int) -> bool:
        """[Close]: one last full flush so pending ACKs and data leave; False if already closed."""
        if self.closed:
            return False
        self._close(now, flush=True)
        return True

    def _close(self, now: int, *, flush: bool) -> None:
        if flush:
            self.kcp.flush(now & 0xFFFFFFFF)
            self._collect(now)
        self.closed = True
        self._deadline = None
        DEFAULT_SNMP.CurrEstab -= 1
        fold_snmp(DEFAULT_SNMP, self.snmp, self._folded)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Session conv={self.conv:#010x} remote={self.remote!r} {state}>"


class ListenerCore:
    """kcp-go's Listener demultiplexer (session.md §6), sans-IO.

    Sessions are keyed by remote address, not by conv. Datagrams that cannot be attributed are
    dropped and counted (InErrs); with a cipher, junk fails the CRC/AEAD check first and is
    counted as InCsumErrors. New sessions wait in :attr:`accept_queue` (at most
    ``config.accept_backlog``; more new peers are dropped until accept() catches up).
    """

    def __init__(self, config: Config) -> None:
        from pykcp.core.packet import CryptoCodec

        self.config = config
        self.snmp = Snmp()
        self._folded = Snmp()
        self.crypt = config.make_crypt()
        self._codec = CryptoCodec(self.crypt, snmp=self.snmp)
        self._open: Callable[[bytes | bytearray | memoryview], bytes | None] | None = (
            self._codec.open if self.crypt is not None else None
        )
        self.sessions: dict[tuple[Any, ...], Session] = {}
        self.accept_queue: deque[Session] = deque()
        self.closed = False
        self.replaced: list[Session] = []
        """Sessions closed because their peer restarted with a new conv (adapters notify them)."""

    def datagram_received(
        self, data: bytes | bytearray | memoryview, addr: Address, now: int
    ) -> Session | None:
        """Route one datagram; returns the session that took it (new ones are also queued)."""
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
        # Conv and sn as §6 reads them: plain KCP at offset 0, an F1 data shard at offset 8.
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
                session.payload_received(payload, now)
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
            session.close(now)
            self.remove(session)
            self.replaced.append(session)
        if conv is None or self.closed:
            self.snmp.InErrs += 1
            return None
        if len(self.accept_queue) >= self.config.accept_backlog:
            self.snmp.InErrs += 1
            return None
        session = Session(conv, self.config, now, remote=addr, crypt=self.crypt, passive=True)
        session.payload_received(payload, now)
        self.sessions[key] = session
        self.accept_queue.append(session)
        return session

    def remove(self, session: Session) -> None:
        """Forget *session* (after it closed); a later datagram from its peer makes a new one."""
        key = address_key(session.remote)
        if self.sessions.get(key) is session:
            del self.sessions[key]

    def close(self) -> None:
        """Stop creating sessions; existing sessions stay open (kcp-go semantics)."""
        self.closed = True
        fold_snmp(DEFAULT_SNMP, self.snmp, self._folded)


def _seconds_to_ms(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))
