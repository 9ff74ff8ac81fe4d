"""SessionStats / ListenerStats: the one typed view of a session's and a listener's counters."""

from __future__ import annotations

import dataclasses
import json

from pykcp.core.config import Config
from pykcp.core.listener import ListenerCore
from pykcp.core.session import Session
from pykcp.core.stats import ListenerStats, SessionStats

SERVER = ("127.0.0.1", 29900)


def _deliver(client: Session, listener: ListenerCore, addr: tuple[str, int], now: int) -> None:
    for datagram in client.datagrams_to_send(now):
        listener.receive_datagram(datagram, addr, now)


def _client_talks(
    listener: ListenerCore, addr: tuple[str, int], conv: int, payload: bytes
) -> Session:
    config = listener.config
    client = Session(conv, config, 0, remote=SERVER, crypt=config.make_crypt())
    assert client.send(payload, 0) == len(payload)
    _deliver(client, listener, addr, 0)
    return client


def test_listener_counters_keep_what_ended_sessions_counted() -> None:
    config = Config(crypt="aes", key="k", data_shards=2, parity_shards=1, mode="fast")
    listener = ListenerCore(config)
    _client_talks(listener, ("127.0.0.1", 40001), 1, b"a" * 3000)
    _client_talks(listener, ("127.0.0.1", 40002), 2, b"b" * 500)
    for session in listener.sessions.values():
        while session.recv(0) is not None:
            pass
    before = listener.stats()
    assert before.sessions == 2 and before.sessions_created == 2
    assert before.bytes_received == 3500
    assert before.datagrams_received >= 3

    ended = next(iter(listener.sessions.values()))
    listener.remove(ended, 10)
    listener.remove(ended, 20)  # the adapter reports an end once more: counted once
    after = listener.stats()
    assert after.sessions == 1
    assert after.sessions_created == 2
    assert after.bytes_received == before.bytes_received
    assert after.datagrams_received == before.datagrams_received


def test_session_stats_cover_what_a_transfer_moves() -> None:
    config = Config(crypt="aes", key="k", data_shards=2, parity_shards=1, mode="fast")
    listener = ListenerCore(config)
    client = _client_talks(listener, ("127.0.0.1", 40003), 7, b"x" * 4000)
    stats = client.stats(50)
    assert isinstance(stats, SessionStats)
    assert stats.conv == 7
    assert stats.bytes_sent == 4000
    assert stats.segments_sent >= 3 and stats.datagrams_sent == 0  # the adapter counts those
    assert stats.in_flight >= 3
    assert stats.last_heard == 50
    assert stats.rto > 0 and stats.snd_wnd == 32
    # Plain JSON: the CLI prints it as is.
    assert json.loads(json.dumps(stats.as_dict()))["conv"] == 7


def test_every_field_is_documented_as_an_int() -> None:
    for cls in (SessionStats, ListenerStats):
        for field in dataclasses.fields(cls):
            assert field.type in ("int", int), (cls.__name__, field.name)
