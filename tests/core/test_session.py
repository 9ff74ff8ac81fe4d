"""The sans-IO session and listener (pykcp.core.session): pipeline sizes, demultiplexing rules,
liveness, counters. Time is simulated; no sockets."""

from __future__ import annotations

import os
import struct
import zlib

import pytest

from pykcp import Config, PeerGoneError, SessionClosedError
from pykcp.core import events as ev
from pykcp.core.listener import ListenerCore
from pykcp.core.session import Session

CLIENT = ("127.0.0.1", 40000)
SERVER = ("127.0.0.1", 50000)
PASSWORD = "pykcp-test"


def events(session: Session | ListenerCore) -> list[ev.Event]:
    out: list[ev.Event] = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def run_timers(session: Session, now: int, until: int) -> int:
    """Run *session*'s timer from *now* until it ends (or *until*); when it ended."""
    while not session.closed and now < until:
        deadline = session.get_timer()
        assert deadline is not None, "a live session with nothing pending keeps a timer here"
        now = deadline
        session.handle_timer(now)
    return now


class Link:
    """A client Session and a ListenerCore joined by a perfect in-memory wire."""

    def __init__(self, client_config: Config, server_config: Config | None = None) -> None:
        self.now = 1_000_000
        self.client = Session(
            0x1234, client_config, self.now, remote=SERVER, crypt=client_config.make_crypt()
        )
        self.listener = ListenerCore(server_config or client_config)
        self.sizes: list[int] = []

    @property
    def server(self) -> Session:
        return self.listener.sessions[(CLIENT[0], CLIENT[1])]

    def step(self, ms: int = 10) -> None:
        batch = self.client.datagrams_to_send(self.now)
        self.sizes += map(len, batch)
        self.listener.receive_datagrams([(d, CLIENT) for d in batch], self.now)
        for session in list(self.listener.sessions.values()):
            batch = session.datagrams_to_send(self.now)
            self.sizes += map(len, batch)
            self.client.receive_datagrams(batch, self.now)
        self.now += ms
        for session in [self.client, *self.listener.sessions.values()]:
            deadline = session.get_timer()
            if deadline is not None and deadline <= self.now:
                session.handle_timer(self.now)

    def drain_server(self, into: bytearray) -> int:
        """Move what the server session received into *into*; the total length."""
        if (CLIENT[0], CLIENT[1]) in self.listener.sessions:
            into += _drain(self.server, self.now)
        return len(into)

    def run_until(self, condition: object, steps: int = 2000) -> None:
        for _ in range(steps):
            if callable(condition) and condition():
                return
            self.step()
        raise AssertionError("condition not reached")


def _drain(session: Session, now: int) -> bytes:
    parts = []
    while (chunk := session.recv(now)) is not None:
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize(
    ("crypt", "fec", "mss"),
    [
        (None, False, 1376),
        (None, True, 1368),
        ("aes", False, 1356),
        ("aes", True, 1348),
        ("none", True, 1348),
        ("aes-128-gcm", False, 1348),
        ("aes-128-gcm", True, 1340),
    ],
)
def test_mss_table_and_datagram_size(crypt: str | None, fec: bool, mss: int) -> None:
    """protocol.md §1.3: KCP mtu = 1400 - headers; no datagram exceeds 1400."""
    config = Config(
        crypt=crypt,
        key=PASSWORD if crypt else None,
        data_shards=10 if fec else 0,
        parity_shards=3 if fec else 0,
        sndwnd=256,
        rcvwnd=256,
    )
    link = Link(config)
    assert link.client.mss == mss
    payload = os.urandom(200_000)
    link.client.send(payload, link.now)
    received = bytearray()
    link.run_until(lambda: link.drain_server(received) >= len(payload))
    assert bytes(received) == payload
    assert max(link.sizes) == 1400


def test_write_is_cut_at_mss_so_every_fragment_id_is_zero() -> None:
    link = Link(Config(sndwnd=64, rcvwnd=64, nc=1))
    link.client.send(b"x" * 5000, link.now)
    link.run_until(lambda: CLIENT in link.listener.sessions and link.server.readable)
    server = link.server
    # Four segments arrived as four separate messages: frg 0 each, as kcp-go sends.
    messages = []
    while (message := server.recv(link.now)) is not None:
        messages.append(message)
    assert [len(m) for m in messages] == [1376, 1376, 1376, 872]


