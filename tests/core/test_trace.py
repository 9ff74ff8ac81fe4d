"""Trace events (pykcp.core.trace) in a lossy simulation: present, and in agreement with the
counters and with each other."""

from __future__ import annotations

import random
import struct
from collections import Counter

import pytest

from pykcp import Config, PeerGoneError
from pykcp.core import trace as tr
from pykcp.core.listener import ListenerCore
from pykcp.core.session import Session
from tests.helpers import deliver_due

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 50000)

Event = tuple[str, dict[str, int | str]]


def _lossy_transfer(config: Config, size: int, loss: float, seed: int) -> tuple[
    list[Event], list[Event], Session, Session, bytes, bytes
]:  # fmt: skip
    rng = random.Random(seed)
    client_events: list[Event] = []
    server_events: list[Event] = []
    client = Session(7, config, 0, remote=SERVER, crypt=config.make_crypt())
    client.set_trace(lambda name, fields: client_events.append((name, fields)))
    listener = ListenerCore(config)
    payload = rng.randbytes(size)
    client.send(payload, 0)
    received = bytearray()
    in_flight: list[tuple[int, bool, bytes]] = []
    server: Session | None = None
    now = 0
    for _ in range(20_000):
        for datagram in client.datagrams_to_send(now):
            if rng.random() >= loss:
                in_flight.append((now + rng.randrange(5, 40), True, bytes(datagram)))
        for session in list(listener.sessions.values()):
            if server is None:
                server = session
                server.set_trace(lambda name, fields: server_events.append((name, fields)))
            while (chunk := session.recv(now)) is not None:
                received += chunk
            for datagram in session.datagrams_to_send(now):
                if rng.random() >= loss:
                    in_flight.append((now + rng.randrange(5, 40), False, bytes(datagram)))
        now += 5
        deliver_due(in_flight, now, client, listener, CLIENT)
        if len(received) == size and not client.waitsnd:
            break
    assert server is not None
    return client_events, server_events, client, server, payload, bytes(received)


@pytest.mark.parametrize("fec", [False, True])
def test_trace_events_match_what_happened(fec: bool) -> None:
    config = Config(
        mode="fast2",
        sndwnd=64,
        rcvwnd=64,
        data_shards=4 if fec else 0,
        parity_shards=2 if fec else 0,
        crypt="aes",
        key="trace",
    )
    events, server_events, client, server, payload, received = _lossy_transfer(
        config, 200_000, 0.12, seed=5
    )
    assert received == payload
    kinds = Counter(name for name, _ in events)
    snmp = client.snmp
    # Every data segment: sent once, acknowledged once, retransmitted as often as counted.
    sent = [fields["sn"] for name, fields in events if name == tr.SENT]
    acked = [fields["sn"] for name, fields in events if name == tr.ACKED]
    assert sorted(sent) == list(range(len(sent))) and sorted(acked) == sorted(sent)
    assert len(sent) == -(-len(payload) // client.mss)
    retransmits = Counter(str(f["why"]) for name, f in events if name == tr.RETRANSMIT)
    assert retransmits["rto"] == snmp.LostSegs
    assert retransmits["fast"] == snmp.FastRetransSegs
    assert retransmits["early"] == snmp.EarlyRetransSegs
    assert sum(retransmits.values()) == snmp.RetransSegs > 0
    # A retransmitted segment took more than one transmission to be acknowledged.
    xmits = {fields["sn"]: fields["xmit"] for name, fields in events if name == tr.ACKED}
    assert sum(int(x) - 1 for x in xmits.values()) == snmp.RetransSegs
    # The RTO followed the RTT estimate, and the last event agrees with the session.
    rtos = [fields for name, fields in events if name == tr.RTO]
    assert rtos and rtos[-1]["rto"] == client.rto
    for side, side_events in ((client, events), (server, server_events)):
        recovered = sum(int(f["count"]) for name, f in side_events if name == tr.FEC_RECOVERED)
        assert recovered == side.snmp.FECRecovered
    assert (server.snmp.FECRecovered > 0) == fec
    assert kinds[tr.SENT] == len(sent)


def test_a_full_window_and_an_expired_peer_are_traced() -> None:
    events: list[Event] = []
    session = Session(1, Config(sndwnd=4, dead_link_timeout=1.0), 0, remote=SERVER)
    session.set_trace(lambda name, fields: events.append((name, fields)))
    for _ in range(6):
        session.send(b"x" * 100, 0)
    assert [name for name, _ in events].count(tr.WINDOW_FULL) == 1  # once per blocking
    now = 0
    while not session.closed and now < 10_000:
        now = session.get_timer() or now + 1
        session.handle_timer(now)
    assert isinstance(session.error, PeerGoneError)
    name, fields = events[-1]
    assert name == tr.LIVENESS_EXPIRED and int(fields["silent_ms"]) >= 1000


def test_a_replaced_session_is_traced() -> None:
    events: list[Event] = []
    listener = ListenerCore(Config())
    push = struct.Struct("<IBBHIIII")
    first = listener.receive_datagram(push.pack(1, 81, 0, 32, 0, 0, 0, 1) + b"a", CLIENT, 0)
    assert first is not None
    first.set_trace(lambda name, fields: events.append((name, fields)))
    listener.receive_datagram(push.pack(2, 81, 0, 32, 0, 0, 0, 1) + b"b", CLIENT, 5)
    assert events == [(tr.REPLACED, {"conv": 1, "now": 5})]


def test_tracing_is_off_by_default_and_can_be_turned_off() -> None:
    session = Session(1, Config(), 0, remote=SERVER)
    assert session.kcp.trace is None
    events: list[Event] = []
    session.set_trace(lambda name, fields: events.append((name, fields)))
    session.set_trace(None)
    session.send(b"x", 0)
    assert events == []
