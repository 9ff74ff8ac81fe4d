"""Two KCP cores over the seeded lossy link of tests/sim.py, on a virtual clock."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykcp.core.kcp import KCP
from tests.sim import Link, LinkConfig, Pair

CONV = 0x11223344
NEAR_WRAP = 2**32 - 3000
PRESETS = {  # kcptun's names
    "default": (0, 100, 0, 0),
    "normal": (0, 40, 2, 1),
    "fast": (0, 30, 2, 1),
    "fast3": (1, 10, 2, 1),
}


def make_pair(
    preset: str,
    *,
    seed: int,
    link: LinkConfig,
    stream: bool = False,
    wrap: bool = False,
    core: type[KCP] = KCP,
) -> Pair:
    a, b = core(CONV), core(CONV)
    for k in (a, b):
        k.nodelay(*PRESETS[preset])
        k.stream = stream
        k.setmtu(400)  # small frames: more segments, more fragments, shorter test
        if wrap:
            # Both directions start a few dozen segments before the u32 wrap.
            k.snd_una = k.snd_nxt = k.rcv_nxt = 2**32 - 40
    return Pair(a, b, seed=seed, link=link, start_ms=NEAR_WRAP if wrap else 0)


def transfer(pair: Pair, messages: list[bytes], budget_ms: int = 600_000) -> list[bytes]:
    """Write every message (sender side 0), echo nothing, collect what side 1 receives."""
    a, b = pair.kcp
    for m in messages:
        assert pair.write(0, m) == 0
    got: list[bytes] = []

    def done(_: Pair) -> bool:
        while (message := b.recv()) is not None:
            got.append(message)
        return sum(map(len, got)) >= sum(map(len, messages)) and a.waitsnd() == 0

    assert pair.run(done, budget_ms), (len(got), a.waitsnd(), a.snmp, b.snmp)
    done(pair)
    return got


def random_messages(rng: random.Random, count: int, max_size: int) -> list[bytes]:
    return [rng.randbytes(rng.randint(1, max_size)) for _ in range(count)]


LOSSY = LinkConfig(loss=0.1, delay_min=20, delay_max=80, duplicate=0.05)


@pytest.mark.parametrize("preset", ["default", "normal", "fast3"])
@pytest.mark.parametrize("wrap", [False, True])
def test_message_mode_exactly_once_in_order(preset: str, wrap: bool) -> None:
    rng = random.Random(11)
    messages = random_messages(rng, 120, 3000)  # up to 8 fragments of 376 bytes
    pair = make_pair(preset, seed=5, link=LOSSY, wrap=wrap)
    assert transfer(pair, messages) == messages
    a, b = pair.kcp
    assert a.snmp.RetransSegs > 0 and b.snmp.RepeatSegs > 0  # the link really was lossy
    assert pair.input_errors == [0, 0]
    if wrap:
        assert pair.now > 2**32 and 0 < a.snd_nxt < 2**16 and b.rcv_nxt == a.snd_nxt


@pytest.mark.parametrize("wrap", [False, True])
def test_stream_mode_exactly_once_in_order(wrap: bool) -> None:
    rng = random.Random(12)
    writes = random_messages(rng, 200, 900)
    pair = make_pair("fast", seed=6, link=LOSSY, stream=True, wrap=wrap)
    got = transfer(pair, writes)
    assert b"".join(got) == b"".join(writes)
    assert max(map(len, got)) <= pair.kcp[1].mss


def test_bidirectional_echo_with_reordering_and_wrap() -> None:
    pair = make_pair(
        "fast3",
        seed=9,
        link=LinkConfig(loss=0.15, delay_min=5, delay_max=120, duplicate=0.1),
        wrap=True,
    )
    a, b = pair.kcp
    rng = random.Random(3)
    sent = random_messages(rng, 150, 1000)
    echoed: list[bytes] = []
    for m in sent:
        pair.write(0, m)

    def pump(p: Pair) -> bool:
        while (m := b.recv()) is not None:
            p.write(1, m)
        while (m := a.recv()) is not None:
            echoed.append(m)
        return len(echoed) == len(sent)

    assert pair.run(pump, 600_000)
    assert echoed == sent


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0.0, 0.3),
    delay=st.tuples(st.integers(0, 60), st.integers(0, 200)),
    duplicate=st.floats(0.0, 0.2),
    reorder=st.booleans(),
    stream=st.booleans(),
    wrap=st.booleans(),
    preset=st.sampled_from(sorted(PRESETS)),
)
def test_any_lossy_link_delivers_exactly_once(
    seed: int,
    loss: float,
    delay: tuple[int, int],
    duplicate: float,
    reorder: bool,
    stream: bool,
    wrap: bool,
    preset: str,
) -> None:
    link = LinkConfig(
        loss=loss,
        delay_min=min(delay),
        delay_max=max(delay),
        duplicate=duplicate,
        reorder=reorder,
    )
    rng = random.Random(seed)
    messages = random_messages(rng, 40, 2000)
    pair = make_pair(preset, seed=seed, link=link, stream=stream, wrap=wrap)
    got = transfer(pair, messages, budget_ms=3_000_000)
    if stream:
        assert b"".join(got) == b"".join(messages)
    else:
        assert got == messages


class ScanningKCP(KCP):
    """A core whose flush always walks the whole send buffer (no idle short-cut)."""

    __slots__ = ()

    def flush(self, now: int, ack_only: bool = False) -> int:
        self._min_stale = True
        return super().flush(now, ack_only)


class CountingKCP(KCP):
    """A core that counts the flushes its idle short-cut can serve."""

    __slots__ = ()
    idle_flushes = 0

    def flush(self, now: int, ack_only: bool = False) -> int:
        if (
            not ack_only
            and self.snd_buf
            and not self.snd_queue
            and self._unsent == 0
            and not self._fastack_pending
            and not self._min_stale
            and 0 < (self._min_resendts - now) & 0xFFFFFFFF < 0x80000000
        ):
            CountingKCP.idle_flushes += 1
        return super().flush(now, ack_only)


def paced_trace(core: type[KCP], preset: str, stream: bool) -> list[list[tuple[int, bytes]]]:
    """Every datagram both sides emit while side 0 writes a message every 250 ms."""
    link = LinkConfig(loss=0.2, delay_min=10, delay_max=150, duplicate=0.05)
    pair = make_pair(preset, seed=21, link=link, core=core, stream=stream)
    traces: list[list[tuple[int, bytes]]] = [[], []]
    pair.links[0].trace, pair.links[1].trace = traces
    all_messages = random_messages(random.Random(4), 60, 1500)
    expected = b"".join(all_messages)
    messages = iter(all_messages)
    got: list[bytes] = []

    def write_next(p: Pair) -> None:
        message = next(messages, None)
        if message is not None:
            p.write(0, message)

    def done(p: Pair) -> bool:
        while (message := p.kcp[1].recv()) is not None:
            got.append(message)
        return sum(map(len, got)) == len(expected) and p.kcp[0].waitsnd() == 0

    pair.every(250, write_next)
    assert pair.run(done, 600_000)
    assert b"".join(got) == expected
    return traces


@pytest.mark.parametrize(("preset", "window"), [("default", 64), ("fast3", 256)])
def test_flush_shortcut_changes_nothing_in_bulk(preset: str, window: int) -> None:
    """As below, with everything written at once and large windows."""
    traces = []
    for core in (KCP, ScanningKCP):
        link = LinkConfig(loss=0.1, delay_min=10, delay_max=60, duplicate=0.05)
        pair = make_pair(preset, seed=8, link=link, core=core)
        for k in pair.kcp:
            k.wndsize(window, window)
        trace: list[list[tuple[int, bytes]]] = [[], []]
        pair.links[0].trace, pair.links[1].trace = trace
        messages = random_messages(random.Random(2), 300, 1200)
        assert transfer(pair, messages) == messages
        traces.append(trace)
    assert traces[0] == traces[1]


class TailCountingKCP(KCP):
    """A core that counts the flushes its new-segments-only path can serve."""

    __slots__ = ()
    tail_flushes = 0

    def flush(self, now: int, ack_only: bool = False) -> int:
        window = min(self.snd_wnd, self.rmt_wnd)
        if not self.nocwnd:
            window = min(window, self.cwnd)
        room = window - ((self.snd_nxt - self.snd_una) & 0xFFFFFFFF)
        if (
            not ack_only
            and self.snd_buf
            and (self._unsent or (self.snd_queue and room > 0))
            and not self._fastack_pending
            and not self._min_stale
            and 0 < (self._min_resendts - now) & 0xFFFFFFFF < 0x80000000
        ):
            TailCountingKCP.tail_flushes += 1
        return super().flush(now, ack_only)


@pytest.mark.parametrize(("preset", "stream"), [("default", False), ("fast3", True)])
def test_flush_of_new_segments_only_changes_nothing_on_the_wire(preset: str, stream: bool) -> None:
    """Writes while data is in flight flush only the new tail: same datagrams as a full scan."""
    TailCountingKCP.tail_flushes = 0
    traces = []
    for core in (TailCountingKCP, ScanningKCP):
        link = LinkConfig(loss=0.1, delay_min=20, delay_max=80, duplicate=0.05)
        pair = make_pair(preset, seed=17, link=link, core=core, stream=stream)
        for k in pair.kcp:
            k.wndsize(128, 128)
        trace: list[list[tuple[int, bytes]]] = [[], []]
        pair.links[0].trace, pair.links[1].trace = trace
        messages = random_messages(random.Random(6), 400, 900)
        written = [0]
        got: list[bytes] = []

        def write_next(
            p: Pair, messages: list[bytes] = messages, written: list[int] = written
        ) -> None:
            if written[0] < len(messages):
                p.write(0, messages[written[0]])
                written[0] += 1

        def done(p: Pair, got: list[bytes] = got, written: list[int] = written) -> bool:
            while (message := p.kcp[1].recv()) is not None:
                got.append(message)
            return written[0] == 400 and p.kcp[0].waitsnd() == 0

        pair.every(3, write_next)
        assert pair.run(done, 600_000)
        if stream:
            assert b"".join(got) == b"".join(messages)
        else:
            assert got == messages
        traces.append(trace)
    assert TailCountingKCP.tail_flushes > 50, "the new-segments-only path was not exercised"
    assert traces[0] == traces[1]


@pytest.mark.parametrize("preset", ["default", "fast3"])
@pytest.mark.parametrize("stream", [False, True])
def test_flush_shortcut_changes_nothing_on_the_wire(preset: str, stream: bool) -> None:
    """The idle short-cut in flush() must give the same datagrams and delays as a full scan."""
    CountingKCP.idle_flushes = 0
    fast = paced_trace(CountingKCP, preset, stream)
    assert CountingKCP.idle_flushes > 2, "the short-cut was not exercised"
    assert fast == paced_trace(ScanningKCP, preset, stream)


# ------------------------------------------------------------------ ikcp's latency test


@dataclass
class LatencyResult:
    avg_rtt: int
    max_rtt: int
    sent: int


def ikcp_latency_test(mode: int, count: int, seed: int = 1) -> LatencyResult:
    """skywind3000/kcp test.cpp on a virtual clock: 10% round-trip loss, RTT 60..125 ms.

    kcp1 sends an 8-byte message (index, send time) every 20 ms; kcp2 echoes everything back;
    both are driven by update() every 1 ms, like the C test.
    """
    rng = random.Random(seed)
    # test.cpp's LatencySimulator: half the loss and half the RTT each way, FIFO delivery.
    cfg = LinkConfig(loss=0.05, delay_min=30, delay_max=61, reorder=False)
    l12 = Link(cfg, random.Random(rng.getrandbits(64)))
    l21 = Link(cfg, random.Random(rng.getrandbits(64)))
    k1, k2 = KCP(CONV), KCP(CONV)
    for k in (k1, k2):
        k.wndsize(128, 128)
        k.nodelay(*[(0, 10, 0, 0), (0, 10, 0, 1), (2, 10, 2, 1)][mode])
    if mode == 2:
        k1.rx_minrto = 10
        k1.fastresend = 1
    now = 0
    slap = 20
    index = received = 0
    total_rtt = max_rtt = 0
    while received < count:
        now += 1
        k1.update(now)
        k2.update(now)
        while now >= slap:
            k1.send(struct.pack("<II", index, now))
            index += 1
            slap += 20
        for d in l12.due(now):
            k2.input(d, now)
        for d in l21.due(now):
            k1.input(d, now)
        while (m := k2.recv()) is not None:
            k2.send(m)
        while (m := k1.recv()) is not None:
            sn, ts = struct.unpack("<II", m)
            assert sn == received, "echo out of order"
            received += 1
            total_rtt += now - ts
            max_rtt = max(max_rtt, now - ts)
        for d in k1.take_output():
            l12.send(now, d)
        for d in k2.take_output():
            l21.send(now, d)
    return LatencyResult(total_rtt // count, max_rtt, l12.sent)


# ikcp.c's published results (test.cpp, 1000 messages): avgrtt / maxrtt.
IKCP_PUBLISHED = {0: (740, 1507), 1: (156, 571), 2: (138, 392)}


def test_ikcp_latency_modes(record_property: Callable[[str, object], None]) -> None:
    results = {mode: ikcp_latency_test(mode, count=1000) for mode in (0, 1, 2)}
    for mode, name in enumerate(("default", "normal", "fast")):
        r = results[mode]
        record_property(f"{name}_avg_rtt", r.avg_rtt)
        record_property(f"{name}_max_rtt", r.max_rtt)
        print(
            f"{name}: avgrtt={r.avg_rtt} maxrtt={r.max_rtt} tx={r.sent} (ikcp.c: "
            f"{IKCP_PUBLISHED[mode][0]}/{IKCP_PUBLISHED[mode][1]})"
        )
    default, normal, fast = results[0], results[1], results[2]
    assert fast.avg_rtt * 2 <= default.avg_rtt
    assert normal.avg_rtt * 2 <= default.avg_rtt
    assert fast.max_rtt < default.max_rtt
    # Without congestion control the latency stays near the link RTT (60..125 ms) plus the
    # 10 ms update interval and the odd retransmission, as in ikcp.c's published numbers.
    assert fast.avg_rtt < 250 and normal.avg_rtt < 250