def test_listener_rejects_forged_datagrams_when_a_cipher_is_set() -> None:
    config = Config(crypt="aes", key=PASSWORD)
    listener = ListenerCore(config)
    for size in (0, 10, 23, 24, 100, 1400):
        listener.receive_datagram(os.urandom(size), CLIENT, 0)
    # A datagram framed with the right CRC but the wrong key still fails.
    plain = struct.pack("<IBBHIIII", 1, 81, 0, 32, 0, 0, 0, 0)
    forged = os.urandom(16) + zlib.crc32(plain).to_bytes(4, "little") + plain
    listener.receive_datagram(forged, CLIENT, 0)
    assert listener.sessions == {}
    assert listener.next_event() is None
    assert listener.snmp.InCsumErrors >= 4  # 24+ byte junk fails the CRC


def test_listener_without_crypto_does_what_kcp_go_does_with_junk() -> None:
    """kcp-go makes a session from any 24+ byte datagram with a readable conv; KCP then
    rejects the contents and the error is counted. Shorter junk creates nothing."""
    listener = ListenerCore(Config())
    listener.receive_datagram(b"\x00" * 11, CLIENT, 0)
    listener.receive_datagram(b"\x01" * 23, CLIENT, 0)
    assert listener.sessions == {}
    assert listener.snmp.KCPInErrors == 1 and listener.snmp.InErrs == 1
    junk = b"\xff" * 40  # cmd 0xff: not a KCP command
    session = listener.receive_datagram(junk, CLIENT, 0)
    assert session is not None and session.conv == 0xFFFFFFFF
    assert session.snmp.KCPInErrors == 1
    assert not session.readable


def test_parity_from_an_unknown_address_creates_nothing() -> None:
    listener = ListenerCore(Config())
    parity = struct.pack("<IH", 7, 0xF2) + os.urandom(60)
    assert listener.receive_datagram(parity, CLIENT, 0) is None
    assert listener.sessions == {}
    assert listener.snmp.InErrs == 1


def _push(conv: int, sn: int, data: bytes = b"hi") -> bytes:
    return struct.pack("<IBBHIIII", conv, 81, 0, 32, 0, sn, 0, len(data)) + data


def test_conv_change_from_the_same_address_needs_sn_zero() -> None:
    listener = ListenerCore(Config())
    first = listener.receive_datagram(_push(1, 0), CLIENT, 0)
    assert first is not None
    # A different conv with sn != 0 is ignored; the session stays.
    assert listener.receive_datagram(_push(2, 5), CLIENT, 0) is None
    assert listener.sessions[CLIENT] is first and not first.closed
    # sn == 0: the peer restarted; the old session is closed and replaced.
    second = listener.receive_datagram(_push(2, 0), CLIENT, 0)
    assert second is not None and second is not first
    assert first.closed
    assert [type(e) for e in events(first)] == [ev.DataReadable, ev.SessionReplaced]
    assert isinstance(first.error, SessionClosedError)
    assert listener.sessions[CLIENT] is second
    new = events(listener)
    assert [e.session.conv for e in new if isinstance(e, ev.NewSession)] == [1, 2]


def test_sessions_are_keyed_by_address_not_conv() -> None:
    listener = ListenerCore(Config())
    a = listener.receive_datagram(_push(9, 0), ("127.0.0.1", 1), 0)
    b = listener.receive_datagram(_push(9, 0), ("127.0.0.1", 2), 0)
    assert a is not None and b is not None and a is not b
    assert len(listener.sessions) == 2


