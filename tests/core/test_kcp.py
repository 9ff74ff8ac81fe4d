"""Unit tests of the KCP core: API contract, kcp-go semantics and bad input."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykcp.core.kcp import (
    CMD_ACK,
    CMD_PUSH,
    CMD_WASK,
    CMD_WINS,
    ERR_BAD_CMD,
    ERR_BAD_CONV,
    ERR_BAD_FRAGMENT,
    ERR_BAD_LENGTH,
    HEADER,
    KCP,
    Segment,
)

CONV = 0x11223344
M32 = 0xFFFFFFFF


def segment(
    cmd: int,
    *,
    sn: int = 0,
    una: int = 0,
    ts: int = 0,
    wnd: int = 32,
    frg: int = 0,
    data: bytes = b"",
    conv: int = CONV,
    length: int | None = None,
) -> bytes:
    size = len(data) if length is None else length
    return HEADER.pack(conv, cmd, frg, wnd, ts, sn, una, size) + data


def parse(datagram: bytes) -> list[tuple[int, int, int, int, int, int, bytes]]:
    """(cmd, frg, wnd, ts, sn, una, payload) of every segment in a datagram."""
    out = []
    off = 0
    while len(datagram) - off >= 24:
        _conv, cmd, frg, wnd, ts, sn, una, length = HEADER.unpack_from(datagram, off)
        off += 24
        out.append((cmd, frg, wnd, ts, sn, una, datagram[off : off + length]))
        off += length
    assert off == len(datagram)
    return out


def segments(datagrams: list[bytes]) -> list[tuple[int, int, int, int, int, int, bytes]]:
    return [s for d in datagrams for s in parse(d)]


def pushes(datagrams: list[bytes]) -> list[int]:
    return [s[4] for s in segments(datagrams) if s[0] == CMD_PUSH]


def exchange(a: KCP, b: KCP, now: int, rounds: int = 40) -> None:
    """Lossless, zero-delay ping-pong of flush output until both sides go quiet."""
    for _ in range(rounds):
        a.flush(now)
        b.flush(now)
        out_a, out_b = a.take_output(), b.take_output()
        if not out_a and not out_b and not a.waitsnd() and not b.waitsnd():
            return
        for d in out_a:
            assert b.input(d, now) == 0
        for d in out_b:
            assert a.input(d, now) == 0


def drain(k: KCP) -> list[bytes]:
    out = []
    while (m := k.recv()) is not None:
        out.append(m)
    return out


def snapshot(k: KCP) -> tuple[object, ...]:
    return (
        k.snd_una,
        k.snd_nxt,
        k.rcv_nxt,
        k.rmt_wnd,
        k.cwnd,
        k.rx_rto,
        k.rx_srtt,
        k.probe,
        len(k.snd_buf),
        len(k.snd_queue),
        len(k.rcv_buf),
        len(k.rcv_queue),
        list(k.acklist),
        [(s.sn, s.xmit, s.fastack, s.acked) for s in k.snd_buf],
    )


def check_invariants(k: KCP) -> None:
    assert len(k.snd_buf) == (k.snd_nxt - k.snd_una) & M32
    assert [s.sn for s in k.snd_buf] == [(k.snd_una + i) & M32 for i in range(len(k.snd_buf))]
    assert len(k.rcv_queue) <= k.rcv_wnd
    for sn in k.rcv_buf:
        assert 0 <= (sn - k.rcv_nxt) & M32 < k.rcv_wnd
    assert k._unsent == sum(1 for s in k.snd_buf if s.xmit == 0 and not s.acked)


def pair(**opts: int) -> tuple[KCP, KCP]:
    a, b = KCP(CONV), KCP(CONV)
    for k in (a, b):
        if opts:
            k.nodelay(opts.get("nodelay", 0), opts.get("interval", 100), opts.get("resend", 0), 1)
    return a, b


# ------------------------------------------------------------------ configuration


def test_defaults_match_kcp_go() -> None:
    k = KCP(CONV)
    assert (k.mtu, k.mss, k.snd_wnd, k.rcv_wnd, k.rmt_wnd) == (1400, 1376, 32, 32, 32)
    assert (k.rx_rto, k.rx_minrto, k.interval, k.dead_link, k.ssthresh) == (200, 100, 100, 20, 2)
    assert (k.cwnd, k.fastresend, k.nocwnd, k.stream, k.ack_nodelay) == (0, 0, 0, False, False)
    assert not k.dead and k.wnd_unused() == 32 and k.waitsnd() == 0
    assert repr(k).startswith("KCP(conv=0x11223344, snd_una=0,")


def test_options() -> None:
    k = KCP(CONV)
    k.nodelay(1, 3, 2, 1)
    assert (k.nodelay_mode, k.rx_minrto, k.interval, k.fastresend, k.nocwnd) == (1, 30, 10, 2, 1)
    k.nodelay(-1, 99999, -1, -1)
    assert (k.nodelay_mode, k.interval, k.fastresend, k.nocwnd) == (1, 5000, 2, 1)
    k.nodelay(0, -1, -1, -1)
    assert k.rx_minrto == 100 and k.interval == 5000
    k.wndsize(0, -5)
    assert (k.snd_wnd, k.rcv_wnd) == (32, 32)
    k.wndsize(7, 5)  # no 128 floor, unlike ikcp.c
    assert (k.snd_wnd, k.rcv_wnd) == (7, 5)
    assert not k.setmtu(24) and k.mtu == 1400
    assert k.setmtu(25) and (k.mtu, k.mss) == (25, 1)


# ------------------------------------------------------------------ send / recv


def test_message_mode_fragments_and_reassembly() -> None:
    a, b = pair()
    for k in (a, b):
        k.setmtu(124)  # mss 100
    message = bytes(range(250))
    assert a.send(message) == 0
    assert [(s.frg, len(s.data)) for s in a.snd_queue] == [(2, 100), (1, 100), (0, 50)]
    assert a.waitsnd() == 3
    exchange(a, b, 0)
    assert b.peeksize() == 250
    assert b.recv() == message
    assert b.recv() is None and b.peeksize() == -1
    assert a.waitsnd() == 0


def test_peeksize_waits_for_every_fragment() -> None:
    b = KCP(CONV)
    d = segment(CMD_PUSH, sn=0, frg=1, data=b"ab") + segment(CMD_PUSH, sn=2, data=b"zz")
    assert b.input(d, 0) == 0
    assert b.peeksize() == -1 and b.recv() is None
    assert b.input(segment(CMD_PUSH, sn=1, frg=0, data=b"cd"), 0) == 0
    assert b.peeksize() == 4
    assert drain(b) == [b"abcd", b"zz"]


def test_send_errors() -> None:
    k = KCP(CONV)
    k.setmtu(34)  # mss 10
    assert k.send(b"") == -1
    assert k.send(bytes(2551)) == -2  # 256 fragments
    assert k.waitsnd() == 0
    assert k.send(bytes(2550)) == 0
    assert k.waitsnd() == 255
    k2 = KCP(CONV)
    k2.setmtu(34)
    k2.fragment_limit = 4  # e.g. a peer with a 4-segment receive window
    assert k2.send(bytes(41)) == -2 and k2.waitsnd() == 0
    assert k2.send(bytes(40)) == 0 and k2.waitsnd() == 4


def test_stream_mode_coalesces_writes() -> None:
    a, b = pair()
    for k in (a, b):
        k.setmtu(34)  # mss 10
        k.stream = True
    assert a.send(b"abc") == 0
    assert a.send(b"defgh") == 0
    assert a.send(b"ijklmn") == 0
    assert [(s.frg, s.data) for s in a.snd_queue] == [(0, b"abcdefghij"), (0, b"klmn")]
    exchange(a, b, 0)
    assert b"".join(drain(b)) == b"abcdefghijklmn"


def test_stream_mode_error_leaves_queue_untouched() -> None:
    k = KCP(CONV)
    k.setmtu(34)
    k.stream = True
    k.send(b"abc")
    assert k.send(bytes(7 + 2551)) == -2
    assert [s.data for s in k.snd_queue] == [b"abc"]


def test_memoryview_and_bytearray_accepted() -> None:
    a, b = pair()
    a.nocwnd = 1
    assert a.send(memoryview(b"hello")) == 0
    assert a.send(bytearray(b"world")) == 0
    a.flush(0)
    for d in a.take_output():
        assert b.input(memoryview(bytearray(d)), 0) == 0
    assert drain(b) == [b"hello", b"world"]


def test_receive_queue_capped_and_window_reopens_with_wins() -> None:
    b = KCP(CONV)
    b.wndsize(32, 4)
    datagram = b"".join(segment(CMD_PUSH, sn=i, data=bytes([i])) for i in range(4))
    # With rcv_queue full (rcv_nxt = 4) the window is 4..7: sn 5 waits in rcv_buf, sn 8 is
    # dropped without an ACK.
    datagram += segment(CMD_PUSH, sn=8, data=b"8") + segment(CMD_PUSH, sn=5, data=b"5")
    assert b.input(datagram, 0) == 0
    assert b.rcv_queue_size == 4 and b.rcv_buf_size == 1 and b.rcv_nxt == 4
    assert b.snmp.RepeatSegs == 1
    b.flush(0)
    segs = segments(b.take_output())
    assert [(s[0], s[4], s[5], s[2]) for s in segs] == [(CMD_ACK, 5, 4, 0)]
    assert b.recv() == b"\x00"
    b.flush(1)
    segs = segments(b.take_output())
    assert [(s[0], s[2]) for s in segs] == [(CMD_WINS, 1)]
    assert drain(b) == [b"\x01", b"\x02", b"\x03"]
    b.input(segment(CMD_PUSH, sn=4, data=b"4"), 2)
    assert drain(b) == [b"4", b"5"]


def test_frames_never_exceed_mtu() -> None:
    a, b = pair()
    for k in (a, b):
        k.setmtu(200)
        k.nocwnd = 1
    for i in range(50):
        a.send(bytes([i]) * (i * 7 % 180 + 1))
    a.flush(0)
    out = a.take_output()
    assert all(len(d) <= 200 for d in out)
    assert len(out) > 1
    for d in out:
        b.input(d, 0)
    b.flush(0)
    assert all(len(d) <= 200 for d in b.take_output())


# ------------------------------------------------------------------ kcp-go semantics


def test_ack_jitter_filter_keeps_only_last_old_ack() -> None:
    b = KCP(CONV)
    datagram = segment(CMD_PUSH, sn=0, ts=5, data=b"x") + segment(CMD_PUSH, sn=1, ts=6, data=b"y")
    b.input(datagram, 10)
    b.flush(10)
    acks = [(s[4], s[3], s[5]) for s in segments(b.take_output()) if s[0] == CMD_ACK]
    assert acks == [(1, 6, 2)]  # one ACK (sn=1, ts echoed, una=2), as observed from kcp-go
    # Out of order: the ACK above rcv_nxt survives, the old one only because it is last.
    b.input(segment(CMD_PUSH, sn=3, ts=7, data=b"z") + segment(CMD_PUSH, sn=2, ts=8, data=b"w"), 11)
    b.input(segment(CMD_PUSH, sn=0, ts=9, data=b"x"), 11)
    b.flush(11)
    acks = [(s[4], s[3], s[5]) for s in segments(b.take_output()) if s[0] == CMD_ACK]
    assert acks == [(0, 9, 4)]
    assert drain(b) == [b"x", b"y", b"w", b"z"]


def test_selective_ack_marks_and_una_removes() -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    for i in range(4):
        a.send(bytes([i]))
    a.flush(0)
    assert pushes(a.take_output()) == [0, 1, 2, 3]
    assert a.input(segment(CMD_ACK, sn=2, ts=0, una=0), 50) == 0
    assert a.snd_una == 0 and a.snd_buf_size == 4
    assert [s.acked for s in a.snd_buf] == [False, False, True, False]
    a.input(segment(CMD_ACK, sn=0, ts=0, una=3), 60)
    assert a.snd_una == 3 and [s.sn for s in a.snd_buf] == [3]
    check_invariants(a)


def test_ack_outside_window_ignored_and_bogus_una_ignored() -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    for i in range(3):
        a.send(bytes([i]))
    a.flush(0)
    a.take_output()
    before = [(s.sn, s.acked) for s in a.snd_buf]
    a.input(segment(CMD_ACK, sn=3, ts=0, una=0), 1)  # sn == snd_nxt
    a.input(segment(CMD_ACK, sn=M32, ts=0, una=0), 1)
    a.input(segment(CMD_WINS, una=1000), 1)  # una beyond snd_nxt: never sent
    assert [(s.sn, s.acked) for s in a.snd_buf] == before and a.snd_una == 0
    check_invariants(a)


def test_fast_retransmit_after_resend_duplicate_acks() -> None:
    a = KCP(CONV)
    a.nodelay(0, 100, 2, 1)
    for i in range(4):
        a.send(bytes([i]))
    a.flush(0)
    a.take_output()
    # Segments 1 and 2 arrive, 0 is lost; each ACK is one duplicate for segment 0.
    a.input(segment(CMD_ACK, sn=1, ts=0, una=0), 40)
    assert a.take_output() == [] and a.snd_buf[0].fastack == 1
    a.input(segment(CMD_ACK, sn=2, ts=0, una=0), 41)
    assert pushes(a.take_output()) == [0]  # flushed from inside input(), right away
    assert a.snmp.FastRetransSegs == 1 and a.snmp.RetransSegs == 1
    assert a.snd_buf[0].fastack == M32  # locked until an RTO
    a.input(segment(CMD_ACK, sn=3, ts=0, una=0), 42)
    assert a.take_output() == [] and a.snmp.FastRetransSegs == 1


def test_fastack_is_conservative_about_ts() -> None:
    a = KCP(CONV)
    a.nodelay(0, 100, 1, 1)
    a.send(b"0")
    a.flush(100)  # segment 0 sent at ts 100
    a.send(b"1")
    a.flush(90)  # segment 1 "sent earlier" than 0 (ts 90)
    a.take_output()
    # An ACK for segment 1 echoing ts 90 says nothing about segment 0 (sent at 100).
    a.input(segment(CMD_ACK, sn=1, ts=90, una=0), 150)
    assert a.snd_buf[0].fastack == 0 and a.take_output() == []


def test_early_retransmit_without_fast_resend() -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    for i in range(3):
        a.send(bytes([i]))
    a.flush(0)
    a.take_output()
    a.input(segment(CMD_ACK, sn=2, ts=0, una=0), 30)
    assert pushes(a.take_output()) == [0, 1]
    assert a.snmp.EarlyRetransSegs == 2 and a.snmp.FastRetransSegs == 0


@pytest.mark.parametrize(
    ("nodelay", "gaps"), [(1, [200, 300, 400, 500]), (0, [200, 400, 600, 800])]
)
def test_rto_backoff(nodelay: int, gaps: list[int]) -> None:
    a = KCP(CONV)
    a.nodelay(nodelay, 10, 0, 1)
    a.send(b"x")
    times = []
    for now in range(0, 2100):
        a.flush(now)
        if pushes(a.take_output()):
            times.append(now)
    assert [t2 - t1 for t1, t2 in itertools.pairwise(times)][:4] == gaps
    assert a.snmp.LostSegs == a.snmp.RetransSegs == len(times) - 1


def test_flush_returns_delay_to_next_retransmission() -> None:
    a = KCP(CONV)
    a.nodelay(0, 100, 0, 1)
    a.send(b"x")
    assert a.flush(1000) == 100  # interval caps the wait
    assert a.flush(1150) == 50  # resendts = 1200
    a.interval = 5000
    assert a.flush(1199) == 1


def test_rtt_estimator() -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    a.send(b"x")
    a.flush(1000)
    a.take_output()
    a.input(segment(CMD_ACK, sn=0, ts=1000, una=1), 1100)
    assert (a.rx_srtt, a.rx_rttvar, a.rx_rto) == (100, 50, 300)
    a.input(segment(CMD_WINS, ts=0), 1200)  # not an ACK: no sample
    assert a.rx_srtt == 100
    a.input(segment(CMD_ACK, sn=7, ts=1140, una=1), 1200)  # sample 60
    assert (a.rx_srtt, a.rx_rttvar, a.rx_rto) == (95, 47, 283)
    a.input(segment(CMD_ACK, sn=7, ts=1300, una=1), 1200)  # ts in the future: ignored
    a.input(segment(CMD_ACK, sn=7, ts=1100, una=1), 1200, regular=False)  # FEC-rebuilt
    assert (a.rx_srtt, a.rx_rttvar) == (95, 47)


def test_only_the_last_ack_of_a_datagram_is_sampled() -> None:
    a = KCP(CONV)
    datagram = segment(CMD_ACK, sn=9, ts=500) + segment(CMD_ACK, sn=9, ts=900)
    a.input(datagram, 1000)
    assert a.rx_srtt == 100


def test_fec_rebuilt_packets_do_not_set_remote_window() -> None:
    a = KCP(CONV)
    a.input(segment(CMD_WINS, wnd=0), 0, regular=False)
    assert a.rmt_wnd == 32
    a.input(segment(CMD_WINS, wnd=0), 0)
    assert a.rmt_wnd == 0


def test_window_probe_timers() -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    a.input(segment(CMD_WINS, wnd=0), 0)
    a.send(b"x")
    wasks = []
    for now in range(0, 4000):
        a.flush(now)
        segs = segments(a.take_output())
        assert not any(s[0] == CMD_PUSH for s in segs)  # zero window: no data
        if any(s[0] == CMD_WASK for s in segs):
            wasks.append(now)
    assert wasks == [500, 1250, 2375]  # 500, then x1.5 each time
    assert a.probe_wait == 1687
    a.input(segment(CMD_WINS, wnd=5), 4000)
    a.flush(4000)
    assert pushes(a.take_output()) == [0] and a.probe_wait == 0


def test_wask_answered_with_wins() -> None:
    b = KCP(CONV)
    b.input(segment(CMD_PUSH, sn=0, data=b"q"), 0)
    b.input(segment(CMD_WASK), 0)
    b.flush(0)
    segs = segments(b.take_output())
    assert [(s[0], s[2], s[5]) for s in segs] == [(CMD_ACK, 31, 1), (CMD_WINS, 31, 1)]


def test_dead_link() -> None:
    a = KCP(CONV)
    a.nodelay(1, 10, 0, 1)
    a.dead_link = 3
    a.send(b"x")
    now = 0
    while not a.dead and now < 10000:
        a.flush(now)
        now += 10
    assert a.dead and a.snd_buf[0].xmit == 3 and a.state == M32


def test_cwnd_slow_start_and_rto_collapse() -> None:
    a, b = KCP(CONV), KCP(CONV)
    a.flush(0)
    assert a.cwnd == 1
    for i in range(10):
        a.send(bytes([i]))
    a.flush(0)
    assert pushes(a.take_output()) == [0]
    b.input(segment(CMD_PUSH, sn=0, data=b"\x00"), 10)
    b.flush(10)
    for d in b.take_output():
        a.input(d, 20)
    assert a.cwnd == 2
    assert pushes(a.take_output()) == [1, 2]  # una advanced: flushed inside input
    a.flush(1000)  # RTO
    assert a.cwnd == 1 and a.ssthresh == 2


def test_ack_clocking_flushes_a_full_mtu_of_acks() -> None:
    b = KCP(CONV)
    b.setmtu(24 * 10)
    for sn in range(9):
        b.input(segment(CMD_PUSH, sn=sn, data=b"."), 0)
    assert b.take_output() == []
    b.input(segment(CMD_PUSH, sn=9, data=b"."), 0)
    out = b.take_output()
    assert [s[0] for s in segments(out)] == [CMD_ACK]  # jitter filter: only sn 9 is left


def test_ack_nodelay() -> None:
    b = KCP(CONV)
    b.ack_nodelay = True
    b.input(segment(CMD_PUSH, sn=0, ts=77, data=b"."), 0)
    assert [(s[0], s[3], s[4]) for s in segments(b.take_output())] == [(CMD_ACK, 77, 0)]


def test_ack_only_flush_moves_queue_but_sends_no_data() -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    a.send(b"x")
    a.flush(0, ack_only=True)
    assert a.take_output() == [] and a.snd_buf_size == 1 and a.snd_nxt == 1
    a.flush(0)
    assert pushes(a.take_output()) == [0]


def test_update_and_check() -> None:
    a = KCP(CONV)
    a.nodelay(0, 50, 0, 1)
    assert a.check(1000) == 1000
    a.update(1000)
    assert a.check(1000) == 1050
    a.send(b"x")
    a.update(1020)  # not due: no flush
    assert a.take_output() == []
    a.update(1050)
    assert pushes(a.take_output()) == [0]
    assert a.check(1060) == 1100
    assert a.check(1300) == 1300  # resendts 1250 is due


def test_wrapping_sequence_numbers() -> None:
    a, b = KCP(CONV), KCP(CONV)
    a.nocwnd = 1
    start = M32 - 2
    a.snd_una = a.snd_nxt = b.rcv_nxt = start
    for i in range(6):
        a.send(bytes([i]))
    exchange(a, b, M32 - 10)
    assert drain(b) == [bytes([i]) for i in range(6)]
    assert a.snd_una == a.snd_nxt == 3 and b.rcv_nxt == 3 and a.waitsnd() == 0


# ------------------------------------------------------------------ bad input


GOOD = segment(CMD_PUSH, sn=0, data=b"ok")


@pytest.mark.parametrize(
    ("datagram", "code"),
    [
        (b"", ERR_BAD_CONV),
        (GOOD[:23], ERR_BAD_CONV),
        (segment(CMD_PUSH, conv=CONV + 1, data=b"x"), ERR_BAD_CONV),
        (segment(CMD_PUSH, data=b"abc", length=4), ERR_BAD_LENGTH),
        (segment(CMD_PUSH, length=M32), ERR_BAD_LENGTH),
        (segment(80), ERR_BAD_CMD),
        (segment(0xFF, data=b"zz"), ERR_BAD_CMD),
        (segment(CMD_PUSH, frg=32, data=b"x"), ERR_BAD_FRAGMENT),
    ],
)
def test_bad_datagram_rejected_without_side_effects(datagram: bytes, code: int) -> None:
    a, b = pair()
    a.send(b"first")
    exchange(a, b, 0)
    before = snapshot(b)
    counters = b.snmp.as_dict()
    assert b.input(datagram, 5) == code
    assert snapshot(b) == before and b.snmp.as_dict() == counters
    a.send(b"second")
    exchange(a, b, 10)
    assert drain(b) == [b"first", b"second"]


def test_error_keeps_effects_of_earlier_segments() -> None:
    b = KCP(CONV)
    assert b.input(GOOD + segment(99), 0) == ERR_BAD_CMD
    assert b.recv() == b"ok" and b.acklist == [(0, 0)]
    assert b.snmp.InSegs == 0  # kcp-go counts a datagram's segments only when it parses whole


def test_trailing_bytes_ignored() -> None:
    b = KCP(CONV)
    assert b.input(GOOD + b"\x00" * 23, 0) == 0
    assert b.recv() == b"ok" and b.snmp.InSegs == 1


def test_oversized_datagram() -> None:
    b = KCP(CONV)
    big = b"".join(segment(CMD_PUSH, sn=i, data=bytes(1000)) for i in range(100))
    assert b.input(big, 0) == 0
    # 0..31 fill rcv_queue, 32..63 wait in rcv_buf, the rest is beyond the window.
    assert b.rcv_queue_size == 32 and b.rcv_buf_size == 32 and b.snmp.RepeatSegs == 36
    check_invariants(b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_garbage_never_raises(garbage: bytes) -> None:
    a, b = pair()
    a.send(b"before")
    exchange(a, b, 0)
    before = snapshot(b)
    assert b.input(garbage, 1) <= 0
    if b.input(garbage, 1) < 0 and len(garbage) >= 4 and garbage[:4] != CONV.to_bytes(4, "little"):
        assert snapshot(b) == before
    check_invariants(b)
    a.send(b"after")
    exchange(a, b, 2)
    assert drain(b) == [b"before", b"after"]


_segment_fields = st.tuples(
    st.sampled_from([CMD_PUSH, CMD_ACK, CMD_WASK, CMD_WINS, 0, 85]),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.integers(0, M32),
    st.integers(0, M32) | st.integers(0, 40),
    st.integers(0, M32) | st.integers(0, 40),
    st.binary(max_size=40),
    st.integers(-3, 3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_segment_fields, min_size=1, max_size=6), st.integers(0, M32))
def test_structured_garbage_keeps_invariants(
    fields: list[tuple[int, int, int, int, int, int, bytes, int]], now: int
) -> None:
    a = KCP(CONV)
    a.nocwnd = 1
    for i in range(20):
        a.send(bytes([i]) * 10)
    a.flush(now)
    a.take_output()
    datagram = b"".join(
        HEADER.pack(CONV, cmd, frg, wnd, ts, sn, una, max(0, len(data) + skew)) + data
        for cmd, frg, wnd, ts, sn, una, data, skew in fields
    )
    assert a.input(datagram, now) <= 0
    check_invariants(a)
    for step in range(3):
        a.flush(now + step * 1000)
        assert all(len(d) <= a.mtu for d in a.take_output())
        check_invariants(a)
    assert a.recv() is None or a.rcv_queue_size >= 0


def test_random_link_garbage_during_transfer() -> None:
    rng = random.Random(7)
    a, b = pair()
    a.send(b"x" * 5000)
    a.flush(0)
    for d in a.take_output():
        assert b.input(rng.randbytes(len(d)), 0) in (0, ERR_BAD_CONV)
        assert b.input(d, 0) == 0
    exchange(a, b, 10)
    assert drain(b) == [b"x" * 5000]


def reference_fastack(k: KCP, acks: list[tuple[int, int]]) -> tuple[list[int], bool]:
    """kcp-go's parse_fastack applied one ACK at a time."""
    counters = [s.fastack for s in k.snd_buf]
    trigger = False
    for sn, ts in acks:
        for i, seg in enumerate(k.snd_buf):
            if (sn - seg.sn) & M32 >= 0x80000000 or sn == seg.sn:
                break
            if ((seg.ts - ts) & M32 >= 0x80000000 or seg.ts == ts) and counters[i] != M32:
                counters[i] += 1
                trigger = trigger or counters[i] >= k.fastresend
    return counters, trigger


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, M32),
    st.integers(0, M32),
    st.lists(st.tuples(st.integers(-20, 20), st.sampled_from([0, 0, 1, 2, M32])), max_size=25),
    st.lists(st.tuples(st.integers(-3, 28), st.integers(-25, 25)), min_size=1, max_size=12),
    st.integers(0, 3),
)
def test_batched_fastack_counting_matches_per_ack_counting(
    now: int,
    una: int,
    segs: list[tuple[int, int]],
    acks: list[tuple[int, int]],
    fastresend: int,
) -> None:
    k = KCP(CONV)
    k.fastresend = fastresend
    for i, (ts_offset, fastack) in enumerate(segs):
        seg = Segment(0, b"")
        seg.sn = (una + i) & M32
        seg.ts = (now + ts_offset) & M32
        seg.xmit = 1
        seg.fastack = fastack
        k.snd_buf.append(seg)
    k.snd_una = una
    k.snd_nxt = (una + len(segs)) & M32
    ack_list = [((una + d) & M32, (now + t) & M32) for d, t in acks]
    # Only ACKs inside the window reach the counter, as input() checks.
    ack_list = [(sn, ts) for sn, ts in ack_list if (sn - una) & M32 < len(segs)]
    expected, expected_trigger = reference_fastack(k, ack_list)
    trigger = k._count_fastacks(ack_list, now) if ack_list and segs else False
    assert [s.fastack for s in k.snd_buf] == expected
    assert trigger == expected_trigger