def test_accept_backlog_limits_new_sessions() -> None:
    listener = ListenerCore(Config(accept_backlog=128))
    for port in range(200):
        listener.receive_datagram(_push(port, 0), ("127.0.0.1", 10000 + port), 0)
    new = events(listener)
    assert len(new) == 128 and listener.pending_accept == 128
    assert len(listener.sessions) == 128
    assert listener.receive_datagram(_push(500, 0), ("127.0.0.1", 9998), 0) is None
    assert listener.dropped_full == 73
    assert isinstance(new[0], ev.NewSession)
    first = new[0].session
    listener.accepted(first)
    # Accepted but not established (one datagram could be spoofed): it keeps its place.
    assert listener.backlog == 128
    assert listener.receive_datagram(_push(500, 0), ("127.0.0.1", 9999), 0) is None
    # A second datagram from its peer establishes it and frees the place.
    assert listener.receive_datagram(_push(0, 1), ("127.0.0.1", 10000), 5) is first
    assert first.established and listener.backlog == 127
    assert listener.receive_datagram(_push(500, 0), ("127.0.0.1", 9999), 0) is not None


def test_max_sessions_caps_live_sessions() -> None:
    listener = ListenerCore(Config(max_sessions=10, accept_backlog=100))
    for port in range(20):
        session = listener.receive_datagram(_push(port, 0), ("127.0.0.1", 10000 + port), 0)
        if session is not None:
            listener.accepted(session)
            listener.receive_datagram(_push(port, 1), ("127.0.0.1", 10000 + port), 1)
    assert len(listener.sessions) == 10 and listener.dropped_full == 10
    assert listener.backlog == 0


def test_an_unconfirmed_session_is_dropped_after_establish_timeout() -> None:
    """One spoofed datagram must not hold a session for ever: after its probes go unanswered
    for establish_timeout, it ends (and leaves the backlog)."""
    listener = ListenerCore(Config(establish_timeout=3.0, idle_timeout=None, keepalive=None))
    session = listener.receive_datagram(_push(7, 0), CLIENT, 0)
    assert session is not None and not session.established
    probes_before = session.snmp.OutSegs
    ended = run_timers(session, 0, 60_000)
    assert isinstance(session.error, PeerGoneError) and 3000 <= ended <= 3100
    assert session.snmp.OutSegs > probes_before  # it asked for a sign of life first


def test_a_fresh_server_session_sends_at_most_three_times_what_it_received() -> None:
    """No amplification (protocol.md §6.4): until the peer acknowledges our data, a
    listener's session holds back what exceeds 3x the bytes it received."""
    from pykcp.core.session import AMPLIFICATION_FACTOR

    listener = ListenerCore(Config(nc=1, sndwnd=256))
    request = _push(7, 0, b"x" * 40)
    session = listener.receive_datagram(request, CLIENT, 0)
    assert session is not None and not session.validated
    session.send(b"y" * 20_000, 0)  # a large answer to a spoofed source
    sent = sum(map(len, session.datagrams_to_send(0)))
    assert 0 < sent <= AMPLIFICATION_FACTOR * len(request)
    for now in range(10, 3000, 10):  # nothing more leaves, however long it waits
        session.handle_timer(now)
        sent += sum(map(len, session.datagrams_to_send(now)))
    assert sent <= AMPLIFICATION_FACTOR * len(request)
    # The real client's ACK of the first segment proves its address: the rest flows.
    ack = struct.pack("<IBBHIIII", 7, 82, 0, 32, 0, 0, 1, 0)
    assert listener.receive_datagram(ack, CLIENT, 3000) is session
    assert session.validated
    assert sum(map(len, session.datagrams_to_send(3000))) > 10_000


def test_a_closed_conversation_is_not_reopened_by_its_stragglers() -> None:
    """#12 item 5: the client's late ACK after a server-side close used to open a phantom
    session that the application accepted again (protocol.md §6.4)."""
    from pykcp.core.listener import TIME_WAIT_MS

    listener = ListenerCore(Config())
    first = listener.receive_datagram(_push(3, 1), CLIENT, 0)
    assert first is not None
    first.close(0)
    listener.remove(first, 0)
    # Stragglers keep the conversation remembered as ended, however long they trickle in.
    for now in range(0, 3 * TIME_WAIT_MS, TIME_WAIT_MS // 2):
        assert listener.receive_datagram(_push(3, 1), CLIENT, now) is None
    assert listener.sessions == {}
    # A new conversation from that address is welcome at once...
    other = listener.receive_datagram(_push(4, 0), CLIENT, 3 * TIME_WAIT_MS)
    assert other is not None and other.conv == 4
    # ...and once the old one has been quiet long enough, it may open a session again.
    other.close(0)
    listener.remove(other, 3 * TIME_WAIT_MS)
    later = 4 * TIME_WAIT_MS + 1
    again = listener.receive_datagram(_push(3, 1), CLIENT, later)
    assert again is not None and again is not first and again.conv == 3


def test_closed_listener_creates_no_sessions() -> None:
    listener = ListenerCore(Config())
    listener.close()
    assert listener.receive_datagram(_push(3, 0), CLIENT, 0) is None


def test_fec_side_understood_by_a_side_without_fec() -> None:
    """F1/F2 datagrams reaching a session without FEC get a lazy (1,1) decoder (§4)."""
    link = Link(
        Config(data_shards=10, parity_shards=3, sndwnd=128, rcvwnd=128),
        Config(sndwnd=128, rcvwnd=128),
    )
    payload = os.urandom(50_000)
    link.client.send(payload, link.now)
    received = bytearray()
    link.run_until(lambda: link.drain_server(received) >= len(payload))
    assert bytes(received) == payload
    assert link.server.snmp.InPkts > 0 and link.client.snmp.FECParityShards == 0
    # The reply direction carries no FEC header.
    link.server.send(b"pong", link.now)
    link.run_until(lambda: link.client.readable)
    assert link.client.recv(link.now) == b"pong"


def test_a_client_that_never_wrote_keeps_quiet_and_alive() -> None:
    session = Session(1, Config(idle_timeout=2.0, keepalive=1.0), 0, remote=SERVER)
    session.handle_timer(session.get_timer() or 0)
    assert session.get_timer() is None and not session.closed
    assert session.datagrams_to_send(100) == []


def test_idle_timeout_ends_the_session_with_peer_gone() -> None:
    config = Config(idle_timeout=2.0, keepalive=None)
    session = Session(1, config, 0, remote=SERVER)
    assert session.receive_datagram(_push(1, 0), 0)  # heard once, then never again
    now = run_timers(session, 0, 10_000)
    assert session.closed
    assert isinstance(session.error, PeerGoneError)
    assert [type(e) for e in events(session)] == [ev.DataReadable, ev.PeerGone]
    assert 2000 <= now <= 2200
    with pytest.raises(PeerGoneError):
        session.send(b"x", now)


def test_dead_link_timeout_only_counts_while_data_waits_for_an_ack() -> None:
    config = Config(dead_link_timeout=1.0)
    session = Session(1, config, 0, remote=SERVER)
    # Silence without outstanding data is fine: the session goes quiet.
    session.handle_timer(100)
    assert session.get_timer() is None
    session.send(b"hello", 5000)  # the peer never answers
    now = run_timers(session, 5000, 20_000)
    assert isinstance(session.error, PeerGoneError)
    assert 6000 <= now <= 6300


def test_quiescent_session_has_no_deadline_until_io() -> None:
    link = Link(Config(keepalive=None, idle_timeout=None))
    link.client.send(b"ping", link.now)
    link.run_until(lambda: CLIENT in link.listener.sessions and link.server.readable)
    assert link.server.recv(link.now) == b"ping"
    for _ in range(100):
        link.step()
    assert link.client.get_timer() is None
    # One datagram does not establish the server's session: it will probe the client once,
    # seconds from now, but it has no flush timer.
    deadline = link.server.get_timer()
    assert deadline is not None and deadline - link.now > 5000
    link.client.send(b"again", link.now)
    assert link.client.get_timer() is not None


def test_keepalive_probes_keep_an_idle_pair_alive_and_a_dead_peer_is_detected() -> None:
    """A WASK after `keepalive` s of silence; the peer's KCP answers WINS (any kcp-go peer
    does): both sides stay alive past idle_timeout with no application traffic."""
    config = Config(keepalive=1.0, idle_timeout=3.0)
    link = Link(config)
    link.client.send(b"ping", link.now)
    link.run_until(lambda: CLIENT in link.listener.sessions and link.server.readable)
    start = link.now
    for _ in range(1000):  # 10 s of silence at the application level
        link.step()
    assert link.now - start >= 10_000
    assert not link.client.closed and not link.server.closed
    assert link.client.snmp.OutSegs > 3 and link.server.snmp.InSegs > 3
    # The server vanishes: the client's probes go unanswered and idle_timeout ends it.
    link.listener.sessions.clear()
    link.listener.close()
    for _ in range(500):
        link.step()
    assert isinstance(link.client.error, PeerGoneError)


def test_close_flushes_and_second_close_reports_false() -> None:
    config = Config(write_delay=True, nc=1)
    session = Session(1, config, 0, remote=SERVER)
    session.send(b"late data", 0)
    assert session.datagrams_to_send(0) == []  # write delay: nothing flushed yet
    assert session.close(1)
    assert len(session.datagrams_to_send(1)) == 1
    assert [type(e) for e in events(session)] == [ev.SessionClosed]
    assert session.error is None
    assert not session.close(2)
    with pytest.raises(SessionClosedError):
        session.send(b"x", 3)


def test_counters() -> None:
    link = Link(Config())
    link.client.send(b"a" * 3000, link.now)
    received = bytearray()
    link.run_until(lambda: link.drain_server(received) >= 3000)
    client, server = link.client.snmp, link.server.snmp
    assert client.ActiveOpens == 1 and server.PassiveOpens == 1
    assert client.BytesSent == 3000
    assert server.InPkts >= 3 and server.InBytes >= 3000 + 3 * 24
    assert server.BytesReceived == 3000
    assert client.InPkts >= 1  # the ACKs


def test_oob_datagrams_reach_the_handler_and_need_fec() -> None:
    from pykcp import ConfigError

    plain = Session(1, Config(), 0, remote=SERVER)
    with pytest.raises(ConfigError):
        plain.send_oob(b"x", 0)
    config = Config(data_shards=2, parity_shards=1)
    link = Link(config)
    link.client.send(b"open", link.now)
    link.run_until(lambda: CLIENT in link.listener.sessions)
    events(link.server)
    link.client.send_oob(b"out of band", link.now)
    link.step()
    assert events(link.server) == [ev.OOBReceived(b"out of band")]
    assert link.server.snmp.OOBPackets == 1
    with pytest.raises(ConfigError):
        link.client.send_oob(b"x" * link.client.mtu, link.now)


def test_data_readable_is_raised_once_until_the_data_is_drained() -> None:
    link = Link(Config(nc=1))
    link.client.send(b"one", link.now)
    link.run_until(lambda: CLIENT in link.listener.sessions and link.server.readable)
    assert [type(e) for e in events(link.server)] == [ev.DataReadable]
    link.client.send(b"two", link.now)
    link.run_until(lambda: link.server.kcp.rcv_queue_size == 2)
    assert events(link.server) == []  # the first readiness was never consumed
    assert link.server.recv(link.now) == b"one"
    assert link.server.recv(link.now) == b"two"
    assert link.server.recv(link.now) is None  # drained: the next arrival raises it again
    link.client.send(b"three", link.now)
    link.run_until(lambda: link.server.readable)
    assert [type(e) for e in events(link.server)] == [ev.DataReadable]


def test_writable_follows_the_write_threshold() -> None:
    link = Link(Config(sndwnd=4, rcvwnd=64, nc=1))
    client = link.client
    assert client.writable and client.write_threshold == 4
    for _ in range(4):
        client.send(b"x" * 100, link.now)
    assert not client.writable and client.waitsnd == 4
    assert events(client) == []
    link.run_until(lambda: client.waitsnd == 0)
    assert events(client) == [ev.Writable()]
    client.write_threshold = 1
    client.send(b"y", link.now)
    assert not client.writable
    link.run_until(lambda: client.waitsnd == 0)
    assert events(client) == [ev.Writable()]


def _hostile(session: Session, payloads: list[bytes], every_ms: int, until_ms: int) -> int:
    """Feed *payloads* to *session* every *every_ms* while running its timer; when it ended."""
    now = 0
    while not session.closed and now < until_ms:
        for payload in payloads:
            session.receive_datagram(payload, now)
        now += every_ms
        deadline = session.get_timer()
        while deadline is not None and deadline <= now and not session.closed:
            session.handle_timer(deadline)
            deadline = session.get_timer()
    return now


def test_junk_and_foreign_conversations_do_not_keep_a_session_alive() -> None:
    """#12 item 2: only what the session accepted refreshes liveness (protocol.md §6.5)."""
    junk = [bytes(24), _push(0x9999, 0), _push(0x9999, 7), b"\xff" * 40]
    session = Session(1, Config(idle_timeout=2.0, dead_link_timeout=2.0), 0, remote=SERVER)
    session.send(b"hello?", 0)  # nobody real answers
    ended = _hostile(session, junk, 500, 20_000)
    assert isinstance(session.error, PeerGoneError)
    assert ended <= 2600
    assert session.snmp.KCPInErrors >= 4
    # While the real peer talks, the session lives on.
    alive = Session(1, Config(idle_timeout=2.0), 0, remote=SERVER)
    _hostile(alive, [_push(1, 0)], 500, 10_000)
    assert not alive.closed


def test_junk_in_an_fec_frame_does_not_keep_a_session_alive() -> None:
    config = Config(idle_timeout=1.0, data_shards=2, parity_shards=1)
    data = struct.pack("<IHH", 0, 0xF1, 26) + _push(0x7777, 0)  # an F1 packet, wrong conv
    parity = struct.pack("<IH", 2, 0xF2) + os.urandom(40)
    oob = struct.pack("<IHHI", 0xFFFFFFFF, 0xF3, 8, 0x7777) + b"hi"  # OOB for another conv
    session = Session(1, config, 0, remote=SERVER)
    session.send(b"hello?", 0)
    _hostile(session, [data, parity, oob], 300, 10_000)
    assert isinstance(session.error, PeerGoneError)
    assert events(session)[-1] == ev.PeerGone(session.error)
    assert session.snmp.OOBPackets == 0


def test_the_sans_io_core_leaves_process_wide_counters_alone() -> None:
    from pykcp import DEFAULT_SNMP

    before = DEFAULT_SNMP.copy().as_dict()
    link = Link(Config())
    link.client.send(b"a" * 3000, link.now)
    received = bytearray()
    link.run_until(lambda: link.drain_server(received) >= 3000)
    link.client.close(link.now)
    assert DEFAULT_SNMP.copy().as_dict() == before


def test_the_first_write_leaves_at_once_with_congestion_control_on() -> None:
    """kcp-go flushes a new session once, opening cwnd from 0 to 1 (protocol.md §6.6)."""
    session = Session(1, Config(), 1000, remote=SERVER)  # kcp-go's default timing: nc = 0
    session.send(b"hello", 1000)
    assert len(session.datagrams_to_send(1000)) == 1


def test_rate_limit_paces_what_leaves() -> None:
    """[SetRateLimit]: a token bucket (burst of 64 datagrams) under the session's datagrams."""
    from pykcp.core.session import RATE_BURST

    rate = 200_000
    link = Link(Config(nc=1, sndwnd=1024, rcvwnd=1024, rate_limit=rate, mode="fast2"))
    payload = os.urandom(1_000_000)
    link.client.send(payload, link.now)
    start = link.now
    received = bytearray()
    link.run_until(lambda: link.drain_server(received) >= len(payload), steps=20_000)
    elapsed = (link.now - start) / 1000
    wire = sum(link.sizes)  # both directions; ACKs are a small part
    assert bytes(received) == payload
    assert link.client.snmp.RetransSegs == 0  # nothing waited long enough to look lost
    # The whole transfer cannot beat the rate (plus one burst), nor lag far behind it.
    assert (wire - RATE_BURST) / rate * 0.9 <= elapsed <= wire / rate * 1.3


def test_rate_limit_can_be_changed_and_lifted() -> None:
    session = Session(1, Config(nc=1, sndwnd=1024), 0, remote=SERVER)
    session.kcp.rmt_wnd = 1024  # as if the peer had advertised a large window
    session.set_rate_limit(10_000)
    session.send(os.urandom(200_000), 0)
    first = sum(map(len, session.datagrams_to_send(0)))
    assert first <= 64 * 1500  # one burst
    timer = session.get_timer()
    assert timer is not None and timer <= 200  # woken when the bucket refills
    session.set_rate_limit(0)
    session.handle_timer(timer)
    assert sum(map(len, session.datagrams_to_send(timer))) > 50_000
    with pytest.raises(ValueError):
        session.set_rate_limit(-1)
